// Frame-by-frame reading of one segment for the `binlog` command line: `dump` lists every frame (and goes on past
// a frame whose CRC fails), `read --follow` watches the tail of the last segment for commit markers. Frames are
// decoded by the library's `SegmentDecoder` (the same rules as `Reader`); this file only adds the chunked reads and
// the raw frame header that `Reader` does not expose. Internal: not exported from the package.
import * as Effect from "effect/Effect"
import { SegmentDecoder } from "../../Decoder.ts"
import { LENGTH_WORD_BYTES } from "../../Encoder.ts"
import * as RecordCodec from "../../RecordCodec.ts"
import type { CrcMismatch, RecordDecodeError, UnexpectedEof, WalIoError } from "../../WalError.ts"
import * as Fsx from "../fsx.ts"

/** Bytes read from a segment per read call. */
export const FRAME_READ_CHUNK_BYTES = 1024 * 1024

const CRC_TYPE = BigInt(RecordCodec.RecordType.crc)

/** One frame as found on disk. */
export interface Frame {
  readonly file: string
  readonly offset: number
  /** The raw little-endian length word (record length, and `0x80 | pad` in the top byte). */
  readonly lengthWord: bigint
  readonly recordBytes: number
  readonly padBytes: number
  readonly frameBytes: number
  readonly type: bigint
  readonly crc: number
  /** Data records: the CRC chain matches. crc records: the record continues the chain (or starts it). */
  readonly crcOk: boolean
  readonly data: Uint8Array | undefined
  /** Running CRC after this frame (the next frame's chain value). */
  readonly crcAfter: number
}

/** What {@link SegmentCursor.next} found. */
export type Step =
  | { readonly _tag: "Frame"; readonly frame: Frame }
  | { readonly _tag: "End"; readonly offset: number; readonly reason: "eof" | "zero-length-word" }
  | {
    readonly _tag: "Bad"
    /** The frame, when its length word could be read (a CRC or decode failure): `skip` goes past it. */
    readonly frame: Frame | undefined
    readonly error: UnexpectedEof | CrcMismatch | RecordDecodeError
  }

const lengthWordAt = (buf: Uint8Array, rel: number): bigint => {
  const view = new DataView(buf.buffer, buf.byteOffset + rel, LENGTH_WORD_BYTES)
  return view.getBigUint64(0, true)
}

const tryDecodeRecord = (buf: Uint8Array, start: number, end: number): RecordCodec.DecodedRecord | undefined => {
  try {
    return RecordCodec.decodeRecord(buf, start, end)
  } catch {
    return undefined
  }
}

/**
 * Reads the frames of one segment from `offset` on, with the running CRC `crc` at that offset (0 at the start of
 * a WAL; a crc record sets it). Open it with {@link openCursor}; the file is closed with the enclosing scope.
 */
export class SegmentCursor {
  private buf: Uint8Array = new Uint8Array(0)
  private bufStart = 0
  private readonly decoder: SegmentDecoder
  private readonly fd: number
  private readonly path: string

  constructor(fd: number, path: string, file: string, size: number, last: boolean, offset: number, crc: number) {
    this.fd = fd
    this.path = path
    this.decoder = new SegmentDecoder(file, size, last, crc)
    this.decoder.offset = offset
    this.bufStart = offset
  }

  /** Offset of the next frame. */
  get offset(): number {
    return this.decoder.offset
  }

  /** Running CRC at {@link offset}. */
  get crc(): number {
    return this.decoder.crc
  }

  get size(): number {
    return this.decoder.fileSize
  }

  next(): Effect.Effect<Step, WalIoError> {
    return Effect.gen({ self: this }, function*() {
      const d = this.decoder
      while (true) {
        const step = d.next(this.buf, this.bufStart)
        if (step === "need") {
          yield* this.fill(d.needBytes)
          continue
        }
        if (step === "end") return { _tag: "End", offset: d.offset, reason: d.endReason ?? "eof" } as const
        if (step === "record") {
          const rec = d.record!
          const word = lengthWordAt(this.buf, rec.offset - this.bufStart)
          let crcOk = true
          if (rec.type === CRC_TYPE) {
            // the decoder leaves the running CRC alone for crc records: check and adopt it here, as Reader does
            crcOk = d.crc === 0 || rec.crc === d.crc
            d.crc = rec.crc
          }
          return { _tag: "Frame", frame: this.frame(rec.offset, word, rec, crcOk, d.crc) } as const
        }
        const error = d.error!
        if (error._tag === "UnexpectedEof") return { _tag: "Bad", frame: undefined, error } as const
        // a CRC or decode failure: the whole frame is in the buffer (the decoder checked its length first)
        const rel = d.offset - this.bufStart
        const word = lengthWordAt(this.buf, rel)
        const recordBytes = Number(word & 0x00ff_ffff_ffff_ffffn)
        // undecodable: reported as such, with what the length word says
        const rec = tryDecodeRecord(this.buf, rel + LENGTH_WORD_BYTES, rel + LENGTH_WORD_BYTES + recordBytes) ??
          { type: -1n, crc: 0, data: undefined }
        return { _tag: "Bad", frame: this.frame(d.offset, word, rec, false, rec.crc), error } as const
      }
    })
  }

  /** Goes past a frame reported as `Bad` (dump only), re-synchronising the CRC chain on its stored CRC. */
  skip(frame: Frame): void {
    const d = this.decoder
    d.offset = frame.offset + frame.frameBytes
    d.crc = frame.crcAfter
    d.error = undefined
  }

  private frame(offset: number, word: bigint, rec: RecordCodec.DecodedRecord, crcOk: boolean, crcAfter: number): Frame {
    const recordBytes = Number(word & 0x00ff_ffff_ffff_ffffn)
    const top = Number(word >> 56n)
    const padBytes = top & 0x80 ? top & 0x07 : 0
    return {
      file: this.decoder.file,
      offset,
      lengthWord: word,
      recordBytes,
      padBytes,
      frameBytes: LENGTH_WORD_BYTES + recordBytes + padBytes,
      type: rec.type,
      crc: rec.crc,
      crcOk,
      data: rec.data,
      crcAfter
    }
  }

  private fill(min: number): Effect.Effect<void, WalIoError> {
    return Effect.gen({ self: this }, function*() {
      const d = this.decoder
      const want = Math.min(Math.max(FRAME_READ_CHUNK_BYTES, min), d.fileSize - d.offset)
      this.buf = yield* Fsx.readChunk(this.fd, this.path, d.offset, want)
      this.bufStart = d.offset
      if (this.buf.length < want) d.fileSize = d.offset + this.buf.length // the file shrank: treat as its end
    })
  }
}

/**
 * Opens segment `name` of `dir` read-only (closed with the scope) and positions a cursor at `offset` with the
 * running CRC `crc`. `last`: whether it is the last segment (etcd's torn-write rule applies only there).
 */
export const openCursor = Effect.fnUntraced(function*(
  dir: string,
  name: string,
  options: { readonly offset: number; readonly crc: number; readonly last: boolean }
) {
  const path = `${dir}/${name}`
  const fd = yield* Effect.acquireRelease(Fsx.open(path, "r"), (fd) => Fsx.closeQuietly(fd))
  const size = yield* Fsx.fsize(fd, path)
  return new SegmentCursor(fd, path, name, size, options.last, Math.min(options.offset, size), options.crc)
})
