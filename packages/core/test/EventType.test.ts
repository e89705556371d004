import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import * as Stream from "effect/Stream"
import * as Envelope from "../src/Envelope.ts"
import * as EventStore from "../src/EventStore.ts"
import * as EventType from "../src/EventType.ts"
import * as Cbor from "../src/internal/eventstore/cbor.ts"
import { withStore } from "./EventStore.utils.ts"
import { tempDir } from "./utils.ts"

const DepositedV1 = EventType.make("Deposited", Schema.Struct({ amount: Schema.Number }))
const DepositedV2 = DepositedV1.pipe(
  EventType.evolve(
    Schema.Struct({ amount: Schema.Number, currency: Schema.String }),
    (v1) => ({ amount: v1.amount, currency: "EUR" })
  )
)
const DepositedV3 = DepositedV2.pipe(
  EventType.evolve(
    Schema.Struct({ cents: Schema.Int, currency: Schema.String }),
    (v2) => ({ cents: Math.round(v2.amount * 100), currency: v2.currency })
  )
)

const header = (payload: EventType.EncodedPayload): Envelope.DecodedHeader => {
  const r = Envelope.decodeHeader(Envelope.encode(Envelope.make({
    streamId: "s",
    streamVersion: 1n,
    eventType: payload.eventType,
    schemaVersion: payload.schemaVersion,
    eventId: "e",
    timestamp: 0,
    payloadEncoding: payload.payloadEncoding,
    payload: payload.payload
  })))
  if (Result.isFailure(r)) throw new Error(r.failure.message)
  return r.success
}

const encode = <A>(t: EventType.EventType<string, A>, data: A) => {
  const r = t.encodeData(data)
  if (Result.isFailure(r)) throw new Error(r.failure.message)
  return r.success
}

describe("EventType: versions and upcasting", () => {
  it.effect("an old v1 entry in the log is read back as v2 through the upcaster", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      // the "fixture": written by code that only knew v1
      yield* withStore(
        root,
        EventStore.append(EventType.registry(DepositedV1), "acc", EventStore.ExpectedVersion.noStream, [
          DepositedV1.make({ amount: 12.5 })
        ])
      )
      // today's code knows v2 (and writes v2)
      const V2 = EventType.registry(DepositedV2)
      const events = yield* withStore(
        root,
        Effect.gen(function*() {
          yield* EventStore.append(V2, "acc", EventStore.ExpectedVersion.exact(1n), [
            DepositedV2.make({ amount: 1, currency: "USD" })
          ])
          return yield* Stream.runCollect(EventStore.readStream(V2, "acc"))
        })
      )
      assert.deepStrictEqual(events.map((e) => [e.schemaVersion, e.event]), [
        [1, { type: "Deposited", data: { amount: 12.5, currency: "EUR" } }],
        [2, { type: "Deposited", data: { amount: 1, currency: "USD" } }]
      ])
    }))

  it("upcasters chain: v1 → v2 → v3, and each step's output is checked against the next schema", () => {
    assert.strictEqual(DepositedV3.version, 3)
    const r = EventType.registry(DepositedV3).decode(header(encode(DepositedV1, { amount: 1.25 })))
    assert.deepStrictEqual(
      r,
      Result.succeed({ _tag: "Known", event: { type: "Deposited", data: { cents: 125, currency: "EUR" } } }) as typeof r
    )
    // an upcaster producing an invalid value fails typed (Int check of v3)
    const bad = DepositedV2.pipe(
      EventType.evolve(Schema.Struct({ cents: Schema.Int, currency: Schema.String }), (v2) => ({
        cents: v2.amount,
        currency: v2.currency
      }))
    )
    const f = EventType.registry(bad).decode(header(encode(DepositedV1, { amount: 0.5 })), 7n)
    assert.isTrue(Result.isFailure(f))
    if (Result.isFailure(f)) {
      assert.strictEqual(f.failure._tag, "EventDecodeError")
      assert.strictEqual(f.failure.index, "7")
      assert.include(f.failure.reason, "upcasting to v3")
    }
  })

  it("a payload of a newer schema version than the reader's fails with EventDecodeError, not a crash", () => {
    const r = EventType.registry(DepositedV1).decode(header(encode(DepositedV2, { amount: 1, currency: "X" })))
    assert.isTrue(Result.isFailure(r))
    if (Result.isFailure(r)) assert.include(r.failure.reason, "newer than this reader's 1")
    const old = EventType.make("Deposited", Schema.Struct({ cents: Schema.Number }), { version: 3 })
    const o = EventType.registry(old).decode(header(encode(DepositedV1, { amount: 1 })))
    assert.isTrue(Result.isFailure(o))
    if (Result.isFailure(o)) assert.include(o.failure.reason, "older than the oldest declared (3)")
  })

  it("a payload that does not match its schema fails with EventDecodeError", () => {
    const h = header({
      eventType: "Deposited",
      schemaVersion: 1,
      payloadEncoding: Envelope.PayloadEncoding.Json,
      payload: new TextEncoder().encode(`{"amount":"ten"}`)
    })
    const r = EventType.registry(DepositedV1).decode(h)
    assert.isTrue(Result.isFailure(r))
    const notJson = EventType.registry(DepositedV1).decode({ ...h, payload: new TextEncoder().encode("{") })
    assert.isTrue(Result.isFailure(notJson))
  })
})

