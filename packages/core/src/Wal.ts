/**
 * The WAL lifecycle: create, open for appending, save entries and snapshot records, cut segments, sync, close —
 * etcd's `wal.go`, writing the same bytes.
 *
 * Given go-binlogger's call sequence (create with nil metadata; saves of `{type 0, term 0, index, data}` entries;
 * snapshot records `{index, 0, conf_state {}}` after their `.snap` files), the segments are byte-identical to
 * etcd's, including where segments are cut: etcd decides to cut from the write position its 4 KiB-page write
 * buffer has handed to the OS (flushed at 128 KiB or on sync), which {@link PageWriterModel} reproduces.
 *
 * Durability: {@link WalWriter.save} with `sync` writes and fdatasyncs before it returns; without `sync` the bytes
 * are handed to the OS only. Segments are created as `*.tmp`, filled, fdatasynced, renamed into place and the
 * directory is fsynced, so a segment appears whole or not at all. Unlike etcd's `Create`, nothing in the
 * directory is ever deleted.
 *
 * A writer is used by one fiber at a time (the BinLogger's writer); it does no locking of its own besides the
 * directory lock ({@link FileLock}).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as NFS from "node:fs"
import * as Path from "node:path"
import { canAlign, FrameEncoder, LENGTH_WORD_BYTES } from "./Encoder.ts"
import * as FileLock from "./FileLock.ts"
import * as Fsx from "./internal/fsx.ts"
import * as Proto from "./Proto.ts"
import * as Reader from "./Reader.ts"
import { RecordType } from "./RecordCodec.ts"
import * as Segment from "./Segment.ts"
import * as SegmentPipeline from "./SegmentPipeline.ts"
import { WalExists } from "./WalError.ts"
import type { WalIoError, WalLocked, WalReadError } from "./WalError.ts"

/**
 * etcd's write buffer page size (`walPageBytes` = 8 × 512-byte sectors).
 *
 * @since 0.1.0
 * @category constants
 */
export const PAGE_BYTES = 4096

/**
 * etcd's write buffer flush threshold (`defaultBufferBytes`).
 *
 * @since 0.1.0
 * @category constants
 */
export const BUFFER_BYTES = 128 * 1024

/**
 * Average bytes per durable write at or below which the writer asks for zero-filled next segments
 * ({@link SegmentPipeline.SegmentPipeline.requestZeroFill}): small writes are latency-bound, and a write into
 * zero-filled space skips a file-system metadata commit; large ones are bandwidth-bound, where writing every segment
 * twice would cost more.
 *
 * @since 0.1.0
 * @category constants
 */
export const ZERO_FILL_MAX_AVERAGE_WRITE_BYTES = 64 * 1024

/** Durable writes between two zero-fill decisions. */
const ZERO_FILL_CHECK_WRITES = 64

/**
 * Seek points kept by a writer ({@link WalWriter.seekPoint}); when full, the older half is dropped.
 *
 * @since 0.1.0
 * @category constants
 */
export const SEEK_POINTS = 4096

/**
 * Entries at least between two seek points of one segment (a read decodes fewer than this many before `from`).
 *
 * @since 0.1.0
 * @category constants
 */
export const SEEK_POINT_STRIDE_ENTRIES = 256

/**
 * Options for creating or opening a WAL for writing.
 *
 * @since 0.1.0
 * @category models
 */
