/**
 * The metrics of the log (effect `Metric`s; export them with any Effect metrics exporter). All names start with
 * `binlog_`.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

/**
 * Entries appended (durable under the sync policy).
 *
 * @since 0.1.0
 * @category metrics
 */
export const entriesAppended = Metric.counter("binlog_entries_appended_total", { incremental: true })

/**
 * Payload bytes appended.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bytesAppended = Metric.counter("binlog_bytes_appended_total", { incremental: true })

/**
 * Entries per group commit (one write + one fdatasync).
 *
 * @since 0.1.0
 * @category metrics
 */
export const groupSize = Metric.histogram("binlog_group_commit_entries", {
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 2, count: 16 })
})

/**
 * Duration of each write + fdatasync of a group (or write only with a sync interval).
 *
 * @since 0.1.0
 * @category metrics
 */
export const commitLatency = Metric.timer("binlog_group_commit_duration")

/**
 * Duration of each background or forced fdatasync.
 *
 * @since 0.1.0
 * @category metrics
 */
export const fsyncLatency = Metric.timer("binlog_fsync_duration")

/**
 * Live segment files.
 *
 * @since 0.1.0
 * @category metrics
 */
export const segmentsLive = Metric.gauge("binlog_segments_live")

/**
 * Segment files deleted by purge.
 *
 * @since 0.1.0
 * @category metrics
 */
export const segmentsPurged = Metric.counter("binlog_segments_purged_total", { incremental: true })

/**
 * Bytes dropped by repair of a torn tail, or as an unfinished group commit, at start.
 *
 * @since 0.1.0
 * @category metrics
 */
export const repairBytesDropped = Metric.counter("binlog_repair_dropped_bytes_total", { incremental: true })

/**
 * Time from `createSnapshot` to `release`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const leaseDuration = Metric.timer("binlog_snapshot_lease_duration")

/**
 * The durable index (highest index visible to readers).
 *
 * @since 0.1.0
 * @category metrics
 */
export const durableIndex = Metric.gauge("binlog_durable_index", { bigint: true })
