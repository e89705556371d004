/**
 * Rebuilds: build a new version of a projection from index 1 into new tables while the serving version keeps
 * serving and keeps up with live events, then cut over in one transaction, then drop the old version.
 *
 * ```ts
 * const rebuild = yield* Rebuild.make({
 *   projection: balancesV2, sink,                        // version 2 writes balances_v2
 *   cutover: (sql) => sql`DROP VIEW IF EXISTS balances`.pipe(
 *     Effect.andThen(sql`CREATE VIEW balances AS SELECT * FROM balances_v2`)),
 *   dropOld: (sql, version) => sql`DROP TABLE IF EXISTS ${sql(`balances_v${version}`)}`
 * })
 * yield* rebuild.awaitCaughtUp
 * yield* rebuild.cutover                                // one transaction: the view now reads v2
 * yield* rebuild.dropOld                                // when the v1 runner is gone
 * ```
 *
 * - **Reading**: the rebuild is a cursor over the log from its own checkpoint `(name, version)` — resumable after a
 *   crash, every entry once — through `BinLogger.read`, which reads archived segments (`archiveDir`) and then live
 *   ones, so a rebuild can start from index 1 long after purge. It places the retention hold
 *   `rebuild <name> v<version>` at its position, so purge keeps the live segments it still needs (`binlog stat`
 *   shows which hold keeps which segment). It follows the log live once caught up.
 * - **Side effects**: handlers see `ctx.sideEffects === false` for entries at or below the serving version's
 *   checkpoint (read before each transaction): the serving version already did those effects.
 * - **Serving version**: the `binlog_projection_active` row of the name if there is one, else `serving` (default
 *   `version − 1`). The serving version is run by your ordinary runner, untouched by the rebuild.
 * - **Cutover**: waits until the rebuild is at or past the serving version's checkpoint, then in ONE sink
 *   transaction (checkpoint rows read, on PostgreSQL locked) runs your `cutover` (switch a view, rename tables) and
 *   records the new active version; `RebuildError` if the rebuild fell behind meanwhile (it retries a few times).
 *   Restart your service with the new version in its runner afterwards.
 * - **Drop old**: runs your `dropOld(client, previousVersion)` and forgets the old version's checkpoint, parked
 *   entries and halted state, in one transaction. Stop the old version's runner first.
 *
 * @since 0.1.0
 */
import * as BinLogger from "@binlog/core/BinLogger"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Cursor from "./internal/cursor.ts"
import type * as Poison from "./Poison.ts"
import * as Projection from "./Projection.ts"
import { RebuildError, type SinkError } from "./ProjectionError.ts"
import type * as Runner from "./Runner.ts"
import type * as Sink from "./Sink.ts"

/**
 * Attempts of a cutover that finds the rebuild behind the serving version (it waits for it between attempts).
 *
 * @since 0.1.0
 * @category constants
 */
export const CUTOVER_ATTEMPTS = 20

/**
 * The retention hold name of a rebuild.
 *
 * @since 0.1.0
 * @category constructors
 */
export const holdName = (projection: string, version: number): string => `rebuild ${projection} v${version}`

/**
 * Options of a rebuild.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Client, E, R> {
  /** The new version. */
  readonly projection: Projection.Projection<Client, E, R>
  /** Its sink (the serving version's too: the cutover is one transaction of this sink). */
  readonly sink: Sink.Sink<Client>
  /** A poison policy for the rebuild (`Poison`); default: retry the range. */
  readonly poison?: Poison.Policy | undefined
  /** The serving version when the sink has no active-version row for the name (default `version − 1`). */
  readonly serving?: number | undefined
  /** Runs in the cutover transaction: point readers at the new version (view switch, table rename). */
  readonly cutover: (client: Client) => Effect.Effect<void, unknown, R>
  /** Runs in the drop transaction with the old version number: drop its tables. */
  readonly dropOld?: ((client: Client, version: number) => Effect.Effect<void, unknown, R>) | undefined
  readonly batchSize?: number | undefined
  readonly retry?: Runner.Options<E, R>["retry"]
}

/**
 * Where a rebuild is.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly projection: string
  readonly version: number
  /** The rebuild's checkpoint. */
  readonly position: bigint
  /** The log's durable index. */
  readonly durableIndex: bigint
  readonly servingVersion: number
  /** The serving version's checkpoint. */
  readonly servingPosition: bigint
  /** Whether the rebuild is at or past the serving version (it may cut over). */
  readonly caughtUp: boolean
  /** Whether this version is the active one (cut over). */
  readonly active: boolean
}

/**
 * A running rebuild.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly progress: Effect.Effect<Progress, SinkError>
  /** Resolves once the rebuild has reached the serving version's checkpoint (and the durable index when called). */
  readonly awaitCaughtUp: Effect.Effect<void, SinkError | RebuildError>
  /** Cuts over (see the module header). */
  readonly cutover: Effect.Effect<void, SinkError | RebuildError>
  /** Drops the previous version (see the module header). */
  readonly dropOld: Effect.Effect<void, SinkError | RebuildError>
  /** The runner API of the rebuild's cursor (status, lag, parked entries). */
  readonly runner: Runner.Runner
}

/**
 * The rebuild service (for layers).
 *
 * @since 0.1.0
 * @category services
 */
export class Rebuild extends Context.Service<Rebuild, Service>()("@binlog/projections/Rebuild") {}