export interface WriterOptions {
  /**
   * Open only: when the last state record (binlog's group-commit marker) announces a last index that the log does
   * not reach, the group never finished: cut it off, marker included. Entries appended after a complete group by
   * another writer (go-binlogger) are kept. Default false (etcd's behaviour).
   */
  readonly dropUncommitted?: boolean | undefined
  /** Take the directory's writer lock (default true). Pass false only when the caller already holds it. */
  readonly lock?: boolean | undefined
  /** Cut threshold in bytes (default {@link Segment.DEFAULT_SEGMENT_SIZE_BYTES}). */
  readonly segmentSizeBytes?: number | undefined
  /**
   * Open segment files with `O_DSYNC` (default false): every write is durable when it returns, so
   * `save(…, sync = true)` makes one system call (one thread-pool round trip) instead of a write and an fdatasync;
   * the durability is the same (synchronized I/O data integrity completion, what fdatasync gives). Meant for
   * writers that sync every save (`syncInterval` 0); with it, saves without `sync` are durable too.
   */
  readonly dsync?: boolean | undefined
  /**
   * With {@link dsync}: write segments with `O_DIRECT` too (default true where possible). Each write then goes
   * from the encoder's page-aligned buffer straight to the device, rewriting the partial page it starts in and
   * zero-padding to the next page (the bytes after the log's end are zeros anyway), instead of being copied into
   * the page cache and flushed from there: about 15% less time per durable write of a 1,000-entry batch on the
   * machine of the README's figures. Used only when the native helper is loaded (it finds buffer addresses) and
   * the file system accepts `O_DIRECT` (tmpfs does not); otherwise `O_DSYNC` alone. Same bytes, same durability.
   */
  readonly direct?: boolean | undefined
  /** Metadata stored in every segment's metadata record; undefined = no data field (go-binlogger). */
  readonly metadata?: Uint8Array | undefined
}

/**
 * Models etcd's `ioutil.PageWriter` to know the file position etcd would see (bytes handed to the OS), which
 * decides when etcd cuts a segment. It only counts bytes; the real writes are done in one piece per batch.
 *
 * @since 0.1.0
 * @category models
 */
export class PageWriterModel {
  /** Bytes handed to the OS since the encoder started, plus the start offset. */
  position: number
  private pageOffset: number
  private buffered = 0

  constructor(startOffset: number) {
    this.position = startOffset
    this.pageOffset = startOffset
  }

  write(n: number): void {
    while (true) {
      if (n + this.buffered <= BUFFER_BYTES) {
        this.buffered += n
        return
      }
      let slack = PAGE_BYTES - ((this.pageOffset + this.buffered) % PAGE_BYTES)
      if (slack !== PAGE_BYTES) {
        const partial = slack > n
        if (partial) slack = n
        this.buffered += slack
        n -= slack
        if (partial) return
      }
      this.flush()
      if (n > PAGE_BYTES) {
        const pages = Math.floor(n / PAGE_BYTES) * PAGE_BYTES
        this.position += pages
        n -= pages
      }
    }
  }

  flush(): void {
    this.position += this.buffered
    this.pageOffset = (this.pageOffset + this.buffered) % PAGE_BYTES
    this.buffered = 0
  }
}

/**
 * An entry to save: its index and payload (`data` undefined = no Data field).
 *
 * @since 0.1.0
 * @category models
 */
export interface NewEntry {
  readonly index: bigint
  readonly data: Uint8Array | undefined
}

/**
 * A WAL open for appending. Obtain one with {@link create} or {@link openForWrite}; it is closed (synced, files
 * closed, lock released) when its scope closes.
 *
 * @since 0.1.0
 * @category models
 */
