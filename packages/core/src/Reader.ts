/**
 * Reading a WAL directory the way etcd does: segment selection, one decoder over the selected segments in order,
 * crc-record checks across segment boundaries, and `ReadAll`'s rules for entries, metadata, state and snapshot
 * records. Two consumers share the same record source:
 *
 * - {@link readAll}: etcd's `OpenForRead`/`Open` + `ReadAll`, with its overwrite and gap rules, in read mode
 *   (a torn tail ends the read and is reported in the result) or write mode (a torn tail is an error to repair).
 * - {@link entries}: a bounded-memory `Stream` of entries from an index, for replays and lagging consumers.
 *
 * Segments are read in chunks of {@link READ_CHUNK_BYTES}; entries' `data` are views over those chunks (no copy per
 * entry). A view keeps its whole chunk alive: copy `data` (`Uint8Array.prototype.slice`) before keeping many small
 * entries for a long time. Chunks are never reused, so views stay valid forever.
 *
 * Stricter than etcd where etcd loses data silently: anything that stops a read before the last segment is an
 * error (etcd's read mode stops quietly), and non-zero bytes after a zero length word in the last segment are
 * reported as an unexpected end (etcd hides them and its next write-mode open erases them).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { PositionedRecord } from "./Decoder.ts"
import * as Fsx from "./internal/fsx.ts"
import { makeSource } from "./internal/recordSource.ts"
import * as Proto from "./Proto.ts"
import * as RecordCodec from "./RecordCodec.ts"
import * as Segment from "./Segment.ts"
import {
  ConflictingMetadata,
  EntryOverwrite,
  IndexGap,
  RecordDecodeError,
  SnapshotMismatch,
  SnapshotNotFound,
  UnexpectedEof,
  UnknownRecordType
} from "./WalError.ts"
import type { WalIoError, WalNotFound, WalReadError } from "./WalError.ts"

/**
 * Bytes read from a segment per read call.
 *
 * @since 0.1.0
 * @category constants
 */
export const READ_CHUNK_BYTES = 1024 * 1024

/**
 * A position to read from: a WAL snapshot record `{index, term}` (etcd's `walpb.Snapshot` argument).
 *
 * @since 0.1.0
 * @category models
 */
export interface Start {
  readonly index: bigint
  readonly term: bigint
}

/**
 * How a read ended.
 *
 * - `Eof`: cleanly, at the end of the last segment (end of file or zero tail).
 * - `TornTail`: read mode only: the last segment ends in an incomplete or torn record (or non-zero bytes after a
 *   zero length word); everything before `error.offset` was returned, `error.droppedBytes` bytes were not.
 *
 * @since 0.1.0
 * @category models
 */
export type ReadEnd =
  | { readonly _tag: "Eof" }
  | { readonly _tag: "TornTail"; readonly error: UnexpectedEof }

/**
 * Where the valid data of the last segment ends; the writer continues from here.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tail {
  readonly segment: Segment.SegmentName
  /** Offset just after the last valid record of the last segment. */
  readonly offset: number
  /** The file's size as found (kept when the tail is re-zeroed). */
  readonly fileSize: number
  /** Running CRC after the last valid record. */
  readonly crc: number
}

/**
 * A state record's position and what preceded it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Marker {
  /** Offset of the state record's frame, with the running CRC before it. */
  readonly at: Tail
  readonly commit: bigint
  readonly lastIndexBefore: bigint
  readonly hardStateBefore: Proto.HardStateValue
}

/**
 * The result of {@link readAll}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadAllResult {
  readonly metadata: Uint8Array | undefined
  readonly hardState: Proto.HardStateValue
  /** Entries after the start index (empty when `collect` was false). */
  readonly entries: ReadonlyArray<RecordCodec.EntryValue>
  /** Number of entries after the start index (also counted when not collected). */
  readonly entryCount: number
  /** Index of the last entry record read (any index), or the start index if none: etcd's `enti`. */
  readonly lastIndex: bigint
  /** Every snapshot record read, in order. */
  readonly snapshots: ReadonlyArray<Proto.WalSnapshotValue>
  readonly segments: ReadonlyArray<Segment.SegmentName>
  readonly ignored: ReadonlyArray<Segment.Ignored>
  readonly tail: Tail
  readonly end: ReadEnd
  /**
   * The last state record (binlog's group-commit marker, written at the start of each group with `commit` = the
   * group's last index): where it starts and the running CRC before it, the last entry index and HardState before
   * it. If `lastIndex` < `marker.commit`, the group never finished (see `BinLogger`).
   */
  readonly lastMarker: Marker | undefined
}

