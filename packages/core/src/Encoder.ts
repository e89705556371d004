/**
 * The frame encoder: turns records into etcd's 8-byte-aligned frames, keeping the rolling CRC-32C.
 *
 * A frame is a little-endian u64 length word, the `walpb.Record` bytes, and 0–7 zero bytes of padding so the next
 * length word starts 8-byte aligned. When there is padding, the top byte of the length word is `0x80 | padBytes`.
 * Each non-crc record's `crc` field is the running CRC-32C after its data; crc records carry the running value
 * without changing it.
 *
 * The encoder appends frames to one growable buffer, so a whole batch becomes one contiguous write. It is a plain
 * mutable object (not an Effect): it runs inside the single writer and never does I/O.
 *
 * @since 0.1.0
 */
import * as Crc32c from "./Crc32c.ts"
import * as Native from "./internal/native.ts"
import * as RecordCodec from "./RecordCodec.ts"

const nativeEncodeEntries = Native.binding?.encodeEntries
const nativeAlignmentOffset = Native.binding?.alignmentOffset

/**
 * Whether {@link FrameEncoder} can hand out buffers for `O_DIRECT` writes (`alignBytes`): it needs the native
 * helper to learn a buffer's address.
 *
 * @since 0.1.0
 * @category framing
 */
export const canAlign: boolean = nativeAlignmentOffset !== undefined

/**
 * What {@link FrameEncoder.takeAligned} returns: `bytes` to write at the file position of the current page start
 * (the carried prefix, the new frames, zero padding to the alignment).
 *
 * @since 0.1.0
 * @category models
 */
export interface AlignedTake {
  readonly bytes: Uint8Array
  /** Bytes at the start of `bytes` that were already in the file (the partial page carried over). */
  readonly prefixBytes: number
  /** New bytes after the prefix (the frames); the rest of `bytes` is zero padding. */
  readonly newBytes: number
}

/**
 * Bytes of a frame's length word.
 *
 * @since 0.1.0
 * @category constants
 */
export const LENGTH_WORD_BYTES = 8

/**
 * Frame alignment in bytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const FRAME_ALIGN_BYTES = 8

const INITIAL_CAPACITY_BYTES = 64 * 1024

/**
 * Padding bytes after a record of `recBytes` bytes.
 *
 * @since 0.1.0
 * @category framing
 */
export const padBytes = (recBytes: number): number => (FRAME_ALIGN_BYTES - (recBytes % FRAME_ALIGN_BYTES)) % 8

/**
 * Writes a frame's length word for `recBytes` at `pos` (little-endian, pad flag in the top byte).
 *
 * @since 0.1.0
 * @category framing
 */
export const writeLengthWord = (buf: Uint8Array, pos: number, recBytes: number): void => {
  const pad = padBytes(recBytes)
  // recBytes < 2^53, so split it into two 32-bit halves; the top byte holds the padding flag
  const lo = recBytes >>> 0
  const hi = Math.floor(recBytes / 0x1_0000_0000) & 0x00ff_ffff
  buf[pos] = lo & 0xff
  buf[pos + 1] = (lo >>> 8) & 0xff
  buf[pos + 2] = (lo >>> 16) & 0xff
  buf[pos + 3] = (lo >>> 24) & 0xff
  buf[pos + 4] = hi & 0xff
  buf[pos + 5] = (hi >>> 8) & 0xff
  buf[pos + 6] = (hi >>> 16) & 0xff
  buf[pos + 7] = pad === 0 ? 0 : 0x80 | pad
}

/**
 * Appends frames to a growable buffer with a running CRC.
 *
 * @since 0.1.0
 * @category models
 */
export class FrameEncoder {
  /** The running CRC-32C after the last record encoded. */
  crc: number
  private buf: Uint8Array
  /** `buf` as 32-bit words, for the CRC (see `Crc32c.updateWords`); undefined on big-endian platforms. */
  private words: Int32Array | undefined
  private len = 0
  /** Scratch for the native batch encoder: payloads end to end, their sizes, frame sizes out, [position, crc]. */
  private staged = new Uint8Array(0)
  private lengths = new Int32Array(0)
  private frameScratch = new Int32Array(0)
  private readonly io = new Float64Array(2)
  /** Address alignment of `buf` for O_DIRECT, 0 = none. */
  private readonly align: number
  /** Bytes at the front of `buf` carried over from the last aligned write (not new data). */
  private prefixLen = 0
  /** Where the partial page of the last {@link takeAligned} starts, for {@link carryTail}. */
  private tailStart = -1

