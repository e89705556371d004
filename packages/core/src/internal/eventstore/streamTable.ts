/**
 * The event store's in-memory stream table and idempotency window, and their checkpoint file format.
 *
 * - **Streams**: `streamId → { version, base, indexes }`. `indexes` lists the global index of every event of the
 *   stream from version `base + 1` on (`base` > 0 only when the log was purged before the table was rebuilt), as a
 *   growable `Float64Array` (exact below 2^53): **8 bytes per event** (up to 16 with the doubling slack), plus about
 *   100 bytes per stream and its id. The current version and the expected-version check are O(1).
 * - **Recent event ids**: the last `window` event ids with their position (`RecentIds`: no object or string kept
 *   per UUID id, about 80 bytes per id).
 *
 * Checkpoint file (`streams-<index as 16 hex digits>.ckpt`): protobuf message `StreamTableCheckpoint` followed by
 * the CRC-32C (little endian u32) of the message bytes:
 *
 * ```proto
 * message StreamTableCheckpoint {
 *   uint32 format = 1;                 // 1
 *   uint64 index = 2;                  // covers every entry <= index
 *   repeated Stream streams = 3;
 *   repeated RecentId recent = 4;      // oldest first
 * }
 * message Stream { string id = 1; uint64 version = 2; uint64 base = 3; repeated uint64 index_deltas = 4 [packed]; }
 * message RecentId { string event_id = 1; string stream_id = 2; uint64 version = 3; uint64 index = 4; }
 * ```
 *
 * Written by a hand-driven encoder into one buffer (fields in field-number order, as protobufjs would write them:
 * the tests compare both byte for byte); read with protobufjs' `Reader`.
 *
 * @since 0.1.0
 */
import protobuf from "protobufjs"
import * as Crc32c from "../../Crc32c.ts"
import { writeNumberVarint } from "../../RecordCodec.ts"
import { RecentIds, UUID_CHARS } from "./recentIds.ts"

const { Reader } = protobuf

/** A stream's state. */
export interface StreamState {
  /** The stream id (the map's key). */
  readonly id: string
  version: number
  base: number
  indexes: Float64Array
}

const grow = (a: Float64Array, n: number): Float64Array => {
  if (n <= a.length) return a
  const next = new Float64Array(Math.max(n, a.length * 2, 4))
  next.set(a)
  return next
}

/** The mutable table. Updated only by the writer's prepare function and by replay. */
export class StreamTable {
  readonly streams = new Map<string, StreamState>()
  /** The idempotency window. */
  readonly recent: RecentIds
  /** Highest global index reflected in the table. */
  appliedTo = 0
  events = 0
  readonly window: number

  constructor(window: number) {
    this.window = window
    this.recent = new RecentIds(window)
  }

  version(streamId: string): number {
    return this.streams.get(streamId)?.version ?? 0
  }

  /**
   * Records an event. Returns a reason when it does not continue its stream (only replay can see that).
   */
  record(streamId: string, version: number, index: number, eventId: string): string | undefined {
    let s = this.streams.get(streamId)
    if (s === undefined) {
      s = { id: streamId, version: version - 1, base: version - 1, indexes: new Float64Array(4) }
      this.streams.set(streamId, s)
    }
    if (version !== s.version + 1) {
      return `stream ${streamId}: event version ${version} follows version ${s.version}`
    }
    const n = s.version - s.base
    s.indexes = grow(s.indexes, n + 1)
    s.indexes[n] = index
    s.version = version
    if (index > this.appliedTo) this.appliedTo = index
    this.events++
    // the stream's own id string, not the caller's copy: the window then holds no string per event
    this.recent.remember(eventId, s.id, version, index)
    return undefined
  }

  /** Global indexes of versions `from..to` (inclusive, clamped to what the table holds). */
  indexesOf(streamId: string, from: number, to: number): Array<number> {
    const s = this.streams.get(streamId)
    if (s === undefined) return []
    const lo = Math.max(from, s.base + 1)
    const hi = Math.min(to, s.version)
    const out: Array<number> = []
    for (let v = lo; v <= hi; v++) out.push(s.indexes[v - s.base - 1]!)
    return out
  }

