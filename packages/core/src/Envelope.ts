/**
 * The event envelope: how one event is stored in one WAL entry (the `Data` of a raft `Entry`), a protobuf message.
 * The format is versioned and language-neutral, so any protobuf library can read the log. protobufjs is the
 * reference encoder ({@link encodeWithWriter}); {@link encode} writes the same bytes directly (tests compare them).
 *
 * ## Wire format, version 1
 *
 * ```proto
 * syntax = "proto3";
 * package binlog.eventstore.v1;
 *
 * enum PayloadEncoding {
 *   JSON = 0;  // UTF-8 JSON of the payload Schema's encoded form (the default)
 *   CBOR = 1;  // RFC 8949 CBOR of the same encoded form
 *   RAW  = 2;  // bytes produced by the event type's own binary codec (meaning defined by the event type)
 * }
 *
 * message Envelope {
 *   uint32 format_version  = 1;  // always written, = 1; an entry without it is not an envelope
 *   string event_type      = 2;  // the event type's name, e.g. "AccountOpened"
 *   uint32 schema_version  = 3;  // version of the payload schema the writer used (>= 1)
 *   string stream_id       = 4;
 *   uint64 stream_version  = 5;  // 1-based position of the event in its stream, always written
 *   string event_id        = 6;  // unique id (a UUID string by default), used for idempotent retries
 *   uint64 timestamp_ms    = 7;  // milliseconds since the Unix epoch, when the event was appended
 *   string correlation_id  = 8;  // optional
 *   string causation_id    = 9;  // optional
 *   map<string, string> metadata = 10;  // optional user metadata
 *   PayloadEncoding payload_encoding = 11;
 *   uint32 tx_position     = 12; // 0-based position of this entry within its atomic append
 *   uint32 tx_size         = 13; // entries in that append; absent or 0 means 1
 *   bytes  payload         = 15; // the event payload, encoded as payload_encoding says
 * }
 * ```
 *
 * Fields are written in field-number order; zero/empty optional fields are omitted (proto3 rules), except
 * `format_version` and `stream_version`. Readers skip unknown fields (forward compatibility within version 1);
 * a different `format_version` is rejected with {@link UnsupportedEnvelopeVersion}, never guessed at.
 *
 * An atomic append of `n` events (possibly to several streams) occupies `n` consecutive WAL indexes written in one
 * log batch; each entry carries `tx_position` and `tx_size`, so its first index is `index - tx_position` and a reader
 * knows when it has seen the whole append. The WAL's commit markers already guarantee that a batch is all or nothing
 * after a crash.
 *
 * ## Lazy decoding
 *
 * {@link decodeHeader} reads every field except the payload, which it returns as a zero-copy view
 * (`subarray`) into the entry's bytes: a projection that ignores an event type pays for a few short strings, never
 * for parsing or copying the payload. Payload decoding (JSON/CBOR + Schema + upcasting) happens in `EventType`.
 * {@link peekEventType} stops even earlier, at the event type. The view aliases the read buffer: copy it to keep
 * it beyond the current stream element.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import protobuf from "protobufjs"
import { numberVarintSize as varintSize, writeNumberVarint } from "./RecordCodec.ts"

const { Field, MapField, Root, Type, Writer, Enum } = protobuf

/**
 * The envelope format version written by this module.
 *
 * @since 0.1.0
 * @category constants
 */
export const FORMAT_VERSION = 1

/**
 * Longest stream id, event type, event id, correlation or causation id accepted by {@link encode}: 4 KiB of UTF-8.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ID_BYTES = 4096

/**
 * How the payload bytes are encoded.
 *
 * @since 0.1.0
 * @category models
 */
export const PayloadEncoding = {
  /** UTF-8 JSON of the payload Schema's encoded form. */
  Json: 0,
  /** RFC 8949 CBOR of the payload Schema's encoded form. */
  Cbor: 1,
  /** Bytes from the event type's own binary codec. */
  Raw: 2
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type PayloadEncoding = typeof PayloadEncoding[keyof typeof PayloadEncoding]

/**
 * Position of an entry within its atomic append.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transaction {
  /** 0-based position within the append. */
  readonly position: number
  /** Entries in the append (≥ 1). */
  readonly size: number
}