const mapFailure = (name: string, version: number, what: string) => (cause: unknown) =>
  typeof cause === "object" && cause !== null && "_tag" in cause &&
    (cause._tag === "SinkError" || cause._tag === "RebuildError")
    ? cause as SinkError | RebuildError
    : new RebuildError({ projection: name, version, reason: `${what} failed: ${String(cause)}` })

/**
 * Starts a rebuild for the lifetime of the scope (it resumes from its checkpoint if it ran before).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("Rebuild.make")(function*<Client, E, R>(
  options: Options<Client, E, R>
): Effect.fn.Return<Service, Cursor.StartError | RebuildError, R | BinLogger.BinLogger | Scope.Scope> {
  const log = yield* BinLogger.BinLogger
  const { projection, sink } = options
  const bound: Projection.Bound<E, R> = { ...Projection.bind(projection, sink), poison: options.poison }
  const name = projection.name
  const version = projection.version
  const active = yield* sink.readActive(name)
  const servingVersion = Option.isSome(active) ? active.value.version : options.serving ?? version - 1
  const isActive = Option.isSome(active) && active.value.version === version
  if (!isActive && servingVersion >= version) {
    return yield* new RebuildError({
      projection: name,
      version,
      reason: `the serving version is ${servingVersion}: a rebuild must have a higher version`
    })
  }
  const servingKey: Sink.CheckpointKey = { projection: name, version: servingVersion }
  const key: Sink.CheckpointKey = { projection: name, version }
  const cursors = yield* Cursor.start(
    { projections: [bound], batchSize: options.batchSize, retry: options.retry },
    {
      holdName: () => holdName(name, version),
      shadowOf: () => (isActive ? undefined : servingKey)
    }
  )
  const slot = cursors.engine.slots[0]!
  const services = yield* Effect.context<R>()

  const progress = Effect.gen(function*() {
    const serving = yield* sink.readCheckpoint(servingKey)
    const durableIndex = yield* log.currentIndex
    const current = yield* sink.readActive(name)
    return {
      projection: name,
      version,
      position: slot.position,
      durableIndex,
      servingVersion,
      servingPosition: serving.position,
      caughtUp: slot.position >= serving.position,
      active: Option.isSome(current) && current.value.version === version
    }
  })

  const waitFor = Effect.fnUntraced(function*(index: bigint) {
    while (slot.position < index) {
      if (slot.stopped !== undefined) {
        return yield* new RebuildError({ projection: name, version, reason: slot.stopped.message })
      }
      yield* Deferred.await(slot.signal)
    }
  })

  const awaitCaughtUp = Effect.gen(function*() {
    const durable = yield* log.currentIndex
    const serving = yield* sink.readCheckpoint(servingKey)
    yield* waitFor(durable > serving.position ? durable : serving.position)
  })

  const cutoverOnce = sink.transaction(Effect.gen(function*() {
    const serving = yield* sink.readCheckpoint(servingKey)
    const mine = yield* sink.readCheckpoint(key)
    if (mine.position < serving.position) return Option.some(serving.position)
    yield* Effect.mapError(
      options.cutover(sink.client),
      mapFailure(name, version, "cutover")
    )
    yield* sink.writeActive({
      projection: name,
      version,
      previousVersion: servingVersion,
      cutoverAtMs: Date.now()
    })
    return Option.none<bigint>()
  }))

  const cutover = Effect.gen(function*() {
    const current = yield* sink.readActive(name)
    if (Option.isSome(current) && current.value.version === version) return
    for (let attempt = 0; attempt < CUTOVER_ATTEMPTS; attempt++) {
      const behind = yield* cutoverOnce
      if (Option.isNone(behind)) {
        yield* Effect.logInfo(`projection ${name}: cut over to v${version} (was v${servingVersion})`)
        return
      }
      yield* waitFor(behind.value)
    }
    return yield* new RebuildError({
      projection: name,
      version,
      reason: `still behind the serving version after ${CUTOVER_ATTEMPTS} attempts`
    })
  }).pipe(Effect.provideContext(services), Effect.withSpan("Rebuild.cutover", { attributes: { name, version } }))

  const dropOld = dropOldVersion(sink, name, options.dropOld).pipe(
    Effect.provideContext(services),
    Effect.withSpan("Rebuild.dropOld", { attributes: { name, version } })
  )

  return { progress, awaitCaughtUp, cutover, dropOld, runner: cursors }
})

/**
 * Drops the previous version of `name` after a cutover: runs `drop(client, previousVersion)` and forgets its
 * checkpoint, parked entries and halted state, in one transaction. `RebuildError` if there is nothing to drop.
 *
 * @since 0.1.0
 * @category operations
 */
export const dropOldVersion = <Client, R>(
  sink: Sink.Sink<Client>,
  name: string,
  drop: ((client: Client, version: number) => Effect.Effect<void, unknown, R>) | undefined
): Effect.Effect<void, SinkError | RebuildError, R> =>
  sink.transaction(Effect.gen(function*() {
    const active = yield* sink.readActive(name)
    if (Option.isNone(active) || active.value.previousVersion === undefined) {
      return yield* new RebuildError({ projection: name, version: 0, reason: "no previous version to drop" })
    }
    const { previousVersion, version } = active.value
    if (drop !== undefined) {
      yield* Effect.mapError(drop(sink.client, previousVersion), mapFailure(name, version, "drop"))
    }
    yield* sink.forget({ projection: name, version: previousVersion })
    yield* sink.writeActive({ ...active.value, previousVersion: undefined })
    yield* Effect.logInfo(`projection ${name}: dropped v${previousVersion}`)
  }))
