// Shared test helpers: fixture paths, temp directories, byte surgery (LevelDB log_test style).
import * as Effect from "effect/Effect"
import * as NFS from "node:fs"
import * as FSP from "node:fs/promises"
import * as OS from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { FrameEncoder } from "../src/Encoder.ts"
import * as Proto from "../src/Proto.ts"
import * as RecordCodec from "../src/RecordCodec.ts"
import * as Segment from "../src/Segment.ts"

/** `../shared/fixtures/etcd-wal` beside the repository, used in place. */
export const FIXTURES = fileURLToPath(new URL("../../../../shared/fixtures/etcd-wal/", import.meta.url))

/** `../shared/tools/etcdwal/bin/etcdwal`, built by `.ci/run` (or by hand with its build.sh). */
export const HARNESS = fileURLToPath(new URL("../../../../shared/tools/etcdwal/bin/etcdwal", import.meta.url))

export const harnessAvailable = (): boolean => NFS.existsSync(HARNESS)

export interface ExpectedEntry {
  readonly index: bigint
  readonly term: bigint
  readonly type: number
  readonly data: string
}

export const readExpected = (path: string): Array<ExpectedEntry> =>
  NFS.readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      // indexes are exact u64: parse them from the text, not through JSON numbers
      const o = JSON.parse(l) as { term: number; type: number; data: string }
      const index = /"index":(\d+)/.exec(l)![1]!
      return { index: BigInt(index), term: BigInt(o.term), type: o.type, data: o.data }
    })

export const readInputLines = (path: string): Array<Uint8Array> =>
  NFS.readFileSync(path, "utf8")
    .split("\n")
    .slice(0, -1)
    .map((l) => new Uint8Array(Buffer.from(l, "base64")))

export const b64 = (bytes: Uint8Array | undefined): string => Buffer.from(bytes ?? new Uint8Array(0)).toString("base64")

/** A temporary directory removed when the test's scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.promise(() => FSP.mkdtemp(Path.join(OS.tmpdir(), "binlog-test-"))),
  (dir) => Effect.promise(() => FSP.rm(dir, { recursive: true, force: true }))
)

/** Copies a directory's regular files into `to` (created). */
export const copyDir = (from: string, to: string): void => {
  NFS.mkdirSync(to, { recursive: true })
  for (const name of NFS.readdirSync(from)) {
    const src = Path.join(from, name)
    if (NFS.statSync(src).isFile()) NFS.copyFileSync(src, Path.join(to, name))
  }
}

/** Segment bytes up to the end of the data, checking that everything after `dataEnd` is zero. */
export const withoutZeroTail = (bytes: Uint8Array): Uint8Array => {
  let end = bytes.length
  while (end > 0 && bytes[end - 1] === 0) end--
  // records end 8-byte aligned; padding may itself be zero, so round up
  end = Math.min(bytes.length, Math.ceil(end / 8) * 8)
  return bytes.subarray(0, end)
}

export const readBytes = (path: string): Uint8Array => new Uint8Array(NFS.readFileSync(path))

/** Byte surgery on a file. */
export const setByte = (path: string, offset: number, value: number): void => {
  const b = readBytes(path)
  b[offset] = value
  NFS.writeFileSync(path, b)
}
export const xorByte = (path: string, offset: number, mask = 0xff): void => {
  const b = readBytes(path)
  b[offset] = b[offset]! ^ mask
  NFS.writeFileSync(path, b)
}
export const truncateFile = (path: string, size: number): void => NFS.truncateSync(path, size)
export const fileSize = (path: string): number => NFS.statSync(path).size

export const text = (s: string): Uint8Array => new TextEncoder().encode(s)

// ---------------------------------------------------------------------------------------------------------------
// Added for the corruption, property and interop suites.

/** One frame of a segment as found on disk (an independent walker, not the library's decoder). */
export interface FrameInfo {
  /** Offset of the length word. */
  readonly offset: number
  readonly recBytes: number
  readonly padBytes: number
  /** Offset of the record bytes (after the length word). */
  readonly recordStart: number
  /** Offset just after the record bytes (where the padding starts). */
  readonly recordEnd: number
  /** Offset of the next frame. */
  readonly end: number
  readonly type: bigint
  readonly crc: number
  readonly data: Uint8Array | undefined
  /** The entry's index for entry records. */
  readonly entryIndex: bigint | undefined
}

/**
 * Walks the frames of a segment's bytes until a zero length word, the end of the bytes, or the first frame that
 * does not parse (the walk simply stops there).
 */
