/**
 * Positional reads of WAL entries: "read the entries at these indexes" without scanning the log from a start
 * point, on top of `Segment` (listing), `Decoder` (frame splitting, CRC chain) and `RecordCodec`.
 *
 * Each segment gets, lazily, an index of its entries: for entry `firstIndex + k`, the file offset of its frame
 * (`Uint32Array`, segments are < 4 GiB) and the running CRC-32C before it (`Uint32Array`). That is **8 bytes per
 * entry** of the indexed part of the log. A segment is indexed the first time a read needs one of its entries, by
 * one sequential pass from the segment's start (its leading crc record seeds the CRC chain, so segments are
 * independent) and only as far as needed; the active segment is extended on later reads.
 *
 * The tables of sealed segments can be saved in a cache directory (see {@link make}), so a restart does not scan
 * again.
 *
 * A positional read opens the segment, reads each wanted frame with `pread` (nearby frames coalesced into one
 * read), checks that the record is an entry whose CRC continues the chain from the stored CRC (so a positional read
 * detects corruption exactly like a sequential one) and that its index is the one asked for.
 *
 * Callers must only ask for indexes the log reports as durable/visible (`currentIndex`): such frames are complete
 * on disk. A purged segment answers `IndexUnavailable`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Semaphore from "effect/Semaphore"
import * as NFS from "node:fs"
import * as Crc32c from "../../Crc32c.ts"
import { SegmentDecoder } from "../../Decoder.ts"
import { LENGTH_WORD_BYTES } from "../../Encoder.ts"
import { IndexUnavailable } from "../../LogError.ts"
import * as RecordCodec from "../../RecordCodec.ts"
import * as Segment from "../../Segment.ts"
import { CrcMismatch, RecordDecodeError, UnexpectedEof, WalIoError } from "../../WalError.ts"
import type { WalReadError } from "../../WalError.ts"

/** Bytes read per call while indexing a segment. */
const SCAN_CHUNK_BYTES = 1024 * 1024
/** Frames closer than this are read with one `pread`. */
const COALESCE_GAP_BYTES = 16 * 1024
/** Largest single coalesced read. */
const MAX_READ_BYTES = 4 * 1024 * 1024

const MAX_U64 = (1n << 64n) - 1n

const CRC_TYPE = BigInt(RecordCodec.RecordType.crc)
const ENTRY_TYPE = BigInt(RecordCodec.RecordType.entry)

/** An entry read by position; `data` is a view over a read buffer. */
export interface PositionedEntry {
  readonly index: bigint
  readonly data: Uint8Array
}

export type EntryReadError = WalReadError | IndexUnavailable

interface Seg {
  readonly name: string
  readonly path: string
  readonly seq: bigint
  readonly nameIndex: bigint
  firstIndex: bigint | undefined
  count: number
  offsets: Uint32Array
  crcs: Uint32Array
  /** Offset after the last scanned record, and the running CRC there. */
  scanOffset: number
  crc: number
  /** A newer segment exists, so this one will not grow. */
  sealed: boolean
  /** Scanned to its end (sealed and fully indexed). */
  complete: boolean
}

const ioError = (op: string, path: string) => (cause: unknown) => new WalIoError({ op, path, cause })

const isMissing = (cause: unknown) =>
  typeof cause === "object" && cause !== null && "code" in cause && cause.code === "ENOENT"

const grow = (a: Uint32Array, n: number): Uint32Array => {
  if (n <= a.length) return a
  const next = new Uint32Array(Math.max(n, a.length * 2, 1024))
  next.set(a)
  return next
}

/**
 * The positional reader over one WAL directory. Not thread-safe by itself: methods serialize on a semaphore.
 */
export class EntryIndex {
  readonly walDir: string
  /** Where the offset tables of complete (sealed, fully indexed) segments are saved, if anywhere. */
  readonly cacheDir: string | undefined
  private segs: Array<Seg> = []
  private readonly lock: Semaphore.Semaphore

  constructor(walDir: string, lock: Semaphore.Semaphore, cacheDir?: string) {
    this.walDir = walDir
    this.lock = lock
    this.cacheDir = cacheDir
  }

  private cachePath(seg: Seg): string | undefined {
    return this.cacheDir === undefined ? undefined : `${this.cacheDir}/${seg.name}.idx`
  }

