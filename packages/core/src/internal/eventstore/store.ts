/**
 * The event store's implementation (internal): recovery of the stream table (checkpoint + tail), the append path
 * that runs inside the log's writer, checkpoints, and the entry reads. `EventStore.make` wraps it in the service.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as BinLogger from "../../BinLogger.ts"
import * as Envelope from "../../Envelope.ts"
import type {
  AppendError,
  AppendManyResult,
  CheckpointError,
  EncodedEvent,
  EventStore,
  ExpectedVersion,
  Options,
  ReadError,
  RecordedEntry,
  StreamAppend
} from "../../EventStore.ts"
import {
  checkpointDuration,
  DEFAULT_CHECKPOINT_EVERY_EVENTS,
  DEFAULT_IDEMPOTENCY_WINDOW,
  eventsAppended,
  idempotentAppends,
  KEEP_CHECKPOINTS,
  MAX_APPEND_EVENTS,
  MAX_DELTA_CHECKPOINTS,
  versionConflicts
} from "../../EventStore.ts"
import { DuplicateEventId, InvalidAppend, StreamTableCorrupt, WrongExpectedVersion } from "../../EventStoreError.ts"
import { IndexUnavailable } from "../../LogError.ts"
import type { WalIoError } from "../../WalError.ts"
import * as Fsx from "../fsx.ts"
import * as EntryIndex from "./entryIndex.ts"
import * as Table from "./streamTable.ts"

/** Indexes per positional read batch of `readStream`. */
const READ_BATCH_EVENTS = 1024

const describe = (e: ExpectedVersion): string =>
  e._tag === "Exact"
    ? e.version.toString()
    : e._tag === "Any"
    ? "any"
    : e._tag === "NoStream"
    ? "noStream"
    : "streamExists"

const satisfied = (e: ExpectedVersion, actual: number): boolean => {
  switch (e._tag) {
    case "Any":
      return true
    case "NoStream":
      return actual === 0
    case "StreamExists":
      return actual > 0
    case "Exact":
      // `actual` is a safe integer: comparing as numbers is exact (and allocates no bigint)
      return Number(e.version) === actual
  }
}

class AlreadyAppended {
  readonly result: AppendManyResult
  constructor(result: AppendManyResult) {
    this.result = result
  }
}

type PrepareFailure = WrongExpectedVersion | DuplicateEventId | InvalidAppend | AlreadyAppended

const EMPTY_METADATA: Readonly<Record<string, string>> = Object.freeze({})
const SINGLE_TRANSACTION: Envelope.Transaction = Object.freeze({ position: 0, size: 1 })

/** {@link validateRequest} for one stream and one event (the common case): the same checks, no sets. */
const validateSingle = (a: StreamAppend<EncodedEvent>): InvalidAppend | undefined => {
  if (a.streamId.length === 0 || a.streamId.length > Envelope.MAX_ID_BYTES) {
    return new InvalidAppend({ reason: `stream id length ${a.streamId.length} is out of range` })
  }
  if (a.expectedVersion._tag === "Exact" && a.expectedVersion.version < 0n) {
    return new InvalidAppend({ reason: `negative expected version for ${a.streamId}` })
  }
  if (a.events[0]!.eventId.length > Envelope.MAX_ID_BYTES) return new InvalidAppend({ reason: "event id too long" })
  return undefined
}

