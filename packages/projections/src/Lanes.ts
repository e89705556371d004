/**
 * Partitioned lanes: a projection that runs in N lanes applies N disjoint parts of the log in parallel.
 *
 * - **Assignment**: an entry goes to lane `fnv1a32(utf8(streamId)) mod N` (FNV-1a, 32 bits: offset basis
 *   2166136261, prime 16777619, over the UTF-8 bytes of the stream id from `Projection.streamOf`); entries without
 *   a stream id go to lane 0. A stream is always in one lane, so each stream's events are applied in log order.
 * - **Checkpoints**: each lane has its own checkpoint row, `(<name>#lane<i>/<N>, version)`, written in the lane's own
 *   transactions. A lane commits its position at the end of each range even when none of its entries were in it,
 *   so the projection's position — what `awaitPosition`, `lag` and the retention hold use — is the lowest lane
 *   position: the log is released when all lanes are past it.
 * - **Parallelism**: lanes run as separate fibers; each reads the log and skips other lanes' entries before
 *   decoding them. The transactions run concurrently when the sink allows it (PostgreSQL, one connection per lane
 *   from the pool); SQLite and the memory sink serialize them (lanes are correct there, not faster).
 * - **Changing N**: stop the runner and start it with the new N. At start, if the stored lane rows have another
 *   layout, the runner first drains the old layout: every old lane is caught up to the highest old lane position
 *   (applied with the old assignment), then one transaction replaces the old rows by N rows at that common
 *   position. Refused (`LanesRescaleRefused`) while an old lane is halted or has parked entries: resolve them with
 *   the old N first.
 *
 * @since 0.1.0
 */
import { dual } from "effect/Function"
import type * as Projection from "./Projection.ts"

/**
 * The most lanes a projection may have.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_LANES = 256

const encoder = new TextEncoder()

/**
 * FNV-1a 32 of the UTF-8 bytes of `s`.
 *
 * @since 0.1.0
 * @category hashing
 */
export const fnv1a32 = (s: string): number => {
  let h = 0x811c9dc5
  const bytes = encoder.encode(s)
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

/**
 * The lane of a stream among `lanes` lanes (`undefined` stream: lane 0).
 *
 * @since 0.1.0
 * @category hashing
 */
export const laneOf = (streamId: string | undefined, lanes: number): number =>
  streamId === undefined || lanes <= 1 ? 0 : fnv1a32(streamId) % lanes

/**
 * The checkpoint name of lane `lane` of `lanes` (the plain name when there is one lane).
 *
 * @since 0.1.0
 * @category naming
 */
export const laneName = (projection: string, lane: number, lanes: number): string =>
  lanes <= 1 ? projection : `${projection}#lane${lane}/${lanes}`

/**
 * Parses a checkpoint name into the projection name and its lane layout.
 *
 * @since 0.1.0
 * @category naming
 */
export const parseLaneName = (
  name: string
): { readonly projection: string; readonly lane: number; readonly lanes: number } => {
  const m = /^(.*)#lane(\d+)\/(\d+)$/.exec(name)
  return m === null
    ? { projection: name, lane: 0, lanes: 1 }
    : { projection: m[1]!, lane: Number(m[2]), lanes: Number(m[3]) }
}

/**
 * Runs a bound projection in `lanes` lanes (1..{@link MAX_LANES}).
 *
 * @since 0.1.0
 * @category combinators
 */
export const withLanes: {
  (lanes: number): <E, R>(self: Projection.Bound<E, R>) => Projection.Bound<E, R>
  <E, R>(self: Projection.Bound<E, R>, lanes: number): Projection.Bound<E, R>
} = dual(2, <E, R>(self: Projection.Bound<E, R>, lanes: number): Projection.Bound<E, R> => {
  if (!Number.isSafeInteger(lanes) || lanes < 1 || lanes > MAX_LANES) {
    throw new RangeError(`lanes must be 1..${MAX_LANES}, got ${lanes}`)
  }
  return { ...self, lanes }
})
