/**
 * Typed errors of the WAL layer. Every way a read or write can stop is one of these, naming the segment file and
 * byte offset where that makes sense, so callers can report or repair precisely instead of guessing.
 *
 * Indexes and terms are carried as decimal strings in the error payloads (they are unsigned 64-bit values and
 * must survive JSON encoding without losing precision).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A file-system operation failed (open, read, write, fdatasync, rename, ...).
 *
 * @since 0.1.0
 * @category errors
 */
export class WalIoError extends Schema.TaggedError<WalIoError>()("WalIoError", {
  op: Schema.String,
  path: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `${this.op} ${this.path}: ${cause}`
  }
}

/**
 * A record's CRC does not match the running CRC-32C of the chain, and the record is not a torn write
 * (etcd: `walpb: crc mismatch`). Data before `offset` in `file` is intact.
 *
 * @since 0.1.0
 * @category errors
 */
export class CrcMismatch extends Schema.TaggedError<CrcMismatch>()("CrcMismatch", {
  file: Schema.String,
  offset: Schema.Number,
  expected: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `${this.file} @${this.offset}: record crc ${hex(this.actual)} does not match the chain (${
      hex(this.expected)
    })`
  }
}

/**
 * A segment's leading crc record does not carry the running CRC of the previous segment (etcd: `wal: crc mismatch`).
 *
 * @since 0.1.0
 * @category errors
 */
export class CrcRecordMismatch extends Schema.TaggedError<CrcRecordMismatch>()("CrcRecordMismatch", {
  file: Schema.String,
  offset: Schema.Number,
  expected: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `${this.file} @${this.offset}: crc record ${hex(this.actual)} does not continue the chain (${
      hex(this.expected)
    })`
  }
}

/**
 * The log ends inside a record: a truncated length word, a record shorter than its length word, or a torn write
 * (a 512-byte sector of the record that is all zeros in the last segment). etcd's write-mode open fails with
 * `unexpected EOF` here; {@link Repair} truncates the segment at `offset`. `droppedBytes` counts the bytes from
 * `offset` to the end of the written data that a repair would discard.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnexpectedEof extends Schema.TaggedError<UnexpectedEof>()("UnexpectedEof", {
  file: Schema.String,
  offset: Schema.Number,
  reason: Schema.Literals(["truncated-length-word", "short-record", "torn-write", "record-past-end-of-file"]),
  droppedBytes: Schema.Number,
  lastSegment: Schema.Boolean
}) {
  override get message(): string {
    return `${this.file} @${this.offset}: unexpected end of log (${this.reason}, ${this.droppedBytes} bytes after it)`
  }
}

/**
 * A record or a message inside it is not valid protobuf (and is not a torn write).
 *
 * @since 0.1.0
 * @category errors
 */
