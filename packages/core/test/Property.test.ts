// Property tests (fast-check): the hand codec against protobufjs, write/read round trips over random batches and
// segment sizes, and what a reader may do with a log that has one damaged byte or a truncated last segment.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import fc from "fast-check"
import * as NFS from "node:fs"
import * as Path from "node:path"
import * as Proto from "../src/Proto.ts"
import * as Reader from "../src/Reader.ts"
import * as RecordCodec from "../src/RecordCodec.ts"
import * as Repair from "../src/Repair.ts"
import * as Segment from "../src/Segment.ts"
import * as Wal from "../src/Wal.ts"
import { fileSize, readBytes, segmentFiles, tempDir, truncateFile } from "./utils.ts"

const hex = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")

/** Runs a fast-check property whose predicate is an Effect (each run in its own scope). */
const property = <A>(
  arb: fc.Arbitrary<A>,
  check: (a: A) => Effect.Effect<void, unknown, Scope.Scope>,
  numRuns: number
) =>
  Effect.promise(() =>
    fc.assert(
      fc.asyncProperty(arb, (a) => Effect.runPromise(Effect.scoped(check(a)))),
      { numRuns }
    )
  )

// ---------------------------------------------------------------------------------------------------------------
// (a) hand codec vs protobufjs

const U64_MAX = (1n << 64n) - 1n
const INT64_MIN = -(1n << 63n)
const INT64_MAX = (1n << 63n) - 1n

/** u64 values, biased towards the edges (2^53 is where `number` stops being exact). */
const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: U64_MAX }),
  fc.bigInt({ min: 0n, max: 300n }),
  fc.constantFrom(0n, 127n, 128n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, 1n << 63n, U64_MAX)
)
const int64 = fc.oneof(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.constantFrom(INT64_MIN, -1n, 0n, INT64_MAX))
/** Record types the hand encoder can take (a `number`): the real ones, int32 and safe-integer values, negatives. */
const recordTypeNumber = fc.oneof(
  fc.constantFrom(1, 2, 3, 4, 5),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.maxSafeInteger()
)
const uint32 = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(0, 0x7f, 0x80, 0xffff_ffff))
const maybeBytes = fc.option(fc.uint8Array({ maxLength: 200 }), { nil: undefined, freq: 4 })
/** raftpb.EntryType is an int32 enum (0, 1, 2 in practice). */
const entryType = fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }))

const pbRecordBytes = (type: bigint | number, crc: number, data: Uint8Array | undefined): Uint8Array => {
  const o: Record<string, unknown> = { type: type.toString(), crc }
  if (data !== undefined) o.data = data
  return new Uint8Array(Proto.Record.encode(Proto.Record.fromObject(o)).finish())
}

const pbRecordDecode = (bytes: Uint8Array) => {
  const o = Proto.Record.toObject(Proto.Record.decode(bytes), { longs: String, defaults: false }) as {
    type?: string
    crc?: number
    data?: Uint8Array
  }
  return { type: BigInt(o.type ?? "0"), crc: o.crc ?? 0, data: o.data === undefined ? undefined : o.data }
}

const pbEntryBytes = (type: number, term: bigint, index: bigint, data: Uint8Array | undefined): Uint8Array => {
  const o: Record<string, unknown> = { Type: type, Term: term.toString(), Index: index.toString() }
  if (data !== undefined) o.Data = data
  return new Uint8Array(Proto.Entry.encode(Proto.Entry.fromObject(o)).finish())
}

const pbEntryDecode = (bytes: Uint8Array) => {
  const o = Proto.Entry.toObject(Proto.Entry.decode(bytes), { longs: String, defaults: false }) as {
    Type?: number
    Term?: string
    Index?: string
    Data?: Uint8Array
  }
  return {
    type: o.Type ?? 0,
    term: BigInt(o.Term ?? "0"),
    index: BigInt(o.Index ?? "0"),
    data: o.Data === undefined ? undefined : o.Data
  }
}

