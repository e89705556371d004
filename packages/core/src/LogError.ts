/**
 * Typed errors of the {@link BinLogger} service (the WAL layer's own errors are in {@link WalError}).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * `log` was called with no entries. Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class EmptyBatch extends Schema.TaggedError<EmptyBatch>()("EmptyBatch", {}) {
  override get message(): string {
    return "log: the batch is empty"
  }
}

/**
 * An entry is larger than the configured limit. Nothing of the batch was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class EntryTooLarge extends Schema.TaggedError<EntryTooLarge>()("EntryTooLarge", {
  position: Schema.Number,
  bytes: Schema.Number,
  limitBytes: Schema.Number
}) {
  override get message(): string {
    return `log: entry ${this.position} of the batch has ${this.bytes} bytes (limit ${this.limitBytes})`
  }
}

/**
 * Appending the batch would take an index past 2^64 − 1 (go-binlogger's `ErrIndexOverflow`). Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class IndexOverflow extends Schema.TaggedError<IndexOverflow>()("IndexOverflow", {
  lastIndex: Schema.String,
  entries: Schema.Number
}) {
  override get message(): string {
    return `log: ${this.entries} entries after index ${this.lastIndex} would pass 2^64-1`
  }
}

/**
 * The writer stopped after an I/O failure (a failed write or fdatasync cannot be retried safely: the kernel may
 * have dropped the dirty pages). Every later `log` fails with this error; restart the logger, whose recovery
 * repairs the tail.
 *
 * @since 0.1.0
 * @category errors
 */
export class WriterStopped extends Schema.TaggedError<WriterStopped>()("WriterStopped", {
  reason: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    return `the log writer stopped: ${this.reason}`
  }
}

/**
 * The logger is shutting down; the request was not written.
 *
 * @since 0.1.0
 * @category errors
 */
export class LoggerClosed extends Schema.TaggedError<LoggerClosed>()("LoggerClosed", {}) {
  override get message(): string {
    return "the logger is closed"
  }
}

/**
 * `createSnapshot` was called while another lease is outstanding. Only one lease exists at a time; wait for the
 * holder to release it.
 *
 * @since 0.1.0
 * @category errors
 */
export class SnapshotLeaseBusy extends Schema.TaggedError<SnapshotLeaseBusy>()("SnapshotLeaseBusy", {
  prevIndex: Schema.String,
  currentIndex: Schema.String
}) {
  override get message(): string {
    return `a snapshot lease for (${this.prevIndex}, ${this.currentIndex}] is outstanding`
  }
}

/**
 * `entriesArray` of a lease was asked for a range larger than its limit; use the `entries` stream.
 *
 * @since 0.1.0
 * @category errors
 */
export class RangeTooLarge extends Schema.TaggedError<RangeTooLarge>()("RangeTooLarge", {
  entries: Schema.String,
  limit: Schema.Number
}) {
  override get message(): string {
    return `the range holds ${this.entries} entries, more than ${this.limit}; read it as a stream`
  }
}

/**
 * A read asked for entries the log no longer (or never) had: below the first retained index, or `from` < 1.
 *
 * @since 0.1.0
 * @category errors
 */
export class IndexUnavailable extends Schema.TaggedError<IndexUnavailable>()("IndexUnavailable", {
  index: Schema.String,
  firstIndex: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `index ${this.index} is not available (first retained index ${this.firstIndex}): ${this.reason}`
  }
}

/**
 * Start could not find a consistent place to open the log: no `.snap` file has a matching WAL snapshot record and
 * the log does not start at index 0 (segments were purged), or the WAL is corrupt before its tail.
 *
 * @since 0.1.0
 * @category errors
 */
export class RecoveryFailed extends Schema.TaggedError<RecoveryFailed>()("RecoveryFailed", {
  walDir: Schema.String,
  reason: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    return `cannot open ${this.walDir}: ${this.reason}`
  }
}
