/**
 * Hand-written codec for the per-entry hot path: `walpb.Record` and `raftpb.Entry`, with varints over `bigint`
 * for exact unsigned 64-bit values. It produces exactly the bytes gogoproto writes (fields in number order,
 * zero-valued non-nullable fields present, `data` only when present) and decodes like protobuf (any field order,
 * unknown fields skipped, last value of a repeated scalar wins).
 *
 * Why not protobufjs here: encoding an entry record through protobufjs' reflection allocates a message object, a
 * `Long` per 64-bit field and an intermediate buffer, and cannot chain the CRC over the payload without a second
 * pass. The hand codec writes each frame straight into the batch buffer with one copy of the payload
 * (see `bench/codec.ts`). `test/Property.test.ts` checks it against {@link Proto} on random messages,
 * both directions.
 *
 * Decoded `data` fields are views (`subarray`) over the input buffer, not copies.
 *
 * @since 0.1.0
 */

/**
 * WAL record types (`walpb.Record.type`).
 *
 * @since 0.1.0
 * @category constants
 */
export const RecordType = {
  metadata: 1,
  entry: 2,
  state: 3,
  crc: 4,
  snapshot: 5
} as const

/**
 * A decoded `walpb.Record`. `type` is kept as a `bigint` so an out-of-range value read from disk is reported exactly;
 * `data` is undefined when the field is absent (nil in Go) and a view over the input otherwise.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodedRecord {
  readonly type: bigint
  readonly crc: number
  readonly data: Uint8Array | undefined
}

/**
 * A `raftpb.Entry`. `data` is undefined when the field is absent; an empty array encodes as `22 00`.
 *
 * @since 0.1.0
 * @category models
 */
export interface EntryValue {
  readonly type: number
  readonly term: bigint
  readonly index: bigint
  readonly data: Uint8Array | undefined
}

/**
 * Thrown (internally, and caught by the decoder) when bytes are not a valid message.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtoDecodeError extends Error {
  override readonly name = "ProtoDecodeError"
}

const TWO_64 = 1n << 64n
const MAX_U64 = TWO_64 - 1n

// Varints are on every entry's hot path (index, crc, lengths). Values below 2^53 take a `number` path: a bigint
// loop costs an allocation per 7 bits, which made it the most expensive part of encoding an entry.
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER)

/**
 * {@link varintSize} for a `number` known to be an integer in `[0, 2^53)` (no type checks: for hot loops).
 *
 * @since 0.1.0
 * @category varint
 */
export const numberVarintSize = (n: number): number => {
  if (n < 0x80) return 1
  if (n < 0x4000) return 2
  if (n < 0x200000) return 3
  if (n < 0x10000000) return 4
  if (n < 0x800000000) return 5
  if (n < 0x40000000000) return 6
  if (n < 0x2000000000000) return 7
  return 8 // n < 2^53 < 2^56
}

/**
 * Number of bytes of the varint encoding of `n` (a `number` in `[0, 2^53)` or a `bigint` in `[0, 2^64)`).
 *
 * @since 0.1.0
 * @category varint
 */
export const varintSize = (n: number | bigint): number => {
  if (typeof n === "number") {
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) return numberVarintSize(n)
  } else if (n >= 0n && n <= MAX_SAFE_BIG) {
    return numberVarintSize(Number(n))
  }
  // negative values are written as their 64-bit two's complement (see writeVarint): always 10 bytes
  if (n < 0) return 10
  let v = BigInt(n)
  let size = 1
  while (v >= 0x80n) {
    v >>= 7n
    size++
  }
  return size
}

/**
 * {@link writeVarint} for a `number` known to be an integer in `[0, 2^53)` (no type checks: for hot loops).
 *
 * @since 0.1.0
 * @category varint
 */
export const writeNumberVarint = (buf: Uint8Array, pos: number, n: number): number => {
  let v = n
  // above 32 bits, peel 7 bits at a time with exact float division until the rest fits the 32-bit path
  while (v > 0xffffffff) {
    buf[pos++] = (v % 0x80) | 0x80
    v = Math.floor(v / 0x80)
  }
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  buf[pos++] = v
  return pos
}