/**
 * Everything an envelope holds except the payload.
 *
 * @since 0.1.0
 * @category models
 */
export interface Header {
  readonly streamId: string
  /** 1-based position of the event in its stream. */
  readonly streamVersion: bigint
  readonly eventType: string
  readonly schemaVersion: number
  readonly eventId: string
  /** Milliseconds since the Unix epoch. */
  readonly timestamp: number
  readonly correlationId: string | undefined
  readonly causationId: string | undefined
  /** User metadata (an empty object when absent). */
  readonly metadata: Readonly<Record<string, string>>
  readonly payloadEncoding: PayloadEncoding
  readonly transaction: Transaction
}

/**
 * A whole envelope, as given to {@link encode}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Envelope extends Header {
  readonly payload: Uint8Array
}

/**
 * What {@link decodeHeader} returns: the header, the format version, and the payload as a view (no copy).
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodedHeader extends Header {
  readonly formatVersion: number
  /** A view into the decoded bytes; valid as long as they are. */
  readonly payload: Uint8Array
}

/**
 * The bytes are not a well-formed envelope (truncated, wrong wire types, missing required fields).
 *
 * @since 0.1.0
 * @category errors
 */
export class EnvelopeDecodeError extends Schema.TaggedError<EnvelopeDecodeError>()("EnvelopeDecodeError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `not a valid event envelope: ${this.reason}`
  }
}

/**
 * The envelope was written in a format version this reader does not know.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedEnvelopeVersion
  extends Schema.TaggedError<UnsupportedEnvelopeVersion>()("UnsupportedEnvelopeVersion", {
    formatVersion: Schema.Number,
    supported: Schema.Number
  })
{
  override get message(): string {
    return `envelope format version ${this.formatVersion} is not supported (this reader knows ${this.supported})`
  }
}

/**
 * Errors of decoding an envelope.
 *
 * @since 0.1.0
 * @category errors
 */
export type DecodeError = EnvelopeDecodeError | UnsupportedEnvelopeVersion

/**
 * The protobufjs reflection type of the envelope (`binlog.eventstore.v1.Envelope`), for tools and for checking the
 * hand-driven codec below against protobufjs' generic one.
 *
 * @since 0.1.0
 * @category schema
 */
export const EnvelopeType = new Type("Envelope")
  .add(new Field("format_version", 1, "uint32"))
  .add(new Field("event_type", 2, "string"))
  .add(new Field("schema_version", 3, "uint32"))
  .add(new Field("stream_id", 4, "string"))
  .add(new Field("stream_version", 5, "uint64"))
  .add(new Field("event_id", 6, "string"))
  .add(new Field("timestamp_ms", 7, "uint64"))
  .add(new Field("correlation_id", 8, "string"))
  .add(new Field("causation_id", 9, "string"))
  .add(new MapField("metadata", 10, "string", "string"))
  .add(new Field("payload_encoding", 11, "PayloadEncoding"))
  .add(new Field("tx_position", 12, "uint32"))
  .add(new Field("tx_size", 13, "uint32"))
  .add(new Field("payload", 15, "bytes"))

/**
 * The protobufjs root holding `binlog.eventstore.v1.*`.
 *
 * @since 0.1.0
 * @category schema
 */
export const root = new Root()
root.define("binlog.eventstore.v1")
  .add(new Enum("PayloadEncoding", { JSON: 0, CBOR: 1, RAW: 2 }))
  .add(EnvelopeType)
root.resolveAll()

// wire types
const VARINT = 0
const LEN = 2
const tag = (field: number, wire: number) => (field << 3) | wire

const u64 = (v: bigint): number | string => v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()