  /** Bytes used by the index lists (allocated). */
  indexBytes(): number {
    let n = 0
    for (const s of this.streams.values()) n += s.indexes.byteLength
    return n
  }
}

/** Checkpoint format version. */
export const CHECKPOINT_FORMAT = 1

/** File name of the checkpoint covering `index`. */
export const checkpointName = (index: number): string => `streams-${BigInt(index).toString(16).padStart(16, "0")}.ckpt`

/** Parses a checkpoint file name into its index, or undefined. */
export const parseCheckpointName = (name: string): number | undefined => {
  const m = /^streams-([0-9a-f]{16})\.ckpt$/.exec(name)
  return m === null ? undefined : Number(BigInt(`0x${m[1]!}`))
}

const LEN = 2
const VARINT = 0
const tag = (f: number, w: number) => (f << 3) | w

/** Bytes of `n` (a non-negative integer below 2^53) as a protobuf varint. */
const varintBytes = (n: number): number => {
  let bytes = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    bytes++
  }
  return bytes
}

/** UTF-8 bytes of `s` as `TextEncoder`/`Buffer` write it (a lone surrogate becomes U+FFFD, 3 bytes). */
const utf8Bytes = (s: string): number => {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) n += 1
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2 // a surrogate pair: 2 units, 4 bytes
      i++
    } else n += 2
  }
  return n
}

/** A protobuf writer into one growing buffer (no object per field, unlike protobufjs' `Writer`). */
class ByteWriter {
  buf: Buffer
  pos = 0
  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64, capacity))
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.pos + n, this.buf.length * 2))
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }
  /** A varint of a non-negative integer below 2^53 (callers `ensure` room: up to 8 bytes). */
  varint(n: number): void {
    this.pos = writeNumberVarint(this.buf, this.pos, n)
  }
  /** A length-delimited string whose UTF-8 length the caller computed (and `ensure`d room for). */
  string(s: string, bytes: number): void {
    this.varint(bytes)
    if (bytes === s.length) {
      const buf = this.buf
      let pos = this.pos
      for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i)
      this.pos = pos
    } else {
      this.pos += this.buf.write(s, this.pos, "utf8")
    }
  }
}

/** Serializes the table (synchronously: a consistent copy of the moment). */
export const encodeCheckpoint = (table: StreamTable): Uint8Array => {
  const w = new ByteWriter(64 + table.events * 2 + table.recent.size * 64)
  w.ensure(32)
  w.varint(tag(1, VARINT))
  w.varint(CHECKPOINT_FORMAT)
  w.varint(tag(2, VARINT))
  w.varint(table.appliedTo)
  for (const [id, s] of table.streams) {
    const idBytes = utf8Bytes(id)
    const n = s.version - s.base
    let deltaBytes = 0
    for (let i = 0, prev = 0; i < n; i++) {
      const x = s.indexes[i]!
      deltaBytes += varintBytes(x - prev)
      prev = x
    }
    const size = 1 + varintBytes(idBytes) + idBytes + 1 + varintBytes(s.version) +
      (s.base > 0 ? 1 + varintBytes(s.base) : 0) + (n > 0 ? 1 + varintBytes(deltaBytes) + deltaBytes : 0)
    w.ensure(11 + size)
    w.varint(tag(3, LEN))
    w.varint(size)
    w.buf[w.pos++] = tag(1, LEN)
    w.string(id, idBytes)
    w.varint(tag(2, VARINT))
    w.varint(s.version)
    if (s.base > 0) {
      w.varint(tag(3, VARINT))
      w.varint(s.base)
    }
    if (n > 0) {
      w.varint(tag(4, LEN))
      w.varint(deltaBytes)
      for (let i = 0, prev = 0; i < n; i++) {
        const x = s.indexes[i]!
        w.varint(x - prev)
        prev = x
      }
    }
  }
  table.recent.forEachSlot((slot, eventId, streamId, version, index) => {
    const idBytes = eventId.length === 0 ? UUID_CHARS : utf8Bytes(eventId)
    const streamBytes = utf8Bytes(streamId)
    const size = 1 + varintBytes(idBytes) + idBytes + 1 + varintBytes(streamBytes) + streamBytes + 1 +
      varintBytes(version) + 1 + varintBytes(index)
    w.ensure(11 + size)
    w.varint(tag(4, LEN))
    w.varint(size)
    w.buf[w.pos++] = tag(1, LEN)
    if (eventId.length === 0) {
      w.varint(UUID_CHARS)
      table.recent.writeUuid(slot, w.buf, w.pos)
      w.pos += UUID_CHARS
    } else {
      w.string(eventId, idBytes)
    }
    w.buf[w.pos++] = tag(2, LEN)
    w.string(streamId, streamBytes)
    w.buf[w.pos++] = tag(3, VARINT)
    w.varint(version)
    w.buf[w.pos++] = tag(4, VARINT)
    w.varint(index)
  })
  w.ensure(4)
  const body = w.buf.subarray(0, w.pos)
  w.buf.writeUInt32LE(Crc32c.checksum(body), w.pos)
  return w.buf.subarray(0, w.pos + 4)
}

