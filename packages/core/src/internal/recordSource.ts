// The record source behind every WAL read: the segments of one read in order, one CRC chain, chunked positional
// reads, crc records checked and consumed at segment boundaries, live mode for logs being written. Internal: the
// public entry points are in Reader.ts.
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { SegmentDecoder } from "../Decoder.ts"
import type { PositionedRecord } from "../Decoder.ts"
import * as RecordCodec from "../RecordCodec.ts"
import type * as Segment from "../Segment.ts"
import { CrcRecordMismatch, UnexpectedEof } from "../WalError.ts"
import type { WalIoError, WalReadError } from "../WalError.ts"
import * as Fsx from "./fsx.ts"

const ZERO_SCAN_CHUNK_BYTES = 1024 * 1024

// The shapes of `Reader.Tail` and `Reader.ReadEnd`, declared here so this module sits below Reader.
interface Tail {
  readonly segment: Segment.SegmentName
  readonly offset: number
  readonly fileSize: number
  readonly crc: number
}

type ReadEnd =
  | { readonly _tag: "Eof" }
  | { readonly _tag: "TornTail"; readonly error: UnexpectedEof }

const CRC_TYPE = BigInt(RecordCodec.RecordType.crc)

interface OpenFile {
  readonly segment: Segment.SegmentName
  readonly path: string
  readonly fd: number
}

/**
 * Records of a list of segments, decoded chunk by chunk; crc records are checked and consumed here (they never
 * reach the caller) because the check needs the running CRC at that exact point.
 */
export class RecordSource {
  private i = -1
  private file: OpenFile | undefined
  private decoder: SegmentDecoder | undefined
  private buf: Uint8Array = new Uint8Array(0)
  private bufStart = 0
  private crc = 0
  /** Set once the source is exhausted or failed. */
  done = false
  /** Live reads: the current segment is known to be sealed and was re-read to its end. */
  sealedChecked = false
  end: ReadEnd | undefined

  readonly dir: string
  /** Segments that live in another directory (an archive), by name. */
  readonly locations: ReadonlyMap<string, string>
  private segments: Array<Segment.SegmentName>
  private readonly chunkBytes: number
  /** When set, sizes are re-read when a frame runs past them (the writer may still be appending). */
  private readonly live: boolean

  constructor(
    dir: string,
    segments: Array<Segment.SegmentName>,
    chunkBytes: number,
    live: boolean,
    locations: ReadonlyMap<string, string> = new Map()
  ) {
    this.dir = dir
    this.locations = locations
    this.segments = segments
    this.chunkBytes = chunkBytes
    this.live = live
  }

  get currentSegment(): Segment.SegmentName | undefined {
    return this.file?.segment
  }

  get lastSegments(): ReadonlyArray<Segment.SegmentName> {
    return this.segments
  }

  tail(): Tail {
    const d = this.decoder!
    return { segment: this.file!.segment, offset: d.offset, fileSize: d.fileSize, crc: d.crc }
  }

  /** Adds segments found by a later listing (live reads that cross a cut). */
  extend(more: ReadonlyArray<Segment.SegmentName>): void {
    this.segments = this.segments.concat(more)
  }

  /** Sets the running CRC the first segment's crc record must continue (before the first `next`). */
  seedCrc(crc: number): void {
    this.crc = crc >>> 0
  }

  /** Where the first segment's decoding begins instead of its start (see {@link startAt}). */
  private start: { readonly segment: string; readonly offset: number; readonly crc: number } | undefined

  /**
   * Begins decoding the first segment at `offset` (a record boundary) with `crc` the running CRC before that record,
   * instead of at the segment's start, when that segment is `segment` (before the first `next`). Its header is then
   * not read again.
   */
  startAt(segment: string, offset: number, crc: number): void {
    this.start = { segment, offset, crc: crc >>> 0 }
  }