  /** Loads a saved offset table of a sealed segment, if one matches the segment file's size. */
  private loadSaved(seg: Seg, size: number): boolean {
    const path = this.cachePath(seg)
    if (path === undefined || !seg.sealed || seg.count > 0 || seg.scanOffset > 0) return false
    let bytes: Uint8Array
    try {
      bytes = NFS.readFileSync(path)
    } catch {
      return false
    }
    const saved = parseSaved(bytes, size)
    if (saved === undefined) return false
    seg.firstIndex = saved.firstIndex
    seg.count = saved.offsets.length
    seg.offsets = saved.offsets
    seg.crcs = saved.crcs
    seg.scanOffset = saved.scanOffset
    seg.crc = saved.crc
    seg.complete = true
    return true
  }

  /** Saves the offset table of a segment that just became complete (a cache: failures are ignored). */
  private save(seg: Seg, size: number): void {
    const path = this.cachePath(seg)
    if (path === undefined || seg.firstIndex === undefined) return
    try {
      NFS.mkdirSync(this.cacheDir!, { recursive: true })
      const tmp = `${path}.tmp`
      NFS.writeFileSync(tmp, encodeSaved(seg, size))
      NFS.renameSync(tmp, path)
    } catch {
      // a missing cache only costs a scan
    }
  }

  /** Bytes held by the offset tables (for reporting). */
  memoryBytes(): number {
    let n = 0
    for (const s of this.segs) n += s.offsets.byteLength + s.crcs.byteLength
    return n
  }

  private refreshListing(): Effect.Effect<void, WalIoError> {
    return Effect.map(Segment.list(this.walDir), (listing) => {
      const known = new Map(this.segs.map((s) => [s.name, s]))
      const next: Array<Seg> = []
      for (const sn of listing.segments) {
        next.push(
          known.get(sn.name) ?? {
            name: sn.name,
            path: `${this.walDir}/${sn.name}`,
            seq: sn.seq,
            nameIndex: sn.index,
            firstIndex: undefined,
            count: 0,
            offsets: new Uint32Array(0),
            crcs: new Uint32Array(0),
            scanOffset: 0,
            crc: 0,
            sealed: false,
            complete: false
          }
        )
      }
      for (let i = 0; i < next.length - 1; i++) next[i]!.sealed = true
      // saved tables of purged segments go too
      const names = new Set(next.map((n) => n.name))
      for (const old of this.segs) {
        const path = this.cachePath(old)
        if (path !== undefined && !names.has(old.name)) NFS.rmSync(path, { force: true })
      }
      this.segs = next
    })
  }

  /** The segment holding `index` (the last whose name index is ≤ `index`), refreshing the listing if needed. */
  private segmentFor(index: bigint): Effect.Effect<Seg, WalIoError | IndexUnavailable> {
    return this.segmentForWith(this, index)
  }

  private readonly segmentForWith = Effect.fnUntraced(function*(self: EntryIndex, index: bigint) {
    const find = () => {
      for (let i = self.segs.length - 1; i >= 0; i--) if (self.segs[i]!.nameIndex <= index) return i
      return -1
    }
    let i = find()
    const last = self.segs[i]
    const beyondIndexed = last === undefined || last.firstIndex === undefined ||
      index >= last.firstIndex + BigInt(last.count)
    // a newer segment can only matter for an index past what the last segment has shown so far
    if (i < 0 || (i === self.segs.length - 1 && beyondIndexed)) {
      yield* self.refreshListing()
      i = find()
    }
    if (i < 0) {
      return yield* new IndexUnavailable({
        index: index.toString(),
        firstIndex: (self.segs[0]?.nameIndex ?? 0n).toString(),
        reason: "no segment holds this index (purged?)"
      })
    }
    return self.segs[i]!
  })

  /** Indexes `seg` from where its last scan stopped until `upTo` is indexed or the segment's data ends. */
  private scan(seg: Seg, upTo: bigint): Effect.Effect<void, WalReadError | IndexUnavailable> {
    return Effect.acquireUseRelease(
      Effect.try({
        try: () => NFS.openSync(seg.path, "r"),
        catch: (cause) =>
          isMissing(cause)
            ? new IndexUnavailable({ index: upTo.toString(), firstIndex: "?", reason: `${seg.name} was purged` })
            : ioError("open", seg.path)(cause)
      }),
      (fd) => this.scanWith(this, seg, upTo, fd),
      (fd) => Effect.sync(() => NFS.closeSync(fd))
    )
  }