const validateRequest = (
  appends: ReadonlyArray<StreamAppend<EncodedEvent>>
): InvalidAppend | DuplicateEventId | undefined => {
  if (appends.length === 0) return new InvalidAppend({ reason: "no streams" })
  if (appends.length === 1 && appends[0]!.events.length === 1) return validateSingle(appends[0]!)
  const streams = new Set<string>()
  const ids = new Set<string>()
  let total = 0
  for (const a of appends) {
    if (a.streamId.length === 0 || a.streamId.length > Envelope.MAX_ID_BYTES) {
      return new InvalidAppend({ reason: `stream id length ${a.streamId.length} is out of range` })
    }
    if (streams.has(a.streamId)) return new InvalidAppend({ reason: `stream ${a.streamId} is listed twice` })
    streams.add(a.streamId)
    if (a.events.length === 0) return new InvalidAppend({ reason: `no events for stream ${a.streamId}` })
    if (a.expectedVersion._tag === "Exact" && a.expectedVersion.version < 0n) {
      return new InvalidAppend({ reason: `negative expected version for ${a.streamId}` })
    }
    total += a.events.length
    for (const e of a.events) {
      if (e.eventId.length > Envelope.MAX_ID_BYTES) return new InvalidAppend({ reason: "event id too long" })
      if (e.eventId.length > 0) {
        if (ids.has(e.eventId)) {
          return new DuplicateEventId({ eventId: e.eventId, reason: "appears twice in the append" })
        }
        ids.add(e.eventId)
      }
    }
  }
  if (total > MAX_APPEND_EVENTS) {
    return new InvalidAppend({ reason: `${total} events in one append (limit ${MAX_APPEND_EVENTS})` })
  }
  return undefined
}

/** Builds the store's service implementation on the current log (see `EventStore.make`). */
export const make = (
  options: Options
): Effect.Effect<
  EventStore["Service"],
  WalIoError | StreamTableCorrupt | BinLogger.ReadError,
  BinLogger.BinLogger | Scope.Scope