/**
 * Encodes an envelope with protobufjs' `Writer` (fields in field-number order): the reference encoding. {@link encode}
 * writes the same bytes faster; use this one to check it.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeWithWriter = (e: Envelope): Uint8Array => {
  const w = Writer.create()
  w.uint32(tag(1, VARINT)).uint32(FORMAT_VERSION)
  w.uint32(tag(2, LEN)).string(e.eventType)
  if (e.schemaVersion !== 0) w.uint32(tag(3, VARINT)).uint32(e.schemaVersion)
  w.uint32(tag(4, LEN)).string(e.streamId)
  w.uint32(tag(5, VARINT)).uint64(u64(e.streamVersion))
  if (e.eventId.length > 0) w.uint32(tag(6, LEN)).string(e.eventId)
  if (e.timestamp !== 0) w.uint32(tag(7, VARINT)).uint64(e.timestamp)
  if (e.correlationId !== undefined && e.correlationId.length > 0) {
    w.uint32(tag(8, LEN)).string(e.correlationId)
  }
  if (e.causationId !== undefined && e.causationId.length > 0) w.uint32(tag(9, LEN)).string(e.causationId)
  for (const key in e.metadata) {
    const value = e.metadata[key]!
    w.uint32(tag(10, LEN)).fork()
    w.uint32(tag(1, LEN)).string(key)
    w.uint32(tag(2, LEN)).string(value)
    w.ldelim()
  }
  if (e.payloadEncoding !== 0) w.uint32(tag(11, VARINT)).uint32(e.payloadEncoding)
  if (e.transaction.size > 1) {
    if (e.transaction.position !== 0) w.uint32(tag(12, VARINT)).uint32(e.transaction.position)
    w.uint32(tag(13, VARINT)).uint32(e.transaction.size)
  }
  if (e.payload.length > 0) w.uint32(tag(15, LEN)).bytes(e.payload)
  return w.finish()
}

// --- the direct encoder (the hot path of every append) ---

/** Largest value of a protobuf `uint32` field. */
const MAX_UINT32 = 0xffff_ffff

/** The length of `s` when it is all ASCII (then it is also its UTF-8 length), else -1. */
const asciiLength = (s: string): number => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return -1
  return s.length
}

/** Bytes of a length-delimited ASCII field of `n` bytes, tag included (tags here are one byte). */
const lenField = (n: number): number => 1 + varintSize(n) + n

const isUint32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= MAX_UINT32

/** What {@link planDirect} found: the exact size and the values the direct writer needs. */
class Plan {
  size = 0
  streamVersion = 0
  metadata: Array<string> | undefined = undefined
}

const plan = new Plan()

/** Plans the direct encoding of `e` into {@link plan}; false when it must take protobufjs' `Writer` instead. */
const planDirect = (e: Envelope): boolean => {
  const eventType = asciiLength(e.eventType)
  const streamId = asciiLength(e.streamId)
  const eventId = asciiLength(e.eventId)
  if (eventType < 0 || streamId < 0 || eventId < 0) return false
  if (e.streamVersion < 0n || e.streamVersion > BigInt(Number.MAX_SAFE_INTEGER)) return false
  const streamVersion = Number(e.streamVersion)
  if (!isUint32(e.schemaVersion) || !isUint32(e.payloadEncoding)) return false
  if (!Number.isSafeInteger(e.timestamp) || e.timestamp < 0) return false
  let size = 2 + lenField(eventType) + lenField(streamId) + 1 + varintSize(streamVersion)
  if (e.schemaVersion !== 0) size += 1 + varintSize(e.schemaVersion)
  if (eventId > 0) size += lenField(eventId)
  if (e.timestamp !== 0) size += 1 + varintSize(e.timestamp)
  if (e.correlationId !== undefined && e.correlationId.length > 0) {
    const n = asciiLength(e.correlationId)
    if (n < 0) return false
    size += lenField(n)
  }
  if (e.causationId !== undefined && e.causationId.length > 0) {
    const n = asciiLength(e.causationId)
    if (n < 0) return false
    size += lenField(n)
  }
  let metadata: Array<string> | undefined
  for (const key in e.metadata) {
    const value = e.metadata[key]!
    const k = asciiLength(key)
    const v = asciiLength(value)
    if (k < 0 || v < 0) return false
    size += lenField(lenField(k) + lenField(v))
    ;(metadata ??= []).push(key, value)
  }
  if (e.payloadEncoding !== 0) size += 1 + varintSize(e.payloadEncoding)
  if (e.transaction.size > 1) {
    if (!isUint32(e.transaction.size) || !isUint32(e.transaction.position)) return false
    if (e.transaction.position !== 0) size += 1 + varintSize(e.transaction.position)
    size += 1 + varintSize(e.transaction.size)
  }
  if (e.payload.length > 0) size += lenField(e.payload.length)
  plan.size = size
  plan.streamVersion = streamVersion
  plan.metadata = metadata
  return true
}

