/**
 * The event store: streams with optimistic concurrency on top of the {@link BinLogger}, one event per WAL entry
 * (see {@link Envelope} for the entry format).
 *
 * - **Append** (`append`, `appendMany`): events are encoded through their `EventType` schemas outside the writer;
 *   the expected-version check, the idempotency check, stream-version assignment and envelope encoding then run
 *   **inside the log's single writer** (`BinLogger.logPrepared`), in index order, against an in-memory stream table:
 *   O(1) per stream, race-free (two concurrent appends to one stream can never both pass), and a rejected append
 *   writes nothing. `appendMany` appends to several streams, each with its own expectation, as one WAL batch: all or
 *   nothing, also across crashes (the log drops an unfinished group commit at start).
 * - **Expected versions**: `any`, `noStream` (version 0), `streamExists` (version > 0), `exact(n)`. A stream's version
 *   is its number of events; an event's `streamVersion` is its 1-based position.
 * - **Idempotent retries**: the ids of the last `idempotencyWindow` events (default
 *   {@link DEFAULT_IDEMPOTENCY_WINDOW}, oldest evicted first; ~80 bytes each for UUID ids, more for other ids) are
 *   remembered. An append whose event ids are *all* in the window, in the same streams, is acknowledged with the
 *   original positions (`idempotent: true`) once those are durable, and nothing is written; an append mixing stored
 *   and new ids fails with `DuplicateEventId`. Older duplicates are not detected.
 * - **Reads**: `readStream` reads one stream's events by position (the stream table lists each event's global
 *   index: 8 bytes per event) through a positional reader with a lazily built per-segment offset index (8 bytes per
 *   indexed entry), so it never scans the log; `readAll` reads the global order, optionally following live. Both
 *   decode lazily and upcast through the `EventType` registry given; only durable entries are visible.
 * - **Restart**: every `checkpointEvery` events (and at close) the stream table is checkpointed, atomically, once the
 *   covered entries are durable: as a delta of what changed since the previous checkpoint (`streams-<index>.delta`),
 *   or whole (`.ckpt`) for the first, after {@link MAX_DELTA_CHECKPOINTS} deltas, or once the deltas hold as many
 *   events as the last whole one (so the cost per event stays constant). Start loads the newest valid whole one,
 *   the deltas that continue it, and replays only the tail (entry headers); a damaged delta ends the chain there.
 *
 * Limits: {@link MAX_APPEND_EVENTS} events per append; ids up to `Envelope.MAX_ID_BYTES`; an encoded event must fit
 * the logger's `maxEntryBytes` (checked while the append is prepared, so an oversized event fails the append as
 * `InvalidAppend` and nothing is recorded). If the log's writer stops (an I/O error),
 * the store stops accepting appends; restart it to rebuild from the log.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as BinLogger from "./BinLogger.ts"
import type * as Envelope from "./Envelope.ts"
import type { DuplicateEventId, InvalidAppend, StreamTableCorrupt, WrongExpectedVersion } from "./EventStoreError.ts"
import * as EventType from "./EventType.ts"
import * as Store from "./internal/eventstore/store.ts"
import { withSpanIfTraced } from "./internal/tracing.ts"
import type { LoggerClosed, RecoveryFailed, WriterStopped } from "./LogError.ts"
import type { WalIoError, WalLocked } from "./WalError.ts"

/**
 * Event ids remembered for idempotent retries by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_IDEMPOTENCY_WINDOW = 100_000

/**
 * Events appended between two stream-table checkpoints by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CHECKPOINT_EVERY_EVENTS = 100_000

/**
 * Most events in one append (all streams together).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_APPEND_EVENTS = 10_000

/**
 * Full stream-table checkpoints kept in the directory (the newest and the one before), with the delta checkpoints
 * that follow the older one.
 *
 * @since 0.1.0
 * @category constants
 */
export const KEEP_CHECKPOINTS = 2

