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
 * Lanes (`Lanes.withLanes`): each lane is a cursor of its own (its fiber, checkpoint and retention hold), reading
 * the log and applying only its streams; lanes run in parallel. A projection halted by its poison policy keeps its
 * hold; `resume` starts its fiber again.
 *
 * A cursor runner never releases snapshots: pair it with a `SnapshotRunner` (or another lease holder) for purge,
 * or use purge holds only.
 *
 * @since 0.1.0
 */
import * as BinLogger from "@binlog/core/BinLogger"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Cursor from "./internal/cursor.ts"
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
export type StartError = Runner.StartError

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
  return yield* Cursor.start(options, { holdName: (slot) => holdName(slot.name, slot.version) })
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