export interface WalWriter {
  readonly dir: string
  /** Index of the last entry saved, or of the last snapshot record if higher (etcd's `enti`). */
  readonly lastIndex: () => bigint
  /** The live segments, oldest first. */
  readonly segments: () => ReadonlyArray<Segment.SegmentName>
  /** Write offset in the last segment. */
  readonly tailOffset: () => number
  /**
   * How segments are written: `"direct"` (`O_DIRECT` + `O_DSYNC`, see {@link WriterOptions.direct}), `"dsync"`
   * (`O_DSYNC`) or `"buffered"` (page cache, fdatasync on sync).
   */
  readonly writeMode: "direct" | "dsync" | "buffered"
  /** Segments begun, since the writer opened, in a file the pipeline had zero-filled whole. */
  readonly zeroFilledSegments: () => number
  /**
   * The latest point, written since the writer opened, where a read of `index` can begin instead of at the start of
   * the segment: a record boundary at or before the entry `index` in a segment (the start of a group written by
   * `saveBatches`, at most {@link SEEK_POINT_STRIDE_ENTRIES} entries before `index` while it is in the last
   * {@link SEEK_POINTS} points), with the running CRC before it (`Reader.EntriesOptions.start`).
   */
  readonly seekPoint: (
    index: bigint
  ) => { readonly segment: string; readonly offset: number; readonly crc: number; readonly index: bigint } | undefined
  /**
   * Appends entry records (term 0, type 0) in one write; fdatasyncs when `sync` is set; cuts a new segment when
   * etcd would. With `commit`, a state record `HardState{0, 0, commit}` announcing the group's last index comes
   * first, in the same write (binlog's group-commit marker; later segment headers repeat it, as etcd's cut does).
   * On failure nothing is guaranteed about the tail: the writer must not be used again.
   */
  readonly save: (
    entries: ReadonlyArray<NewEntry>,
    sync: boolean,
    commit?: bigint | undefined
  ) => Effect.Effect<void, WalIoError>
  /**
   * {@link save} for entries with consecutive indexes from `first`: the payloads of `batches`, in order. No
   * `{index, data}` object and no bigint per entry (the encoder takes `number` indexes below 2^53): the group
   * committer's path, 0.83 → 0.63 µs of CPU per entry for batches of 1,000 × 256 B (bench/wal.ts).
   */
  readonly saveBatches: (
    first: bigint,
    batches: ReadonlyArray<ReadonlyArray<Uint8Array>>,
    sync: boolean,
    commit?: bigint | undefined
  ) => Effect.Effect<void, WalIoError>
  /** Appends a WAL snapshot record and fdatasyncs (etcd's `SaveSnapshot`). */
  readonly saveSnapshot: (snapshot: Proto.WalSnapshotValue) => Effect.Effect<void, WalIoError>
  /** fdatasyncs the last segment. */
  readonly sync: Effect.Effect<void, WalIoError>
  /**
   * The segments etcd's `ReleaseLockTo(index)` would release: all before the last segment whose name index is
   * below `index` (that one may still hold entries from `index` on). Never includes the last segment.
   */
  readonly releasable: (index: bigint) => ReadonlyArray<Segment.SegmentName>
  /** Forgets segments deleted by a purge (they must be a prefix of {@link segments}). */
  readonly forget: (names: ReadonlyArray<string>) => void
}

interface Tail {
  fd: number
  path: string
  segment: Segment.SegmentName
  offset: number
  model: PageWriterModel
}