/**
 * Delta checkpoints written after a full one before the next full one at the latest (a restart reads the full one and
 * at most this many deltas before replaying the log's tail).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_DELTA_CHECKPOINTS = 64

// --- expected versions ---

/**
 * What an append expects of a stream's version.
 *
 * @since 0.1.0
 * @category models
 */
export type ExpectedVersion =
  | { readonly _tag: "Any" }
  | { readonly _tag: "NoStream" }
  | { readonly _tag: "StreamExists" }
  | { readonly _tag: "Exact"; readonly version: bigint }

/**
 * Constructors of {@link ExpectedVersion}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ExpectedVersion = {
  any: { _tag: "Any" } as ExpectedVersion,
  noStream: { _tag: "NoStream" } as ExpectedVersion,
  streamExists: { _tag: "StreamExists" } as ExpectedVersion,
  exact: (version: bigint): ExpectedVersion => ({ _tag: "Exact", version })
} as const

// --- models ---

/**
 * An event to append with its own id and metadata (plain events get a random UUID and the append's metadata).
 *
 * @since 0.1.0
 * @category models
 */
export interface EventInput<E> {
  readonly event: E
  readonly eventId?: string | undefined
  readonly correlationId?: string | undefined
  readonly causationId?: string | undefined
  readonly metadata?: Readonly<Record<string, string>> | undefined
}

/**
 * Metadata applied to every event of an append that does not set its own.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendOptions {
  readonly correlationId?: string | undefined
  readonly causationId?: string | undefined
  readonly metadata?: Readonly<Record<string, string>> | undefined
}

/**
 * An event already encoded by its type (what the service's low-level `appendEncoded` takes).
 *
 * @since 0.1.0
 * @category models
 */
export interface EncodedEvent extends EventType.EncodedPayload {
  readonly eventId: string
  readonly correlationId: string | undefined
  readonly causationId: string | undefined
  readonly metadata: Readonly<Record<string, string>> | undefined
}

/**
 * One stream's part of an append.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamAppend<A> {
  readonly streamId: string
  readonly expectedVersion: ExpectedVersion
  readonly events: ReadonlyArray<A>
}

/**
 * The outcome of `appendMany`: each stream's new version (in request order) and the global index range.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendManyResult {
  readonly streams: ReadonlyArray<{ readonly streamId: string; readonly streamVersion: bigint }>
  readonly first: bigint
  readonly last: bigint
  /** The events were already stored (an idempotent retry): nothing was written. */
  readonly idempotent: boolean
}

/**
 * The outcome of `append`: the stream's new version and the global index range of the events.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendResult {
  readonly streamVersion: bigint
  readonly first: bigint
  readonly last: bigint
  readonly idempotent: boolean
}

/**
 * An entry of the store with its decoded envelope header; `payload` is a view over the read buffer.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedEntry extends Envelope.DecodedHeader {
  readonly index: bigint
}

/**
 * A decoded, upcast event with its position and metadata.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedEvent<E> {
  readonly index: bigint
  readonly streamId: string
  readonly streamVersion: bigint
  readonly eventId: string
  readonly timestamp: number
  /** The schema version the event was written with (before upcasting). */
  readonly schemaVersion: number
  readonly correlationId: string | undefined
  readonly causationId: string | undefined
  readonly metadata: Readonly<Record<string, string>>
  readonly transaction: Envelope.Transaction
  readonly event: E
}

/**
 * Errors of appends (nothing was written when one is returned).
 *
 * @since 0.1.0
 * @category errors
 */
export type AppendError =
  | WrongExpectedVersion
  | DuplicateEventId
  | InvalidAppend
  | EventType.EventEncodeError
  | BinLogger.LogError

/**
 * Errors of reading entries.
 *
 * @since 0.1.0
 * @category errors
 */
export type ReadError = BinLogger.ReadError | Envelope.DecodeError