  private readonly scanWith = Effect.fnUntraced(function*(self: EntryIndex, seg: Seg, upTo: bigint, fd: number) {
    let refreshed = 0
    if (self.loadSaved(seg, NFS.fstatSync(fd).size)) return
    // a sealed segment is indexed whole, once (and its table saved); the active one only as far as needed
    const goal = seg.sealed ? MAX_U64 : upTo
    while (!seg.complete && (seg.firstIndex === undefined || seg.firstIndex + BigInt(seg.count) <= goal)) {
      const size = NFS.fstatSync(fd).size
      const outcome = yield* Effect.try({
        try: () => self.scanChunk(fd, seg, size, goal),
        catch: (cause) => cause instanceof ScanFailure ? cause.error : ioError("read", seg.path)(cause)
      })
      if (outcome === "progress") {
        refreshed = 0
        continue
      }
      // end of the data on disk
      if (!seg.sealed) yield* self.refreshListing()
      if (seg.sealed) {
        // a sealed segment ends where its data ends; re-read once in case it was sealed after our last read
        if (refreshed++ > 0) {
          seg.complete = true
          self.save(seg, size)
        }
        continue
      }
      if (refreshed++ > 2) {
        return yield* new UnexpectedEof({
          file: seg.name,
          offset: seg.scanOffset,
          reason: "record-past-end-of-file",
          droppedBytes: 0,
          lastSegment: true
        })
      }
    }
  })

  /** One chunk of a scan, synchronous. Returns whether it made progress or reached the end of the data. */
  private scanChunk(fd: number, seg: Seg, size: number, upTo: bigint): "progress" | "end" {
    const d = new SegmentDecoder(seg.name, size, false, seg.crc)
    d.offset = seg.scanOffset
    let bufStart = seg.scanOffset
    let buf = readAt(fd, bufStart, Math.min(SCAN_CHUNK_BYTES, size - bufStart))
    let progressed = false
    while (true) {
      const before = d.crc
      const step = d.next(buf, bufStart)
      if (step === "record") {
        const rec = d.record!
        if (rec.type === CRC_TYPE) {
          d.crc = rec.crc
        } else if (rec.type === ENTRY_TYPE) {
          let e: RecordCodec.EntryValue
          try {
            e = RecordCodec.decodeEntry(rec.data ?? new Uint8Array(0))
          } catch (cause) {
            throw new ScanFailure(
              new RecordDecodeError({ file: seg.name, offset: rec.offset, reason: `entry: ${String(cause)}` })
            )
          }
          if (seg.firstIndex === undefined) seg.firstIndex = e.index
          const expected = seg.firstIndex + BigInt(seg.count)
          if (e.index !== expected) {
            throw new ScanFailure(
              new RecordDecodeError({
                file: seg.name,
                offset: rec.offset,
                reason: `entry index ${e.index} where ${expected} was expected (not dense)`
              })
            )
          }
          seg.offsets = grow(seg.offsets, seg.count + 1)
          seg.crcs = grow(seg.crcs, seg.count + 1)
          seg.offsets[seg.count] = rec.offset
          seg.crcs[seg.count] = before
          seg.count++
        }
        seg.scanOffset = d.offset
        seg.crc = d.crc
        progressed = true
        if (seg.firstIndex !== undefined && seg.firstIndex + BigInt(seg.count) > upTo) return "progress"
        continue
      }
      if (step === "need") {
        if (d.offset + d.needBytes > size) return progressed ? "progress" : "end"
        bufStart = d.offset
        buf = readAt(fd, bufStart, Math.min(Math.max(SCAN_CHUNK_BYTES, d.needBytes), size - bufStart))
        continue
      }
      if (step === "end") return progressed ? "progress" : "end"
      // an error: in the active segment a frame beyond what we were asked for may be half written
      if (d.error!._tag === "UnexpectedEof" && !seg.sealed) return progressed ? "progress" : "end"
      throw new ScanFailure(d.error!)
    }
  }

  /**
   * Reads the entries at `indexes` (any order, duplicates allowed), returned in the same order. Every index must
   * be durable.
   */
  read(indexes: ReadonlyArray<bigint>): Effect.Effect<Array<PositionedEntry>, EntryReadError> {
    return this.lock.withPermits(1)(this.readWith(this, indexes))
  }