describe("EventType: payload encodings", () => {
  const Rich = Schema.Struct({
    at: Schema.Date,
    big: Schema.BigInt,
    tags: Schema.Array(Schema.String),
    nested: Schema.Struct({ x: Schema.Number, y: Schema.NullOr(Schema.String) })
  })
  const value = { at: new Date(1_700_000_000_000), big: 2n ** 70n, tags: ["a", "é"], nested: { x: -1.5, y: null } }

  it("json (default) and cbor both round-trip through the schema's canonical JSON codec", () => {
    for (const encoding of ["json", "cbor"] as const) {
      const T = EventType.make("Rich", Rich, { encoding })
      const p = encode(T, value)
      assert.strictEqual(p.payloadEncoding, encoding === "json" ? 0 : 1)
      const r = EventType.registry(T).decode(header(p))
      assert.deepStrictEqual(r, Result.succeed({ _tag: "Known", event: { type: "Rich", data: value } }) as typeof r)
    }
    const json = encode(EventType.make("Rich", Rich), value).payload.length
    const cbor = encode(EventType.make("Rich", Rich, { encoding: "cbor" }), value).payload.length
    assert.isBelow(cbor, json)
  })

  it("raw: a schema that encodes to bytes is stored as is", () => {
    const Bytes = Schema.String.pipe(
      Schema.decodeTo(Schema.String, { decode: SchemaGetter.passthrough(), encode: SchemaGetter.passthrough() })
    )
    const AsBytes = Schema.Uint8Array.pipe(
      Schema.decodeTo(Bytes, {
        decode: SchemaGetter.transform((b: Uint8Array) => new TextDecoder().decode(b)),
        encode: SchemaGetter.transform((s: string) => new TextEncoder().encode(s))
      })
    )
    const T = EventType.make("Note", AsBytes, { encoding: "raw" })
    const p = encode(T, "hello")
    assert.strictEqual(p.payloadEncoding, Envelope.PayloadEncoding.Raw)
    assert.strictEqual(new TextDecoder().decode(p.payload), "hello")
    const r = EventType.registry(T).decode(header(p))
    assert.deepStrictEqual(r, Result.succeed({ _tag: "Known", event: { type: "Note", data: "hello" } }) as typeof r)
  })

  it("a type can change encoding between versions and old entries still read", () => {
    const V1 = EventType.make("E", Schema.Struct({ n: Schema.Number }), { encoding: "cbor" })
    const V2 = V1.pipe(
      EventType.evolve(Schema.Struct({ n: Schema.Number, m: Schema.Number }), (a) => ({ ...a, m: 0 }), {
        encoding: "json"
      })
    )
    const r = EventType.registry(V2).decode(header(encode(V1, { n: 4 })))
    assert.deepStrictEqual(r, Result.succeed({ _tag: "Known", event: { type: "E", data: { n: 4, m: 0 } } }) as typeof r)
    assert.strictEqual(encode(V2, { n: 1, m: 2 }).payloadEncoding, Envelope.PayloadEncoding.Json)
  })

  it("cbor encodes RFC 8949 bytes for known values", () => {
    const hex = (v: unknown) => Buffer.from(Cbor.encode(v)).toString("hex")
    // RFC 8949 Appendix A examples
    assert.strictEqual(hex(0), "00")
    assert.strictEqual(hex(23), "17")
    assert.strictEqual(hex(24), "1818")
    assert.strictEqual(hex(1000000), "1a000f4240")
    assert.strictEqual(hex(-1000), "3903e7")
    assert.strictEqual(hex(1.1), "fb3ff199999999999a")
    assert.strictEqual(hex("IETF"), "6449455446")
    assert.strictEqual(hex([1, [2, 3]]), "8201820203")
    assert.strictEqual(hex({ a: 1, b: [2, 3] }), "a26161016162820203")
    assert.strictEqual(hex(null), "f6")
    assert.deepStrictEqual(Cbor.decode(Buffer.from("f93c00", "hex")), 1)
    assert.throws(() => Cbor.decode(Buffer.from("9f01ff", "hex")))
    assert.throws(() => Cbor.decode(Buffer.from("0000", "hex")))
  })

  it("registries reject duplicate names and encode only their own types", () => {
    assert.throws(() => EventType.registry(DepositedV1, DepositedV2))
    const r = EventType.registry(DepositedV1).encode({ type: "Other", data: {} } as never)
    assert.isTrue(Result.isFailure(r))
  })
})