  /**
   * @param crc the running CRC to continue
   * @param capacity initial buffer size in bytes (grows as needed)
   * @param alignBytes 0, or a power of two: the buffer's address is kept a multiple of it, for
   *   {@link takeAligned} (requires {@link canAlign})
   */
  constructor(crc = 0, capacity = INITIAL_CAPACITY_BYTES, alignBytes = 0) {
    if (alignBytes !== 0 && (nativeAlignmentOffset === undefined || (alignBytes & (alignBytes - 1)) !== 0)) {
      throw new Error(`FrameEncoder: cannot align buffers to ${alignBytes} bytes here`)
    }
    this.crc = crc >>> 0
    this.align = alignBytes
    this.buf = this.allocate(capacity)
    this.words = Crc32c.wordView(this.buf)
  }

  private allocate(capacity: number): Uint8Array {
    if (this.align === 0 || nativeAlignmentOffset === undefined) return new Uint8Array(capacity)
    const raw = new Uint8Array(capacity + this.align)
    const skip = nativeAlignmentOffset(raw, this.align)
    return raw.subarray(skip, skip + capacity)
  }

  /** Bytes in the buffer: encoded since the last {@link take}/{@link reset}, after any carried prefix. */
  get size(): number {
    return this.len
  }

  private reserve(extra: number): void {
    const need = this.len + extra
    if (need <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < need) cap *= 2
    const next = this.allocate(cap)
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
    this.words = Crc32c.wordView(next)
  }

  /** The running CRC continued over `buf[start, end)`, natively when that is faster. */
  private crcOver(start: number, end: number): number {
    return this.words === undefined
      ? Crc32c.update(this.crc, this.buf, start, end)
      : Crc32c.updateWords(this.crc, this.buf, this.words, start, end)
  }

  private frame(recBytes: number): number {
    const total = LENGTH_WORD_BYTES + recBytes + padBytes(recBytes)
    this.reserve(total)
    const start = this.len
    writeLengthWord(this.buf, start, recBytes)
    // padding must be zero even when the buffer is reused
    this.buf.fill(0, start + LENGTH_WORD_BYTES + recBytes, start + total)
    this.len += total
    return start + LENGTH_WORD_BYTES
  }

  /**
   * Appends a record of `type` with `data` (undefined = no data field). For every type but crc, the running CRC is
   * updated with the data first and written into the record.
   */
  record(type: number, data: Uint8Array | undefined): void {
    if (type !== RecordCodec.RecordType.crc && data !== undefined) this.crc = Crc32c.update(this.crc, data)
    const dataLength = data === undefined ? -1 : data.length
    const recBytes = RecordCodec.recordSize(type, this.crc, dataLength)
    const pos = this.frame(recBytes)
    const after = RecordCodec.writeRecordHeader(this.buf, pos, type, this.crc, dataLength)
    if (data !== undefined) this.buf.set(data, after)
  }

  /** Appends the crc record that starts every segment, carrying the current running CRC. */
  crcRecord(): void {
    this.record(RecordCodec.RecordType.crc, undefined)
  }

  /**
   * Appends an entry record for a `raftpb.Entry{type, term, index, data}`, copying `data` once into the buffer.
   * `data` undefined writes no Data field (nil in Go). `index` may be a `number` (an integer below 2^53), which
   * spares a writer one bigint per entry.
   */
  entry(type: number, term: bigint, index: bigint | number, data: Uint8Array | undefined): void {
    // fast path for go-binlogger's entries (one-byte type and term, index below 2^53, data present)
    if (type >= 0 && type < 0x80 && term >= 0n && term < 0x80n && data !== undefined) {
      const i = typeof index === "number" ? index : index <= MAX_SAFE_BIG ? Number(index) : -1
      if (i >= 0) return this.smallEntry(type, Number(term), i, data)
    }
    const dataLength = data === undefined ? -1 : data.length
    const headerSize = RecordCodec.entryHeaderSize(type, term, index, dataLength)
    const entryBytes = headerSize + (dataLength < 0 ? 0 : dataLength)
    // The record header (type, crc, data length) comes before the entry bytes, and its size depends on the crc
    // varint (1–5 bytes), which is known only after the CRC over the entry bytes. So the entry bytes are written
    // where a 5-byte crc varint would put them, checksummed there in one pass, and moved left in the rare case
    // (crc < 2^28, 1 in 16) that the varint is shorter. One copy of the payload, one CRC call per entry.
    const maxHeader = 1 + ENTRY_TYPE_VARINT_BYTES + 1 + MAX_CRC_VARINT_BYTES + 1 + RecordCodec.varintSize(entryBytes)
    this.reserve(LENGTH_WORD_BYTES + maxHeader + entryBytes + FRAME_ALIGN_BYTES)
    const buf = this.buf
    const recStart = this.len + LENGTH_WORD_BYTES
    const at = recStart + maxHeader
    RecordCodec.writeEntryHeader(buf, at, type, term, index, dataLength)
    if (data !== undefined) buf.set(data, at + headerSize)
    const crc = this.crcOver(at, at + entryBytes)
    this.crc = crc
    const recBytes = RecordCodec.recordSize(RecordCodec.RecordType.entry, crc, entryBytes)
    const header = recBytes - entryBytes
    if (header !== maxHeader) buf.copyWithin(recStart + header, at, at + entryBytes)
    RecordCodec.writeRecordHeader(buf, recStart, RecordCodec.RecordType.entry, crc, entryBytes)
    writeLengthWord(buf, this.len, recBytes)
    // padding must be zero even when the buffer is reused
    const end = recStart + recBytes
    const total = LENGTH_WORD_BYTES + recBytes + padBytes(recBytes)
    for (let i = end; i < this.len + total; i++) buf[i] = 0
    this.len += total
  }

