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
 * A delta checkpoint (`streams-<index as 16 hex digits>.delta`) is the same message, with `uint64 since = 5` (the index
 * of the checkpoint it continues); its streams are the ones changed since then, each with `base` = the version it
 * continues from and the indexes of the versions after it, and its `recent` ids are the ones remembered since then.
 * Applying it to the table that checkpoint describes gives the table at `index` ({@link applyDelta}).
 *
 * Written by a hand-driven encoder into one buffer (fields in field-number order, as protobufjs would write them:
 * the tests compare both byte for byte); read with protobufjs' `Reader`.
 *
 * @since 0.1.0
 */
import protobuf from "protobufjs"
import * as Crc32c from "../../Crc32c.ts"
import { numberVarintSize as varintBytes, writeNumberVarint } from "../../RecordCodec.ts"
import { RecentIds, UUID_CHARS } from "./recentIds.ts"

const { Reader } = protobuf

/** A stream's state. */
export interface StreamState {
  /** The stream id (the map's key). */
  readonly id: string
  version: number
  base: number
  indexes: Float64Array
  /** The table's epoch in which this stream last changed (see {@link StreamTable.newEpoch}). */
  epoch: number
  /** The stream's version when that epoch began (what a delta of the epoch continues from). */
  since: number
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
  /** Checkpoint epochs: streams changed in the current one are listed in {@link changed}. */
  private epoch = 1
  /** Streams changed since {@link newEpoch} (each once), for a delta checkpoint. */
  changed: Array<StreamState> = []
  /** `recent.remembered` when the epoch began. */
  recentMark = 0

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
      s = { id: streamId, version: version - 1, base: version - 1, indexes: new Float64Array(4), epoch: 0, since: 0 }
      this.streams.set(streamId, s)
    }
    if (version !== s.version + 1) {
      return `stream ${streamId}: event version ${version} follows version ${s.version}`
    }
    if (s.epoch !== this.epoch) {
      s.epoch = this.epoch
      s.since = s.version
      this.changed.push(s)
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

  /**
   * Starts a new checkpoint epoch: what a delta checkpoint encoded so far is forgotten, later changes are listed
   * afresh. Called right after a checkpoint (full or delta) is encoded, and after recovery.
   */
  newEpoch(): void {
    this.epoch++
    this.changed = []
    this.recentMark = this.recent.remembered
  }

  /** Trims every index list to its events (a table rebuilt from deltas grew its lists by doubling). */
  compact(): void {
    for (const s of this.streams.values()) {
      const n = s.version - s.base
      if (s.indexes.length > n + 4) s.indexes = s.indexes.slice(0, Math.max(4, n))
    }
  }

  /** Bytes used by the index lists (allocated). */
  indexBytes(): number {
    let n = 0
    for (const s of this.streams.values()) n += s.indexes.byteLength
    return n
  }
}

/** Checkpoint format version (full checkpoints and deltas). */
export const CHECKPOINT_FORMAT = 1

/** File name of the full checkpoint covering `index`. */
export const checkpointName = (index: number): string => `streams-${BigInt(index).toString(16).padStart(16, "0")}.ckpt`

/** Parses a full checkpoint's file name into its index, or undefined. */
export const parseCheckpointName = (name: string): number | undefined => {
  const m = /^streams-([0-9a-f]{16})\.ckpt$/.exec(name)
  return m === null ? undefined : Number(BigInt(`0x${m[1]!}`))
}

/** File name of the delta checkpoint covering `index`. */
export const deltaName = (index: number): string => `streams-${BigInt(index).toString(16).padStart(16, "0")}.delta`

/** Parses a delta checkpoint's file name into its index, or undefined. */
export const parseDeltaName = (name: string): number | undefined => {
  const m = /^streams-([0-9a-f]{16})\.delta$/.exec(name)
  return m === null ? undefined : Number(BigInt(`0x${m[1]!}`))
}

const LEN = 2
const VARINT = 0
const tag = (f: number, w: number) => (f << 3) | w

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

