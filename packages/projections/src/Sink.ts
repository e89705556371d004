/**
 * Where a projection writes: a read-model store with transactions and a checkpoint table.
 *
 * A sink gives projection handlers a **client** (`MemorySink`: a `MemoryStore`; `SqlSink`: an
 * `effect/sql` `SqlClient` over SQLite or PostgreSQL) and runs **transactions**. The runners rely on one rule: the
 * read-model changes of a batch and the projection's new checkpoint are written in the same transaction, so after
 * any crash the stored checkpoint says exactly which entries the read model contains. Entries at or below it are
 * skipped when delivered again, which makes re-delivery harmless without idempotent handlers.
 *
 * Checkpoints are keyed by `(projection, version)`: a new version of a projection starts from 0 beside the old one
 * (blue/green), and writes its tables under new names (use the version in table names).
 *
 * Besides checkpoints, a sink keeps three small tables the runners write in the same transactions (poison events,
 * rebuilds, see `Poison` and `Rebuild`): **parked** entries (the dead-letter table: index, event type, stream, error —
 * never the entry's bytes, which stay in the log), the **halted** state of projections stopped by the `stop` policy
 * (it survives restarts until `resume`), and the **active version** of each projection name (blue/green cutover).
 *
 * Positions are WAL indexes. SQL sinks store them as signed 64-bit integers: indexes above 2^63 − 1 are refused
 * as a defect.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { SinkError } from "./ProjectionError.ts"

/**
 * Identifies a checkpoint row.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckpointKey {
  readonly projection: string
  readonly version: number
}

/**
 * A stored checkpoint: the last index applied, and the envelope timestamp of that entry when known (for the lag in
 * seconds after a restart).
 *
 * @since 0.1.0
 * @category models
 */
export interface Checkpoint {
  readonly position: bigint
  /** Milliseconds since the Unix epoch of the entry at `position`, or `undefined`. */
  readonly timestamp: number | undefined
}

/**
 * The checkpoint of a projection that never committed anything.
 *
 * @since 0.1.0
 * @category constants
 */
export const emptyCheckpoint: Checkpoint = { position: 0n, timestamp: undefined }

/**
 * The largest position SQL sinks store (2^63 − 1, a signed 64-bit integer).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_SQL_POSITION = (1n << 63n) - 1n

/**
 * A read-model store with transactions and checkpoints.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sink<Client> extends SinkState {
  /** `"memory"`, `"sqlite"`, `"postgres"`: used in errors, spans and metric attributes. */
  readonly kind: string
  /** The client handlers receive; inside {@link Sink.transaction} its statements belong to that transaction. */
  readonly client: Client
  /**
   * Runs `effect` in one transaction: commits when it succeeds, rolls back when it fails, dies or is interrupted.
   * Transactions of one sink never interleave.
   */
  readonly transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SinkError, R>
  /**
   * Creates the checkpoint row if it is missing (at position 0) and returns the stored checkpoint. Runners call it
   * once at start, so that later reads inside transactions can lock the row.
   */
  readonly register: (key: CheckpointKey) => Effect.Effect<Checkpoint, SinkError>
  /**
   * Reads a checkpoint ({@link emptyCheckpoint} when absent); inside a transaction, that transaction's view, and
   * (PostgreSQL) with the row locked until it ends, so two runners of one projection cannot both apply a batch.
   */
  readonly readCheckpoint: (key: CheckpointKey) => Effect.Effect<Checkpoint, SinkError>
  /** Writes a checkpoint; inside a transaction it commits or rolls back with it. */
  readonly writeCheckpoint: (key: CheckpointKey, checkpoint: Checkpoint) => Effect.Effect<void, SinkError>
}

/**
 * Why an entry was parked: its projection failed on it (`"failed"`), or an earlier entry of its stream is parked
 * and per-stream ordering holds the stream back (`"blocked"`).
 *
 * @since 0.1.0
 * @category models
 */
export type ParkReason = "failed" | "blocked"

/**
 * A row of the dead-letter table: the entry stays in the log; this says which one, and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface ParkedEntry {
  readonly index: bigint
  readonly eventType: string | undefined
  readonly streamId: string | undefined
  readonly reason: ParkReason
  readonly error: string
  /** Replays attempted since it was parked. */
  readonly attempts: number
  readonly parkedAtMs: number
}

/**
 * The persisted halted state of a projection stopped by the `stop` policy.
 *
 * @since 0.1.0
 * @category models
 */
export interface Halted {
  /** The entry it halted on. */
  readonly index: bigint
  readonly error: string
  readonly haltedAtMs: number
}

/**
 * The active version of a projection name (after a rebuild's cutover), and the version it replaced (until
 * `drop-old`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ActiveVersion {
  readonly projection: string
  readonly version: number
  readonly previousVersion: number | undefined
  readonly cutoverAtMs: number
}

/**
 * A checkpoint row as listed by {@link Sink.checkpoints}.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckpointRow extends CheckpointKey {
  readonly position: bigint
  readonly timestamp: number | undefined
  readonly updatedAtMs: number
}

/**
 * The state a sink keeps besides checkpoints (dead letters, halted state, active versions). Every method joins
 * the current transaction when called inside {@link Sink.transaction}.
 *
 * @since 0.1.0
 * @category models
 */
export interface SinkState {
  /** Inserts (or replaces) a dead-letter row. */
  readonly park: (key: CheckpointKey, entry: ParkedEntry) => Effect.Effect<void, SinkError>
  /** The dead-letter rows of a projection, by index. */
  readonly parked: (key: CheckpointKey) => Effect.Effect<ReadonlyArray<ParkedEntry>, SinkError>
  /** Deletes a dead-letter row (the entry was replayed). */
  readonly unpark: (key: CheckpointKey, index: bigint) => Effect.Effect<void, SinkError>
  readonly readHalted: (key: CheckpointKey) => Effect.Effect<Option.Option<Halted>, SinkError>
  /** Writes the halted state, or clears it (`Option.none()`). */
  readonly writeHalted: (key: CheckpointKey, halted: Option.Option<Halted>) => Effect.Effect<void, SinkError>
  readonly readActive: (projection: string) => Effect.Effect<Option.Option<ActiveVersion>, SinkError>
  readonly writeActive: (active: ActiveVersion) => Effect.Effect<void, SinkError>
  /** Every checkpoint row (for status listings). */
  readonly checkpoints: Effect.Effect<ReadonlyArray<CheckpointRow>, SinkError>
  /** Deletes a projection version's checkpoint, dead-letter rows and halted state (drop-old, lane re-keying). */
  readonly forget: (key: CheckpointKey) => Effect.Effect<void, SinkError>
}