/**
 * Writes the varint of `n` into `buf` at `pos` and returns the position after it. Negative numbers are written as
 * their two's-complement 64-bit value (10 bytes), as protobuf does for int64.
 *
 * @since 0.1.0
 * @category varint
 */
export const writeVarint = (buf: Uint8Array, pos: number, n: number | bigint): number => {
  if (typeof n === "number") {
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) return writeNumberVarint(buf, pos, n)
  } else if (n >= 0n && n <= MAX_SAFE_BIG) {
    return writeNumberVarint(buf, pos, Number(n))
  }
  let v = BigInt(n)
  if (v < 0n) v += TWO_64
  if (v > MAX_U64) throw new RangeError(`varint out of range: ${v}`)
  while (v >= 0x80n) {
    buf[pos++] = Number(v & 0x7fn) | 0x80
    v >>= 7n
  }
  buf[pos++] = Number(v)
  return pos
}

/** @internal a small mutable cursor to avoid allocating result tuples per varint */
interface Cursor {
  pos: number
}

const readVarint = (buf: Uint8Array, c: Cursor, end: number): bigint => {
  // fast path: up to 4 bytes fit in a 28-bit number
  let pos = c.pos
  let result = 0
  let shift = 0
  while (pos < end && shift < 28) {
    const b = buf[pos++]!
    result |= (b & 0x7f) << shift
    if (b < 0x80) {
      c.pos = pos
      return BigInt(result >>> 0)
    }
    shift += 7
  }
  let big = BigInt(result >>> 0)
  let bshift = BigInt(shift)
  while (pos < end) {
    const b = buf[pos++]!
    if (bshift >= 63n && b > 1) throw new ProtoDecodeError("varint overflows 64 bits")
    big |= BigInt(b & 0x7f) << bshift
    if (b < 0x80) {
      c.pos = pos
      return big
    }
    bshift += 7n
    if (bshift > 63n) throw new ProtoDecodeError("varint too long")
  }
  throw new ProtoDecodeError("truncated varint")
}

const readVarint32 = (buf: Uint8Array, c: Cursor, end: number): number => {
  let pos = c.pos
  let result = 0
  let shift = 0
  while (pos < end && shift < 28) {
    const b = buf[pos++]!
    result |= (b & 0x7f) << shift
    if (b < 0x80) {
      c.pos = pos
      return result >>> 0
    }
    shift += 7
  }
  return Number(BigInt.asUintN(32, readVarint(buf, c, end)))
}

const skipField = (buf: Uint8Array, c: Cursor, end: number, wireType: number): void => {
  switch (wireType) {
    case 0:
      readVarint(buf, c, end)
      return
    case 1:
      c.pos += 8
      break
    case 2: {
      const len = readVarint(buf, c, end)
      if (len > BigInt(end - c.pos)) throw new ProtoDecodeError("length-delimited field past end")
      c.pos += Number(len)
      break
    }
    case 5:
      c.pos += 4
      break
    default:
      throw new ProtoDecodeError(`invalid wire type ${wireType}`)
  }
  if (c.pos > end) throw new ProtoDecodeError("field past end")
}

const readBytes = (buf: Uint8Array, c: Cursor, end: number): Uint8Array => {
  const len = readVarint(buf, c, end)
  if (len > BigInt(end - c.pos)) throw new ProtoDecodeError("bytes field past end")
  const start = c.pos
  c.pos += Number(len)
  return buf.subarray(start, c.pos)
}

// ---------------------------------------------------------------------------------------------------------------
// Fast paths for the canonical layout every writer produces (fields in number order, each once, short varints).
// They either decode exactly what the general decoder would, or return undefined and leave it to the general
// decoder: the general decoder stays the single definition of what is valid.

/** Position after the last varint read by {@link fastVarint} (a module variable: no allocation per varint). */
let fastPos = 0

/** A varint of at most 7 bytes (< 2^49) at `pos` as a number, or -1 when it is longer or truncated. */
const fastVarint = (buf: Uint8Array, pos: number, end: number): number => {
  if (pos < end) {
    const b = buf[pos]!
    if (b < 0x80) {
      fastPos = pos + 1
      return b
    }
  }
  let result = 0
  let mul = 1
  for (let k = 0; k < 7 && pos < end; k++) {
    const b = buf[pos++]!
    result += (b & 0x7f) * mul
    if (b < 0x80) {
      fastPos = pos
      return result
    }
    mul *= 0x80
  }
  return -1
}