/**
 * Options of {@link readAll}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadAllOptions {
  /** `read` (OpenForRead: a torn tail ends the read) or `write` (Open: a torn tail is an error). */
  readonly mode: "read" | "write"
  /** Keep the entries in memory (default true). Write-mode opens of big logs pass false and only count. */
  readonly collect?: boolean
}

const ENTRY_TYPE = BigInt(RecordCodec.RecordType.entry)
const STATE_TYPE = BigInt(RecordCodec.RecordType.state)
const METADATA_TYPE = BigInt(RecordCodec.RecordType.metadata)
const SNAPSHOT_TYPE = BigInt(RecordCodec.RecordType.snapshot)

// Per-record helpers are plain functions returning the value or the typed error: an Effect (or a generator) per
// record cost more than the decoding itself on large reads.
const decodeEntry = (rec: PositionedRecord): RecordCodec.EntryValue | RecordDecodeError => {
  try {
    return RecordCodec.decodeEntry(rec.data ?? EMPTY)
  } catch (e) {
    return new RecordDecodeError({ file: rec.file, offset: rec.offset, reason: `entry: ${String(e)}` })
  }
}

const decodeWith = <A>(rec: PositionedRecord, what: string, f: (b: Uint8Array) => A) => {
  try {
    return Effect.succeed(f(rec.data ?? EMPTY))
  } catch (e) {
    return Effect.fail(new RecordDecodeError({ file: rec.file, offset: rec.offset, reason: `${what}: ${String(e)}` }))
  }
}

const EMPTY = new Uint8Array(0)

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean => {
  const x = a ?? EMPTY
  const y = b ?? EMPTY
  if (x.length !== y.length) return false
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
  return true
}

/**
 * Lists `dir` and selects the segments to read from `index` ({@link Segment.selectFrom}).
 *
 * @since 0.1.0
 * @category reading
 */
export const selectSegments = (
  dir: string,
  index: bigint
): Effect.Effect<
  { readonly segments: ReadonlyArray<Segment.SegmentName>; readonly ignored: ReadonlyArray<Segment.Ignored> },
  WalIoError | WalNotFound
> =>
  Effect.gen(function*() {
    const listing = yield* Segment.list(dir)
    const segments = yield* Segment.selectFrom(dir, listing.segments, index)
    return { segments, ignored: listing.ignored }
  })

/**
 * Like {@link selectSegments} over the union of an archive directory and the live one: archived segments older
 * than the first live segment, then the live ones. Returns where each archived segment lives.
 *
 * @since 0.1.0
 * @category reading
 */
export const selectWithArchive = (
  dir: string,
  archiveDir: string | undefined,
  index: bigint
): Effect.Effect<
  { readonly segments: ReadonlyArray<Segment.SegmentName>; readonly locations: ReadonlyMap<string, string> },
  WalIoError | WalNotFound
> =>
  Effect.gen(function*() {
    const live = (yield* Segment.list(dir)).segments
    const locations = new Map<string, string>()
    let all = live
    if (archiveDir !== undefined && (yield* Fsx.exists(archiveDir))) {
      const firstLive = live[0]?.seq
      const archived = (yield* Segment.list(archiveDir)).segments.filter((s) =>
        firstLive === undefined || s.seq < firstLive
      )
      for (const s of archived) locations.set(s.name, archiveDir)
      all = [...archived, ...live]
    }
    const segments = yield* Segment.selectFrom(dir, all, index)
    return { segments, locations }
  })