export const walkFrames = (bytes: Uint8Array): Array<FrameInfo> => {
  const out: Array<FrameInfo> = []
  let off = 0
  while (off + 8 <= bytes.length) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + off, 8)
    const word = view.getBigUint64(0, true)
    if (word === 0n) break
    const recBytes = Number(word & 0x00ff_ffff_ffff_ffffn)
    const padBytes = word & 0x8000_0000_0000_0000n ? Number((word >> 56n) & 7n) : 0
    const recordStart = off + 8
    const recordEnd = recordStart + recBytes
    const end = recordEnd + padBytes
    if (end > bytes.length) break
    let rec: RecordCodec.DecodedRecord
    try {
      rec = RecordCodec.decodeRecord(bytes, recordStart, recordEnd)
    } catch {
      break
    }
    const entryIndex = rec.type === BigInt(RecordCodec.RecordType.entry) && rec.data !== undefined
      ? RecordCodec.decodeEntry(rec.data).index
      : undefined
    out.push({
      offset: off,
      recBytes,
      padBytes,
      recordStart,
      recordEnd,
      end,
      type: rec.type,
      crc: rec.crc,
      data: rec.data === undefined ? undefined : rec.data.slice(),
      entryIndex
    })
    off = end
  }
  return out
}

/** The segment file names of a WAL directory, in order. */
export const segmentFiles = (dir: string): Array<string> =>
  NFS.readdirSync(dir).filter((n) => Segment.parseSegmentName(n) !== undefined).sort()

/** The frames of segment `name` in `dir`. */
export const framesOf = (dir: string, name: string): Array<FrameInfo> => walkFrames(readBytes(Path.join(dir, name)))

/** The entry frames of segment `name` in `dir`. */
export const entryFramesOf = (dir: string, name: string): Array<FrameInfo> =>
  framesOf(dir, name).filter((f) => f.entryIndex !== undefined)

/** Sets `bytes[from, to)` of a file to `value`. */
export const fillRange = (path: string, from: number, to: number, value = 0): void => {
  const b = readBytes(path)
  b.fill(value, from, to)
  NFS.writeFileSync(path, b)
}

/**
 * WAL segments built by hand with the library's frame encoder (which keeps the running CRC): the first segment
 * starts with crc(0), metadata and the {0,0} snapshot record, as `Wal.create` writes it; {@link cut} starts the next
 * segment (seq + 1) with a crc record carrying the running CRC and a metadata record, as etcd's cut does. Records
 * with any type, indexes in any order and deliberately wrong layouts can be written.
 */
export class HandWal {
  private readonly encoder = new FrameEncoder(0)
  private readonly done: Array<{ readonly name: string; readonly bytes: Uint8Array }> = []
  private current: { seq: bigint; index: bigint }
  readonly metadata: Uint8Array | undefined

  constructor(metadata: Uint8Array | undefined = undefined) {
    this.metadata = metadata
    this.current = { seq: 0n, index: 0n }
    this.encoder.crcRecord()
    this.encoder.record(RecordCodec.RecordType.metadata, metadata)
    this.encoder.record(RecordCodec.RecordType.snapshot, Proto.encodeWalSnapshot({ index: 0n, term: 0n }))
  }

  /** Name of the segment being built. */
  get currentName(): string {
    return Segment.segmentName(this.current.seq, this.current.index)
  }

  /** The running CRC after the last record. */
  get crc(): number {
    return this.encoder.crc
  }

  /**
   * Seals the current segment and starts segment (seq + 1, `index`). `crcRecord: false` leaves out the leading crc
   * record; `metadata` overrides the metadata written in the new segment (default: the WAL's).
   */
  cut(
    index: bigint,
    options: { readonly crcRecord?: boolean; readonly metadata?: Uint8Array | undefined } = {}
  ): this {
    this.done.push({ name: this.currentName, bytes: this.encoder.take().slice() })
    this.current = { seq: this.current.seq + 1n, index }
    if (options.crcRecord ?? true) this.encoder.crcRecord()
    this.encoder.record(RecordCodec.RecordType.metadata, "metadata" in options ? options.metadata : this.metadata)
    return this
  }

  entry(index: bigint, data: Uint8Array | undefined, term = 0n): this {
    this.encoder.entry(0, term, index, data)
    return this
  }

  snapshot(index: bigint, term = 0n): this {
    this.encoder.record(
      RecordCodec.RecordType.snapshot,
      Proto.encodeWalSnapshot({ index, term, confState: Proto.emptyConfState })
    )
    return this
  }

  /** A record of any type (the CRC is chained over `data` unless the type is crc). */
  record(type: number, data: Uint8Array | undefined): this {
    this.encoder.record(type, data)
    return this
  }

  /** Seals the current segment and writes every segment into `dir` (created). Returns the names in order. */
  write(dir: string): Array<string> {
    const all = [...this.done, { name: this.currentName, bytes: this.encoder.take().slice() }]
    NFS.mkdirSync(dir, { recursive: true })
    for (const s of all) NFS.writeFileSync(Path.join(dir, s.name), s.bytes)
    return all.map((s) => s.name)
  }
}

/** Whether `dir`'s file system accepts `O_DIRECT` (tmpfs does not): what `Wal`'s direct writes need besides the helper. */
export const directSupported = (dir: string): boolean => {
  const flag = NFS.constants.O_DIRECT as number | undefined
  if (flag === undefined) return false
  const path = Path.join(dir, ".o-direct-probe")
  try {
    NFS.closeSync(NFS.openSync(path, NFS.constants.O_CREAT | NFS.constants.O_RDWR | flag, 0o600))
    return true
  } catch {
    return false
  } finally {
    NFS.rmSync(path, { force: true })
  }
}