describe("Property: hand codec vs protobufjs", () => {
  it.effect("walpb.Record: hand-encoded bytes equal protobufjs' bytes, and protobufjs decodes them back", () =>
    property(
      fc.record({ type: recordTypeNumber, crc: uint32, data: maybeBytes }),
      ({ crc, data, type }) =>
        Effect.sync(() => {
          const hand = RecordCodec.encodeRecord(type, crc, data)
          assert.strictEqual(hex(hand), hex(pbRecordBytes(type, crc, data)))
          assert.strictEqual(hand.length, RecordCodec.recordSize(type, crc, data === undefined ? -1 : data.length))
          const back = pbRecordDecode(hand)
          assert.strictEqual(back.type, BigInt(type))
          assert.strictEqual(back.crc, crc)
          assert.strictEqual(hex(back.data), hex(data))
        }),
      300
    ))

  it.effect("walpb.Record: the hand decoder reads protobufjs' bytes for any int64 type", () =>
    property(
      fc.record({ type: int64, crc: uint32, data: maybeBytes }),
      ({ crc, data, type }) =>
        Effect.sync(() => {
          const decoded = RecordCodec.decodeRecord(pbRecordBytes(type, crc, data))
          assert.strictEqual(decoded.type, type)
          assert.strictEqual(decoded.crc, crc)
          assert.strictEqual(hex(decoded.data), hex(data))
        }),
      300
    ))

  it.effect("raftpb.Entry: hand-encoded bytes equal protobufjs' bytes (u64 term/index beyond 2^53), both decoders agree", () =>
    property(
      fc.record({ type: entryType, term: u64, index: u64, data: maybeBytes }),
      ({ data, index, term, type }) =>
        Effect.sync(() => {
          const hand = RecordCodec.encodeEntry({ type, term, index, data })
          const pb = pbEntryBytes(type, term, index, data)
          assert.strictEqual(hex(hand), hex(pb))
          // protobufjs reads the hand bytes ...
          const viaPb = pbEntryDecode(hand)
          assert.deepStrictEqual(
            { type: viaPb.type, term: viaPb.term, index: viaPb.index, data: hex(viaPb.data) },
            { type, term, index, data: hex(data) }
          )
          // ... and the hand decoder reads protobufjs' bytes
          const viaHand = RecordCodec.decodeEntry(pb)
          assert.deepStrictEqual(
            { type: viaHand.type, term: viaHand.term, index: viaHand.index, data: hex(viaHand.data) },
            { type, term, index, data: hex(data) }
          )
        }),
      300
    ))

  it.effect("an entry record framed by the encoder decodes to the same entry and carries the CRC-32C of its data", () =>
    property(
      fc.record({ term: u64, index: u64, data: maybeBytes }),
      ({ data, index, term }) =>
        Effect.sync(() => {
          const entryBytes = RecordCodec.encodeEntry({ type: 0, term, index, data })
          const rec = RecordCodec.decodeRecord(RecordCodec.encodeRecord(2, 0x1234_5678, entryBytes))
          assert.strictEqual(rec.type, 2n)
          assert.strictEqual(rec.crc, 0x1234_5678)
          const e = RecordCodec.decodeEntry(rec.data!)
          assert.deepStrictEqual([e.term, e.index, hex(e.data)], [term, index, hex(data)])
        }),
      100
    ))
})

// ---------------------------------------------------------------------------------------------------------------
// (b) round trips

interface Written {
  readonly index: bigint
  readonly data: Uint8Array | undefined
}

const payload = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 6, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 500, maxLength: 1500 }) }
)

interface LogSpec {
  readonly segmentSizeBytes: number
  readonly batches: ReadonlyArray<{
    readonly payloads: ReadonlyArray<Uint8Array | undefined>
    readonly sync: boolean
    readonly snapshot: boolean
  }>
}

/**
 * Any segment size in [min, max] (preallocation is rounded up to a multiple of 8, so sizes that are not a multiple
 * of 8 work; see the regression case below).
 */
const segmentSize = (min: number, max: number) => fc.integer({ min, max })

const logSpec = (maxBatches: number): fc.Arbitrary<LogSpec> =>
  fc.record({
    segmentSizeBytes: segmentSize(256, 4096),
    batches: fc.array(
      fc.record({
        payloads: fc.array(payload, { minLength: 1, maxLength: 6 }),
        sync: fc.boolean(),
        snapshot: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })
      }),
      { minLength: 1, maxLength: maxBatches }
    )
  })

const writeSpec = (dir: string, spec: LogSpec) =>
  Effect.scoped(Effect.gen(function*() {
    const writer = yield* Wal.create(dir, { segmentSizeBytes: spec.segmentSizeBytes })
    const written: Array<Written> = []
    let index = 0n
    for (const b of spec.batches) {
      const entries = b.payloads.map((data) => ({ index: ++index, data }))
      yield* writer.save(entries, b.sync)
      written.push(...entries)
      if (b.snapshot) yield* writer.saveSnapshot({ index, term: 0n, confState: Proto.emptyConfState })
    }
    return written
  }))

const view = (entries: ReadonlyArray<{ readonly index: bigint; readonly data: Uint8Array | undefined }>) =>
  entries.map((e) => ({ index: e.index, data: hex(e.data) }))

const collect = (dir: string, from: bigint) => Stream.runCollect(Reader.entries(dir, from))