/**
 * etcd's `ReadAll` from the snapshot record `start`: entries with index > `start.index` (later entries with a
 * lower index overwrite, as raft's log does; a skipped index fails with {@link IndexGap}), the last HardState,
 * the metadata (every metadata record must equal the first), and where the valid data ends. A snapshot record at
 * `start.index` must exist with `start.term` ({@link SnapshotNotFound}, {@link SnapshotMismatch}), in both modes
 * (etcd's write mode loses that error).
 *
 * @since 0.1.0
 * @category reading
 */
export const readAll = (
  dir: string,
  start: Start,
  options: ReadAllOptions
): Effect.Effect<ReadAllResult, WalReadError> =>
  Effect.scoped(Effect.gen(function*() {
    const { ignored, segments } = yield* selectSegments(dir, start.index)
    const source = yield* makeSource(dir, segments, READ_CHUNK_BYTES, false)
    const collect = options.collect ?? true
    const entries: Array<RecordCodec.EntryValue> = []
    let count = 0n
    let lastIndex = start.index
    let sawEntry = false
    let metadata: Uint8Array | undefined = undefined
    let sawMetadata = false
    let hardState: Proto.HardStateValue = { term: 0n, vote: 0n, commit: 0n }
    const snapshots: Array<Proto.WalSnapshotValue> = []
    let found = false
    let end = { _tag: "Eof" } as ReadEnd
    let lastMarker: Marker | undefined = undefined
    let prevCrc = 0
    const byName = new Map(segments.map((sg) => [sg.name, sg]))
    while (!source.done) {
      const batch = yield* source.next().pipe(
        Effect.catchTag("UnexpectedEof", (e) =>
          options.mode === "read" && e.lastSegment
            ? Effect.sync(() => {
              end = { _tag: "TornTail", error: e }
              return [] as Array<PositionedRecord>
            })
            : Effect.fail(e))
      )
      for (const rec of batch) {
        const crcBefore = prevCrc
        // a non-crc record's crc field is the running CRC after it
        prevCrc = rec.crc
        if (rec.type === ENTRY_TYPE) {
          const e = decodeEntry(rec)
          if (e instanceof RecordDecodeError) return yield* e
          if (e.index > start.index) {
            const pos = e.index - start.index - 1n
            if (pos < count) {
              if (collect) entries.length = Number(pos)
              count = pos
            } else if (pos > count) {
              return yield* new IndexGap({
                file: rec.file,
                offset: rec.offset,
                expected: (start.index + count + 1n).toString(),
                actual: e.index.toString()
              })
            }
            if (collect) entries.push(e)
            count++
          }
          lastIndex = e.index
          sawEntry = true
        } else if (rec.type === STATE_TYPE) {
          const before = hardState
          hardState = yield* decodeWith(rec, "hard state", Proto.decodeHardState)
          lastMarker = {
            at: { segment: byName.get(rec.file)!, offset: rec.offset, fileSize: 0, crc: crcBefore },
            commit: hardState.commit,
            lastIndexBefore: sawEntry ? lastIndex : start.index,
            hardStateBefore: before
          }
        } else if (rec.type === METADATA_TYPE) {
          if (sawMetadata && !sameBytes(metadata, rec.data)) {
            return yield* new ConflictingMetadata({ file: rec.file, offset: rec.offset })
          }
          metadata = rec.data
          sawMetadata = true
        } else if (rec.type === SNAPSHOT_TYPE) {
          const s = yield* decodeWith(rec, "snapshot", Proto.decodeWalSnapshot)
          snapshots.push(s)
          if (s.index === start.index) {
            if (s.term !== start.term) {
              return yield* new SnapshotMismatch({
                file: rec.file,
                offset: rec.offset,
                index: s.index.toString(),
                expectedTerm: start.term.toString(),
                actualTerm: s.term.toString()
              })
            }
            found = true
          }
        } else {
          return yield* new UnknownRecordType({ file: rec.file, offset: rec.offset, recordType: rec.type.toString() })
        }
      }
    }
    if (!found) {
      return yield* new SnapshotNotFound({ dir, index: start.index.toString(), term: start.term.toString() })
    }
    const tail = end._tag === "TornTail"
      ? { ...source.tail(), offset: end.error.offset }
      : source.tail()
    return {
      metadata,
      hardState,
      entries,
      entryCount: Number(count),
      lastIndex: sawEntry ? lastIndex : start.index,
      snapshots,
      segments,
      ignored,
      tail,
      end,
      lastMarker
    }
  }))