/** Writes one `Stream` message: versions `from + 1 .. s.version` (their indexes as deltas, the first absolute). */
const writeStream = (w: ByteWriter, s: StreamState, from: number, base: number): void => {
  const idBytes = utf8Bytes(s.id)
  const first = from - s.base
  const n = s.version - from
  let deltaBytes = 0
  for (let i = first, prev = 0; i < first + n; i++) {
    const x = s.indexes[i]!
    deltaBytes += varintBytes(x - prev)
    prev = x
  }
  const size = 1 + varintBytes(idBytes) + idBytes + 1 + varintBytes(s.version) +
    (base > 0 ? 1 + varintBytes(base) : 0) + (n > 0 ? 1 + varintBytes(deltaBytes) + deltaBytes : 0)
  w.ensure(11 + size)
  w.varint(tag(3, LEN))
  w.varint(size)
  w.buf[w.pos++] = tag(1, LEN)
  w.string(s.id, idBytes)
  w.varint(tag(2, VARINT))
  w.varint(s.version)
  if (base > 0) {
    w.varint(tag(3, VARINT))
    w.varint(base)
  }
  if (n > 0) {
    w.varint(tag(4, LEN))
    w.varint(deltaBytes)
    for (let i = first, prev = 0; i < first + n; i++) {
      const x = s.indexes[i]!
      w.varint(x - prev)
      prev = x
    }
  }
}

/** Writes one `RecentId` message per id `each` visits. */
const writeRecent = (w: ByteWriter, table: StreamTable, each: RecentIds["forEachSlot"]): void => {
  each((slot, eventId, streamId, version, index) => {
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
}

const finish = (w: ByteWriter): Uint8Array => {
  w.ensure(4)
  const body = w.buf.subarray(0, w.pos)
  w.buf.writeUInt32LE(Crc32c.checksum(body), w.pos)
  return w.buf.subarray(0, w.pos + 4)
}

/** Serializes the whole table (synchronously: a consistent copy of the moment). Costs O(events in the table). */
export const encodeCheckpoint = (table: StreamTable): Uint8Array => {
  const w = new ByteWriter(64 + table.events * 2 + table.recent.size * 64)
  w.ensure(32)
  w.varint(tag(1, VARINT))
  w.varint(CHECKPOINT_FORMAT)
  w.varint(tag(2, VARINT))
  w.varint(table.appliedTo)
  for (const s of table.streams.values()) writeStream(w, s, s.base, s.base)
  writeRecent(w, table, (f) => table.recent.forEachSlot(f))
  return finish(w)
}

/**
 * Serializes what changed in the table's current epoch (see {@link StreamTable.newEpoch}) as a delta on the
 * checkpoint that covered `since`: each changed stream's new versions (`base` = the version it continues from) and
 * the ids remembered since. Costs O(events of the epoch + changed streams).
 */
export const encodeDelta = (table: StreamTable, since: number): Uint8Array => {
  let events = 0
  for (const s of table.changed) events += s.version - s.since
  const w = new ByteWriter(
    64 + events * 4 + table.changed.length * 48 + (table.recent.remembered - table.recentMark) * 64
  )
  w.ensure(48)
  w.varint(tag(1, VARINT))
  w.varint(CHECKPOINT_FORMAT)
  w.varint(tag(2, VARINT))
  w.varint(table.appliedTo)
  for (const s of table.changed) writeStream(w, s, s.since, s.since)
  writeRecent(w, table, (f) => table.recent.forEachSince(table.recentMark, f))
  w.ensure(11)
  w.varint(tag(5, VARINT))
  w.varint(since)
  return finish(w)
}

const toNumber = (v: number | { toString(): string }): number => typeof v === "number" ? v : Number(v.toString())

/** A parsed checkpoint or delta. */
interface Parsed {
  readonly index: number
  /** For a delta: the index of the checkpoint it continues (undefined in a full checkpoint). */
  readonly since: number | undefined
  readonly streams: Array<{ id: string; version: number; base: number; indexes: Float64Array }>
  readonly recent: Array<{ eventId: string; streamId: string; version: number; index: number }>
}

/** Parses the message. Throws (an `Error`) on a CRC mismatch or malformed bytes. */
const parse = (bytes: Uint8Array): Parsed => {
  if (bytes.length < 4) throw new Error("checkpoint too short")
  const body = bytes.subarray(0, bytes.length - 4)
  const crc = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(body.length, true)
  if (Crc32c.checksum(body) !== crc) throw new Error("checkpoint CRC mismatch")
  const r = Reader.create(body)
  let format = 0
  let index = 0
  let since: number | undefined
  const streams: Parsed["streams"] = []
  const recent: Parsed["recent"] = []
  while (r.pos < r.len) {
    const t = r.uint32()
    switch (t >>> 3) {
      case 1:
        format = r.uint32()
        if (format !== CHECKPOINT_FORMAT) throw new Error(`checkpoint format ${format} is not supported`)
        break
      case 2:
        index = toNumber(r.uint64())
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
        streams.push({ id, version, base, indexes })
        break
      }
      case 4: {
        const end = r.uint32() + r.pos
        let eventId = ""
        let streamId = ""
        let version = 0
        let at = 0
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
              at = toNumber(r.uint64())
              break
            default:
              r.skipType(st & 7)
          }
        }
        recent.push({ eventId, streamId, version, index: at })
        break
      }
      case 5:
        since = toNumber(r.uint64())
        break
      default:
        r.skipType(t & 7)
    }
  }
  if (format !== CHECKPOINT_FORMAT) throw new Error("checkpoint has no format field")
  return { index, since, streams, recent }
}