const EMPTY_BUFFER = Buffer.alloc(0)

/** Writes envelopes straight into a buffer of their exact size. */
class DirectWriter {
  buf: Buffer = EMPTY_BUFFER
  pos = 0
  varint(n: number): void {
    this.pos = writeNumberVarint(this.buf, this.pos, n)
  }
  /** A tag byte and a length-delimited ASCII string. */
  ascii(tagByte: number, s: string): void {
    this.buf[this.pos++] = tagByte
    this.varint(s.length)
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i)
    this.pos = pos
  }
}

const direct = new DirectWriter()

/**
 * Encodes an envelope: the bytes of {@link encodeWithWriter} (fields in field-number order), written directly into
 * one buffer when every string is ASCII and every number a plain non-negative integer (the usual case), else by
 * protobufjs' `Writer`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (e: Envelope): Uint8Array => {
  if (!planDirect(e)) return encodeWithWriter(e)
  const w = direct
  // a slice of Node's shared pool for small sizes, as protobufjs' `Writer.finish` returns
  const out = Buffer.allocUnsafe(plan.size)
  w.buf = out
  w.pos = 0
  w.buf[w.pos++] = tag(1, VARINT)
  w.buf[w.pos++] = FORMAT_VERSION
  w.ascii(tag(2, LEN), e.eventType)
  if (e.schemaVersion !== 0) {
    w.buf[w.pos++] = tag(3, VARINT)
    w.varint(e.schemaVersion)
  }
  w.ascii(tag(4, LEN), e.streamId)
  w.buf[w.pos++] = tag(5, VARINT)
  w.varint(plan.streamVersion)
  if (e.eventId.length > 0) w.ascii(tag(6, LEN), e.eventId)
  if (e.timestamp !== 0) {
    w.buf[w.pos++] = tag(7, VARINT)
    w.varint(e.timestamp)
  }
  if (e.correlationId !== undefined && e.correlationId.length > 0) w.ascii(tag(8, LEN), e.correlationId)
  if (e.causationId !== undefined && e.causationId.length > 0) w.ascii(tag(9, LEN), e.causationId)
  const metadata = plan.metadata
  if (metadata !== undefined) {
    for (let i = 0; i < metadata.length; i += 2) {
      const key = metadata[i]!
      const value = metadata[i + 1]!
      w.buf[w.pos++] = tag(10, LEN)
      w.varint(lenField(key.length) + lenField(value.length))
      w.ascii(tag(1, LEN), key)
      w.ascii(tag(2, LEN), value)
    }
  }
  if (e.payloadEncoding !== 0) {
    w.buf[w.pos++] = tag(11, VARINT)
    w.varint(e.payloadEncoding)
  }
  if (e.transaction.size > 1) {
    if (e.transaction.position !== 0) {
      w.buf[w.pos++] = tag(12, VARINT)
      w.varint(e.transaction.position)
    }
    w.buf[w.pos++] = tag(13, VARINT)
    w.varint(e.transaction.size)
  }
  if (e.payload.length > 0) {
    w.buf[w.pos++] = tag(15, LEN)
    w.varint(e.payload.length)
    out.set(e.payload, w.pos)
    w.pos += e.payload.length
  }
  w.buf = EMPTY_BUFFER
  return out
}

const EMPTY = new Uint8Array(0)
const EMPTY_METADATA: Readonly<Record<string, string>> = Object.freeze({})
const SINGLE: Transaction = Object.freeze({ position: 0, size: 1 })
const utf8 = new TextDecoder("utf-8", { fatal: true })

class Malformed {
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

class Unsupported {
  readonly version: number
  constructor(version: number) {
    this.version = version
  }
}

/** A minimal protobuf cursor: varints as numbers (exact below 2^53), lengths checked against the end. */
class Cursor {
  readonly buf: Uint8Array
  readonly end: number
  pos: number
  constructor(buf: Uint8Array, start: number, end: number) {
    this.buf = buf
    this.pos = start
    this.end = end
  }
  varint(): number {
    let result = 0
    let scale = 1
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Malformed("truncated varint")
      const b = this.buf[this.pos++]!
      result += (b & 0x7f) * scale
      if (b < 0x80) return result
      scale *= 128
    }
    throw new Malformed("varint longer than 10 bytes")
  }
  /** A u64 varint as a bigint (exact over the full range). */
  varint64(): bigint {
    const start = this.pos
    const n = this.varint()
    if (n <= Number.MAX_SAFE_INTEGER) return BigInt(n)
    let result = 0n
    let shift = 0n
    for (let p = start; p < this.pos; p++) {
      result |= BigInt(this.buf[p]! & 0x7f) << shift
      shift += 7n
    }
    return result & 0xffff_ffff_ffff_ffffn
  }
  span(): number {
    const len = this.varint()
    const start = this.pos
    if (len > this.end - start) throw new Malformed("length-delimited field runs past the end")
    this.pos = start + len
    return start
  }
  string(): string {
    const start = this.span()
    return start === this.pos ? "" : utf8.decode(this.buf.subarray(start, this.pos))
  }
  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint()
        return
      case 1:
        this.advance(8)
        return
      case 2:
        this.span()
        return
      case 5:
        this.advance(4)
        return
      default:
        throw new Malformed(`unsupported wire type ${wire}`)
    }
  }
  advance(n: number): void {
    if (this.end - this.pos < n) throw new Malformed("truncated fixed-width field")
    this.pos += n
  }
}