/**
 * Decodes every record of `segments` (in order, one CRC chain starting at 0) without interpreting them, checking
 * frames, CRCs, crc records and record types. Used by repair and verify. Fails with the first typed error.
 *
 * @since 0.1.0
 * @category reading
 */
export const scanSegments = (
  dir: string,
  segments: ReadonlyArray<Segment.SegmentName>,
  options: { readonly crc?: number | undefined } = {}
): Effect.Effect<{ readonly records: number; readonly tail: Tail }, WalReadError> =>
  Effect.scoped(Effect.gen(function*() {
    const source = yield* makeSource(dir, segments, READ_CHUNK_BYTES, false)
    // continuing a known chain: the first segment's crc record must carry `crc`
    if (options.crc !== undefined) source.seedCrc(options.crc)
    let records = 0
    while (!source.done) {
      const batch = yield* source.next()
      for (const rec of batch) {
        if (!KNOWN_TYPES.has(rec.type)) {
          return yield* new UnknownRecordType({ file: rec.file, offset: rec.offset, recordType: rec.type.toString() })
        }
      }
      records += batch.length
    }
    return { records, tail: source.tail() }
  }))

/**
 * Options of {@link entries}.
 *
 * @since 0.1.0
 * @category models
 */
export interface EntriesOptions {
  /**
   * Stop after this index (inclusive). Readers of a log that is being written must pass the durable index: the
   * stream then reads "live" (re-reading sizes, following segment cuts) and never decodes past what it was told.
   */
  readonly to?: bigint | undefined
  /**
   * Follow the log: once `to` is reached, `follow(to)` is awaited for the next durable index (> `to`) and the
   * stream continues from the same open file position. Requires `to`. The stream may decode complete records
   * beyond `to` and hold them until `to` passes them, so `follow` must report the durable index of the writer of
   * this process (`BinLogger.read` does); a reader in another process cannot know that a killed writer's unfinished
   * group will be replaced, and must re-open its stream after a writer restart (the CLI's `read --follow` does).
   */
  readonly follow?: ((reached: bigint) => Effect.Effect<bigint>) | undefined
  /** Bytes per read call (default {@link READ_CHUNK_BYTES}). */
  readonly chunkBytes?: number | undefined
  /**
   * A directory of archived (sealed, purged-from-`dir`) segments: segments older than the first one in `dir` are
   * read from there, then the live ones.
   */
  readonly archiveDir?: string | undefined
  /**
   * A record boundary at or before `from` in the segment that holds `from`, with the running CRC before that record
   * (`Wal.WalWriter.seekPoint`): decoding begins there instead of at the segment's start, so a read of recent
   * entries does not decode the whole segment before them. Ignored when `segment` is not the segment that holds
   * `from`. A wrong point never yields other entries: the read fails (CRC mismatch, index gap) or ends early.
   */
  readonly start?: { readonly segment: string; readonly offset: number; readonly crc: number } | undefined
}

type Chunk = readonly [RecordCodec.EntryValue, ...Array<RecordCodec.EntryValue>]

/**
 * A stream of the entries with index in `[from, to]` (or to the end of the log), read segment by segment with
 * bounded memory (one chunk and the entries decoded from it at a time). Entries must be dense from `from` on: an
 * overwrite fails with {@link EntryOverwrite} and a skipped index with {@link IndexGap}. A torn tail ends the
 * stream with {@link UnexpectedEof}, since a caller asking for a range must not mistake a damaged log for a short
 * one. With `to`, segments cut after the stream started are picked up by listing the directory again; with
 * `follow`, the stream never ends by itself.
 *
 * @since 0.1.0
 * @category reading
 */
export const entries = (
  dir: string,
  from: bigint,
  options: EntriesOptions = {}
): Stream.Stream<RecordCodec.EntryValue, WalReadError> =>
  Stream.scoped(Stream.fromPull(openEntries(dir, from, options)))