  // The bodies of read, segmentFor and scan are generator functions made once per index (Effect.fnUntraced): one
  // made per call gets its own map in V8's old generation, which keeps what the call captured (here the entries
  // read) alive through young-generation GCs (ARCHITECTURE.md, "Performance rules").
  private readonly readWith = Effect.fnUntraced(function*(self: EntryIndex, indexes: ReadonlyArray<bigint>) {
    const out = new Array<PositionedEntry>(indexes.length)
    // group positions by segment, preserving ascending order within a group
    const order = indexes.map((_, i) => i)
    let sorted = true
    for (let k = 1; k < indexes.length && sorted; k++) sorted = indexes[k - 1]! <= indexes[k]!
    if (!sorted) {
      order.sort((a, b) => {
        const x = indexes[a]!
        const y = indexes[b]!
        return x < y ? -1 : x > y ? 1 : 0
      })
    }
    let i = 0
    while (i < order.length) {
      const seg = yield* self.segmentFor(indexes[order[i]!]!)
      const group: Array<number> = []
      const nextSeg = self.segs[self.segs.indexOf(seg) + 1]
      while (i < order.length && (nextSeg === undefined || indexes[order[i]!]! < nextSeg.nameIndex)) {
        group.push(order[i]!)
        i++
      }
      const last = indexes[group[group.length - 1]!]!
      if (seg.firstIndex === undefined || seg.firstIndex + BigInt(seg.count) <= last) yield* self.scan(seg, last)
      yield* self.readGroup(seg, group, indexes, out)
    }
    return out
  })

  private readGroup(
    seg: Seg,
    group: ReadonlyArray<number>,
    indexes: ReadonlyArray<bigint>,
    out: Array<PositionedEntry>
  ): Effect.Effect<void, EntryReadError> {
    return Effect.acquireUseRelease(
      Effect.try({
        try: () => NFS.openSync(seg.path, "r"),
        catch: (cause) =>
          isMissing(cause)
            ? new IndexUnavailable({
              index: indexes[group[0]!]!.toString(),
              firstIndex: "?",
              reason: `${seg.name} was purged`
            })
            : ioError("open", seg.path)(cause)
      }),
      (fd) =>
        Effect.try({
          try: () => readFrames(fd, seg, group, indexes, out),
          catch: (cause) => cause instanceof ScanFailure ? cause.error : ioError("read", seg.path)(cause)
        }),
      (fd) => Effect.sync(() => NFS.closeSync(fd))
    )
  }
}

class ScanFailure {
  readonly error: EntryReadError
  constructor(error: EntryReadError) {
    this.error = error
  }
}

const readAt = (fd: number, position: number, length: number): Uint8Array => {
  // not zero-filled: every byte handed out is read from the file first
  const buf: Uint8Array = Buffer.allocUnsafe(Math.max(0, length))
  let done = 0
  while (done < buf.length) {
    const n = NFS.readSync(fd, buf, done, buf.length - done, position + done)
    if (n === 0) break
    done += n
  }
  return done === buf.length ? buf : buf.subarray(0, done)
}

/** Frame end of the k-th entry of `seg`: the next entry's offset, or the end of the scanned data. */
const frameLimit = (seg: Seg, k: number) => (k + 1 < seg.count ? seg.offsets[k + 1]! : seg.scanOffset)

const readFrames = (
  fd: number,
  seg: Seg,
  group: ReadonlyArray<number>,
  indexes: ReadonlyArray<bigint>,
  out: Array<PositionedEntry>
): void => {
  const first = seg.firstIndex
  for (const pos of group) {
    const k = first === undefined ? -1 : Number(indexes[pos]! - first)
    if (k < 0 || k >= seg.count) {
      throw new ScanFailure(
        new IndexUnavailable({
          index: indexes[pos]!.toString(),
          firstIndex: String(first ?? seg.nameIndex),
          reason: `${seg.name} does not hold this entry`
        })
      )
    }
  }
  let g = 0
  while (g < group.length) {
    // one coalesced window [start, end)
    const k0 = Number(indexes[group[g]!]! - first!)
    const start = seg.offsets[k0]!
    let end = frameLimit(seg, k0)
    let h = g + 1
    while (h < group.length) {
      const k = Number(indexes[group[h]!]! - first!)
      const off = seg.offsets[k]!
      const lim = frameLimit(seg, k)
      if (off - end > COALESCE_GAP_BYTES || lim - start > MAX_READ_BYTES) break
      if (lim > end) end = lim
      h++
    }
    const buf = readAt(fd, start, end - start)
    for (let j = g; j < h; j++) {
      const pos = group[j]!
      const index = indexes[pos]!
      const k = Number(index - first!)
      out[pos] = { index, data: decodeFrame(seg, buf, seg.offsets[k]! - start, seg.offsets[k]!, seg.crcs[k]!, index) }
    }
    g = h
  }
}

