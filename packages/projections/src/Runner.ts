/**
 * What the two runners have in common: options, the read-your-writes and lag API, and status.
 *
 * - {@link Runner.awaitPosition}: a command returns the index its events got (`BinLogger.log` / the event store's
 *   append); a query that must see them waits with `awaitPosition(projection, index)`. It resolves once the
 *   projection has committed a checkpoint at or beyond `index` — the read model then holds the command's effect.
 * - {@link Runner.lag}: `entries = durable index − checkpoint` exactly (indexes are dense and assigned by one
 *   writer: no gaps, no high-water-mark guesswork); `seconds` as in `ProjectionMetrics`.
 * - {@link Runner.drain}: waits until every running projection has applied everything that was durable when it was
 *   called.
 *
 * Runners start when built and stop when their scope closes: the fibers are interrupted, an open sink transaction
 * rolls back (its entries come again next time), and a snapshot lease in progress is released as failed.
 *
 * Failures: a failed transaction is rolled back and retried after the `retry` schedule's delay, from the stored
 * checkpoint (re-delivery is harmless). When the schedule ends, or on an error retrying cannot fix
 * (`CheckpointGap`), the projection stops; `awaitPosition` on it fails with `ProjectionStopped`. A projection
 * with a poison policy (`Poison.withPolicy`) isolates the failing entry instead and parks it or halts
 * (`ProjectionHalted`, persisted until {@link Runner.resume}). Projections may run in lanes (`Lanes.withLanes`).
 *
 * @since 0.1.0
 */
import type * as BinLogger from "@binlog/core/BinLogger"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Poison from "./Poison.ts"
import type * as Projection from "./Projection.ts"
import type {
  CheckpointAhead,
  DuplicateProjection,
  LanesRescaleRefused,
  ProjectionFailed,
  ProjectionHalted,
  ProjectionNotFound,
  ProjectionStopped,
  SinkError
} from "./ProjectionError.ts"
import type * as Sink from "./Sink.ts"

/**
 * Errors of starting a runner (either kind, and a rebuild's cursors): a projection name used twice, a checkpoint
 * ahead of the log or a lane count that cannot change, the sink, or reading the log.
 *
 * @since 0.1.0
 * @category errors
 */
export type StartError =
  | DuplicateProjection
  | ProjectionFailed
  | SinkError
  | CheckpointAhead
  | LanesRescaleRefused
  | BinLogger.ReadError

/**
 * Entries per sink transaction by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_BATCH_SIZE = 1_000

/**
 * The largest accepted `batchSize`: a transaction holds at most this many entries (the log's read chunks are split,
 * never merged, so a live tail commits as soon as entries arrive).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_BATCH_SIZE = 100_000

/**
 * Delay before the first retry of a failed transaction.
 *
 * @since 0.1.0
 * @category constants
 */
export const RETRY_BASE_DELAY_MS = 100

/**
 * Longest delay between retries.
 *
 * @since 0.1.0
 * @category constants
 */
export const RETRY_MAX_DELAY_MS = 30_000

/**
 * The default retry schedule: exponential from {@link RETRY_BASE_DELAY_MS}, capped at {@link RETRY_MAX_DELAY_MS},
 * forever.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRetry: Schedule.Schedule<Duration.Duration, unknown> = Schedule.min([
  Schedule.exponential(`${RETRY_BASE_DELAY_MS} millis`),
  Schedule.spaced(`${RETRY_MAX_DELAY_MS} millis`)
])

/**
 * Options of both runners.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<E, R> {
  /** The projections, each bound to its sink (`Projection.bind`). Names must be distinct. */
  readonly projections: ReadonlyArray<Projection.Bound<E, R>>
  /** Entries per sink transaction (default {@link DEFAULT_BATCH_SIZE}, at most {@link MAX_BATCH_SIZE}). */
  readonly batchSize?: number | undefined
  /** Delays between retries of a failing projection (default {@link defaultRetry}); when it ends, it stops. */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * Keep spans created inside handlers and sink statements (default `false`: the runner's own spans per range and
   * per transaction are kept, per-event spans such as `effect/sql`'s span per statement are not created — at
   * 100,000 events/s they cost more than the statements).
   */
  readonly traceHandlers?: boolean | undefined
}

/**
 * Lag of one projection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lag {
  readonly projection: string
  /** The checkpoint: last index applied and committed. */
  readonly position: bigint
  /** The log's durable index when measured. */
  readonly durableIndex: bigint
  /** `durableIndex − position` (never negative). */
  readonly entries: bigint
  /** 0 when `entries` is 0, else now − the last applied entry's timestamp; `undefined` if no timestamp is known. */
  readonly seconds: number | undefined
}

/**
 * What a projection is doing.
 *
 * @since 0.1.0
 * @category models
 */
export type State = "running" | "retrying" | "stopped" | "halted"

/**
 * Status of one projection.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProjectionStatus {
  readonly projection: string
  readonly version: number
  readonly sink: string
  readonly state: State
  readonly position: bigint
  /** Failed transactions since start. */
  readonly failures: number
  readonly lastError: string | undefined
  /** Entries in the dead-letter table (see `Poison`). */
  readonly parked: number
}

/**
 * The API of a running runner.
 *
 * @since 0.1.0
 * @category models
 */
export interface Runner {
  /** Names of the projections it runs. */
  readonly projections: ReadonlyArray<string>
  /** Resolves once `projection` has committed a checkpoint ≥ `index` (read-your-writes). */
  readonly awaitPosition: (
    projection: string,
    index: bigint
  ) => Effect.Effect<void, ProjectionNotFound | ProjectionStopped | ProjectionHalted>
  /** The checkpoint of `projection`. */
  readonly position: (projection: string) => Effect.Effect<bigint, ProjectionNotFound>
  /** The lag of `projection`, measured now. */
  readonly lag: (projection: string) => Effect.Effect<Lag, ProjectionNotFound>
  /** Every projection's status. */
  readonly status: Effect.Effect<ReadonlyArray<ProjectionStatus>>
  /** Waits until every projection has applied what was durable when called (fails if one has stopped). */
  readonly drain: Effect.Effect<void, ProjectionStopped | ProjectionHalted>
  /** The dead-letter rows of `projection` (every lane), by index. */
  readonly parked: (
    projection: string
  ) => Effect.Effect<ReadonlyArray<Sink.ParkedEntry>, ProjectionNotFound | SinkError>
  /**
   * Replays parked entries of `projection` from the log (all, or the one at `index`), each in a transaction that
   * deletes its dead-letter row; entries that fail again stay parked (see `Poison`).
   */
  readonly replayParked: (
    projection: string,
    index?: bigint
  ) => Effect.Effect<Poison.ReplayResult, ProjectionNotFound | SinkError | BinLogger.ReadError>
  /** Clears the halted (or stopped) state of `projection` in the sink and starts it again. */
  readonly resume: (projection: string) => Effect.Effect<void, ProjectionNotFound | SinkError>
}
