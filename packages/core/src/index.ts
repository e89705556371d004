/**
 * `@binlog/core`: a crash-safe binary log in etcd's WAL format as an Effect service, the format layer under it,
 * and an event store on top. Modules are namespaces: `BinLogger.BinLogger`, `BinLogger.layer`, `Reader.readAll`.
 *
 * @since 0.1.0
 */

/** The log service (start/recover, log, snapshot leases, reads, retention). @since 0.1.0 */
export * as BinLogger from "./BinLogger.ts"

/** The event envelope: wire format of one event per WAL entry. @since 0.1.0 */
export * as Envelope from "./Envelope.ts"

/** Event types: Schema, version, upcasters, registries. @since 0.1.0 */
export * as EventType from "./EventType.ts"

/** The event store: streams, expected versions, atomic multi-stream appends, reads. @since 0.1.0 */
export * as EventStore from "./EventStore.ts"

/** Errors of the event store. @since 0.1.0 */
export * as EventStoreError from "./EventStoreError.ts"

/** Deciders (decide/evolve/initialState). @since 0.1.0 */
export * as Decider from "./Decider.ts"

/** Command handling: load, decide, append, retry. @since 0.1.0 */
export * as CommandHandler from "./CommandHandler.ts"

/** Aggregate state snapshots beside the WAL. @since 0.1.0 */
export * as AggregateSnapshots from "./AggregateSnapshots.ts"

/** given/when/then test kit for deciders. @since 0.1.0 */
export * as DeciderSpec from "./DeciderSpec.ts"

/** A Promise API over the log for callers that do not use Effect. @since 0.1.0 */
export * as BinLoggerClient from "./BinLoggerClient.ts"

/** Errors of the log service. @since 0.1.0 */
export * as LogError from "./LogError.ts"

/** Metrics of the log. @since 0.1.0 */
export * as Metrics from "./Metrics.ts"

/** Archiving of sealed segments. @since 0.1.0 */
export * as Archive from "./Archive.ts"

/** Retention holds and purge planning. @since 0.1.0 */
export * as Retention from "./Retention.ts"

/** CRC-32C (Castagnoli). @since 0.1.0 */
export * as Crc32c from "./Crc32c.ts"

/** etcd's protobuf messages (protobufjs). @since 0.1.0 */
export * as Proto from "./Proto.ts"

/** The hand-written hot-path codec for records and entries. @since 0.1.0 */
export * as RecordCodec from "./RecordCodec.ts"

/** Frame encoder with the rolling CRC. @since 0.1.0 */
export * as Encoder from "./Encoder.ts"

/** Frame decoder (torn-write rule). @since 0.1.0 */
export * as Decoder from "./Decoder.ts"

/** Reading a WAL directory with etcd's rules; entry streams. @since 0.1.0 */
export * as Reader from "./Reader.ts"

/** Segment names, listing and selection. @since 0.1.0 */
export * as Segment from "./Segment.ts"

/** The segment pipeline (preallocated next segment). @since 0.1.0 */
export * as SegmentPipeline from "./SegmentPipeline.ts"

/** The WAL lifecycle: create, open for write, save, cut. @since 0.1.0 */
export * as Wal from "./Wal.ts"

/** Torn-tail repair. @since 0.1.0 */
export * as Repair from "./Repair.ts"

/** `.snap` files. @since 0.1.0 */
export * as Snap from "./Snap.ts"

/** The WAL directory lock. @since 0.1.0 */
export * as FileLock from "./FileLock.ts"

/** Typed errors of the WAL layer. @since 0.1.0 */
export * as WalError from "./WalError.ts"