const decodeFrame = (
  seg: Seg,
  buf: Uint8Array,
  rel: number,
  offset: number,
  prevCrc: number,
  index: bigint
): Uint8Array => {
  const fail = (reason: string): never => {
    throw new ScanFailure(new RecordDecodeError({ file: seg.name, offset, reason }))
  }
  if (rel + LENGTH_WORD_BYTES > buf.length) fail("positional read: short frame")
  const lo = buf[rel]! | (buf[rel + 1]! << 8) | (buf[rel + 2]! << 16) | (buf[rel + 3]! << 24)
  const hi = buf[rel + 4]! | (buf[rel + 5]! << 8) | (buf[rel + 6]! << 16)
  const recBytes = hi * 0x1_0000_0000 + (lo >>> 0)
  const recStart = rel + LENGTH_WORD_BYTES
  if (recStart + recBytes > buf.length) fail("positional read: record runs past the read")
  let rec: RecordCodec.DecodedRecord
  let entry: RecordCodec.EntryValue
  try {
    rec = RecordCodec.decodeRecord(buf, recStart, recStart + recBytes)
    if (rec.type !== ENTRY_TYPE) return fail(`positional read: record type ${rec.type} is not an entry`)
    entry = RecordCodec.decodeEntry(rec.data ?? new Uint8Array(0))
  } catch (cause) {
    return fail(`positional read: ${String(cause)}`)
  }
  const crc = rec.data === undefined ? prevCrc : Crc32c.update(prevCrc, rec.data)
  if (crc !== rec.crc) {
    throw new ScanFailure(new CrcMismatch({ file: seg.name, offset, expected: crc, actual: rec.crc }))
  }
  if (entry.index !== index) fail(`positional read: entry ${entry.index} where ${index} was expected`)
  return entry.data ?? new Uint8Array(0)
}

// --- saved offset tables: "BLIX", version 1, then little-endian u32s: segment size (2 words), first index (2
// words), count, scan offset, end CRC, offsets[count], crcs[count]; then the CRC-32C of everything before ---

const MAGIC = 0x58494c42 // "BLIX"
const SAVED_VERSION = 1
const SAVED_HEADER_WORDS = 9

const encodeSaved = (seg: Seg, size: number): Uint8Array => {
  const words = SAVED_HEADER_WORDS + 2 * seg.count
  const out = new Uint8Array(words * 4 + 4)
  const v = new DataView(out.buffer)
  const first = seg.firstIndex!
  const header = [
    MAGIC,
    SAVED_VERSION,
    size % 0x1_0000_0000,
    Math.floor(size / 0x1_0000_0000),
    Number(first & 0xffff_ffffn),
    Number(first >> 32n),
    seg.count,
    seg.scanOffset,
    seg.crc
  ]
  header.forEach((w, i) => v.setUint32(i * 4, w >>> 0, true))
  for (let k = 0; k < seg.count; k++) {
    v.setUint32((SAVED_HEADER_WORDS + k) * 4, seg.offsets[k]!, true)
    v.setUint32((SAVED_HEADER_WORDS + seg.count + k) * 4, seg.crcs[k]!, true)
  }
  v.setUint32(words * 4, Crc32c.checksum(out.subarray(0, words * 4)), true)
  return out
}

const parseSaved = (
  bytes: Uint8Array,
  size: number
): { firstIndex: bigint; offsets: Uint32Array; crcs: Uint32Array; scanOffset: number; crc: number } | undefined => {
  if (bytes.length < SAVED_HEADER_WORDS * 4 + 4 || bytes.length % 4 !== 0) return undefined
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const w = (i: number) => v.getUint32(i * 4, true)
  const body = bytes.length - 4
  if (Crc32c.checksum(bytes.subarray(0, body)) !== v.getUint32(body, true)) return undefined
  if (w(0) !== MAGIC || w(1) !== SAVED_VERSION) return undefined
  if (w(2) + w(3) * 0x1_0000_0000 !== size) return undefined
  const count = w(6)
  if (body !== (SAVED_HEADER_WORDS + 2 * count) * 4) return undefined
  const offsets = new Uint32Array(count)
  const crcs = new Uint32Array(count)
  for (let k = 0; k < count; k++) {
    offsets[k] = w(SAVED_HEADER_WORDS + k)
    crcs[k] = w(SAVED_HEADER_WORDS + count + k)
  }
  return { firstIndex: (BigInt(w(5)) << 32n) | BigInt(w(4)), offsets, crcs, scanOffset: w(7), crc: w(8) }
}

/**
 * Creates the positional reader of `walDir`. With `cacheDir`, the offset tables of sealed segments are saved there
 * once built (8 bytes per entry, CRC-protected, matched to the segment's size) and loaded instead of scanning the
 * segment again after a restart.
 */
export const make = (walDir: string, cacheDir?: string): Effect.Effect<EntryIndex> =>
  Effect.map(Semaphore.make(1), (lock) => new EntryIndex(walDir, lock, cacheDir))
