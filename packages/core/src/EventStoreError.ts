/**
 * Typed errors of the {@link EventStore}. An append that fails with any of them wrote nothing.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The stream's version did not match the append's expectation. `actual` is the version at the moment the check ran
 * inside the writer (0: the stream does not exist).
 *
 * @since 0.1.0
 * @category errors
 */
export class WrongExpectedVersion extends Schema.TaggedError<WrongExpectedVersion>()("WrongExpectedVersion", {
  streamId: Schema.String,
  /** `"any"`, `"noStream"`, `"streamExists"` or the exact version expected. */
  expected: Schema.String,
  actual: Schema.BigInt
}) {
  override get message(): string {
    return `stream ${this.streamId}: expected version ${this.expected}, actual ${this.actual}`
  }
}

/**
 * Some, but not all, event ids of an append are already stored, or an id repeats within the append: the request
 * is neither new nor a retry of an earlier append.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateEventId extends Schema.TaggedError<DuplicateEventId>()("DuplicateEventId", {
  eventId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `event id ${this.eventId}: ${this.reason}`
  }
}

/**
 * The append request itself is invalid (no events, a stream listed twice, an id too long, too many events, an
 * envelope too large).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidAppend extends Schema.TaggedError<InvalidAppend>()("InvalidAppend", {
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid append: ${this.reason}`
  }
}

/**
 * The stream table could not be rebuilt at start (an event does not continue its stream, or the log holds an
 * envelope of an unknown format version).
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamTableCorrupt extends Schema.TaggedError<StreamTableCorrupt>()("StreamTableCorrupt", {
  index: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `stream table: entry ${this.index}: ${this.reason}`
  }
}