  /** Closes the current segment file, if any (also registered as the scope's finalizer). */
  get close(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const file = this.file
      if (file === undefined) return Effect.void
      this.file = undefined
      return Fsx.closeQuietly(file.fd)
    })
  }

  /**
   * Live reads: forgets the buffered bytes and re-reads the current segment's size, so the next {@link next}
   * decodes from the same offset with what the writer has written since.
   */
  refresh(): Effect.Effect<void, WalIoError> {
    return Effect.gen({ self: this }, function*() {
      this.done = false
      this.end = undefined
      if (this.decoder === undefined || this.file === undefined) return
      this.buf = new Uint8Array(0)
      this.bufStart = this.decoder.offset
      this.decoder.error = undefined
      this.decoder.fileSize = yield* Fsx.fsize(this.file.fd, this.file.path)
    })
  }

  private openNext(): Effect.Effect<boolean, WalIoError> {
    return Effect.gen({ self: this }, function*() {
      yield* this.close
      this.i++
      if (this.i >= this.segments.length) return false
      const segment = this.segments[this.i]!
      const path = `${this.locations.get(segment.name) ?? this.dir}/${segment.name}`
      // the open and the bookkeeping are one uninterruptible step, so the scope's finalizer (close) always knows
      // about the descriptor; descriptors are never closed twice (numbers are reused by the kernel at once)
      const fd = yield* Effect.uninterruptible(Effect.tap(Fsx.open(path, "r"), (fd) =>
        Effect.sync(() => {
          this.file = { segment, path, fd }
        })))
      const size = yield* Fsx.fsize(fd, path)
      this.decoder = new SegmentDecoder(segment.name, size, this.i === this.segments.length - 1, this.crc)
      this.buf = new Uint8Array(0)
      this.bufStart = 0
      const start = this.start
      this.start = undefined
      if (start !== undefined && this.i === 0 && start.segment === segment.name && start.offset <= size) {
        this.decoder.offset = start.offset
        this.decoder.crc = start.crc
        this.bufStart = start.offset
      }
      return true
    })
  }

  private fill(min: number): Effect.Effect<void, WalIoError> {
    return Effect.gen({ self: this }, function*() {
      const d = this.decoder!
      const f = this.file!
      const want = Math.min(Math.max(this.chunkBytes, min), d.fileSize - d.offset)
      this.buf = yield* Fsx.readChunk(f.fd, f.path, d.offset, want)
      this.bufStart = d.offset
      if (this.buf.length < want) d.fileSize = d.offset + this.buf.length // the file shrank: treat as its end
    })
  }

  /** Offset just after the last non-zero byte at or after `from` (== `from` if all zeros). */
  private lastNonZero(from: number): Effect.Effect<number, WalIoError> {
    return Effect.gen({ self: this }, function*() {
      const f = this.file!
      const size = this.decoder!.fileSize
      let last = from
      const buf = new Uint8Array(ZERO_SCAN_CHUNK_BYTES)
      for (let pos = from; pos < size;) {
        const n = yield* Fsx.read(f.fd, f.path, buf, 0, Math.min(buf.length, size - pos), pos)
        if (n === 0) break
        for (let k = n - 1; k >= 0; k--) {
          if (buf[k] !== 0) {
            last = pos + k + 1
            break
          }
        }
        pos += n
      }
      return last
    })
  }

  /**
   * Decodes the next records (at least one unless the source ends). Fails with a typed error where etcd would;
   * a torn tail of the last segment fails with {@link UnexpectedEof} and sets `end`.
   */
  next(): Effect.Effect<Array<PositionedRecord>, WalReadError> {
    return Effect.gen({ self: this }, function*() {
      const out: Array<PositionedRecord> = []
      if (this.done) return out
      if (this.decoder === undefined && !(yield* this.openNext())) {
        this.done = true
        this.end = { _tag: "Eof" }
        return out
      }
      while (true) {
        const d = this.decoder!
        const step = d.next(this.buf, this.bufStart)
        if (step === "record") {
          const rec = d.record!
          if (rec.type === CRC_TYPE) {
            // the decoder leaves the running CRC alone for crc records: d.crc is the value before this one
            if (d.crc !== 0 && rec.crc !== d.crc) {
              return yield* new CrcRecordMismatch({
                file: rec.file,
                offset: rec.offset,
                expected: d.crc,
                actual: rec.crc
              })
            }
            d.crc = rec.crc
            continue
          }
          out.push(rec)
          if (out.length >= MAX_RECORDS_PER_BATCH) return out
          continue
        }
        // hand out what was decoded before doing I/O or reporting; the decoder repeats the same step next time
        if (out.length > 0) return out
        const isLast = this.i === this.segments.length - 1
        if (step === "need") {
          if (this.live && d.offset + d.needBytes > d.fileSize) {
            d.fileSize = yield* Fsx.fsize(this.file!.fd, this.file!.path)
          }
          yield* this.fill(d.needBytes)
          continue
        }
        if (step === "end") {
          if (isLast && d.endReason === "zero-length-word" && !this.live) {
            const hidden = yield* this.lastNonZero(d.offset)
            if (hidden > d.offset) {
              return yield* this.stop(
                new UnexpectedEof({
                  file: d.file,
                  offset: d.offset,
                  reason: "torn-write",
                  droppedBytes: hidden - d.offset,
                  lastSegment: true
                })
              )
            }
          }
          this.crc = d.crc
          if (isLast) {
            this.done = true
            this.end = { _tag: "Eof" }
            return out
          }
          yield* this.openNext()
          continue
        }
        const err = d.error!
        if (err._tag === "UnexpectedEof") {
          if (this.live) {
            // a live reader may be ahead of the size it saw: re-read it once before calling this an end
            const size = yield* Fsx.fsize(this.file!.fd, this.file!.path)
            if (size > d.fileSize) {
              d.fileSize = size
              d.error = undefined
              continue
            }
          }
          const hidden = yield* this.lastNonZero(err.offset)
          return yield* this.stop(
            new UnexpectedEof({
              file: err.file,
              offset: err.offset,
              reason: err.reason,
              droppedBytes: Math.max(0, hidden - err.offset),
              lastSegment: isLast
            })
          )
        }
        this.done = true
        return yield* err
      }
    })
  }

  private stop(err: UnexpectedEof): Effect.Effect<never, UnexpectedEof> {
    this.done = true
    this.end = { _tag: "TornTail", error: err }
    return Effect.fail(err)
  }
}

const MAX_RECORDS_PER_BATCH = 4096

/** A record source whose open file is closed when the current scope closes. */
export const makeSource = (
  dir: string,
  segments: ReadonlyArray<Segment.SegmentName>,
  chunkBytes: number,
  live: boolean,
  locations?: ReadonlyMap<string, string>
): Effect.Effect<RecordSource, never, Scope.Scope> =>
  Effect.tap(
    Effect.sync(() => new RecordSource(dir, [...segments], chunkBytes, live, locations)),
    (source) => Effect.addFinalizer(() => source.close)
  )
