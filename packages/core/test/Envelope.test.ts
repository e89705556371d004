import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import protobuf from "protobufjs"
import * as Envelope from "../src/Envelope.ts"

const sample = (over: Partial<Envelope.Envelope> = {}): Envelope.Envelope => ({
  ...Envelope.make({
    streamId: "account-1",
    streamVersion: 7n,
    eventType: "Deposited",
    schemaVersion: 2,
    eventId: "0b8e9e0e-7f0a-4c3e-9a53-2f3c1d1a0b11",
    timestamp: 1_760_000_000_123,
    correlationId: "corr",
    causationId: "cause",
    metadata: { user: "ada", tenant: "t1" },
    payloadEncoding: Envelope.PayloadEncoding.Json,
    transaction: { position: 1, size: 2 },
    payload: new TextEncoder().encode(`{"amount":100}`)
  }),
  ...over
})

const unwrap = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(`unexpected failure: ${String(r.failure)}`)
  return r.success
}

describe("Envelope", () => {
  it("round-trips every field through encode and decodeHeader", () => {
    const e = sample()
    const h = unwrap(Envelope.decodeHeader(Envelope.encode(e)))
    assert.strictEqual(h.formatVersion, Envelope.FORMAT_VERSION)
    assert.strictEqual(h.streamId, e.streamId)
    assert.strictEqual(h.streamVersion, e.streamVersion)
    assert.strictEqual(h.eventType, e.eventType)
    assert.strictEqual(h.schemaVersion, e.schemaVersion)
    assert.strictEqual(h.eventId, e.eventId)
    assert.strictEqual(h.timestamp, e.timestamp)
    assert.strictEqual(h.correlationId, "corr")
    assert.strictEqual(h.causationId, "cause")
    assert.deepStrictEqual({ ...h.metadata }, { user: "ada", tenant: "t1" })
    assert.deepStrictEqual(h.transaction, { position: 1, size: 2 })
    assert.deepStrictEqual(Array.from(h.payload), Array.from(e.payload))
  })

  it("returns the payload as a view into the entry bytes, not a copy", () => {
    const bytes = Envelope.encode(sample())
    const h = unwrap(Envelope.decodeHeader(bytes))
    assert.strictEqual(h.payload.buffer, bytes.buffer)
    bytes[bytes.length - 1] = 0x21
    assert.strictEqual(h.payload[h.payload.length - 1], 0x21)
    // decode copies
    const other = Envelope.encode(sample())
    const full = unwrap(Envelope.decode(other))
    other[other.length - 1] = 0x21
    assert.strictEqual(full.payload[full.payload.length - 1], "}".charCodeAt(0))
  })

  it("matches protobufjs' generic decoder of the documented schema, both ways", () => {
    const Type = Envelope.root.lookupType("binlog.eventstore.v1.Envelope")
    fc.assert(
      fc.property(
        fc.record({
          streamId: fc.string({ minLength: 1 }),
          streamVersion: fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }),
          eventType: fc.string({ minLength: 1 }),
          schemaVersion: fc.integer({ min: 1, max: 1000 }),
          eventId: fc.string(),
          timestamp: fc.integer({ min: 0, max: 2 ** 50 }),
          metadata: fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
          payload: fc.uint8Array({ maxLength: 64 }),
          size: fc.integer({ min: 1, max: 5 })
        }),
        (r) => {
          const e = Envelope.make({ ...r, transaction: { position: r.size - 1, size: r.size } })
          const bytes = Envelope.encode(e)
          const generic = Type.toObject(Type.decode(bytes), { longs: String, bytes: Array, defaults: true })
          assert.strictEqual(generic["format_version"], 1)
          assert.strictEqual(generic["stream_id"], r.streamId)
          assert.strictEqual(generic["stream_version"], r.streamVersion.toString())
          assert.strictEqual(generic["event_type"], r.eventType)
          assert.strictEqual(generic["timestamp_ms"], String(r.timestamp))
          assert.deepStrictEqual(generic["metadata"], r.metadata)
          assert.deepStrictEqual(generic["payload"], Array.from(r.payload))
          // and protobufjs' own encoding decodes lazily to the same header
          const viaGeneric = Type.encode(Type.fromObject({
            format_version: 1,
            stream_id: r.streamId,
            stream_version: r.streamVersion.toString(),
            event_type: r.eventType,
            schema_version: r.schemaVersion,
            event_id: r.eventId,
            timestamp_ms: r.timestamp,
            metadata: r.metadata,
            tx_position: r.size - 1,
            tx_size: r.size,
            payload: r.payload
          })).finish()
          const h = unwrap(Envelope.decodeHeader(viaGeneric))
          assert.strictEqual(h.streamVersion, r.streamVersion)
          assert.strictEqual(h.eventId, r.eventId)
          assert.deepStrictEqual({ ...h.metadata }, r.metadata)
          assert.deepStrictEqual(h.transaction, { position: r.size - 1, size: r.size })
          assert.deepStrictEqual(Array.from(h.payload), Array.from(r.payload))
        }
      ),
      { numRuns: 200 }
    )
  })

  it("the direct encoder writes exactly protobufjs' bytes, for any envelope (property)", () => {
    const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
    const ascii = fc.string({ maxLength: 50 })
    const anyString = fc.oneof(ascii, fc.string({ maxLength: 20, unit: "binary" }), fc.uuid())
    const uint = fc.oneof(
      fc.constantFrom(0, 1, 127, 128, 16383, 16384, 0xffff_ffff),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.constantFrom(-1, 0x1_0000_0000, 1.5) // outside uint32: protobufjs' rules, via its Writer
    )
    fc.assert(
      fc.property(
        fc.record({
          streamId: anyString,
          streamVersion: fc.oneof(
            fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
            fc.constantFrom(0n, 127n, 128n, (1n << 53n) - 1n, 1n << 53n)
          ),
          eventType: anyString,
          schemaVersion: uint,
          eventId: fc.oneof(anyString, fc.constant("")),
          timestamp: fc.oneof(
            fc.integer({ min: 0, max: 2 ** 50 }),
            fc.constantFrom(0, 1_760_000_000_123, Number.MAX_SAFE_INTEGER, -5, 2 ** 60, 0.5)
          ),
          correlationId: fc.option(anyString, { nil: undefined }),
          causationId: fc.option(anyString, { nil: undefined }),
          metadata: fc.dictionary(anyString, anyString, { maxKeys: 3 }),
          payloadEncoding: fc.oneof(fc.constantFrom(0, 1, 2), uint),
          position: uint,
          size: fc.oneof(fc.integer({ min: 0, max: 300 }), uint),
          payload: fc.uint8Array({ maxLength: 300 })
        }),
        (r) => {
          const e: Envelope.Envelope = {
            ...r,
            payloadEncoding: r.payloadEncoding as Envelope.PayloadEncoding,
            transaction: { position: r.position, size: r.size }
          }
          assert.strictEqual(hex(Envelope.encode(e)), hex(Envelope.encodeWithWriter(e)))
        }
      ),
      { numRuns: 1000 }
    )
  })

  it("skips unknown fields (forward compatible within a format version)", () => {
    const w = protobuf.Writer.create()
    w.uint32((99 << 3) | 2).string("future")
    w.uint32((98 << 3) | 0).uint64(12345)
    const extra = w.finish()
    const base = Envelope.encode(sample())
    const bytes = new Uint8Array(base.length + extra.length)
    bytes.set(extra, 0)
    bytes.set(base, extra.length)
    const h = unwrap(Envelope.decodeHeader(bytes))
    assert.strictEqual(h.eventType, "Deposited")
  })

  it("rejects another format version with UnsupportedEnvelopeVersion", () => {
    const bytes = Envelope.encode(sample())
    assert.strictEqual(bytes[0], 0x08)
    const other = bytes.slice()
    other[1] = 2
    const r = Envelope.decodeHeader(other)
    assert.isTrue(Result.isFailure(r))
    if (Result.isFailure(r)) assert.strictEqual(r.failure._tag, "UnsupportedEnvelopeVersion")
    const p = Envelope.peekEventType(other)
    assert.isTrue(Result.isFailure(p))
  })

  it("rejects bytes that are not an envelope with EnvelopeDecodeError, never throwing", () => {
    // (the WAL's CRCs catch torn entries; here the decoder only has to fail typed on what is not well formed)
    const bytes = Envelope.encode(sample())
    let failures = 0
    for (let cut = 0; cut < bytes.length; cut++) {
      const r = Envelope.decodeHeader(bytes.subarray(0, cut))
      if (Result.isFailure(r)) {
        assert.strictEqual(r.failure._tag, "EnvelopeDecodeError")
        failures++
      } else assert.isBelow(r.success.payload.length, sample().payload.length)
    }
    assert.isAbove(failures, bytes.length / 2)
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (junk) => {
      const r = Envelope.decodeHeader(junk)
      if (Result.isFailure(r)) {
        assert.include(["EnvelopeDecodeError", "UnsupportedEnvelopeVersion"], r.failure._tag)
      }
    }))
  })

  it("peekEventType reads the type without the rest", () => {
    assert.strictEqual(unwrap(Envelope.peekEventType(Envelope.encode(sample()))), "Deposited")
  })

  it("omits optional fields and defaults the transaction to a single entry", () => {
    const e = Envelope.make({
      streamId: "s",
      streamVersion: 1n,
      eventType: "T",
      schemaVersion: 1,
      eventId: "",
      timestamp: 0,
      payload: new Uint8Array(0)
    })
    const bytes = Envelope.encode(e)
    const h = unwrap(Envelope.decodeHeader(bytes))
    assert.strictEqual(h.correlationId, undefined)
    assert.strictEqual(h.causationId, undefined)
    assert.deepStrictEqual(h.transaction, { position: 0, size: 1 })
    assert.strictEqual(h.payload.length, 0)
    // format_version, event_type, schema_version, stream_id, stream_version: 2 + 3 + 2 + 3 + 2 bytes
    assert.strictEqual(bytes.length, 12)
  })
})

describe("Envelope metadata keys", () => {
  it("a metadata key named __proto__ survives encode and decode as an ordinary key", () => {
    const metadata: Record<string, string> = {}
    Object.defineProperty(metadata, "__proto__", { value: "x", enumerable: true, writable: true, configurable: true })
    const e = Envelope.make({
      streamId: "s",
      streamVersion: 1n,
      eventType: "T",
      schemaVersion: 1,
      eventId: "e1",
      timestamp: 0,
      payload: new Uint8Array(),
      metadata
    })
    const h = unwrap(Envelope.decodeHeader(Envelope.encode(e)))
    assert.deepStrictEqual(Object.keys(h.metadata), ["__proto__"])
    assert.strictEqual(Object.getOwnPropertyDescriptor(h.metadata, "__proto__")?.value, "x")
    assert.strictEqual(Object.getPrototypeOf(h.metadata), Object.prototype)
  })
})
