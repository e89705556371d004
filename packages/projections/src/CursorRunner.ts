/**
 * The cursor runner: each projection reads the log from its own checkpoint and then follows it live, independent
 * of snapshot leases — for projections that start later (a new read model, a new version being built beside the
 * old one), lag far behind, or must not hold other projections back.
 *
 * Per projection, one fiber: `read(checkpoint + 1, { follow: true })` (bounded memory; new durable entries wake it,
 * no polling), read chunks split into sink transactions of at most `batchSize` entries, each committing the
 * read-model changes with the new checkpoint. A **retention hold** named `projection:<name>:v<version>` is placed
 * on the log at `checkpoint + 1` and moved forward after every commit, so purge never deletes a segment the
 * projection still needs, even while it is stopped or retrying (the hold lives as long as the runner).
 *
 * Failures: the transaction rolls back; after the `retry` delay the projection reads again from its stored
 * checkpoint (re-delivered entries at or below it are dropped). If its checkpoint is below the log's first
 * retained index (segments purged before this projection ever ran), it stops with `CheckpointGap`.
 *
 * A cursor runner never releases snapshots: pair it with a `SnapshotRunner` (or another lease holder) for purge,
 * or use purge holds only.
 *
 * @since 0.1.0
 */
import * as BinLogger from "@binlog/core/BinLogger"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Engine from "./internal/engine.ts"
import type { CheckpointAhead, DuplicateProjection, ProjectionFailed, SinkError } from "./ProjectionError.ts"
import { CheckpointGap } from "./ProjectionError.ts"
import type * as Runner from "./Runner.ts"

/**
 * The cursor runner's API.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service extends Runner.Runner {
  /** The retention holds it placed: `[name, index]` per projection. */
  readonly holds: Effect.Effect<ReadonlyArray<readonly [string, bigint]>>
}

/**
 * The cursor runner service.
 *
 * @since 0.1.0
 * @category services
 */
export class CursorRunner extends Context.Service<CursorRunner, Service>()("@binlog/projections/CursorRunner") {}

/**
 * Errors of starting a runner.
 *
 * @since 0.1.0
 * @category errors
 */
export type StartError = DuplicateProjection | ProjectionFailed | SinkError | CheckpointAhead

/**
 * The name of a projection's retention hold.
 *
 * @since 0.1.0
 * @category constructors
 */
export const holdName = (projection: string, version: number): string => `projection:${projection}:v${version}`

/**
 * Starts the runner for the lifetime of the scope: runs setups, reads checkpoints, places retention holds, then
 * runs one fiber per projection. Closing the scope stops them (open transactions roll back) and drops the holds.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("CursorRunner.make")(function*<E, R>(
  options: Runner.Options<E, R>
): Effect.fn.Return<Service, StartError, R | BinLogger.BinLogger | Scope.Scope> {
  const log = yield* BinLogger.BinLogger
  const engine = yield* Engine.make(options, log)
  const holds: Array<readonly [string, BinLogger.RetentionHold]> = []

  const run = (slot: Engine.Slot<E, R>, hold: BinLogger.RetentionHold) =>
    Effect.gen(function*() {
      const retry = Engine.retrier(engine.retry)
      while (slot.stopped === undefined) {
        const from = slot.position + 1n
        const exit = yield* Effect.exit(
          log.read(from, { follow: true }).pipe(
            Stream.bufferArray({ capacity: Engine.READ_AHEAD_CHUNKS }),
            Stream.runForEachArray((chunk) =>
              Effect.gen(function*() {
                yield* engine.refreshLag(slot)
                for (const batch of Engine.splitBatches(chunk, engine.batchSize)) {
                  yield* engine.applyBatch(slot, batch, { onCommit: (position) => hold.set(position + 1n) })
                  engine.recordSuccess(slot)
                  retry.reset()
                }
              })
            ),
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
    }).pipe(
      Effect.tapCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError(`cursor runner ${slot.name} died`, cause)
      )
    )

  for (const slot of engine.slots) {
    const name = holdName(slot.name, slot.version)
    const hold = yield* log.retain(name, slot.position + 1n)
    holds.push([name, hold])
    yield* Effect.forkScoped(run(slot, hold))
  }

  return {
    ...engine.runner,
    holds: Effect.forEach(holds, ([name, hold]) => Effect.map(hold.index, (index) => [name, index] as const))
  }
})

/**
 * The runner as a layer (it needs the `BinLogger`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  options: Runner.Options<E, R>
): Layer.Layer<CursorRunner, StartError, R | BinLogger.BinLogger> => Layer.effect(CursorRunner, make(options))