/**
 * Errors of reading typed events.
 *
 * @since 0.1.0
 * @category errors
 */
export type ReadEventError = ReadError | EventType.EventDecodeError | EventType.UnknownEventType

/**
 * Errors of writing a checkpoint.
 *
 * @since 0.1.0
 * @category errors
 */
export type CheckpointError = WalIoError | WriterStopped | LoggerClosed

/**
 * What `stats` reports.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly streams: number
  /** Events listed in the stream table. */
  readonly events: number
  /** Highest index the stream table reflects (may be ahead of the durable index for a moment). */
  readonly tableIndex: bigint
  readonly recentIds: number
  /** Bytes allocated by the stream table's index lists. */
  readonly streamIndexBytes: number
  /** Bytes allocated by the positional reader's offset tables. */
  readonly entryIndexBytes: number
  readonly lastCheckpointIndex: bigint
}

/**
 * Options of the store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Directory of the stream-table checkpoints (created if missing); keep it beside the WAL. */
  readonly dir: string
  readonly idempotencyWindow?: number | undefined
  readonly checkpointEvery?: number | undefined
}

// --- metrics ---

/**
 * Events appended through the store.
 *
 * @since 0.1.0
 * @category metrics
 */
export const eventsAppended = Metric.counter("binlog_es_events_appended_total", { incremental: true })

/**
 * Appends rejected by an expected-version check.
 *
 * @since 0.1.0
 * @category metrics
 */
export const versionConflicts = Metric.counter("binlog_es_version_conflicts_total", { incremental: true })

/**
 * Appends acknowledged as idempotent retries.
 *
 * @since 0.1.0
 * @category metrics
 */
export const idempotentAppends = Metric.counter("binlog_es_idempotent_appends_total", { incremental: true })

/**
 * Duration of writing a stream-table checkpoint.
 *
 * @since 0.1.0
 * @category metrics
 */
export const checkpointDuration = Metric.timer("binlog_es_checkpoint_duration")

// --- service ---

/**
 * The event store service (low level: encoded events and entries). Use the typed module functions
 * ({@link append}, {@link appendMany}, {@link readStream}, {@link readAll}) with an `EventType.Registry`.
 *
 * @since 0.1.0
 * @category services
 */
export class EventStore extends Context.Service<EventStore, {
  /**
   * Appends encoded events to one or more streams atomically. No span of its own (it is the hot path under
   * `append`, `appendMany` and `CommandHandler.handle`, which have theirs).
   */
  readonly appendEncoded: (
    appends: ReadonlyArray<StreamAppend<EncodedEvent>>
  ) => Effect.Effect<AppendManyResult, AppendError>
  /** A stream's current version (0 when it does not exist), as the writer sees it. */
  readonly streamVersion: (streamId: string) => Effect.Effect<bigint>
  /**
   * Where an event id was stored, if it is within the idempotency window (resolves once that entry is durable).
   */
  readonly findEventId: (
    eventId: string
  ) => Effect.Effect<
    Option.Option<{ readonly streamId: string; readonly streamVersion: bigint; readonly index: bigint }>,
    WriterStopped | LoggerClosed
  >
  /**
   * A stream's current version and the global index of its last event (both 0n when it does not exist), as the
   * writer sees them: one O(1) look-up, e.g. to check that a cached state is still current.
   */
  readonly streamHead: (streamId: string) => Effect.Effect<{ readonly version: bigint; readonly index: bigint }>
  /**
   * Synchronous {@link streamHead} comparison: whether the stream's current version and the global index of its last
   * event are `version` and `index` (0n and 0n for a stream that does not exist). Reads the writer's in-memory table
   * without an Effect or an allocation, for per-command checks such as a state cache's (`CommandHandler`).
   */
  readonly isHeadUnsafe: (streamId: string, version: bigint, index: bigint) => boolean
  /** The global index of a stream's event at `version`, if the stream table lists it. */
  readonly indexOf: (streamId: string, version: bigint) => Effect.Effect<Option.Option<bigint>>
  /** A stream's entries from version `from` (default 1) to `to` (default: the current version). */
  readonly readStreamEntries: (
    streamId: string,
    options?: { readonly from?: bigint | undefined; readonly to?: bigint | undefined }
  ) => Stream.Stream<RecordedEntry, ReadError>
  /** All entries from global index `from` (default 1); with `follow`, continues live. */
  readonly readAllEntries: (
    options?: {
      readonly from?: bigint | undefined
      readonly to?: bigint | undefined
      readonly follow?: boolean | undefined
    }
  ) => Stream.Stream<RecordedEntry, ReadError>
  /** Writes a stream-table checkpoint now; returns the index it covers. */
  readonly checkpoint: Effect.Effect<bigint, CheckpointError>
  readonly stats: Effect.Effect<Stats>
  /** The underlying log. */
  readonly logger: BinLogger.BinLogger["Service"]
}>()("@binlog/core/EventStore") {}