const expectWire = (field: number, wire: number, expected: number) => {
  if (wire !== expected) throw new Malformed(`field ${field} has wire type ${wire}, expected ${expected}`)
}

const readMapEntry = (c: Cursor, into: Record<string, string>) => {
  const start = c.span()
  const inner = new Cursor(c.buf, start, c.pos)
  let key = ""
  let value = ""
  while (inner.pos < inner.end) {
    const t = inner.varint()
    const f = t >>> 3
    const wire = t & 7
    if (f === 1 && wire === LEN) key = inner.string()
    else if (f === 2 && wire === LEN) value = inner.string()
    else inner.skip(wire)
  }
  // defineProperty, not assignment: a key named "__proto__" must stay an ordinary entry (assignment would set the
  // object's prototype and drop the key)
  Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true })
}

const decodeUnsafe = (bytes: Uint8Array, stopAtType: boolean): DecodedHeader | string => {
  const c = new Cursor(bytes, 0, bytes.length)
  let formatVersion = -1
  let eventType: string | undefined
  let schemaVersion = 0
  let streamId: string | undefined
  let streamVersion: bigint | undefined
  let eventId = ""
  let timestamp = 0
  let correlationId: string | undefined
  let causationId: string | undefined
  let metadata: Record<string, string> | undefined
  let payloadEncoding = 0
  let txPosition = 0
  let txSize = 0
  let payload: Uint8Array = EMPTY
  while (c.pos < c.end) {
    const t = c.varint()
    const field = t >>> 3
    const wire = t & 7
    switch (field) {
      case 1:
        expectWire(field, wire, VARINT)
        formatVersion = c.varint()
        if (formatVersion !== FORMAT_VERSION) throw new Unsupported(formatVersion)
        break
      case 2:
        expectWire(field, wire, LEN)
        eventType = c.string()
        if (stopAtType && formatVersion !== -1) return eventType
        break
      case 3:
        expectWire(field, wire, VARINT)
        schemaVersion = c.varint()
        break
      case 4:
        expectWire(field, wire, LEN)
        streamId = c.string()
        break
      case 5:
        expectWire(field, wire, VARINT)
        streamVersion = c.varint64()
        break
      case 6:
        expectWire(field, wire, LEN)
        eventId = c.string()
        break
      case 7:
        expectWire(field, wire, VARINT)
        timestamp = c.varint()
        break
      case 8:
        expectWire(field, wire, LEN)
        correlationId = c.string()
        break
      case 9:
        expectWire(field, wire, LEN)
        causationId = c.string()
        break
      case 10:
        expectWire(field, wire, LEN)
        metadata ??= {}
        readMapEntry(c, metadata)
        break
      case 11:
        expectWire(field, wire, VARINT)
        payloadEncoding = c.varint()
        break
      case 12:
        expectWire(field, wire, VARINT)
        txPosition = c.varint()
        break
      case 13:
        expectWire(field, wire, VARINT)
        txSize = c.varint()
        break
      case 15: {
        expectWire(field, wire, LEN)
        const start = c.span()
        payload = bytes.subarray(start, c.pos)
        break
      }
      default:
        if (field === 0) throw new Malformed("field number 0")
        c.skip(wire)
    }
  }
  if (formatVersion === -1) throw new Malformed("no format_version (field 1)")
  if (eventType === undefined || eventType.length === 0) throw new Malformed("no event_type (field 2)")
  if (stopAtType) return eventType
  if (streamId === undefined) throw new Malformed("no stream_id (field 4)")
  if (streamVersion === undefined) throw new Malformed("no stream_version (field 5)")
  if (payloadEncoding > 2) throw new Malformed(`unknown payload_encoding ${payloadEncoding}`)
  if (txSize === 0) txSize = 1
  if (txPosition >= txSize) throw new Malformed(`tx_position ${txPosition} is not below tx_size ${txSize}`)
  return {
    formatVersion,
    streamId,
    streamVersion,
    eventType,
    schemaVersion,
    eventId,
    timestamp,
    correlationId,
    causationId,
    metadata: metadata ?? EMPTY_METADATA,
    payloadEncoding: payloadEncoding as PayloadEncoding,
    transaction: txSize === 1 ? SINGLE : { position: txPosition, size: txSize },
    payload
  }
}

