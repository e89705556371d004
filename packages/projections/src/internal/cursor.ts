// The cursor loop shared by `CursorRunner` and `Rebuild`: per slot (projection or lane) one fiber reading the log
// from its checkpoint and following it live, with a retention hold moved forward after each commit.
import * as BinLogger from "@binlog/core/BinLogger"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { CheckpointGap } from "../ProjectionError.ts"
import type * as Runner from "../Runner.ts"
import * as Engine from "./engine.ts"

export type StartError = Runner.StartError

export interface Options<E, R> extends Engine.Internal {
  readonly holdName: (slot: Engine.Slot<E, R>) => string
}

export interface Cursors<E, R> extends Runner.Runner {
  readonly engine: Engine.Engine<E, R>
  readonly holds: Effect.Effect<ReadonlyArray<readonly [string, bigint]>>
}

export const start = Effect.fnUntraced(function*<E, R>(
  options: Runner.Options<E, R>,
  internal: Options<E, R>
): Effect.fn.Return<Cursors<E, R>, StartError, R | BinLogger.BinLogger | Scope.Scope> {
  const log = yield* BinLogger.BinLogger
  const engine = yield* Engine.make(options, log, internal)
  const holds: Array<readonly [string, BinLogger.RetentionHold]> = []

  // `Effect.fnUntraced`, made once, for the per-chunk work: a generator function created per call gets its own map
  // in old space, which keeps what it captures (the chunk) alive through scavenges
  /** Applies one read chunk to `slot`, batch by batch, moving the hold after each commit. */
  const applyChunk = Effect.fnUntraced(function*(
    slot: Engine.Slot<E, R>,
    hold: BinLogger.RetentionHold,
    retry: Engine.Retrier,
    chunk: ReadonlyArray<BinLogger.LogEntry>
  ) {
    yield* engine.refreshLag(slot)
    for (const batch of Engine.splitBatches(chunk, engine.batchSize)) {
      yield* engine.applyRange(slot, batch, { onCommit: (position) => hold.set(position + 1n) })
      // halted by the poison policy: end the read (the hold stays where the projection stopped)
      if (slot.stopped !== undefined) return yield* Effect.interrupt
      engine.recordSuccess(slot)
      retry.reset()
    }
  })

  const run = Effect.fnUntraced(
    function*(slot: Engine.Slot<E, R>, hold: BinLogger.RetentionHold) {
      const retry = Engine.retrier(engine.retry)
      while (slot.stopped === undefined) {
        const from = slot.position + 1n
        const exit = yield* Effect.exit(
          log.read(from, { follow: true }).pipe(
            Stream.bufferArray({ capacity: Engine.READ_AHEAD_CHUNKS }),
            Stream.runForEachArray((chunk) => applyChunk(slot, hold, retry, chunk)),
            Effect.withSpan("CursorRunner.follow", {
              attributes: { projection: slot.name, version: slot.version, from: from.toString() }
            })
          )
        )
        // a live read only ends by failing
        if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return
        const error = Cause.findErrorOption(exit.cause)
        if (
          Option.isSome(error) && error.value._tag === "IndexUnavailable" &&
          slot.position + 1n < BigInt(error.value.firstIndex)
        ) {
          const gap = new CheckpointGap({
            projection: slot.name,
            version: slot.version,
            checkpoint: slot.position.toString(),
            reason: `the log starts at index ${error.value.firstIndex}`
          })
          yield* engine.stop(slot, gap.message)
          return
        }
        yield* engine.recordFailure(slot, exit.cause)
        const again = yield* retry.wait(exit.cause)
        if (!again) yield* engine.stop(slot, `retry schedule ended; last error: ${slot.lastError}`)
      }
    },
    (effect, slot) =>
      Effect.tapCause(
        effect,
        (cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError(`cursor runner ${slot.name} died`, cause)
      )
  )

  const scope = yield* Effect.scope
  const services = yield* Effect.context<R>()
  const holdOf = new Map<Engine.Slot<E, R>, BinLogger.RetentionHold>()
  for (const slot of engine.slots) {
    const name = internal.holdName(slot)
    const hold = yield* log.retain(name, slot.position + 1n)
    holds.push([name, hold])
    holdOf.set(slot, hold)
    yield* Effect.forkScoped(run(slot, hold))
  }

  return {
    engine,
    ...engine.runner,
    resume: (projection: string) =>
      Effect.flatMap(
        engine.resume(projection),
        (slots) =>
          Effect.forEach(slots, (slot) =>
            Effect.forkIn(Effect.provideContext(run(slot, holdOf.get(slot)!), services), scope), { discard: true })
      ),
    holds: Effect.forEach(holds, ([name, hold]) => Effect.map(hold.index, (index) => [name, index] as const))
  }
})