// bigint values of small numbers, shared (BigInt(n) allocates a new heap object every call)
const SMALL_BIGINTS: ReadonlyArray<bigint> = Array.from({ length: 64 }, (_, i) => BigInt(i))
const smallBig = (n: number): bigint => n < SMALL_BIGINTS.length ? SMALL_BIGINTS[n]! : BigInt(n)

const decodeRecordFast = (buf: Uint8Array, start: number, end: number): DecodedRecord | undefined => {
  if (end - start < 4 || buf[start] !== 0x08) return undefined
  const type = fastVarint(buf, start + 1, end)
  if (type < 0) return undefined
  let pos = fastPos
  if (pos >= end || buf[pos] !== 0x10) return undefined
  const crc = fastVarint(buf, pos + 1, end)
  if (crc < 0) return undefined
  pos = fastPos
  // the crc field is a uint32: the general decoder keeps the low 32 bits of a longer varint, as `>>> 0` does
  if (pos === end) return { type: smallBig(type), crc: crc >>> 0, data: undefined }
  if (buf[pos] !== 0x1a) return undefined
  const len = fastVarint(buf, pos + 1, end)
  if (len < 0 || fastPos + len !== end) return undefined
  return { type: smallBig(type), crc: crc >>> 0, data: buf.subarray(fastPos, end) }
}

const decodeEntryFast = (buf: Uint8Array, start: number, end: number): EntryValue | undefined => {
  if (end - start < 6 || buf[start] !== 0x08) return undefined
  const type = fastVarint(buf, start + 1, end)
  // Type is an int32: larger values wrap (and negative ones take 10 bytes); leave those to the general decoder
  if (type < 0 || type > 0x7fffffff) return undefined
  let pos = fastPos
  if (pos >= end || buf[pos] !== 0x10) return undefined
  const term = fastVarint(buf, pos + 1, end)
  if (term < 0) return undefined
  pos = fastPos
  if (pos >= end || buf[pos] !== 0x18) return undefined
  const index = fastVarint(buf, pos + 1, end)
  if (index < 0) return undefined
  pos = fastPos
  if (pos === end) return { type, term: smallBig(term), index: BigInt(index), data: undefined }
  if (buf[pos] !== 0x22) return undefined
  const len = fastVarint(buf, pos + 1, end)
  if (len < 0 || fastPos + len !== end) return undefined
  return { type, term: smallBig(term), index: BigInt(index), data: buf.subarray(fastPos, end) }
}

/**
 * Decodes a `walpb.Record` from `buf[start, end)`. Throws {@link ProtoDecodeError} on malformed bytes.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeRecord = (buf: Uint8Array, start = 0, end = buf.length): DecodedRecord => {
  const fast = decodeRecordFast(buf, start, end)
  if (fast !== undefined) return fast
  const c: Cursor = { pos: start }
  let type = 0n
  let crc = 0
  let data: Uint8Array | undefined = undefined
  while (c.pos < end) {
    const tag = readVarint32(buf, c, end)
    const field = tag >>> 3
    const wire = tag & 7
    if (field === 1 && wire === 0) type = BigInt.asIntN(64, readVarint(buf, c, end))
    else if (field === 2 && wire === 0) crc = readVarint32(buf, c, end)
    else if (field === 3 && wire === 2) data = readBytes(buf, c, end)
    else if (field === 0) throw new ProtoDecodeError("illegal tag 0")
    else skipField(buf, c, end, wire)
  }
  if (c.pos !== end) throw new ProtoDecodeError("record runs past its length")
  return { type, crc, data }
}

/**
 * Decodes a `raftpb.Entry`. Throws {@link ProtoDecodeError} on malformed bytes.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeEntry = (buf: Uint8Array, start = 0, end = buf.length): EntryValue => {
  const fast = decodeEntryFast(buf, start, end)
  if (fast !== undefined) return fast
  const c: Cursor = { pos: start }
  let type = 0
  let term = 0n
  let index = 0n
  let data: Uint8Array | undefined = undefined
  while (c.pos < end) {
    const tag = readVarint32(buf, c, end)
    const field = tag >>> 3
    const wire = tag & 7
    if (field === 1 && wire === 0) type = Number(BigInt.asIntN(32, readVarint(buf, c, end)))
    else if (field === 2 && wire === 0) term = readVarint(buf, c, end)
    else if (field === 3 && wire === 0) index = readVarint(buf, c, end)
    else if (field === 4 && wire === 2) data = readBytes(buf, c, end)
    else if (field === 0) throw new ProtoDecodeError("illegal tag 0")
    else skipField(buf, c, end, wire)
  }
  if (c.pos !== end) throw new ProtoDecodeError("entry runs past its length")
  return { type, term, index, data }
}

/**
 * Size in bytes of the encoded `raftpb.Entry` header (everything before the payload bytes), given the payload
 * length (or -1 for an absent data field). `index` may be a `number` below 2^53 (no bigint per entry in batches).
 *
 * @since 0.1.0
 * @category encoding
 */