const makeWriter = (
  dir: string,
  segmentSizeBytes: number,
  metadata: Uint8Array | undefined,
  dsync: boolean,
  wantDirect: boolean,
  initial: {
    readonly segments: ReadonlyArray<Segment.SegmentName>
    readonly tail: Tail
    readonly crc: number
    readonly lastIndex: bigint
    readonly hardState: Proto.HardStateValue
  }
): Effect.Effect<WalWriter, never, Scope.Scope> =>
  Effect.gen(function*() {
    let tail = initial.tail
    const directFlag = NFS.constants.O_DIRECT as number | undefined
    let direct = false
    const encoder = new FrameEncoder(initial.crc, undefined, dsync && wantDirect && canAlign ? DIRECT_ALIGN_BYTES : 0)
    if (dsync && wantDirect && canAlign && directFlag !== undefined) {
      // reopen the tail with O_DIRECT (a file system that refuses it keeps O_DSYNC alone) and carry the part of
      // its current page that is already written, so the first write can start at the page boundary
      const pageStart = Math.floor(tail.offset / DIRECT_ALIGN_BYTES) * DIRECT_ALIGN_BYTES
      const prefix = new Uint8Array(tail.offset - pageStart)
      const got = yield* Effect.result(Fsx.read(tail.fd, tail.path, prefix, 0, prefix.length, pageStart))
      const reopened = got._tag === "Success" && got.success === prefix.length
        ? yield* Effect.result(Fsx.open(tail.path, NFS.constants.O_RDWR | NFS.constants.O_DSYNC | directFlag))
        : undefined
      if (reopened !== undefined && reopened._tag === "Success") {
        // probe: rewrite the current page as it is (its bytes, then the zeros after the log's end) through O_DIRECT;
        // a file system that opens with O_DIRECT but refuses page-aligned writes keeps O_DSYNC alone (a tail at a page
        // boundary has nothing to rewrite: no probe; a new log's tail never is, its header comes first)
        encoder.setPrefix(prefix)
        const page = encoder.takeAligned()
        const probe = yield* Effect.result(Fsx.writeAll(reopened.success, tail.path, page.bytes, pageStart))
        if (probe._tag === "Success") {
          encoder.carryTail()
          yield* Fsx.closeQuietly(tail.fd)
          tail = { ...tail, fd: reopened.success }
          direct = true
        } else {
          encoder.reset(initial.crc)
          yield* Fsx.closeQuietly(reopened.success)
        }
      }
    }
    const pipeline = yield* SegmentPipeline.make(dir, Segment.preallocationBytes(segmentSizeBytes), {
      flags: dsync ? NFS.constants.O_DSYNC | (direct ? directFlag! : 0) : 0
    })
    let segments = [...initial.segments]
    let lastIndex = initial.lastIndex
    let state = initial.hardState
    const frames: Array<number> = []

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Effect.ignore(Fsx.fdatasync(tail.fd, tail.path))
        yield* Fsx.closeQuietly(tail.fd)
      })
    )

    // Zero-filled next segments (SegmentPipeline) while this segment's durable writes are small: each is then a data
    // write only, without the file-system metadata commit a write into preallocated space costs (~130 → ~85 µs for
    // 16 KiB on ext4). Decided from the current segment's writes, re-checked every ZERO_FILL_CHECK_WRITES writes.
    let segmentWrites = 0
    let segmentWriteBytes = 0
    let zeroFilledSegments = 0
    const noteWrite = (bytes: number) => {
      segmentWrites++
      segmentWriteBytes += bytes
      if (dsync && segmentWrites % ZERO_FILL_CHECK_WRITES === 0) {
        pipeline.requestZeroFill(segmentWriteBytes / segmentWrites <= ZERO_FILL_MAX_AVERAGE_WRITE_BYTES)
      }
    }

    const writeEncoded = Effect.gen(function*() {
      if (direct) {
        const aligned = encoder.takeAligned()
        yield* Fsx.writeAll(tail.fd, tail.path, aligned.bytes, tail.offset - aligned.prefixBytes)
        encoder.carryTail()
        tail.offset += aligned.newBytes
        noteWrite(aligned.bytes.length)
      } else {
        const bytes = encoder.take()
        yield* Fsx.writeAll(tail.fd, tail.path, bytes, tail.offset)
        tail.offset += bytes.length
        noteWrite(bytes.length)
      }
      for (const f of frames) {
        tail.model.write(LENGTH_WORD_BYTES)
        tail.model.write(f - LENGTH_WORD_BYTES)
      }
      frames.length = 0
    })

    const syncTail = Effect.suspend(() => {
      tail.model.flush()
      return Fsx.fdatasync(tail.fd, tail.path)
    })

    const encodeRecord = (type: number, data: Uint8Array | undefined) => {
      const before = encoder.size
      encoder.record(type, data)
      frames.push(encoder.size - before)
    }

    const cut = Effect.gen(function*() {
      // 1. seal the current segment at the end of its data (drops the preallocated zero tail)
      yield* Fsx.ftruncate(tail.fd, tail.path, tail.offset)
      yield* syncTail
      // 2. header of the next segment in a preallocated temp file
      const next = Segment.parseSegmentName(Segment.segmentName(tail.segment.seq + 1n, lastIndex + 1n))!
      const file = yield* pipeline.take
      if (direct) encoder.setPrefix(EMPTY)
      encodeRecord(RecordType.crc, undefined)
      encodeRecord(RecordType.metadata, metadata)
      if (!isEmptyHardState(state)) encodeRecord(RecordType.state, Proto.encodeHardState(state))
      frames.length = 0
      let headerBytes: number
      if (direct) {
        const aligned = encoder.takeAligned()
        yield* Fsx.writeAll(file.fd, file.path, aligned.bytes, 0)
        encoder.carryTail()
        headerBytes = aligned.newBytes
      } else {
        const header = encoder.take()
        yield* Fsx.writeAll(file.fd, file.path, header, 0)
        headerBytes = header.length
      }
      yield* Fsx.fdatasync(file.fd, file.path)
      // 3. rename into place and make the rename durable
      const path = `${dir}/${next.name}`
      yield* Fsx.rename(file.path, path)
      yield* Fsx.fsyncDir(dir)
      yield* Fsx.closeQuietly(tail.fd)
      tail = { fd: file.fd, path, segment: next, offset: headerBytes, model: new PageWriterModel(headerBytes) }
      segments.push(next)
      segmentWrites = 0
      segmentWriteBytes = 0
      if (file.zeroFilled) zeroFilledSegments++
    })

    const afterSave = Effect.fnUntraced(function*(sync: boolean) {
      if (tail.model.position < segmentSizeBytes) {
        // with O_DSYNC the write was durable when it returned: only the page-writer model needs its flush
        if (sync && dsync) tail.model.flush()
        else if (sync) yield* syncTail
        return
      }
      yield* cut
    })

    const save = Effect.fnUntraced(function*(entries: ReadonlyArray<NewEntry>, sync: boolean, commit?: bigint) {
      if (entries.length === 0 && commit === undefined) return
      if (commit !== undefined) {
        state = { term: 0n, vote: 0n, commit }
        encodeRecord(RecordType.state, Proto.encodeHardState(state))
      }
      for (const e of entries) {
        const before = encoder.size
        encoder.entry(0, 0n, e.index, e.data)
        frames.push(encoder.size - before)
      }
      yield* writeEncoded
      if (entries.length > 0) lastIndex = entries[entries.length - 1]!.index
      yield* afterSave(sync)
    })

    // seek points: group starts (segment, offset, CRC before the group), at least SEEK_POINT_STRIDE_ENTRIES apart
    const points: Array<
      { readonly segment: string; readonly offset: number; readonly crc: number; readonly index: bigint }
    > = []
    const notePoint = (first: bigint) => {
      const last = points[points.length - 1]
      if (
        last !== undefined && last.segment === tail.segment.name &&
        (first < last.index || first - last.index < BigInt(SEEK_POINT_STRIDE_ENTRIES))
      ) return
      if (last !== undefined && first <= last.index) return
      if (points.length >= SEEK_POINTS) points.splice(0, SEEK_POINTS / 2)
      points.push({ segment: tail.segment.name, offset: tail.offset, crc: encoder.crc, index: first })
    }
    const seekPoint = (index: bigint) => {
      let lo = 0
      let hi = points.length - 1
      let found = -1
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1
        if (points[mid]!.index <= index) {
          found = mid
          lo = mid + 1
        } else hi = mid - 1
      }
      return found < 0 ? undefined : points[found]
    }

    const saveBatches = Effect.fnUntraced(function*(
      first: bigint,
      batches: ReadonlyArray<ReadonlyArray<Uint8Array>>,
      sync: boolean,
      commit?: bigint
    ) {
      let count = 0
      for (const b of batches) count += b.length
      if (count === 0 && commit === undefined) return
      if (count > 0) notePoint(first)
      if (commit !== undefined) {
        state = { term: 0n, vote: 0n, commit }
        encodeRecord(RecordType.state, Proto.encodeHardState(state))
      }
      const last = first + BigInt(count) - 1n
      // below 2^53 the index runs as a number; above, as a bigint (same bytes either way)
      let index: number | bigint = last <= MAX_SAFE_INDEX ? Number(first) : first
      if (typeof index === "number") encoder.entryBatches(0, 0, index, batches, frames)
      else {
        for (const b of batches) {
          for (let i = 0; i < b.length; i++) {
            const before = encoder.size
            encoder.entry(0, 0n, index, b[i])
            frames.push(encoder.size - before)
            index = index + 1n
          }
        }
      }
      yield* writeEncoded
      if (count > 0) lastIndex = last
      yield* afterSave(sync)
    })

    const saveSnapshot = Effect.fnUntraced(function*(snapshot: Proto.WalSnapshotValue) {
      encodeRecord(RecordType.snapshot, Proto.encodeWalSnapshot(snapshot))
      yield* writeEncoded
      if (lastIndex < snapshot.index) lastIndex = snapshot.index
      yield* syncTail
    })

    const releasable = (index: bigint): ReadonlyArray<Segment.SegmentName> => {
      // etcd: find the first segment whose name index >= index; keep the one before it and everything after
      let found = segments.findIndex((s) => s.index >= index)
      if (found < 0) found = segments.length
      const keepFrom = Math.max(0, Math.min(found - 1, segments.length - 1))
      return segments.slice(0, keepFrom)
    }

    const forget = (names: ReadonlyArray<string>) => {
      const gone = new Set(names)
      segments = segments.filter((s) => !gone.has(s.name))
    }

    return {
      dir,
      lastIndex: () => lastIndex,
      segments: () => segments,
      tailOffset: () => tail.offset,
      writeMode: direct ? "direct" : dsync ? "dsync" : "buffered",
      zeroFilledSegments: () => zeroFilledSegments,
      seekPoint,
      save,
      saveBatches,
      saveSnapshot,
      sync: syncTail,
      releasable,
      forget
    }
  })