const toNumber = (v: number | { toString(): string }): number => typeof v === "number" ? v : Number(v.toString())

/** Parses a checkpoint. Throws (an `Error`) on a CRC mismatch or malformed bytes. */
export const decodeCheckpoint = (bytes: Uint8Array, window: number): StreamTable => {
  if (bytes.length < 4) throw new Error("checkpoint too short")
  const body = bytes.subarray(0, bytes.length - 4)
  const crc = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(body.length, true)
  if (Crc32c.checksum(body) !== crc) throw new Error("checkpoint CRC mismatch")
  const r = Reader.create(body)
  const table = new StreamTable(window)
  let format = 0
  while (r.pos < r.len) {
    const t = r.uint32()
    switch (t >>> 3) {
      case 1:
        format = r.uint32()
        if (format !== CHECKPOINT_FORMAT) throw new Error(`checkpoint format ${format} is not supported`)
        break
      case 2:
        table.appliedTo = toNumber(r.uint64())
        break
      case 3: {
        const end = r.uint32() + r.pos
        let id = ""
        let version = 0
        let base = 0
        let deltas: Array<number> = []
        while (r.pos < end) {
          const st = r.uint32()
          switch (st >>> 3) {
            case 1:
              id = r.string()
              break
            case 2:
              version = toNumber(r.uint64())
              break
            case 3:
              base = toNumber(r.uint64())
              break
            case 4: {
              const dend = r.uint32() + r.pos
              deltas = []
              while (r.pos < dend) deltas.push(toNumber(r.uint64()))
              break
            }
            default:
              r.skipType(st & 7)
          }
        }
        if (deltas.length !== version - base) throw new Error(`checkpoint: stream ${id} has a wrong index count`)
        const indexes = new Float64Array(Math.max(4, deltas.length))
        let acc = 0
        for (let i = 0; i < deltas.length; i++) indexes[i] = acc += deltas[i]!
        table.streams.set(id, { id, version, base, indexes })
        table.events += deltas.length
        break
      }
      case 4: {
        const end = r.uint32() + r.pos
        let eventId = ""
        let streamId = ""
        let version = 0
        let index = 0
        while (r.pos < end) {
          const st = r.uint32()
          switch (st >>> 3) {
            case 1:
              eventId = r.string()
              break
            case 2:
              streamId = r.string()
              break
            case 3:
              version = toNumber(r.uint64())
              break
            case 4:
              index = toNumber(r.uint64())
              break
            default:
              r.skipType(st & 7)
          }
        }
        table.recent.remember(eventId, table.streams.get(streamId)?.id ?? streamId, version, index)
        break
      }
      default:
        r.skipType(t & 7)
    }
  }
  if (format !== CHECKPOINT_FORMAT) throw new Error("checkpoint has no format field")
  return table
}