  /** {@link entry} for one-byte type and term and an index below 2^53: the same bytes, fewer checks. */
  private smallEntry(type: number, term: number, index: number, data: Uint8Array): void {
    const dataLength = data.length
    const headerSize = 5 + RecordCodec.numberVarintSize(index) + 1 + RecordCodec.numberVarintSize(dataLength)
    const entryBytes = headerSize + dataLength
    const maxHeader = 1 + ENTRY_TYPE_VARINT_BYTES + 1 + MAX_CRC_VARINT_BYTES + 1 +
      RecordCodec.numberVarintSize(entryBytes)
    this.reserve(LENGTH_WORD_BYTES + maxHeader + entryBytes + FRAME_ALIGN_BYTES)
    const buf = this.buf
    const recStart = this.len + LENGTH_WORD_BYTES
    const at = recStart + maxHeader
    // raftpb.Entry: 08 type 10 term 18 index 22 len data (see RecordCodec.writeEntryHeader)
    buf[at] = 0x08
    buf[at + 1] = type
    buf[at + 2] = 0x10
    buf[at + 3] = term
    buf[at + 4] = 0x18
    let pos = RecordCodec.writeNumberVarint(buf, at + 5, index)
    buf[pos++] = 0x22
    pos = RecordCodec.writeNumberVarint(buf, pos, dataLength)
    buf.set(data, pos)
    const crc = this.crcOver(at, at + entryBytes)
    this.crc = crc
    // walpb.Record: 08 02 10 crc 1a len entry (see RecordCodec.writeRecordHeader)
    const header = 3 + RecordCodec.numberVarintSize(crc) + 1 + RecordCodec.numberVarintSize(entryBytes)
    if (header !== maxHeader) buf.copyWithin(recStart + header, at, at + entryBytes)
    buf[recStart] = 0x08
    buf[recStart + 1] = RecordCodec.RecordType.entry
    buf[recStart + 2] = 0x10
    pos = RecordCodec.writeNumberVarint(buf, recStart + 3, crc)
    buf[pos++] = 0x1a
    RecordCodec.writeNumberVarint(buf, pos, entryBytes)
    const recBytes = header + entryBytes
    writeLengthWord(buf, this.len, recBytes)
    const end = recStart + recBytes
    const total = LENGTH_WORD_BYTES + recBytes + padBytes(recBytes)
    for (let k = end; k < this.len + total; k++) buf[k] = 0
    this.len += total
  }

  /**
   * Appends one entry record per element of `datas`, with indexes `firstIndex`, `firstIndex + 1`, … and the given
   * `type` and `term`, and pushes each frame's size in bytes onto `frameSizes`. The same bytes as calling
   * {@link entry} for each element; with the native helper (see `Crc32c.implementation`) one call encodes the
   * whole batch, copying each payload once. `firstIndex` must be a non-negative integer with
   * `firstIndex + datas.length - 1` at most 2^53 - 1 (larger indexes go through {@link entry} with a bigint).
   */
  entries(
    type: number,
    term: number,
    firstIndex: number,
    datas: ReadonlyArray<Uint8Array>,
    frameSizes: Array<number>
  ): void {
    this.entryBatches(type, term, firstIndex, [datas], frameSizes)
  }

