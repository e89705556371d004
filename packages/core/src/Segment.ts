/**
 * Segment files: names, listing and the sequence rules of etcd's WAL directory.
 *
 * A segment is named `%016x-%016x.wal` of (sequence, first index), 16 lower-case hex digits each. The first one is
 * `0000000000000000-0000000000000000.wal`; sequence numbers go up by exactly 1; a new segment's index is the last
 * index written (or the last snapshot record's index, if higher) plus 1. Readers list the directory, sort the names
 * as byte strings and keep those that parse; `N.tmp` files (preallocated next segments), `.broken` copies and
 * anything else are skipped and reported as {@link Ignored}.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Fsx from "./internal/fsx.ts"
import { WalNotFound } from "./WalError.ts"
import type { WalIoError } from "./WalError.ts"

/**
 * etcd's `SegmentSizeBytes`: a segment is cut once its write position reaches this many bytes (64 MB decimal,
 * not 64 MiB). Segments overshoot it by up to one batch.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_SEGMENT_SIZE_BYTES = 64_000_000

/**
 * Bytes to preallocate for a segment of `segmentSizeBytes`: rounded up to a multiple of 8, so the zero tail after
 * the last frame is always at least a whole (zero) length word. A size that is not a multiple of 8 would leave 1–7
 * zero bytes at the end that read as a truncated length word (etcd has this trap with such sizes).
 *
 * @since 0.1.0
 * @category constants
 */
export const preallocationBytes = (segmentSizeBytes: number): number => Math.ceil(segmentSizeBytes / 8) * 8

/**
 * A parsed segment name.
 *
 * @since 0.1.0
 * @category models
 */
export interface SegmentName {
  readonly name: string
  readonly seq: bigint
  readonly index: bigint
}

/**
 * A file in the WAL directory that is not a segment, and why it was skipped.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ignored {
  readonly name: string
  readonly kind: "tmp" | "broken" | "lock" | "foreign"
}

const HEX16 = /^[0-9a-f]{16}$/

const hex16 = (n: bigint): string => n.toString(16).padStart(16, "0")

/**
 * The canonical name of segment (`seq`, `index`).
 *
 * @since 0.1.0
 * @category naming
 */
export const segmentName = (seq: bigint, index: bigint): string => `${hex16(seq)}-${hex16(index)}.wal`

/**
 * Parses a segment name; `undefined` for anything that is not `%016x-%016x.wal` in canonical lower-case form.
 *
 * @since 0.1.0
 * @category naming
 */
export const parseSegmentName = (name: string): SegmentName | undefined => {
  if (name.length !== 37 || !name.endsWith(".wal") || name[16] !== "-") return undefined
  const s = name.slice(0, 16)
  const i = name.slice(17, 33)
  if (!HEX16.test(s) || !HEX16.test(i)) return undefined
  return { name, seq: BigInt(`0x${s}`), index: BigInt(`0x${i}`) }
}

/**
 * The result of listing a WAL directory.
 *
 * @since 0.1.0
 * @category models
 */
export interface Listing {
  readonly segments: ReadonlyArray<SegmentName>
  readonly ignored: ReadonlyArray<Ignored>
}

/**
 * Classifies the names of a WAL directory (sorted as byte strings).
 *
 * @since 0.1.0
 * @category listing
 */
export const classify = (names: ReadonlyArray<string>): Listing => {
  const segments: Array<SegmentName> = []
  const ignored: Array<Ignored> = []
  for (const name of [...names].sort()) {
    const parsed = parseSegmentName(name)
    if (parsed) segments.push(parsed)
    else if (name.endsWith(".tmp")) ignored.push({ name, kind: "tmp" })
    else if (name.endsWith(".broken")) ignored.push({ name, kind: "broken" })
    else if (name === LOCK_FILE_NAME) ignored.push({ name, kind: "lock" })
    else ignored.push({ name, kind: "foreign" })
  }
  return { segments, ignored }
}

/**
 * The name of binlog's lock file inside the WAL directory (see `FileLock`). etcd's readers ignore it.
 *
 * @since 0.1.0
 * @category constants
 */
export const LOCK_FILE_NAME = ".binlog.lock"

/**
 * Lists and classifies a WAL directory.
 *
 * @since 0.1.0
 * @category listing
 */
export const list = (dir: string): Effect.Effect<Listing, WalIoError> => Effect.map(Fsx.readdir(dir), classify)

/**
 * Whether `dir` holds a WAL (etcd's `wal.Exist`: at least one name ending in `.wal`). A missing directory is false.
 *
 * @since 0.1.0
 * @category listing
 */
export const exists = (dir: string): Effect.Effect<boolean> =>
  Fsx.readdir(dir).pipe(
    Effect.map((names) => names.some((n) => n.endsWith(".wal"))),
    Effect.catch(() => Effect.succeed(false))
  )

/**
 * Picks the segments to read from `index`: scanning backwards, the last segment whose name index is ≤ `index`, and
 * every later one. Fails with {@link WalNotFound} when there is none or when the sequence numbers from there on are
 * not consecutive (etcd's `file not found`). Unlike etcd, the step after a start segment with seq 0 is checked too.
 *
 * @since 0.1.0
 * @category listing
 */
export const selectFrom = (
  dir: string,
  segments: ReadonlyArray<SegmentName>,
  index: bigint
): Effect.Effect<ReadonlyArray<SegmentName>, WalNotFound> => {
  if (segments.length === 0) return Effect.fail(new WalNotFound({ dir, reason: "no WAL segment files" }))
  let start = -1
  for (let i = segments.length - 1; i >= 0; i--) {
    if (segments[i]!.index <= index) {
      start = i
      break
    }
  }
  if (start < 0) {
    return Effect.fail(new WalNotFound({ dir, reason: `no segment starts at or below index ${index}` }))
  }
  const selected = segments.slice(start)
  for (let i = 1; i < selected.length; i++) {
    if (selected[i]!.seq !== selected[i - 1]!.seq + 1n) {
      return Effect.fail(
        new WalNotFound({
          dir,
          reason: `segment sequence gap: ${selected[i - 1]!.name} is followed by ${selected[i]!.name}`
        })
      )
    }
  }
  return Effect.succeed(selected)
}