describe("Property: write/read round trips", () => {
  it.effect(
    "random batches (empty and absent payloads included) with random segment sizes read back exactly, from 0 and as a stream from any index",
    () =>
      property(
        fc.record({ spec: logSpec(12), fromPick: fc.nat() }),
        ({ fromPick, spec }) =>
          Effect.gen(function*() {
            const dir = Path.join(yield* tempDir, "wal")
            const written = yield* writeSpec(dir, spec)
            const n = written.length

            for (const mode of ["read", "write"] as const) {
              const r = yield* Reader.readAll(dir, { index: 0n, term: 0n }, { mode })
              assert.deepStrictEqual(view(r.entries), view(written))
              assert.isTrue(r.entries.every((e) => e.type === 0 && e.term === 0n))
              assert.strictEqual(r.end._tag, "Eof")
              assert.strictEqual(r.entryCount, n)
              assert.strictEqual(r.lastIndex, BigInt(n))
            }

            // segment names: consecutive sequence numbers; each segment's first entry is at or above its name index
            const names = segmentFiles(dir).map((s) => Segment.parseSegmentName(s)!)
            names.forEach((s, i) => assert.strictEqual(s.seq, BigInt(i)))
            assert.strictEqual(names[0]!.index, 0n)

            const from = BigInt((fromPick % (n + 1)) + 1) // 1 ..= n + 1
            const suffix = yield* collect(dir, from)
            assert.deepStrictEqual(view(suffix), view(written.slice(Number(from) - 1)))
          }),
        60
      )
  )

  it.effect("reopening at the newest snapshot record and appending continues the same log", () =>
    property(
      fc.record({ first: logSpec(5), second: logSpec(5) }),
      ({ first, second }) =>
        Effect.gen(function*() {
          const dir = Path.join(yield* tempDir, "wal")
          const written = yield* writeSpec(dir, first)
          const snaps = (yield* Reader.readAll(dir, { index: 0n, term: 0n }, { mode: "read" })).snapshots
          const start = snaps[snaps.length - 1]!
          const more = yield* Effect.scoped(Effect.gen(function*() {
            const { writer } = yield* Wal.openForWrite(dir, { index: start.index, term: start.term }, {
              segmentSizeBytes: second.segmentSizeBytes
            })
            const out: Array<Written> = []
            let index = writer.lastIndex()
            for (const b of second.batches) {
              const entries = b.payloads.map((data) => ({ index: ++index, data }))
              yield* writer.save(entries, b.sync)
              out.push(...entries)
            }
            return out
          }))
          const all = [...written, ...more]
          const r = yield* Reader.readAll(dir, { index: 0n, term: 0n }, { mode: "write" })
          assert.deepStrictEqual(view(r.entries), view(all))
          const fromSnap = yield* Reader.readAll(dir, { index: start.index, term: 0n }, { mode: "read" })
          assert.deepStrictEqual(view(fromSnap.entries), view(all.slice(Number(start.index))))
        }),
      40
    ))
})

describe("Regression: segment sizes that are not a multiple of 8", () => {
  it.effect(
    "a cleanly closed log written with a 265-byte segment size reopens for writing",
    () =>
      Effect.gen(function*() {
        const dir = Path.join(yield* tempDir, "wal")
        const tail = yield* Effect.scoped(Effect.gen(function*() {
          const writer = yield* Wal.create(dir, { segmentSizeBytes: 265 })
          yield* writer.save([1n, 2n, 3n, 4n].map((index) => ({ index, data: new Uint8Array(1) })), true)
          yield* writer.save([{ index: 5n, data: new Uint8Array(7) }], true)
          yield* writer.save([{ index: 6n, data: new Uint8Array(7) }], true)
          return writer.tailOffset()
        }))
        assert.strictEqual(tail, 264)
        assert.deepStrictEqual(segmentFiles(dir), [Segment.segmentName(0n, 0n)])
        const read = yield* Reader.readAll(dir, { index: 0n, term: 0n }, { mode: "read" })
        assert.strictEqual(read.entries.length, 6)
        assert.strictEqual(read.end._tag, "Eof")
        const write = yield* Reader.readAll(dir, { index: 0n, term: 0n }, { mode: "write" })
        assert.strictEqual(write.entryCount, 6)
      })
  )
})

// ---------------------------------------------------------------------------------------------------------------
// (c) damage

const READ_ERROR_TAGS = new Set([
  "CrcMismatch",
  "CrcRecordMismatch",
  "UnexpectedEof",
  "RecordDecodeError",
  "UnknownRecordType",
  "ConflictingMetadata",
  "SnapshotMismatch",
  "SnapshotNotFound",
  "IndexGap",
  "EntryOverwrite"
])