> =>
  Effect.gen(function*() {
    const logger = yield* BinLogger.BinLogger
    const status = yield* logger.status
    const window = options.idempotencyWindow ?? DEFAULT_IDEMPOTENCY_WINDOW
    const checkpointEvery = options.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY_EVENTS
    // the log's own limit, checked here so an oversized event is refused before the stream table records it
    const maxEntryBytes = logger.maxEntryBytes
    const dir = options.dir
    yield* Fsx.mkdirp(dir)

    // --- recovery: newest valid full checkpoint not beyond the log, the deltas that continue it, then the tail ---
    const current = yield* logger.currentIndex
    const listing = yield* Fsx.readdir(dir)
    const named = (parse: (name: string) => number | undefined) =>
      listing
        .map((name) => ({ name, index: parse(name) }))
        .filter((c): c is { name: string; index: number } => c.index !== undefined)
    const fulls = named(Table.parseCheckpointName).sort((a, b) => b.index - a.index)
    const deltas = named(Table.parseDeltaName).sort((a, b) => a.index - b.index)
    for (const c of [...fulls, ...deltas]) {
      if (BigInt(c.index) > current) {
        // written for entries a machine crash took back (sync interval > 0): stale
        yield* Effect.logWarning(`EventStore: dropping checkpoint ${c.name} beyond the log's end ${current}`)
        yield* Fsx.unlink(`${dir}/${c.name}`)
      }
    }
    let table: Table.StreamTable | undefined
    let lastCheckpoint = 0
    /** The full checkpoint the deltas written since continue: its index and events, and how many deltas follow. */
    let chain: { fullEvents: number; deltas: number } | undefined
    /** A delta after the loaded full checkpoint could not be applied: the next checkpoint starts a new chain. */
    let chainBroken = false
    for (const c of fulls) {
      if (BigInt(c.index) > current) continue
      const bytes = yield* Fsx.readFile(`${dir}/${c.name}`)
      const decoded = Result.try(() => Table.decodeCheckpoint(bytes, window))
      if (Result.isFailure(decoded)) {
        yield* Effect.logWarning(`EventStore: ignoring unreadable checkpoint ${c.name}: ${String(decoded.failure)}`)
        continue
      }
      table = decoded.success
      lastCheckpoint = c.index
      chain = { fullEvents: table.events, deltas: 0 }
      break
    }
    if (table !== undefined && chain !== undefined) {
      for (const d of deltas) {
        if (d.index <= table.appliedTo || BigInt(d.index) > current) continue
        const bytes = yield* Fsx.readFile(`${dir}/${d.name}`)
        const t = table
        const applied = Result.try(() => Table.applyDelta(t, bytes))
        const why = Result.isFailure(applied) ? String(applied.failure) : applied.success
        if (why !== undefined) {
          // the tail from here is replayed from the log instead
          yield* Effect.logWarning(`EventStore: stopping at checkpoint delta ${d.name}: ${why}`)
          chainBroken = true
          break
        }
        lastCheckpoint = d.index
        chain.deltas++
      }
      if (chain.deltas > 0) table.compact()
    }
    table ??= new Table.StreamTable(window)
    const from = BigInt(table.appliedTo) + 1n
    if (from <= current) {
      if (from < status.firstIndex && table.appliedTo > 0) {
        return yield* new StreamTableCorrupt({
          index: from.toString(),
          reason: `the checkpoint ends at ${table.appliedTo} but the log was purged up to ${status.firstIndex}`
        })
      }
      const start = from < status.firstIndex ? status.firstIndex : from
      const t = table
      let skipped = 0
      yield* logger.read(start, { to: current }).pipe(
        Stream.runForEachArray((chunk) =>
          Effect.suspend(() => {
            for (const e of chunk) {
              const h = Envelope.decodeHeader(e.data)
              if (Result.isFailure(h)) {
                if (h.failure._tag === "UnsupportedEnvelopeVersion") {
                  return Effect.fail(new StreamTableCorrupt({ index: e.index.toString(), reason: h.failure.message }))
                }
                skipped++
                continue
              }
              const why = t.record(
                h.success.streamId,
                Number(h.success.streamVersion),
                Number(e.index),
                h.success.eventId
              )
              if (why !== undefined) {
                return Effect.fail(new StreamTableCorrupt({ index: e.index.toString(), reason: why }))
              }
            }
            return Effect.void
          })
        )
      )
      t.appliedTo = Number(current)
      if (skipped > 0) yield* Effect.logWarning(`EventStore: ${skipped} entries are not event envelopes (skipped)`)
    }
    const tbl = table
    const entries = yield* EntryIndex.make(status.walDir, `${dir}/offsets`)

    // --- checkpoints ---
    // Every `checkpointEvery` events: a delta (the epoch's changes, O(events since the last checkpoint)); a full
    // checkpoint (O(events in the table)) when there is none yet, after a failed write, after MAX_DELTA_CHECKPOINTS
    // deltas, or once the deltas since the last full one hold as many events as it does, so full ones get rarer as
    // the table grows and the cost per event stays constant. One checkpoint at a time.
    // (the table's epoch began where the loaded checkpoints end: the tail replayed above is in the first delta)
    let sinceCheckpoint = 0
    let checkpointRunning = false
    let forceFull = chain === undefined || chainBroken
    const oneAtATime = yield* Semaphore.make(1)
    const writeCheckpoint: Effect.Effect<bigint, CheckpointError> = oneAtATime.withPermits(1)(Effect.gen(function*() {
      const full = forceFull || chain === undefined || chain.deltas >= MAX_DELTA_CHECKPOINTS ||
        tbl.events - chain.fullEvents >= Math.max(chain.fullEvents, checkpointEvery)
      const bytes = full ? Table.encodeCheckpoint(tbl) : Table.encodeDelta(tbl, lastCheckpoint)
      const index = tbl.appliedTo
      const events = tbl.events
      // the next delta lists what changes from here; if this write fails, the next checkpoint is a full one
      tbl.newEpoch()
      forceFull = true
      // everything the table reflects was prepared before this sync was queued: after it, it is durable
      yield* logger.sync
      yield* logger.awaitIndex(BigInt(index))
      const name = full ? Table.checkpointName(index) : Table.deltaName(index)
      yield* Fsx.writeFileAtomic(dir, `${dir}/${name}`, bytes)
      forceFull = false
      lastCheckpoint = Math.max(lastCheckpoint, index)
      if (!full && chain !== undefined) {
        chain.deltas++
        return BigInt(index)
      }
      chain = { fullEvents: events, deltas: 0 }
      // keep the newest KEEP_CHECKPOINTS full checkpoints and the deltas that follow the oldest of them
      const listing = yield* Fsx.readdir(dir)
      const fullsNow = listing
        .map((n) => ({ n, i: Table.parseCheckpointName(n) }))
        .filter((c): c is { n: string; i: number } => c.i !== undefined)
        .sort((a, b) => b.i - a.i)
      for (const old of fullsNow.slice(KEEP_CHECKPOINTS)) yield* Fsx.unlink(`${dir}/${old.n}`)
      const oldestKept = fullsNow[Math.min(KEEP_CHECKPOINTS, fullsNow.length) - 1]!.i
      for (const n of listing) {
        const i = Table.parseDeltaName(n)
        if (i !== undefined && i < oldestKept) yield* Fsx.unlink(`${dir}/${n}`)
      }
      return BigInt(index)
    })).pipe(Effect.trackDuration(checkpointDuration), Effect.withSpan("EventStore.checkpoint"))

    const scope = yield* Effect.scope
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() =>
        tbl.appliedTo > lastCheckpoint
          ? writeCheckpoint.pipe(
            Effect.catch((e) => Effect.logWarning(`EventStore: final checkpoint failed: ${e.message}`))
          )
          : Effect.void
      )
    )

    // --- append ---
    const prepare = (
      appends: ReadonlyArray<StreamAppend<EncodedEvent>>,
      total: number,
      versions: Array<bigint>
    ) =>
    (firstIndex: bigint): Result.Result<ReadonlyArray<Uint8Array>, PrepareFailure> => {
      // 1. idempotency
      let hits = 0
      let firstHit: string | undefined
      for (const a of appends) {
        for (const e of a.events) {
          if (e.eventId.length > 0 && tbl.recent.has(e.eventId)) {
            hits++
            firstHit ??= e.eventId
          }
        }
      }
      if (hits > 0) {
        if (hits < total) {
          return Result.fail(
            new DuplicateEventId({
              eventId: firstHit!,
              reason: "already stored, while other events of the append are new"
            })
          )
        }
        let lo = Infinity
        let hi = 0
        const streams: Array<{ streamId: string; streamVersion: bigint }> = []
        for (const a of appends) {
          let version = 0
          for (const e of a.events) {
            const p = tbl.recent.find(e.eventId)!
            if (p.streamId !== a.streamId) {
              return Result.fail(
                new DuplicateEventId({ eventId: e.eventId, reason: `already stored in stream ${p.streamId}` })
              )
            }
            version = Math.max(version, p.version)
            lo = Math.min(lo, p.index)
            hi = Math.max(hi, p.index)
          }
          streams.push({ streamId: a.streamId, streamVersion: BigInt(version) })
        }
        return Result.fail(new AlreadyAppended({ streams, first: BigInt(lo), last: BigInt(hi), idempotent: true }))
      }
      // 2. expected versions
      for (const a of appends) {
        const actual = tbl.version(a.streamId)
        if (!satisfied(a.expectedVersion, actual)) {
          return Result.fail(
            new WrongExpectedVersion({
              streamId: a.streamId,
              expected: describe(a.expectedVersion),
              actual: BigInt(actual)
            })
          )
        }
      }
      // 3. envelopes
      const timestamp = Date.now()
      const out: Array<Uint8Array> = []
      let k = 0
      for (const a of appends) {
        let version = tbl.version(a.streamId)
        for (const e of a.events) {
          const bytes = Envelope.encode({
            streamId: a.streamId,
            streamVersion: BigInt(++version),
            eventType: e.eventType,
            schemaVersion: e.schemaVersion,
            eventId: e.eventId,
            timestamp,
            correlationId: e.correlationId,
            causationId: e.causationId,
            metadata: e.metadata ?? EMPTY_METADATA,
            payloadEncoding: e.payloadEncoding,
            transaction: total === 1 ? SINGLE_TRANSACTION : { position: k, size: total },
            payload: e.payload
          })
          if (bytes.length > maxEntryBytes) {
            return Result.fail(
              new InvalidAppend({
                reason: `an encoded ${e.eventType} has ${bytes.length} bytes (limit ${maxEntryBytes})`
              })
            )
          }
          out.push(bytes)
          k++
        }
      }
      // 4. commit to the table (only now: nothing above can fail any more)
      let index = Number(firstIndex)
      for (const a of appends) {
        let version = tbl.version(a.streamId)
        for (const e of a.events) tbl.record(a.streamId, ++version, index++, e.eventId)
        versions.push(BigInt(version))
      }
      return Result.succeed(out)
    }

    const context = yield* Effect.context<never>()
    const checkpointNow = writeCheckpoint.pipe(
      Effect.catch((e) => Effect.logWarning(`EventStore: checkpoint failed: ${e.message}`)),
      Effect.ensuring(Effect.sync(() => {
        checkpointRunning = false
      })),
      Effect.forkIn(scope),
      Effect.asVoid
    )

    const onAppendFailure = (e: PrepareFailure | BinLogger.LogError): Effect.Effect<AppendManyResult, AppendError> => {
      if (e instanceof AlreadyAppended) {
        idempotentAppends.updateUnsafe(1, context)
        // the original entries may still be in flight: the sync completes after them (or fails if they did)
        return Effect.as(logger.sync, e.result)
      }
      if (e._tag === "WrongExpectedVersion") versionConflicts.updateUnsafe(1, context)
      return Effect.fail(e)
    }

    // The hot path: validation and encoding are synchronous, the writer runs `prepare`, and the success path is one
    // map (metrics are updated without an Effect per call; a due checkpoint is forked in the store's scope).
    const appendEncoded = (appends: ReadonlyArray<StreamAppend<EncodedEvent>>) =>
      Effect.suspend((): Effect.Effect<AppendManyResult, AppendError> => {
        const invalid = validateRequest(appends)
        if (invalid !== undefined) return Effect.fail(invalid)
        let total = 0
        for (const a of appends) total += a.events.length
        const versions: Array<bigint> = []
        return Effect.matchEffect(logger.logPrepared(prepare(appends, total, versions)), {
          onFailure: onAppendFailure,
          onSuccess: (r): Effect.Effect<AppendManyResult> => {
            eventsAppended.updateUnsafe(total, context)
            const result: AppendManyResult = {
              streams: appends.length === 1
                ? [{ streamId: appends[0]!.streamId, streamVersion: versions[0]! }]
                : appends.map((a, i) => ({ streamId: a.streamId, streamVersion: versions[i]! })),
              first: r.first,
              last: r.last,
              idempotent: false
            }
            sinceCheckpoint += total
            if (sinceCheckpoint < checkpointEvery || checkpointRunning) return Effect.succeed(result)
            sinceCheckpoint = 0
            checkpointRunning = true
            return Effect.as(checkpointNow, result)
          }
        })
      })

    // --- reads ---
    const toEntry = (index: bigint, data: Uint8Array): Result.Result<RecordedEntry, Envelope.DecodeError> => {
      const h = Envelope.decodeHeader(data)
      if (Result.isFailure(h)) return Result.fail(h.failure)
      // the header object is fresh: add the index to it instead of copying it
      const entry = h.success as Envelope.DecodedHeader & { index: bigint }
      entry.index = index
      return Result.succeed(entry)
    }

    const decodeChunk = (chunk: ReadonlyArray<{ readonly index: bigint; readonly data: Uint8Array }>) =>
      Effect.suspend((): Effect.Effect<ReadonlyArray<RecordedEntry>, Envelope.DecodeError> => {
        const out: Array<RecordedEntry> = []
        for (const e of chunk) {
          const r = toEntry(e.index, e.data)
          if (Result.isFailure(r)) return Effect.fail(r.failure)
          out.push(r.success)
        }
        return Effect.succeed(out)
      })

    // the generator function is made once (Effect.fnUntraced): one made per call would get its own map in V8's old
    // generation, which keeps what the call captured alive through young-generation GCs (see internal/groupCommit.ts)
    const openStreamRead = Effect.fnUntraced(function*(
      streamId: string,
      opts: { readonly from?: bigint | undefined; readonly to?: bigint | undefined } | undefined
    ) {
      const durable = Number(yield* logger.currentIndex)
      const fromV = Number(opts?.from ?? 1n)
      const toV = opts?.to === undefined ? Number.MAX_SAFE_INTEGER : Number(opts.to)
      const st = tbl.streams.get(streamId)
      if (st !== undefined && fromV <= st.base && st.base > 0) {
        return yield* Effect.fail(
          new IndexUnavailable({
            index: `${streamId}@${fromV}`,
            firstIndex: `${streamId}@${st.base + 1}`,
            reason: "the stream's first events were purged before the stream table was rebuilt"
          })
        )
      }
      const all = tbl.indexesOf(streamId, Math.max(1, fromV), toV)
      let n = all.length
      while (n > 0 && all[n - 1]! > durable) n--
      if (n === 0) return Stream.empty
      const indexes = all.slice(0, n).map((i) => BigInt(i))
      yield* logger.retain(`readStream ${streamId}`, indexes[0]!)
      return Stream.paginate(0, (offset) =>
        Effect.map(
          Effect.flatMap(entries.read(indexes.slice(offset, offset + READ_BATCH_EVENTS)), decodeChunk),
          (decoded) =>
            [
              decoded,
              offset + READ_BATCH_EVENTS < indexes.length ? Option.some(offset + READ_BATCH_EVENTS) : Option.none()
            ] as const
        ))
    })

    const readStreamEntries = (
      streamId: string,
      opts?: { readonly from?: bigint | undefined; readonly to?: bigint | undefined }
    ): Stream.Stream<RecordedEntry, ReadError> => Stream.unwrap(openStreamRead(streamId, opts)).pipe(Stream.scoped)

    const readAllEntries = (
      opts?: {
        readonly from?: bigint | undefined
        readonly to?: bigint | undefined
        readonly follow?: boolean | undefined
      }
    ): Stream.Stream<RecordedEntry, ReadError> =>
      logger.read(opts?.from ?? 1n, { to: opts?.to, follow: opts?.follow }).pipe(
        Stream.mapArrayEffect((chunk) => Effect.map(decodeChunk(chunk), (decoded) => [decoded] as const)),
        Stream.flattenIterable
      )

    const service: EventStore["Service"] = {
      appendEncoded,
      streamVersion: (streamId) => Effect.sync(() => BigInt(tbl.version(streamId))),
      findEventId: (eventId) =>
        Effect.suspend(() => {
          const p = tbl.recent.find(eventId)
          if (p === undefined) return Effect.succeed(Option.none())
          const found = { streamId: p.streamId, streamVersion: BigInt(p.version), index: BigInt(p.index) }
          // prepared entries may still be in flight: the sync completes after them (or fails if they did)
          return Effect.as(logger.sync, Option.some(found))
        }),
      streamHead: (streamId) =>
        Effect.sync(() => {
          const st = tbl.streams.get(streamId)
          if (st === undefined || st.version === st.base) return { version: BigInt(st?.version ?? 0), index: 0n }
          return { version: BigInt(st.version), index: BigInt(st.indexes[st.version - st.base - 1]!) }
        }),
      isHeadUnsafe: (streamId, version, index) => {
        const st = tbl.streams.get(streamId)
        if (st === undefined || st.version === st.base) return version === BigInt(st?.version ?? 0) && index === 0n
        return Number(version) === st.version && Number(index) === st.indexes[st.version - st.base - 1]
      },
      indexOf: (streamId, version) =>
        Effect.sync(() => {
          const [i] = tbl.indexesOf(streamId, Number(version), Number(version))
          return i === undefined ? Option.none() : Option.some(BigInt(i))
        }),
      readStreamEntries,
      readAllEntries,
      checkpoint: writeCheckpoint,
      stats: Effect.sync(() => ({
        streams: tbl.streams.size,
        events: tbl.events,
        tableIndex: BigInt(tbl.appliedTo),
        recentIds: tbl.recent.size,
        streamIndexBytes: tbl.indexBytes(),
        entryIndexBytes: entries.memoryBytes(),
        lastCheckpointIndex: BigInt(lastCheckpoint)
      })),
      logger
    }
    return service
  })
