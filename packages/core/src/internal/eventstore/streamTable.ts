/**
 * The event store's in-memory stream table and idempotency window, and their checkpoint file format.
 *
 * - **Streams**: `streamId → { version, base, indexes }`. `indexes` lists the global index of every event of the
 *   stream from version `base + 1` on (`base` > 0 only when the log was purged before the table was rebuilt), as a
 *   growable `Float64Array` (exact below 2^53): **8 bytes per event** (up to 16 with the doubling slack), plus about
 *   100 bytes per stream and its id. The current version and the expected-version check are O(1).
 * - **Recent event ids**: the last `window` event ids with their position: a `Map` for lookups plus a ring of the
 *   ids in arrival order for eviction (never `Map` iteration: V8 leaves deleted entries as holes that iteration must
 *   skip, which made "evict the oldest" cost ~25 µs with 100,000 ids). About 150 bytes per id with UUIDs.
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
 * @since 0.1.0
 */
import protobuf from "protobufjs"
import * as Crc32c from "../../Crc32c.ts"

const { Reader, Writer } = protobuf

/** A stream's state. */
export interface StreamState {
  version: number
  base: number
  indexes: Float64Array
}

/** Where an event id was stored. */
export interface IdPosition {
  readonly streamId: string
  readonly version: number
  readonly index: number
  /** Its slot in the eviction ring. */
  readonly slot: number
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
  readonly recent = new Map<string, IdPosition>()
  /** Highest global index reflected in the table. */
  appliedTo = 0
  events = 0
  readonly window: number
  private readonly ring: Array<string>
  private tail = 0
  private count = 0

  constructor(window: number) {
    this.window = window
    this.ring = new Array<string>(Math.max(0, window))
  }

  /** Remembers an event id (evicting the oldest beyond the window). */
  rememberId(eventId: string, streamId: string, version: number, index: number): void {
    if (this.window <= 0 || eventId.length === 0) return
    if (this.count === this.window) {
      const old = this.ring[this.tail]!
      if (this.recent.get(old)?.slot === this.tail) this.recent.delete(old)
      this.count--
    }
    this.ring[this.tail] = eventId
    this.recent.set(eventId, { streamId, version, index, slot: this.tail })
    this.tail = (this.tail + 1) % this.window
    this.count++
  }

  /** The remembered ids, oldest first. */
  *recentIds(): IterableIterator<[string, IdPosition]> {
    for (let k = 0; k < this.count; k++) {
      const id = this.ring[(this.tail - this.count + k + this.window) % this.window]!
      const p = this.recent.get(id)
      if (p !== undefined && p.slot === (this.tail - this.count + k + this.window) % this.window) yield [id, p]
    }
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
      s = { version: version - 1, base: version - 1, indexes: new Float64Array(4) }
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
    this.rememberId(eventId, streamId, version, index)
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

/** Serializes the table (synchronously: a consistent copy of the moment). */
export const encodeCheckpoint = (table: StreamTable): Uint8Array => {
  const w = Writer.create()
  w.uint32(tag(1, VARINT)).uint32(CHECKPOINT_FORMAT)
  w.uint32(tag(2, VARINT)).uint64(table.appliedTo)
  for (const [id, s] of table.streams) {
    w.uint32(tag(3, LEN)).fork()
    w.uint32(tag(1, LEN)).string(id)
    w.uint32(tag(2, VARINT)).uint64(s.version)
    if (s.base > 0) w.uint32(tag(3, VARINT)).uint64(s.base)
    const n = s.version - s.base
    if (n > 0) {
      w.uint32(tag(4, LEN)).fork()
      let prev = 0
      for (let i = 0; i < n; i++) {
        const x = s.indexes[i]!
        w.uint64(x - prev)
        prev = x
      }
      w.ldelim()
    }
    w.ldelim()
  }
  for (const [eventId, p] of table.recentIds()) {
    w.uint32(tag(4, LEN)).fork()
    w.uint32(tag(1, LEN)).string(eventId)
    w.uint32(tag(2, LEN)).string(p.streamId)
    w.uint32(tag(3, VARINT)).uint64(p.version)
    w.uint32(tag(4, VARINT)).uint64(p.index)
    w.ldelim()
  }
  const body = w.finish()
  const out = new Uint8Array(body.length + 4)
  out.set(body, 0)
  new DataView(out.buffer).setUint32(body.length, Crc32c.checksum(body), true)
  return out
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
        table.streams.set(id, { version, base, indexes })
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
        table.rememberId(eventId, streamId, version, index)
        break
      }
      default:
        r.skipType(t & 7)
    }
  }
  if (format !== CHECKPOINT_FORMAT) throw new Error("checkpoint has no format field")
  return table
}
