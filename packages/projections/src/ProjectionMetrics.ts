/**
 * Metrics of the projection runners (effect `Metric`s; export them with any Effect metrics exporter). Every series
 * carries the attributes `projection` (the name) and `projection_version`. All names start with
 * `binlog_projection_`.
 *
 * - `binlog_projection_lag_entries`: durable index − checkpoint, exactly (the log's indexes are dense, so this is
 *   the number of entries the projection has not applied yet, including ones it skips).
 * - `binlog_projection_lag_seconds`: 0 when `lag_entries` is 0; otherwise the age of the last applied entry, i.e.
 *   now − its envelope timestamp (MySQL's "seconds behind source"). Not updated while no timestamp is known (raw
 *   projections without a `timestamp` function, or nothing applied yet).
 * - `binlog_projection_position`: the checkpoint (last index applied and committed).
 * - `binlog_projection_events_applied_total` / `_skipped_total`: entries handed to a handler / skipped without
 *   decoding (no handler for their type). `_redelivered_total`: entries at or below the checkpoint delivered again
 *   (after a failure or a crash) and dropped.
 * - `binlog_projection_transaction_duration`, `binlog_projection_batch_entries`: per sink transaction.
 * - `binlog_projection_failures_total`: failed transactions (rolled back; the entries come again).
 * - `binlog_projection_events_parked_total`, `_events_replayed_total`, gauge `binlog_projection_parked_entries`:
 *   poison entries parked in the dead-letter table, replayed, and still parked; gauge `binlog_projection_halted`.
 *
 * Gauges are updated when the runner commits, fails, or wakes up for new entries; `lag(name)` on a runner computes
 * the same values on demand.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

/**
 * @since 0.1.0
 * @category metrics
 */
export const lagEntries = Metric.gauge("binlog_projection_lag_entries")

/**
 * @since 0.1.0
 * @category metrics
 */
export const lagSeconds = Metric.gauge("binlog_projection_lag_seconds")

/**
 * @since 0.1.0
 * @category metrics
 */
export const position = Metric.gauge("binlog_projection_position")

/**
 * @since 0.1.0
 * @category metrics
 */
export const eventsApplied = Metric.counter("binlog_projection_events_applied_total", { incremental: true })

/**
 * @since 0.1.0
 * @category metrics
 */
export const eventsSkipped = Metric.counter("binlog_projection_events_skipped_total", { incremental: true })

/**
 * @since 0.1.0
 * @category metrics
 */
export const eventsRedelivered = Metric.counter("binlog_projection_events_redelivered_total", { incremental: true })

/**
 * @since 0.1.0
 * @category metrics
 */
export const transactionDuration = Metric.timer("binlog_projection_transaction_duration")

/**
 * @since 0.1.0
 * @category metrics
 */
export const batchEntries = Metric.histogram("binlog_projection_batch_entries", {
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 2, count: 16 })
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const failures = Metric.counter("binlog_projection_failures_total", { incremental: true })

/**
 * The metrics of one projection (each with its attributes).
 *
 * @since 0.1.0
 * @category models
 */
export interface ProjectionMetrics {
  readonly lagEntries: typeof lagEntries
  readonly lagSeconds: typeof lagSeconds
  readonly position: typeof position
  readonly eventsApplied: typeof eventsApplied
  readonly eventsSkipped: typeof eventsSkipped
  readonly eventsRedelivered: typeof eventsRedelivered
  readonly transactionDuration: typeof transactionDuration
  readonly batchEntries: typeof batchEntries
  readonly failures: typeof failures
}

/**
 * The metrics of one projection, tagged with its name and version.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forProjection = (name: string, version: number): ProjectionMetrics => {
  const attributes = { projection: name, projection_version: String(version) }
  return {
    lagEntries: Metric.withAttributes(lagEntries, attributes),
    lagSeconds: Metric.withAttributes(lagSeconds, attributes),
    position: Metric.withAttributes(position, attributes),
    eventsApplied: Metric.withAttributes(eventsApplied, attributes),
    eventsSkipped: Metric.withAttributes(eventsSkipped, attributes),
    eventsRedelivered: Metric.withAttributes(eventsRedelivered, attributes),
    transactionDuration: Metric.withAttributes(transactionDuration, attributes),
    batchEntries: Metric.withAttributes(batchEntries, attributes),
    failures: Metric.withAttributes(failures, attributes)
  }
}

/**
 * Entries parked by a poison policy (failed or blocked behind a parked entry of their stream).
 *
 * @since 0.1.0
 * @category metrics
 */
export const eventsParked = Metric.counter("binlog_projection_events_parked_total", { incremental: true })

/**
 * Parked entries replayed successfully.
 *
 * @since 0.1.0
 * @category metrics
 */
export const eventsReplayed = Metric.counter("binlog_projection_events_replayed_total", { incremental: true })

/**
 * Entries currently parked (the dead-letter table's rows for the projection).
 *
 * @since 0.1.0
 * @category metrics
 */
export const parkedEntries = Metric.gauge("binlog_projection_parked_entries")

/**
 * 1 while the projection is halted by the `stop` policy, else 0.
 *
 * @since 0.1.0
 * @category metrics
 */
export const halted = Metric.gauge("binlog_projection_halted")

/**
 * The poison-event metrics of one projection, tagged with its name and version.
 *
 * @since 0.1.0
 * @category constructors
 */
export const poisonForProjection = (name: string, version: number) => {
  const attributes = { projection: name, projection_version: String(version) }
  return {
    eventsParked: Metric.withAttributes(eventsParked, attributes),
    eventsReplayed: Metric.withAttributes(eventsReplayed, attributes),
    parkedEntries: Metric.withAttributes(parkedEntries, attributes),
    halted: Metric.withAttributes(halted, attributes)
  }
}