/**
 * Starts the store on the current `BinLogger`: loads the newest stream-table checkpoint and replays the log's tail.
 * Closing the scope writes a final checkpoint.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("EventStore.make")(function*(
  options: Options
): Effect.fn.Return<
  EventStore["Service"],
  WalIoError | StreamTableCorrupt | BinLogger.ReadError,
  BinLogger.BinLogger | Scope.Scope
> {
  return EventStore.of(yield* Store.make(options))
})

// --- layers ---

/**
 * The store as a layer over a `BinLogger` layer provided separately.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<EventStore, WalIoError | StreamTableCorrupt | BinLogger.ReadError, BinLogger.BinLogger> =>
  Layer.effect(EventStore, make(options))

/**
 * Options of {@link layerWithLog}: one root directory holding `wal/`, `snap/` and `streams/`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StandaloneOptions extends Omit<Options, "dir"> {
  readonly root: string
  readonly syncInterval?: BinLogger.Options["syncInterval"]
  readonly segmentSizeBytes?: number | undefined
  /** The log's largest entry (default `BinLogger.DEFAULT_MAX_ENTRY_BYTES`); the store checks encoded events against it. */
  readonly maxEntryBytes?: number | undefined
}

/**
 * The store and its log under one root directory (`root/wal`, `root/snap`, `root/streams`); provides both.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithLog = (
  options: StandaloneOptions
): Layer.Layer<
  EventStore | BinLogger.BinLogger,
  WalIoError | StreamTableCorrupt | BinLogger.ReadError | RecoveryFailed | WalLocked
> => {
  const log = BinLogger.layer({
    walDir: `${options.root}/wal`,
    snapDir: `${options.root}/snap`,
    syncInterval: options.syncInterval,
    segmentSizeBytes: options.segmentSizeBytes,
    maxEntryBytes: options.maxEntryBytes
  })
  return layer({ ...options, dir: `${options.root}/streams` }).pipe(Layer.provideMerge(log))
}

// --- typed API ---

const isInput = <E extends EventType.Event>(x: E | EventInput<E>): x is EventInput<E> => "event" in x

/**
 * Encodes the events of one stream's append for the service's low-level `appendEncoded`: each through its type's
 * schema, plain events with a random UUID and the append's metadata.
 *
 * @since 0.1.0
 * @category appending
 */