/** Parses a full checkpoint into a table. Throws (an `Error`) on a CRC mismatch, malformed bytes or a delta. */
export const decodeCheckpoint = (bytes: Uint8Array, window: number): StreamTable => {
  const p = parse(bytes)
  if (p.since !== undefined) throw new Error("a delta checkpoint, not a full one")
  const table = new StreamTable(window)
  table.appliedTo = p.index
  for (const s of p.streams) {
    table.streams.set(s.id, { ...s, epoch: 0, since: 0 })
    table.events += s.version - s.base
  }
  for (const e of p.recent) {
    table.recent.remember(e.eventId, table.streams.get(e.streamId)?.id ?? e.streamId, e.version, e.index)
  }
  table.newEpoch()
  return table
}

/**
 * Applies a delta checkpoint to `table` if it continues it (its `since` is the table's `appliedTo` and each stream
 * continues from the table's version). Returns a reason, without changing the table, when it does not; throws (an
 * `Error`) on a CRC mismatch or malformed bytes.
 */
export const applyDelta = (table: StreamTable, bytes: Uint8Array): string | undefined => {
  const p = parse(bytes)
  if (p.since === undefined) return "a full checkpoint, not a delta"
  if (p.since !== table.appliedTo) return `it continues index ${p.since}, the table is at ${table.appliedTo}`
  for (const s of p.streams) {
    const have = table.streams.get(s.id)
    if ((have?.version ?? s.base) !== s.base) {
      return `stream ${s.id} continues from version ${s.base}, the table has ${have?.version ?? 0}`
    }
  }
  for (const s of p.streams) {
    let st = table.streams.get(s.id)
    if (st === undefined) {
      st = { id: s.id, version: s.base, base: s.base, indexes: new Float64Array(4), epoch: 0, since: 0 }
      table.streams.set(s.id, st)
    }
    const n = s.version - s.base
    st.indexes = grow(st.indexes, st.version - st.base + n)
    st.indexes.set(s.indexes.subarray(0, n), st.version - st.base)
    st.version = s.version
    table.events += n
  }
  for (const e of p.recent) {
    table.recent.remember(e.eventId, table.streams.get(e.streamId)?.id ?? e.streamId, e.version, e.index)
  }
  table.appliedTo = p.index
  table.newEpoch()
  return undefined
}