const MAX_SAFE_INDEX = BigInt(Number.MAX_SAFE_INTEGER)

/** O_DIRECT alignment of buffer addresses, file offsets and lengths: one page, a multiple of every logical block. */
const DIRECT_ALIGN_BYTES = 4096

const EMPTY = new Uint8Array(0)

const isEmptyHardState = (h: Proto.HardStateValue): boolean => h.term === 0n && h.vote === 0n && h.commit === 0n

/**
 * Creates a new WAL in `dir` (created with mode 0700 if missing) and opens it for appending: the first segment
 * `0000000000000000-0000000000000000.wal` holds a crc record (0), the metadata record and the `{0, 0}` snapshot
 * record, preallocated to the segment size. Fails with {@link WalExists} if `dir` already holds a `*.wal` file.
 * Other files in `dir` are left alone (etcd's `Create` deletes them).
 *
 * @since 0.1.0
 * @category constructors
 */
export const create = (
  dir: string,
  options: WriterOptions = {}
): Effect.Effect<WalWriter, WalExists | WalLocked | WalIoError, Scope.Scope> =>
  Effect.gen(function*() {
    const segmentSizeBytes = options.segmentSizeBytes ?? Segment.DEFAULT_SEGMENT_SIZE_BYTES
    if (yield* Segment.exists(dir)) return yield* new WalExists({ dir })
    yield* Fsx.mkdirp(dir, 0o700)
    if (options.lock !== false) yield* FileLock.acquire(dir)
    const first = Segment.parseSegmentName(Segment.segmentName(0n, 0n))!
    const path = `${dir}/${first.name}`
    const tmp = `${path}.tmp`
    yield* Fsx.unlink(tmp)
    const dsync = options.dsync === true
    const fd = yield* Fsx.open(
      tmp,
      NFS.constants.O_RDWR | NFS.constants.O_CREAT | NFS.constants.O_TRUNC | (dsync ? NFS.constants.O_DSYNC : 0),
      0o600
    )
    const encoder = new FrameEncoder(0)
    encoder.crcRecord()
    encoder.record(RecordType.metadata, options.metadata)
    encoder.record(RecordType.snapshot, Proto.encodeWalSnapshot({ index: 0n, term: 0n }))
    const crc = encoder.crc
    const header = encoder.take()
    const setup = Effect.gen(function*() {
      yield* Fsx.preallocate(fd, tmp, Segment.preallocationBytes(segmentSizeBytes))
      yield* Fsx.writeAll(fd, tmp, header, 0)
      yield* Fsx.fdatasync(fd, tmp)
      yield* Fsx.rename(tmp, path)
      yield* Fsx.fsyncDir(dir)
      yield* Fsx.fsyncDir(Path.dirname(Path.resolve(dir)))
    })
    yield* Effect.onError(setup, () => Effect.andThen(Fsx.closeQuietly(fd), Effect.ignore(Fsx.unlink(tmp))))
    const model = new PageWriterModel(0)
    model.write(header.length)
    model.flush()
    return yield* makeWriter(dir, segmentSizeBytes, options.metadata, dsync, options.direct !== false, {
      segments: [first],
      tail: { fd, path, segment: first, offset: header.length, model },
      crc,
      lastIndex: 0n,
      hardState: { term: 0n, vote: 0n, commit: 0n }
    })
  })