const toError = (cause: unknown): DecodeError =>
  cause instanceof Unsupported
    ? new UnsupportedEnvelopeVersion({ formatVersion: cause.version, supported: FORMAT_VERSION })
    : new EnvelopeDecodeError({
      reason: cause instanceof Malformed ? cause.reason : cause instanceof Error ? cause.message : String(cause)
    })

/**
 * Decodes everything but the payload; the payload is returned as a view into `bytes` (no copy, no parsing).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeHeader = (bytes: Uint8Array): Result.Result<DecodedHeader, DecodeError> => {
  try {
    const r = decodeUnsafe(bytes, false)
    return typeof r === "string" ? Result.fail(new EnvelopeDecodeError({ reason: "incomplete" })) : Result.succeed(r)
  } catch (cause) {
    return Result.fail(toError(cause))
  }
}

/**
 * Reads only as far as the event type (field 2, written second): the cheapest filter for projections.
 *
 * @since 0.1.0
 * @category decoding
 */
export const peekEventType = (bytes: Uint8Array): Result.Result<string, DecodeError> => {
  try {
    const r = decodeUnsafe(bytes, true)
    return Result.succeed(typeof r === "string" ? r : r.eventType)
  } catch (cause) {
    return Result.fail(toError(cause))
  }
}

/**
 * Decodes a whole envelope, copying the payload so the result outlives the read buffer.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (bytes: Uint8Array): Result.Result<Envelope, DecodeError> =>
  Result.map(decodeHeader(bytes), ({ formatVersion: _, ...h }) => ({ ...h, payload: new Uint8Array(h.payload) }))

/**
 * Builds an envelope with defaults for the optional parts (no ids, no metadata, JSON payload, single-entry
 * transaction).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (fields: {
  readonly streamId: string
  readonly streamVersion: bigint
  readonly eventType: string
  readonly schemaVersion: number
  readonly eventId: string
  readonly timestamp: number
  readonly payload: Uint8Array
  readonly correlationId?: string | undefined
  readonly causationId?: string | undefined
  readonly metadata?: Readonly<Record<string, string>> | undefined
  readonly payloadEncoding?: PayloadEncoding | undefined
  readonly transaction?: Transaction | undefined
}): Envelope => ({
  streamId: fields.streamId,
  streamVersion: fields.streamVersion,
  eventType: fields.eventType,
  schemaVersion: fields.schemaVersion,
  eventId: fields.eventId,
  timestamp: fields.timestamp,
  correlationId: fields.correlationId,
  causationId: fields.causationId,
  metadata: fields.metadata ?? EMPTY_METADATA,
  payloadEncoding: fields.payloadEncoding ?? PayloadEncoding.Json,
  transaction: fields.transaction ?? SINGLE,
  payload: fields.payload
})