export const encodeEvents = <E extends EventType.Event>(
  registry: EventType.Registry<E>,
  events: ReadonlyArray<E | EventInput<E>>,
  options?: AppendOptions | undefined
): Result.Result<Array<EncodedEvent>, EventType.EventEncodeError> => {
  const out: Array<EncodedEvent> = []
  for (let i = 0; i < events.length; i++) {
    const x = events[i]!
    const input = isInput(x) ? x : undefined
    const r = registry.encode(input === undefined ? x as E : input.event)
    if (Result.isFailure(r)) return Result.fail(r.failure)
    const p = r.success
    out.push({
      eventType: p.eventType,
      schemaVersion: p.schemaVersion,
      payloadEncoding: p.payloadEncoding,
      payload: p.payload,
      eventId: input?.eventId ?? crypto.randomUUID(),
      correlationId: input?.correlationId ?? options?.correlationId,
      causationId: input?.causationId ?? options?.causationId,
      metadata: input?.metadata ?? options?.metadata
    })
  }
  return Result.succeed(out)
}

/**
 * Appends events to one stream if its version matches `expectedVersion`.
 *
 * @since 0.1.0
 * @category appending
 */
export const append = <E extends EventType.Event>(
  registry: EventType.Registry<E>,
  streamId: string,
  expectedVersion: ExpectedVersion,
  events: ReadonlyArray<E | EventInput<E>>,
  options?: AppendOptions
): Effect.Effect<AppendResult, AppendError, EventStore> =>
  EventStore.use((store) => {
    const encoded = encodeEvents(registry, events, options)
    if (Result.isFailure(encoded)) return Effect.fail(encoded.failure)
    return Effect.map(
      store.appendEncoded([{ streamId, expectedVersion, events: encoded.success }]),
      (r): AppendResult => ({
        streamVersion: r.streams[0]!.streamVersion,
        first: r.first,
        last: r.last,
        idempotent: r.idempotent
      })
    )
  }).pipe(withSpanIfTraced("EventStore.append", { attributes: { streamId } }))

/**
 * Encodes typed appends for the service's low-level `appendEncoded` (event ids default to random UUIDs).
 *
 * @since 0.1.0
 * @category appending
 */
export const encodeAppends = <E extends EventType.Event>(
  registry: EventType.Registry<E>,
  appends: ReadonlyArray<StreamAppend<E | EventInput<E>>>,
  options?: AppendOptions
): Result.Result<Array<StreamAppend<EncodedEvent>>, EventType.EventEncodeError> => {
  const encoded: Array<StreamAppend<EncodedEvent>> = []
  for (const a of appends) {
    const r = encodeEvents(registry, a.events, options)
    if (Result.isFailure(r)) return Result.fail(r.failure)
    encoded.push({ streamId: a.streamId, expectedVersion: a.expectedVersion, events: r.success })
  }
  return Result.succeed(encoded)
}

/**
 * Appends to several streams atomically, each with its own expectation: all or nothing, one WAL batch.
 *
 * @since 0.1.0
 * @category appending
 */
export const appendMany = <E extends EventType.Event>(
  registry: EventType.Registry<E>,
  appends: ReadonlyArray<StreamAppend<E | EventInput<E>>>,
  options?: AppendOptions
): Effect.Effect<AppendManyResult, AppendError, EventStore> =>
  EventStore.use((store) => {
    const encoded = encodeAppends(registry, appends, options)
    return Result.isFailure(encoded) ? Effect.fail(encoded.failure) : store.appendEncoded(encoded.success)
  }).pipe(withSpanIfTraced("EventStore.appendMany"))

