// The hot-path shortcuts taken for speed (bench/wal.ts) must give exactly the bytes and values of the general code.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import * as Crc32c from "../src/Crc32c.ts"
import { FrameEncoder, LENGTH_WORD_BYTES, padBytes, writeLengthWord } from "../src/Encoder.ts"
import * as RecordCodec from "../src/RecordCodec.ts"

const U64_MAX = (1n << 64n) - 1n

const hex = (b: Uint8Array | undefined) => (b === undefined ? "nil" : Buffer.from(b).toString("hex"))

const property = <A>(arb: fc.Arbitrary<A>, check: (a: A) => void, numRuns = 500) =>
  Effect.sync(() => fc.assert(fc.property(arb, check), { numRuns }))

/** The frame of an entry record built from the general codec, one piece at a time. */
const referenceFrame = (crc: number, e: RecordCodec.EntryValue): { frame: Uint8Array; crc: number } => {
  const entryBytes = RecordCodec.encodeEntry(e)
  const next = Crc32c.update(crc, entryBytes)
  const rec = RecordCodec.encodeRecord(RecordCodec.RecordType.entry, next, entryBytes)
  const frame = new Uint8Array(LENGTH_WORD_BYTES + rec.length + padBytes(rec.length))
  writeLengthWord(frame, 0, rec.length)
  frame.set(rec, LENGTH_WORD_BYTES)
  return { frame, crc: next }
}

const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: U64_MAX }),
  fc.bigInt({ min: 0n, max: 300n }),
  fc.constantFrom(0n, 127n, 128n, (1n << 53n) - 1n, 1n << 53n, U64_MAX)
)
const entry = fc.record({
  type: fc.oneof(fc.constantFrom(0, 1, 127, 128), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
  term: u64,
  index: u64,
  data: fc.option(fc.uint8Array({ maxLength: 600 }), { nil: undefined, freq: 5 })
})

describe("FrameEncoder.entry", () => {
  it.effect("writes the same frames and running CRC as the general record and entry codec, for any entry", () =>
    property(
      fc.record({
        crc: fc.integer({ min: 0, max: 0xffff_ffff }),
        entries: fc.array(entry, { minLength: 1, maxLength: 8 })
      }),
      ({ crc, entries }) => {
        const enc = new FrameEncoder(crc, 16) // tiny buffer: growth in the middle of a batch is covered too
        let expectedCrc = crc
        const expected: Array<string> = []
        for (const e of entries) {
          enc.entry(e.type, e.term, e.index, e.data)
          const ref = referenceFrame(expectedCrc, e)
          expectedCrc = ref.crc
          expected.push(hex(ref.frame))
        }
        assert.strictEqual(hex(enc.take()), expected.join(""))
        assert.strictEqual(enc.crc, expectedCrc)
      }
    ))

  it.effect("a number index writes the same bytes as the equal bigint index", () =>
    property(
      fc.record({ index: fc.maxSafeNat(), data: fc.uint8Array({ maxLength: 300 }) }),
      ({ data, index }) => {
        const a = new FrameEncoder(7)
        const b = new FrameEncoder(7)
        a.entry(0, 0n, index, data)
        b.entry(0, 0n, BigInt(index), data)
        assert.strictEqual(hex(a.take()), hex(b.take()))
      }
    ))
})

describe("Crc32c.updateWords", () => {
  it.effect("equals Crc32c.update on any range of any word-aligned buffer, in JavaScript alone too", () =>
    property(
      fc.record({
        prev: fc.integer({ min: 0, max: 0xffff_ffff }),
        bytes: fc.uint8Array({ minLength: 0, maxLength: 300 }),
        a: fc.nat(),
        b: fc.nat()
      }),
      ({ a, b, bytes, prev }) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1)
        const end = start + (bytes.length - start === 0 ? 0 : b % (bytes.length - start + 1))
        const words = Crc32c.wordView(bytes)
        assert.isDefined(words)
        assert.strictEqual(Crc32c.updateWords(prev, bytes, words!, start, end), Crc32c.update(prev, bytes, start, end))
        // the JavaScript word loop itself (updateWords hands long ranges to the native helper when it is loaded)
        assert.strictEqual(
          Crc32c.updateWordsTable(prev, bytes, words!, start, end),
          Crc32c.updateTable(prev, bytes, start, end)
        )
      }
    ))

  it.effect("wordView refuses a view that does not start on a word boundary", () =>
    Effect.sync(() => {
      const buf = new Uint8Array(16)
      assert.isUndefined(Crc32c.wordView(buf.subarray(1)))
      assert.isDefined(Crc32c.wordView(buf.subarray(4)))
    }))

  it.effect("update matches the CRC-32C check value and chains like one pass over the concatenation", () =>
    Effect.sync(() => {
      const text = new TextEncoder().encode("123456789")
      assert.strictEqual(Crc32c.checksum(text), 0xe306_9283)
      const long = new Uint8Array(1000).map((_, i) => (i * 31) & 0xff)
      assert.strictEqual(Crc32c.update(Crc32c.update(0, long, 0, 333), long, 333), Crc32c.checksum(long))
    }))
})

describe("RecordCodec decoders", () => {
  it.effect("decode what the encoders write, for any record and entry (short and long varints)", () =>
    property(
      fc.record({ crc: fc.integer({ min: 0, max: 0xffff_ffff }), e: entry }),
      ({ crc, e }) => {
        const entryBytes = RecordCodec.encodeEntry(e)
        const rec = RecordCodec.decodeRecord(RecordCodec.encodeRecord(RecordCodec.RecordType.entry, crc, entryBytes))
        assert.strictEqual(rec.type, 2n)
        assert.strictEqual(rec.crc, crc)
        assert.strictEqual(hex(rec.data), hex(entryBytes))
        const back = RecordCodec.decodeEntry(rec.data!)
        assert.deepStrictEqual(
          [back.type, back.term, back.index, hex(back.data)],
          [e.type, e.term, e.index, hex(e.data)]
        )
      }
    ))
})
