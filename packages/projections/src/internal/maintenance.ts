// The maintenance operations of the engine that do not run on the hot path: replaying parked entries from the log,
// and changing a projection's lane layout at start. Internal.
import type * as BinLogger from "@binlog/core/BinLogger"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Lanes from "../Lanes.ts"
import * as Projection from "../Projection.ts"
import { LanesRescaleRefused, type SinkError } from "../ProjectionError.ts"
import type * as Sink from "../Sink.ts"
import type { Engine, EngineLog, Slot } from "./engine.ts"
import { messageOf, splitBatches } from "./helpers.ts"

/** The transaction of one replay: applies the parked `entry` and unparks it; false if it is no longer parked. */
const replayEntry = Effect.fnUntraced(function*<E, R>(
  slot: Slot<E, R>,
  row: Sink.ParkedEntry,
  entry: BinLogger.LogEntry
): Effect.fn.Return<boolean, E | SinkError, R> {
  const still = (yield* slot.sink.parked(slot.key)).some((p) => p.index === row.index)
  if (!still) return false
  const p = slot.projection.prepare(entry)
  if (p !== Projection.skip) {
    const work = slot.projection.begin(slot.sink.client)
    yield* work.apply(entry, p, { sideEffects: true })
    yield* work.end
  }
  yield* slot.sink.unpark(slot.key, row.index)
  return true
})

/** Replays parked entries of one slot (all, or the one at `only`), in index order. */
export const replaySlot = Effect.fnUntraced(function*<E, R>(
  slot: Slot<E, R>,
  only: bigint | undefined,
  readEntry: (index: bigint) => Effect.Effect<BinLogger.LogEntry, BinLogger.ReadError>
): Effect.fn.Return<
  {
    readonly replayed: Array<bigint>
    readonly failed: Array<{ readonly index: bigint; readonly error: string }>
  },
  BinLogger.ReadError | SinkError,
  R
> {
  const replayed: Array<bigint> = []
  const failed: Array<{ readonly index: bigint; readonly error: string }> = []
  const rows = yield* slot.sink.parked(slot.key)
  // streams with an earlier entry still parked: with per-stream ordering, their later entries wait
  const stuck = new Set<string>()
  const ordered = slot.policy?.perStreamOrdering === true
  for (const row of rows) {
    if (only !== undefined && row.index !== only) {
      if (row.index < only && row.streamId !== undefined) stuck.add(row.streamId)
      continue
    }
    if (ordered && row.streamId !== undefined && stuck.has(row.streamId)) {
      failed.push({ index: row.index, error: `an earlier entry of stream ${row.streamId} is still parked` })
      continue
    }
    const entry = yield* readEntry(row.index)
    const exit = yield* Effect.exit(slot.sink.transaction(replayEntry(slot, row, entry)))
    if (Exit.isSuccess(exit)) {
      if (!exit.value) continue
      replayed.push(row.index)
      slot.parkedCount--
      if (row.streamId !== undefined) {
        const n = (slot.blocked.get(row.streamId) ?? 1) - 1
        if (n <= 0) slot.blocked.delete(row.streamId)
        else slot.blocked.set(row.streamId, n)
      }
      yield* Metric.update(slot.poisonMetrics.eventsReplayed, 1)
      yield* Metric.update(slot.poisonMetrics.parkedEntries, slot.parkedCount)
      continue
    }
    if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
    const error = messageOf(exit.cause)
    failed.push({ index: row.index, error })
    if (row.streamId !== undefined) stuck.add(row.streamId)
    yield* slot.sink.transaction(slot.sink.park(slot.key, { ...row, error, attempts: row.attempts + 1 }))
  }
  return { replayed, failed }
})

/** Catches up the lanes of an old layout to their highest position, then re-keys them as `lanes` lanes. */
export const rescale = <E, R>(
  bound: Projection.Bound<E, R>,
  lanes: number,
  deps: {
    readonly log: EngineLog
    readonly batchSize: number
    readonly newSlot: (
      bound: Projection.Bound<E, R>,
      lane: number,
      lanes: number,
      stored: Sink.Checkpoint
    ) => Slot<E, R>
    readonly applyBatch: Engine<E, R>["applyBatch"]
  }
) =>
  Effect.gen(function*() {
    const { projection, sink } = bound
    const rows = (yield* sink.checkpoints).filter((r) =>
      r.version === projection.version && Lanes.parseLaneName(r.projection).projection === projection.name
    )
    const old = rows.filter((r) => Lanes.parseLaneName(r.projection).lanes !== lanes)
    if (old.length === 0) return
    const refuse = (reason: string) =>
      new LanesRescaleRefused({ projection: projection.name, version: projection.version, reason })
    if (old.length !== rows.length) return yield* refuse("rows of two lane layouts exist")
    for (const r of old) {
      if (Option.isSome(yield* sink.readHalted(r))) return yield* refuse(`${r.projection} is halted`)
      if ((yield* sink.parked(r)).length > 0) return yield* refuse(`${r.projection} has parked entries`)
    }
    const target = old.reduce((m, r) => (r.position > m ? r.position : m), 0n)
    const targetTs = old.find((r) => r.position === target)?.timestamp
    for (const r of old) {
      if (r.position >= target) continue
      const read = deps.log.read
      if (read === undefined) return yield* Effect.die(new Error("lane rescaling needs the log"))
      const parsed = Lanes.parseLaneName(r.projection)
      const temp = deps.newSlot({ ...bound, poison: undefined }, parsed.lane, parsed.lanes, r)
      yield* read(r.position + 1n, { to: target }).pipe(
        Stream.runForEachArray((chunk) =>
          Effect.forEach(splitBatches(chunk, deps.batchSize), (b) => deps.applyBatch(temp, b), { discard: true })
        )
      )
    }
    yield* sink.transaction(Effect.gen(function*() {
      for (const r of old) yield* sink.forget(r)
      for (let lane = 0; lane < lanes; lane++) {
        const key = { projection: Lanes.laneName(projection.name, lane, lanes), version: projection.version }
        yield* sink.register(key)
        yield* sink.writeCheckpoint(key, { position: target, timestamp: targetTs })
      }
    }))
    yield* Effect.logInfo(
      `projection ${projection.name} v${projection.version}: lanes changed to ${lanes} at index ${target}`
    )
  })