/**
 * Decodes an entry with a registry under an unknown-type policy: `undefined` means "skip".
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeEntry = <E extends EventType.Event>(
  registry: EventType.Registry<E>,
  entry: RecordedEntry,
  unknown: EventType.UnknownPolicy
): Result.Result<
  RecordedEvent<E | EventType.UnknownEvent> | undefined,
  EventType.EventDecodeError | EventType.UnknownEventType
> => {
  let event: E | EventType.UnknownEvent
  if (!registry.has(entry.eventType)) {
    if (unknown === "skip") return Result.succeed(undefined)
    if (unknown === "fail") {
      return Result.fail(new EventType.UnknownEventType({ eventType: entry.eventType, index: entry.index.toString() }))
    }
    event = new EventType.UnknownEvent(
      entry.eventType,
      entry.schemaVersion,
      entry.payloadEncoding,
      entry.payload.slice()
    )
  } else {
    const d = registry.decode(entry, entry.index)
    if (Result.isFailure(d)) return Result.fail(d.failure)
    if (d.success._tag === "Unknown") return Result.succeed(undefined)
    event = d.success.event
  }
  return Result.succeed({
    index: entry.index,
    streamId: entry.streamId,
    streamVersion: entry.streamVersion,
    eventId: entry.eventId,
    timestamp: entry.timestamp,
    schemaVersion: entry.schemaVersion,
    correlationId: entry.correlationId,
    causationId: entry.causationId,
    metadata: entry.metadata,
    transaction: entry.transaction,
    event
  })
}

/**
 * Options of typed reads.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadOptions<P extends EventType.UnknownPolicy> {
  /** What to do with event types the registry does not know (default `"fail"`). */
  readonly unknown?: P | undefined
}

/**
 * The element type of a typed read under policy `P`.
 *
 * @since 0.1.0
 * @category models
 */
export type ReadElement<E, P extends EventType.UnknownPolicy> = RecordedEvent<
  P extends "raw" ? E | EventType.UnknownEvent : E
>

const decodeEntries = <E extends EventType.Event, P extends EventType.UnknownPolicy>(
  registry: EventType.Registry<E>,
  policy: P
) =>
<R>(
  entries: Stream.Stream<RecordedEntry, ReadError, R>
): Stream.Stream<ReadElement<E, P>, ReadEventError, R> =>
  entries.pipe(
    Stream.mapArrayEffect((chunk) =>
      Effect.suspend(() => {
        const out: Array<ReadElement<E, P>> = []
        for (const entry of chunk) {
          const r = decodeEntry(registry, entry, policy)
          if (Result.isFailure(r)) return Effect.fail(r.failure)
          if (r.success !== undefined) out.push(r.success as ReadElement<E, P>)
        }
        return Effect.succeed([out] as const)
      })
    ),
    Stream.flattenIterable
  )

/**
 * A stream's events, decoded and upcast, from version `from` (default 1) to `to` (default: the current version).
 * Reads by position (never scans the log).
 *
 * @since 0.1.0
 * @category reading
 */
export const readStream = <E extends EventType.Event, P extends EventType.UnknownPolicy = "fail">(
  registry: EventType.Registry<E>,
  streamId: string,
  options?: ReadOptions<P> & { readonly from?: bigint | undefined; readonly to?: bigint | undefined }
): Stream.Stream<ReadElement<E, P>, ReadEventError, EventStore> =>
  Stream.unwrap(EventStore.useSync((store) =>
    store.readStreamEntries(streamId, options).pipe(
      decodeEntries(registry, (options?.unknown ?? "fail") as P)
    )
  ))

/**
 * Every event in global order from index `from` (default 1), decoded and upcast; with `follow`, continues live
 * after catching up (a subscription) and never ends by itself.
 *
 * @since 0.1.0
 * @category reading
 */
export const readAll = <E extends EventType.Event, P extends EventType.UnknownPolicy = "fail">(
  registry: EventType.Registry<E>,
  options?: ReadOptions<P> & {
    readonly from?: bigint | undefined
    readonly to?: bigint | undefined
    readonly follow?: boolean | undefined
  }
): Stream.Stream<ReadElement<E, P>, ReadEventError, EventStore> =>
  Stream.unwrap(EventStore.useSync((store) =>
    store.readAllEntries(options).pipe(
      decodeEntries(registry, (options?.unknown ?? "fail") as P)
    )
  ))

/**
 * A stream's current version (0 when it does not exist).
 *
 * @since 0.1.0
 * @category reading
 */
export const streamVersion = (streamId: string): Effect.Effect<bigint, never, EventStore> =>
  EventStore.use((store) => store.streamVersion(streamId))
