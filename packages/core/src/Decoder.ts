/**
 * The frame decoder: splits one segment's bytes into `walpb.Record`s and keeps the running CRC-32C, following
 * etcd's decoder rule by rule.
 *
 * - A length word of 0, or the end of the file exactly at a frame boundary, ends the segment.
 * - 1–7 bytes of a length word, or a record running past the end of the file, is an unexpected end.
 * - Padding bytes are never checked.
 * - For every record but crc records, the running CRC is updated with the data and must equal the record's crc.
 * - In the last segment only, a record that fails to parse or fails its CRC and has a 512-byte sector (cut at
 *   absolute file offsets) that is all zeros is a torn write: an unexpected end, not corruption.
 *
 * The decoder is a pure, synchronous state machine over buffers the caller reads (see {@link Reader}); it never
 * does I/O, so the per-record loop costs no Effect overhead. Records' `data` are views over the caller's buffer.
 *
 * @since 0.1.0
 */
import * as Crc32c from "./Crc32c.ts"
import { LENGTH_WORD_BYTES } from "./Encoder.ts"
import * as RecordCodec from "./RecordCodec.ts"
import { CrcMismatch, RecordDecodeError, UnexpectedEof } from "./WalError.ts"

/**
 * Sector size used by the torn-write rule (etcd's `minSectorSize`).
 *
 * @since 0.1.0
 * @category constants
 */
export const SECTOR_BYTES = 512

/**
 * What {@link SegmentDecoder.next} found.
 *
 * - `record`: a valid record is in `decoder.record` (at `decoder.recordOffset`).
 * - `need`: the buffer does not hold the whole next frame; supply bytes from `decoder.offset` on (at least
 *   `decoder.needBytes`).
 * - `end`: the segment ends here (end of file or a zero length word at `decoder.offset`).
 * - `error`: the read must stop; the typed error is in `decoder.error`.
 *
 * @since 0.1.0
 * @category models
 */
export type Step = "record" | "need" | "end" | "error"

/**
 * A decoded record with its position.
 *
 * @since 0.1.0
 * @category models
 */
export interface PositionedRecord extends RecordCodec.DecodedRecord {
  readonly file: string
  readonly offset: number
  /** Bytes of the whole frame (length word + record + padding). */
  readonly frameBytes: number
}

/**
 * Decodes one segment. Construct it with the file's name and size, whether it is the last segment of the read,
 * and the running CRC carried over from the previous segment (0 at the start of a read).
 *
 * @since 0.1.0
 * @category models
 */
export class SegmentDecoder {
  /** File offset of the next frame (etcd's `lastValidOff`): everything before it decoded cleanly. */
  offset = 0
  /** Running CRC-32C. */
  crc: number
  /** Set when `next` returns `record`. */
  record: PositionedRecord | undefined = undefined
  /** Set when `next` returns `error`. */
  error: UnexpectedEof | CrcMismatch | RecordDecodeError | undefined = undefined
  /** Set when `next` returns `need`: minimum bytes needed from `offset`. */
  needBytes = 0
  /** Set when `next` returns `end`. */
  endReason: "eof" | "zero-length-word" | undefined = undefined

  readonly file: string
  fileSize: number
  readonly last: boolean

  constructor(file: string, fileSize: number, last: boolean, crc: number) {
    this.file = file
    this.fileSize = fileSize
    this.last = last
    this.crc = crc >>> 0
  }

  /**
   * Decodes the frame at `this.offset` from `buf`, which holds the file's bytes from `bufStart` on.
   * `this.offset` must be ≥ `bufStart`.
   */
  next(buf: Uint8Array, bufStart: number): Step {
    const off = this.offset
    const rel = off - bufStart
    if (off === this.fileSize) {
      this.endReason = "eof"
      return "end"
    }
    if (off + LENGTH_WORD_BYTES > this.fileSize) {
      return this.unexpected("truncated-length-word", off)
    }
    if (rel + LENGTH_WORD_BYTES > buf.length) {
      this.needBytes = LENGTH_WORD_BYTES
      return "need"
    }
    const lo = buf[rel]! | (buf[rel + 1]! << 8) | (buf[rel + 2]! << 16) | (buf[rel + 3]! << 24)
    const hi = buf[rel + 4]! | (buf[rel + 5]! << 8) | (buf[rel + 6]! << 16)
    const top = buf[rel + 7]!
    if (lo === 0 && hi === 0 && top === 0) {
      this.endReason = "zero-length-word"
      return "end"
    }
    const recBytes = hi * 0x1_0000_0000 + (lo >>> 0)
    const pad = top & 0x80 ? top & 0x07 : 0
    const frameBytes = LENGTH_WORD_BYTES + recBytes + pad
    if (off + frameBytes > this.fileSize) {
      return this.unexpected("record-past-end-of-file", off)
    }
    if (rel + frameBytes > buf.length) {
      this.needBytes = frameBytes
      return "need"
    }
    const recStart = rel + LENGTH_WORD_BYTES
    const recEnd = recStart + recBytes
    let decoded: RecordCodec.DecodedRecord
    try {
      decoded = RecordCodec.decodeRecord(buf, recStart, recEnd)
    } catch (e) {
      if (this.isTorn(buf, recStart, recEnd + pad, off + LENGTH_WORD_BYTES)) return this.unexpected("torn-write", off)
      this.error = new RecordDecodeError({
        file: this.file,
        offset: off,
        reason: e instanceof Error ? e.message : String(e)
      })
      return "error"
    }
    if (decoded.type !== BigInt(RecordCodec.RecordType.crc)) {
      const crc = decoded.data === undefined ? this.crc : Crc32c.update(this.crc, decoded.data)
      if (crc !== decoded.crc) {
        if (this.isTorn(buf, recStart, recEnd + pad, off + LENGTH_WORD_BYTES)) {
          return this.unexpected("torn-write", off)
        }
        this.error = new CrcMismatch({ file: this.file, offset: off, expected: crc, actual: decoded.crc })
        return "error"
      }
      this.crc = crc
    }
    this.record = { type: decoded.type, crc: decoded.crc, data: decoded.data, file: this.file, offset: off, frameBytes }
    this.offset = off + frameBytes
    return "record"
  }

  private unexpected(reason: UnexpectedEof["reason"], offset: number): Step {
    this.error = new UnexpectedEof({
      file: this.file,
      offset,
      reason,
      droppedBytes: this.fileSize - offset,
      lastSegment: this.last
    })
    return "error"
  }

  /** etcd's isTornEntry: in the last segment, any sector-aligned piece of the record that is all zeros. */
  private isTorn(buf: Uint8Array, start: number, end: number, fileOffset: number): boolean {
    if (!this.last) return false
    let pos = start
    let fileOff = fileOffset
    while (pos < end) {
      const chunk = Math.min(SECTOR_BYTES - (fileOff % SECTOR_BYTES), end - pos)
      let zero = true
      for (let i = pos; i < pos + chunk; i++) {
        if (buf[i] !== 0) {
          zero = false
          break
        }
      }
      if (zero) return true
      pos += chunk
      fileOff += chunk
    }
    return false
  }
}