/**
 * Opens an existing WAL for appending from the snapshot record `start` (etcd's `Open` + write-mode `ReadAll`):
 * reads every segment from the start one to the end, checking the CRC chain, metadata and the snapshot record;
 * then zeroes the last segment after its last valid record (keeping its size) and continues there.
 *
 * A torn tail fails with `UnexpectedEof` (run {@link Repair.repair} and open again). Entries are counted, not
 * kept in memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const openForWrite = (
  dir: string,
  start: Reader.Start,
  options: WriterOptions = {}
): Effect.Effect<
  {
    readonly writer: WalWriter
    readonly read: Reader.ReadAllResult
    /** Entries and bytes cut off as an unfinished group commit (`dropUncommitted`). */
    readonly dropped: { readonly entries: bigint; readonly bytes: number }
  },
  WalReadError | WalLocked,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const segmentSizeBytes = options.segmentSizeBytes ?? Segment.DEFAULT_SEGMENT_SIZE_BYTES
    if (options.lock !== false) {
      // hold the lock in a child scope that a failed open closes at once, so the caller can repair and retry
      const lockScope = yield* Scope.fork(yield* Effect.scope)
      yield* FileLock.acquire(dir).pipe(Scope.provide(lockScope))
      return yield* openLocked(dir, start, options, segmentSizeBytes).pipe(
        Effect.onExit((exit) => (exit._tag === "Failure" ? Scope.close(lockScope, exit) : Effect.void))
      )
    }
    return yield* openLocked(dir, start, options, segmentSizeBytes)
  })