/** `got` must be a prefix of `written`: same indexes, same bytes, same presence of the data field. */
const assertPrefix = (got: ReadonlyArray<Written>, written: ReadonlyArray<Written>, what: string) => {
  assert.isAtMost(got.length, written.length, what)
  assert.deepStrictEqual(view(got), view(written.slice(0, got.length)), what)
}

const smallLog = fc.record({
  segmentSizeBytes: segmentSize(256, 1024),
  batches: fc.array(
    fc.record({
      payloads: fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 4 }),
      sync: fc.constant(true),
      snapshot: fc.constant(false)
    }),
    { minLength: 1, maxLength: 8 }
  )
})

/** Offset just after the last non-zero byte. */
const dataEnd = (b: Uint8Array): number => {
  let end = b.length
  while (end > 0 && b[end - 1] === 0) end--
  return end
}

describe("Property: damaged logs never yield different data", () => {
  it.effect(
    "one changed byte anywhere in any segment: the read fails with a typed error, or ends in a torn tail, or returns a prefix of the written entries with identical bytes",
    () =>
      property(
        fc.record({
          spec: smallLog,
          segPick: fc.nat(),
          bytePick: fc.nat(),
          inData: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
          mask: fc.integer({ min: 1, max: 255 })
        }),
        ({ bytePick, inData, mask, segPick, spec }) =>
          Effect.gen(function*() {
            const dir = Path.join(yield* tempDir, "wal")
            const written = yield* writeSpec(dir, spec)
            const segments = segmentFiles(dir)
            const seg = segments[segPick % segments.length]!
            const path = Path.join(dir, seg)
            const bytes = readBytes(path)
            const range = inData ? Math.max(1, dataEnd(bytes)) : bytes.length
            const at = bytePick % range
            bytes[at] = bytes[at]! ^ mask
            NFS.writeFileSync(path, bytes)
            const what = `${seg} byte ${at} ^ ${mask}`

            for (const mode of ["read", "write"] as const) {
              const r = yield* Effect.result(Reader.readAll(dir, { index: 0n, term: 0n }, { mode }))
              if (r._tag === "Failure") {
                assert.isTrue(READ_ERROR_TAGS.has(r.failure._tag), `${what}: ${r.failure._tag}`)
              } else {
                assertPrefix(r.success.entries, written, `${what} (${mode})`)
                if (mode === "write") assert.strictEqual(r.success.end._tag, "Eof")
              }
            }
            const got: Array<Written> = []
            const s = yield* Effect.result(
              Stream.runForEach(Reader.entries(dir, 1n), (e) => Effect.sync(() => void got.push(e)))
            )
            if (s._tag === "Failure") assert.isTrue(READ_ERROR_TAGS.has(s.failure._tag), `${what}: ${s.failure._tag}`)
            assertPrefix(got, written, `${what} (stream)`)
          }),
        100
      )
  )

  it.effect(
    "a last segment cut anywhere: read mode returns a prefix; write mode gives the same or UnexpectedEof; after Repair write mode opens with exactly the read-mode prefix",
    () =>
      property(
        fc.record({ spec: smallLog, cutPick: fc.nat() }),
        ({ cutPick, spec }) =>
          Effect.gen(function*() {
            const dir = Path.join(yield* tempDir, "wal")
            const written = yield* writeSpec(dir, spec)
            const segments = segmentFiles(dir)
            const last = Path.join(dir, segments[segments.length - 1]!)
            const end = dataEnd(readBytes(last))
            // keep the crc and metadata records (and in segment 0 the {0,0} snapshot record): a cut inside those
            // is covered by the corruption cases
            const header = segments.length === 1 ? 56 : 32
            const cut = header + (cutPick % Math.max(1, end - header + 1))
            truncateFile(last, Math.min(cut, fileSize(last)))

            const r = yield* Reader.readAll(dir, { index: 0n, term: 0n }, { mode: "read" })
            assertPrefix(r.entries, written, `cut at ${cut}`)
            const w = yield* Effect.result(Reader.readAll(dir, { index: 0n, term: 0n }, { mode: "write" }))
            if (w._tag === "Failure") {
              assert.strictEqual(w.failure._tag, "UnexpectedEof")
              assert.strictEqual(r.end._tag, "TornTail")
            } else {
              assert.strictEqual(r.end._tag, "Eof")
              assert.deepStrictEqual(view(w.success.entries), view(r.entries))
            }
            const repaired = yield* Repair.repair(dir)
            assert.strictEqual(repaired._tag, r.end._tag === "TornTail" ? "Repaired" : "Clean")
            const after = yield* Effect.scoped(Effect.map(
              Wal.openForWrite(dir, { index: 0n, term: 0n }),
              ({ read }) => read.entryCount
            ))
            assert.strictEqual(after, r.entries.length)
          }),
        60
      )
  )
})