// made once (Effect.fnUntraced): a generator function made per read would get its own map in V8's old generation,
// keeping the read's source and its chunk alive through young-generation GCs (ARCHITECTURE.md, "Performance rules")
const openEntries = Effect.fnUntraced(function*(dir: string, from: bigint, options: EntriesOptions) {
  let to = options.to
  const live = to !== undefined
  const { locations, segments } = yield* selectWithArchive(dir, options.archiveDir, from)
  const source = yield* makeSource(dir, segments, options.chunkBytes ?? READ_CHUNK_BYTES, live, locations)
  if (options.start !== undefined && segments[0]?.name === options.start.segment) {
    source.startAt(options.start.segment, options.start.offset, options.start.crc)
  }
  // indexes start at 1: reading "from 0" means from the beginning
  let expected = from < 1n ? 1n : from
  let deferred: WalReadError | undefined = undefined
  // complete entries decoded beyond `to`: not visible yet, handed out once `to` passes them
  const pending: Array<RecordCodec.EntryValue> = []
  let stalls = 0

  /** Takes one record: an entry goes to `out` (or `pending`); returns the error that must stop the stream. */
  const accept = (rec: PositionedRecord, out: Array<RecordCodec.EntryValue>): WalReadError | undefined => {
    if (rec.type !== ENTRY_TYPE) {
      if (!KNOWN_TYPES.has(rec.type)) {
        return new UnknownRecordType({ file: rec.file, offset: rec.offset, recordType: rec.type.toString() })
      }
      return undefined
    }
    const e = decodeEntry(rec)
    if (e instanceof RecordDecodeError) return e
    if (e.index < from) return undefined
    if (e.index < expected) {
      return new EntryOverwrite({
        file: rec.file,
        offset: rec.offset,
        expected: expected.toString(),
        actual: e.index.toString()
      })
    }
    if (e.index > expected) {
      return new IndexGap({
        file: rec.file,
        offset: rec.offset,
        expected: expected.toString(),
        actual: e.index.toString()
      })
    }
    expected++
    if (to === undefined || e.index <= to) out.push(e)
    else pending.push(e)
    return undefined
  }

  /** Live reads: the current segment ended; move to a newer one or re-read this one. */
  const atEnd = Effect.gen(function*() {
    const listing = yield* Segment.list(dir)
    const known = source.lastSegments[source.lastSegments.length - 1]!
    const newer = listing.segments.filter((s) => s.seq > known.seq)
    if (newer.length > 0 && source.sealedChecked) {
      source.extend(newer)
      source.sealedChecked = false
      source.done = false
      stalls = 0
      return
    }
    // either the segment was sealed after our last read (read it again to its true end) or the writer has
    // written more into it since: re-read from the same offset
    source.sealedChecked = newer.length > 0
    if (stalls++ > 2) {
      return yield* new IndexGap({
        file: known.name,
        offset: source.tail().offset,
        expected: expected.toString(),
        actual: "end of log"
      })
    }
    yield* source.refresh()
  })

  const pull: Effect.Effect<Chunk, WalReadError | Cause.Done> = Effect.gen(function*() {
    while (true) {
      const out: Array<RecordCodec.EntryValue> = []
      while (pending.length > 0 && to !== undefined && pending[0]!.index <= to) out.push(pending.shift()!)
      if (out.length > 0) return out as unknown as Chunk
      if (to !== undefined && expected > to) {
        if (options.follow === undefined) return yield* Cause.done()
        const next = yield* options.follow(to)
        if (next > to) {
          to = next
          stalls = 0
        }
        continue
      }
      if (source.done) {
        if (!live) return yield* Cause.done()
        yield* atEnd
        continue
      }
      if (deferred !== undefined) return yield* deferred
      const batch = yield* source.next()
      for (let i = 0; i < batch.length; i++) {
        const failure = accept(batch[i]!, out)
        if (failure !== undefined) {
          // hand out the good entries before the bad record first; fail on the next pull
          if (out.length === 0) return yield* failure
          deferred = failure
          break
        }
      }
      if (out.length > 0) {
        stalls = 0
        return out as unknown as Chunk
      }
    }
  })
  return pull
})

const KNOWN_TYPES: ReadonlySet<bigint> = new Set([1n, 2n, 3n, 4n, 5n])