const openLocked = (
  dir: string,
  start: Reader.Start,
  options: WriterOptions,
  segmentSizeBytes: number
) =>
  Effect.gen(function*() {
    const read = yield* Reader.readAll(dir, start, { mode: "write", collect: false })
    let t = read.tail
    let lastIndex = read.lastIndex
    let dropped = { entries: 0n, bytes: 0 }
    let hardState = read.hardState
    const m = read.lastMarker
    if (
      options.dropUncommitted === true && m !== undefined && read.lastIndex < m.commit &&
      m.at.segment.name === t.segment.name
    ) {
      // the group announced by the last marker never finished: cut it off, marker included
      dropped = { entries: read.lastIndex - m.lastIndexBefore, bytes: t.offset - m.at.offset }
      t = { ...t, offset: m.at.offset, crc: m.at.crc }
      lastIndex = m.lastIndexBefore
      hardState = m.hardStateBefore
    }
    const path = `${dir}/${t.segment.name}`
    const dsync = options.dsync === true
    const fd = yield* Fsx.open(path, NFS.constants.O_RDWR | (dsync ? NFS.constants.O_DSYNC : 0), 0o600)
    yield* Effect.onError(
      Effect.gen(function*() {
        // etcd's ZeroToEnd: cut after the last valid record, then re-extend to the old size with zeros
        yield* Fsx.ftruncate(fd, path, t.offset)
        yield* Fsx.ftruncate(fd, path, Math.max(t.fileSize, t.offset))
        yield* Fsx.fdatasync(fd, path)
      }),
      () => Fsx.closeQuietly(fd)
    )
    const listing = yield* Segment.list(dir)
    const model = new PageWriterModel(t.offset)
    const writer = yield* makeWriter(dir, segmentSizeBytes, read.metadata, dsync, options.direct !== false, {
      segments: listing.segments.filter((s) => s.seq <= t.segment.seq),
      tail: { fd, path, segment: t.segment, offset: t.offset, model },
      crc: t.crc,
      lastIndex,
      hardState
    })
    return { writer, read, dropped }
  })
