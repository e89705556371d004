/**
 * `@binlog/projections`: projection runners that apply binlog entries to read models exactly once — the read-model
 * changes and the checkpoint commit in one sink transaction, and entries at or below the checkpoint are skipped.
 * Modules are namespaces: `Projection.make`, `SnapshotRunner.layer`, `SqlSink.sqlite`.
 *
 * @since 0.1.0
 */

/** Projections: name, version, handlers per event type (or raw entries), bound to a sink. @since 0.1.0 */
export * as Projection from "./Projection.ts"

/** The runner that applies snapshot leases and releases them after every projection committed. @since 0.1.0 */
export * as SnapshotRunner from "./SnapshotRunner.ts"

/** The runner that reads from each projection's own checkpoint and follows live, with a retention hold. @since 0.1.0 */
export * as CursorRunner from "./CursorRunner.ts"

/** What both runners share: options, awaitPosition, lag, status. @since 0.1.0 */
export * as Runner from "./Runner.ts"

/** The sink model: transactions and checkpoints. @since 0.1.0 */
export * as Sink from "./Sink.ts"

/** The in-memory sink. @since 0.1.0 */
export * as MemorySink from "./MemorySink.ts"

/** SQL sinks over `effect/sql`: SQLite (embedded default) and PostgreSQL. @since 0.1.0 */
export * as SqlSink from "./SqlSink.ts"

/** A minimal `effect/sql` client over Node's built-in `node:sqlite`. @since 0.1.0 */
export * as SqliteClient from "./SqliteClient.ts"

/** Metrics of the runners (lag, applied/skipped events, transactions). @since 0.1.0 */
export * as ProjectionMetrics from "./ProjectionMetrics.ts"

/** Errors of projections, sinks and runners. @since 0.1.0 */
export * as ProjectionError from "./ProjectionError.ts"

/** Poison events: bisection, retry, park (dead letters) or stop, per-stream ordering, replay. @since 0.1.0 */
export * as Poison from "./Poison.ts"

/** Partitioned lanes: FNV-1a of the stream id mod N, a checkpoint per lane. @since 0.1.0 */
export * as Lanes from "./Lanes.ts"

/** Rebuilds: a new version from the log (archive included), cutover in one transaction, drop-old. @since 0.1.0 */
export * as Rebuild from "./Rebuild.ts"

/** Projection administration commands (`effect/cli`) to mount in your own binary. @since 0.1.0 */
export * as ProjectionsCli from "./ProjectionsCli.ts"

/** The test kit: given(events).then(rows), and delivery twice. @since 0.1.0 */
export * as ProjectionSpec from "./ProjectionSpec.ts"