  /**
   * {@link entries} for the payloads of several batches in order (a group commit's), in one native call.
   */
  entryBatches(
    type: number,
    term: number,
    firstIndex: number,
    batches: ReadonlyArray<ReadonlyArray<Uint8Array>>,
    frameSizes: Array<number>
  ): void {
    let count = 0
    let total = 0
    for (let b = 0; b < batches.length; b++) {
      const datas = batches[b]!
      count += datas.length
      for (let i = 0; i < datas.length; i++) total += datas[i]!.length
    }
    if (nativeEncodeEntries !== undefined && count > 1 && type >= 0 && type < 0x80 && term >= 0 && term < 0x80) {
      // the payloads end to end in `staged` (one TypedArray.set each), then one native call frames them all
      if (this.lengths.length < count) {
        const n = Math.max(count, this.lengths.length * 2)
        this.lengths = new Int32Array(n)
        this.frameScratch = new Int32Array(n)
      }
      if (this.staged.length < total) this.staged = new Uint8Array(Math.max(total, this.staged.length * 2))
      const lengths = this.lengths
      const staged = this.staged
      let at = 0
      let k = 0
      for (let b = 0; b < batches.length; b++) {
        const datas = batches[b]!
        for (let i = 0; i < datas.length; i++) {
          const d = datas[i]!
          staged.set(d, at)
          lengths[k++] = d.length
          at += d.length
        }
      }
      this.reserve(total + count * Native.ENTRY_FRAME_OVERHEAD_BYTES)
      const io = this.io
      io[0] = this.len
      io[1] = this.crc
      nativeEncodeEntries(this.buf, io, type, term, firstIndex, staged, lengths, count, this.frameScratch)
      this.len = io[0]!
      this.crc = io[1]!
      const frames = this.frameScratch
      for (let i = 0; i < count; i++) frameSizes.push(frames[i]!)
      return
    }
    const bigTerm = BigInt(term)
    let index = firstIndex
    for (let b = 0; b < batches.length; b++) {
      const datas = batches[b]!
      for (let i = 0; i < datas.length; i++) {
        const before = this.len
        this.entry(type, bigTerm, index++, datas[i])
        frameSizes.push(this.len - before)
      }
    }
  }

  /**
   * Returns the bytes encoded so far as a view and starts a new, empty batch. The view stays valid until the next
   * call that encodes (the buffer is reused), so write it out before encoding more.
   */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.len)
    this.len = 0
    return out
  }

  /** Drops everything encoded since the last {@link take} and restores the running CRC to `crc`. */
  reset(crc: number): void {
    this.len = 0
    this.prefixLen = 0
    this.crc = crc >>> 0
  }

  /**
   * Starts the buffer with `bytes`, the part of the current page already in the file (fewer bytes than the
   * alignment), so that the next {@link takeAligned} starts at a page boundary. Drops anything encoded and not
   * taken. Empty `bytes` = the next write starts a page (a new segment).
   */
  setPrefix(bytes: Uint8Array): void {
    if (this.align === 0 || bytes.length >= this.align) {
      throw new Error("FrameEncoder.setPrefix: not an aligned encoder")
    }
    this.len = 0
    this.reserve(bytes.length)
    this.buf.set(bytes, 0)
    this.len = bytes.length
    this.prefixLen = bytes.length
    this.tailStart = -1
  }

  /**
   * For `O_DIRECT` writes: returns the prefix, the frames encoded since, and zeros up to the next multiple of the
   * alignment, as one view of the aligned buffer (valid until the next call that encodes). Write it at the file
   * position of the page start, then call {@link carryTail} before encoding more.
   */
  takeAligned(): AlignedTake {
    const align = this.align
    if (align === 0) throw new Error("FrameEncoder.takeAligned: not an aligned encoder")
    const len = this.len
    const end = Math.ceil(len / align) * align
    this.reserve(end - len)
    this.buf.fill(0, len, end)
    const prefixBytes = this.prefixLen
    this.tailStart = Math.floor(len / align) * align
    const tailLen = len - this.tailStart
    const out = { bytes: this.buf.subarray(0, end), prefixBytes, newBytes: len - prefixBytes }
    // the buffer stays as it is until carryTail: the view must not change before it is written
    this.len = this.tailStart + tailLen
    return out
  }

  /** After the write of a {@link takeAligned}: keeps its last partial page as the prefix of the next write. */
  carryTail(): void {
    if (this.tailStart < 0) throw new Error("FrameEncoder.carryTail: no aligned take to carry")
    const tailLen = this.len - this.tailStart
    this.buf.copyWithin(0, this.tailStart, this.len)
    this.len = tailLen
    this.prefixLen = tailLen
    this.tailStart = -1
  }
}

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER)

// varint bytes of RecordType.entry (2) and the most a uint32 crc varint takes
const ENTRY_TYPE_VARINT_BYTES = 1
const MAX_CRC_VARINT_BYTES = 5