export class RecordDecodeError extends Schema.TaggedError<RecordDecodeError>()("RecordDecodeError", {
  file: Schema.String,
  offset: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.file} @${this.offset}: undecodable record: ${this.reason}`
  }
}

/**
 * A record has a type other than metadata, entry, state, crc or snapshot (etcd: `unexpected block type`).
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownRecordType extends Schema.TaggedError<UnknownRecordType>()("UnknownRecordType", {
  file: Schema.String,
  offset: Schema.Number,
  recordType: Schema.String
}) {
  override get message(): string {
    return `${this.file} @${this.offset}: unexpected record type ${this.recordType}`
  }
}

/**
 * A metadata record differs from the first one read (etcd: `wal: conflicting metadata found`).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConflictingMetadata extends Schema.TaggedError<ConflictingMetadata>()("ConflictingMetadata", {
  file: Schema.String,
  offset: Schema.Number
}) {
  override get message(): string {
    return `${this.file} @${this.offset}: conflicting metadata record`
  }
}

/**
 * A snapshot record has the start index but another term (etcd: `wal: snapshot mismatch`).
 *
 * @since 0.1.0
 * @category errors
 */
export class SnapshotMismatch extends Schema.TaggedError<SnapshotMismatch>()("SnapshotMismatch", {
  file: Schema.String,
  offset: Schema.Number,
  index: Schema.String,
  expectedTerm: Schema.String,
  actualTerm: Schema.String
}) {
  override get message(): string {
    return `${this.file} @${this.offset}: snapshot record at index ${this.index} has term ${this.actualTerm}, expected ${this.expectedTerm}`
  }
}

/**
 * No snapshot record with the start index exists in the segments read (etcd: `wal: snapshot not found`).
 *
 * @since 0.1.0
 * @category errors
 */
export class SnapshotNotFound extends Schema.TaggedError<SnapshotNotFound>()("SnapshotNotFound", {
  dir: Schema.String,
  index: Schema.String,
  term: Schema.String
}) {
  override get message(): string {
    return `${this.dir}: no WAL snapshot record at index ${this.index} term ${this.term}`
  }
}

/**
 * An entry's index skips ahead of the next expected one (etcd: `wal: slice bounds out of range`).
 *
 * @since 0.1.0
 * @category errors
 */
export class IndexGap extends Schema.TaggedError<IndexGap>()("IndexGap", {
  file: Schema.String,
  offset: Schema.Number,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message(): string {
    return `${this.file} @${this.offset}: entry index ${this.actual} leaves a gap (expected ${this.expected})`
  }
}

/**
 * An entry rewrites an index already read (a raft log overwrite). etcd's ReadAll accepts it by dropping the
 * later entries; streaming reads, which have already handed the older entries out, fail with this instead.
 *
 * @since 0.1.0
 * @category errors
 */
export class EntryOverwrite extends Schema.TaggedError<EntryOverwrite>()("EntryOverwrite", {
  file: Schema.String,
  offset: Schema.Number,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message(): string {
    return `${this.file} @${this.offset}: entry index ${this.actual} overwrites an earlier entry (expected ${this.expected})`
  }
}

/**
 * No usable segment: the directory holds no `.wal` file, no segment starts at or below the wanted index, or the
 * sequence numbers of the segments to read are not consecutive (etcd: `wal: file not found`).
 *
 * @since 0.1.0
 * @category errors
 */
export class WalNotFound extends Schema.TaggedError<WalNotFound>()("WalNotFound", {
  dir: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.dir}: ${this.reason}`
  }
}

/**
 * `create` was called on a directory that already holds a WAL.
 *
 * @since 0.1.0
 * @category errors
 */
export class WalExists extends Schema.TaggedError<WalExists>()("WalExists", {
  dir: Schema.String
}) {
  override get message(): string {
    return `${this.dir} already holds a WAL`
  }
}

/**
 * Another writer (in this process or another live process) holds the WAL directory.
 *
 * @since 0.1.0
 * @category errors
 */
export class WalLocked extends Schema.TaggedError<WalLocked>()("WalLocked", {
  dir: Schema.String,
  holder: Schema.String
}) {
  override get message(): string {
    return `${this.dir} is locked by ${this.holder}`
  }
}

/**
 * A `.snap` file is unusable: empty, undecodable, zero CRC, CRC mismatch, or a name that does not parse.
 *
 * @since 0.1.0
 * @category errors
 */
export class SnapCorrupt extends Schema.TaggedError<SnapCorrupt>()("SnapCorrupt", {
  file: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.file}: ${this.reason}`
  }
}

/**
 * Every error a WAL read can end with.
 *
 * @since 0.1.0
 * @category errors
 */
export type WalReadError =
  | WalIoError
  | CrcMismatch
  | CrcRecordMismatch
  | UnexpectedEof
  | RecordDecodeError
  | UnknownRecordType
  | ConflictingMetadata
  | SnapshotMismatch
  | SnapshotNotFound
  | IndexGap
  | EntryOverwrite
  | WalNotFound

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, "0")}`