export const entryHeaderSize = (type: number, term: bigint, index: bigint | number, dataLength: number): number =>
  1 + varintSize(type) + 1 + varintSize(term) + 1 + varintSize(index) +
  (dataLength < 0 ? 0 : 1 + varintSize(dataLength))

/**
 * Writes the `raftpb.Entry` header (Type, Term, Index and, when `dataLength >= 0`, the data tag and length) into
 * `buf` at `pos`; the caller writes the payload right after. Returns the position after the header.
 *
 * @since 0.1.0
 * @category encoding
 */
export const writeEntryHeader = (
  buf: Uint8Array,
  pos: number,
  type: number,
  term: bigint,
  index: bigint | number,
  dataLength: number
): number => {
  buf[pos++] = 0x08
  pos = writeVarint(buf, pos, type)
  buf[pos++] = 0x10
  pos = writeVarint(buf, pos, term)
  buf[pos++] = 0x18
  pos = writeVarint(buf, pos, index)
  if (dataLength >= 0) {
    buf[pos++] = 0x22
    pos = writeVarint(buf, pos, dataLength)
  }
  return pos
}

/**
 * Encodes a whole `raftpb.Entry` into a new buffer.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeEntry = (e: EntryValue): Uint8Array => {
  const dataLength = e.data === undefined ? -1 : e.data.length
  const header = entryHeaderSize(e.type, e.term, e.index, dataLength)
  const out = new Uint8Array(header + Math.max(0, dataLength))
  const pos = writeEntryHeader(out, 0, e.type, e.term, e.index, dataLength)
  if (e.data !== undefined) out.set(e.data, pos)
  return out
}

/**
 * Size in bytes of an encoded `walpb.Record` with the given type, crc and data length (-1 = absent).
 *
 * @since 0.1.0
 * @category encoding
 */
export const recordSize = (type: number, crc: number, dataLength: number): number =>
  1 + varintSize(type) + 1 + varintSize(crc) + (dataLength < 0 ? 0 : 1 + varintSize(dataLength) + dataLength)

/**
 * Writes the `walpb.Record` header (type, crc and, when `dataLength >= 0`, the data tag and length) into `buf` at
 * `pos`; the caller writes the data right after. Returns the position after the header.
 *
 * @since 0.1.0
 * @category encoding
 */
export const writeRecordHeader = (
  buf: Uint8Array,
  pos: number,
  type: number,
  crc: number,
  dataLength: number
): number => {
  buf[pos++] = 0x08
  pos = writeVarint(buf, pos, type)
  buf[pos++] = 0x10
  pos = writeVarint(buf, pos, crc >>> 0)
  if (dataLength >= 0) {
    buf[pos++] = 0x1a
    pos = writeVarint(buf, pos, dataLength)
  }
  return pos
}

/**
 * Encodes a whole `walpb.Record` into a new buffer.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeRecord = (type: number, crc: number, data: Uint8Array | undefined): Uint8Array => {
  const dataLength = data === undefined ? -1 : data.length
  const out = new Uint8Array(recordSize(type, crc, dataLength))
  const pos = writeRecordHeader(out, 0, type, crc, dataLength)
  if (data !== undefined) out.set(data, pos)
  return out
}
