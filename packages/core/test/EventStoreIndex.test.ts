import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as NFS from "node:fs"
import * as Path from "node:path"
import protobuf from "protobufjs"
import * as BinLogger from "../src/BinLogger.ts"
import * as Crc32c from "../src/Crc32c.ts"
import * as EntryIndex from "../src/internal/eventstore/entryIndex.ts"
import * as Table from "../src/internal/eventstore/streamTable.ts"
import { storeLayer } from "./EventStore.utils.ts"
import { tempDir } from "./utils.ts"

/** The checkpoint as protobufjs' `Writer` encodes it (the documented message, fields in field-number order). */
const referenceCheckpointHex = (table: Table.StreamTable): string => {
  const w = protobuf.Writer.create()
  w.uint32(8).uint32(Table.CHECKPOINT_FORMAT)
  w.uint32(16).uint64(table.appliedTo)
  for (const [id, s] of table.streams) {
    w.uint32(26).fork()
    w.uint32(10).string(id)
    w.uint32(16).uint64(s.version)
    if (s.base > 0) w.uint32(24).uint64(s.base)
    const n = s.version - s.base
    if (n > 0) {
      w.uint32(34).fork()
      let prev = 0
      for (let i = 0; i < n; i++) {
        w.uint64(s.indexes[i]! - prev)
        prev = s.indexes[i]!
      }
      w.ldelim()
    }
    w.ldelim()
  }
  table.recent.forEach((eventId, streamId, version, index) => {
    w.uint32(34).fork()
    w.uint32(10).string(eventId)
    w.uint32(18).string(streamId)
    w.uint32(24).uint64(version)
    w.uint32(32).uint64(index)
    w.ldelim()
  })
  const body = w.finish()
  const crc = Buffer.alloc(4)
  crc.writeUInt32LE(Crc32c.checksum(body))
  return Buffer.concat([body, crc]).toString("hex")
}

const text = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)

describe("EventStore internals: positional reads", () => {
  it.effect("reads any set of indexes across segments, in the order asked, while the log grows", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* Effect.gen(function*() {
        const log = yield* BinLogger.BinLogger
        const index = yield* EntryIndex.make(Path.join(root, "wal"))
        for (let i = 1; i <= 400; i++) yield* log.log([text(`entry-${i}-${"z".repeat(i % 50)}`)])
        const asked = [1n, 400n, 17n, 17n, 250n, 2n, 399n]
        const got = yield* index.read(asked)
        assert.deepStrictEqual(got.map((e) => [e.index, dec(e.data).split("-")[1]]), asked.map((i) => [i, String(i)]))
        // the active segment keeps growing; later reads see the new entries
        for (let i = 401; i <= 450; i++) yield* log.log([text(`entry-${i}-`)])
        const more = yield* index.read([450n, 401n, 3n])
        assert.deepStrictEqual(more.map((e) => dec(e.data)), ["entry-450-", "entry-401-", `entry-3-zzz`])
        assert.isAbove(index.memoryBytes(), 0)
        // beyond what exists
        const missing = yield* Effect.flip(index.read([451n]))
        assert.include(["IndexUnavailable", "UnexpectedEof"], missing._tag)
      }).pipe(Effect.provide(storeLayer(root, { segmentSizeBytes: 4096 })))
    }))

  it.effect("offset tables of sealed segments are saved and reused after a restart (no rescan)", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const cache = Path.join(root, "offsets")
      yield* Effect.gen(function*() {
        const log = yield* BinLogger.BinLogger
        for (let i = 1; i <= 300; i++) yield* log.log([text(`entry-${String(i).padStart(4, "0")}-${"q".repeat(30)}`)])
        const index = yield* EntryIndex.make(Path.join(root, "wal"), cache)
        yield* index.read([1n, 150n, 300n])
      }).pipe(Effect.provide(storeLayer(root, { segmentSizeBytes: 4096 })))
      const saved = NFS.readdirSync(cache).filter((n) => n.endsWith(".idx"))
      assert.strictEqual(saved.length, 2) // the segments of entries 1 and 150; the active one is not saved
      // damage entry 2's payload in place: a rescan of its segment would fail its CRC chain at entry 2
      const walDir = Path.join(root, "wal")
      const file = NFS.readdirSync(walDir).filter((n) => n.endsWith(".wal")).sort()
        .map((n) => Path.join(walDir, n)).find((p) => NFS.readFileSync(p).includes(Buffer.from("entry-0002")))!
      const bytes = NFS.readFileSync(file)
      bytes[bytes.indexOf(Buffer.from("entry-0002")) + 9] ^= 0x01
      NFS.writeFileSync(file, bytes)
      const index = yield* EntryIndex.make(walDir, cache)
      const [e3] = yield* index.read([3n])
      assert.strictEqual(dec(e3!.data).slice(0, 10), "entry-0003")
      const bad = yield* Effect.flip(index.read([2n]))
      assert.strictEqual(bad._tag, "CrcMismatch")
      // without the saved tables the same read must scan and meets the damage first
      const cold = yield* EntryIndex.make(walDir)
      assert.strictEqual((yield* Effect.flip(cold.read([3n])))._tag, "CrcMismatch")
    }))

  it.effect("a purged segment answers IndexUnavailable", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* Effect.gen(function*() {
        const log = yield* BinLogger.BinLogger
        const index = yield* EntryIndex.make(Path.join(root, "wal"))
        for (let i = 1; i <= 200; i++) yield* log.log([text(`e${i}-${"p".repeat(40)}`)])
        yield* Effect.flatMap(log.createSnapshot, (lease) =>
          Option.isSome(lease) ? lease.value.release(true) : Effect.void)
        const gone = yield* Effect.flip(index.read([1n]))
        assert.strictEqual(gone._tag, "IndexUnavailable")
        const [last] = yield* index.read([200n])
        assert.strictEqual(dec(last!.data).split("-")[0], "e200")
      }).pipe(Effect.provide(storeLayer(root, { segmentSizeBytes: 4096 })))
    }))
})

describe("EventStore internals: stream table", () => {
  it("records versions, rejects gaps, and round-trips through a checkpoint (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 0, max: 40 }),
        (streams, window) => {
          const t = new Table.StreamTable(window)
          streams.forEach((s, i) => {
            assert.isUndefined(t.record(`s${s}`, t.version(`s${s}`) + 1, i + 1, `id-${i}`))
          })
          const s0 = `s${streams[0]}`
          assert.isDefined(t.record(s0, t.version(s0) + 2, streams.length + 1, "x"))
          const back = Table.decodeCheckpoint(Table.encodeCheckpoint(t), window)
          assert.strictEqual(back.appliedTo, t.appliedTo)
          for (const [id, st] of t.streams) {
            assert.deepStrictEqual(back.indexesOf(id, 1, st.version), t.indexesOf(id, 1, st.version))
          }
          const ids = (x: Table.StreamTable) => {
            const out: Array<[string, string, number, number]> = []
            x.recent.forEach((id, streamId, version, index) => out.push([id, streamId, version, index]))
            return out
          }
          assert.deepStrictEqual(ids(back), ids(t))
          assert.strictEqual(t.recent.size, Math.min(window, streams.length))
          // the newest ids are the remembered ones
          for (let i = Math.max(0, streams.length - window); i < streams.length; i++) {
            assert.isTrue(back.recent.has(`id-${i}`))
          }
        }
      ),
      { numRuns: 100 }
    )
  })

  it("the hand-driven checkpoint encoder writes protobufjs' bytes for any table (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.oneof(fc.constantFrom("s", "é", "😀x", "s".repeat(200)), fc.string({ maxLength: 12, unit: "binary" })),
            fc.oneof(fc.uuid(), fc.string({ maxLength: 40, unit: "binary" }), fc.constant(""))
          ),
          { minLength: 1, maxLength: 200 }
        ),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (events, window, gap) => {
          const t = new Table.StreamTable(window)
          events.forEach(([stream, id], i) => {
            t.record(stream, t.version(stream) + 1, i === events.length - 1 ? gap + i : i + 1, id)
          })
          // a stream whose first events are gone (base > 0), as after a purge
          t.record("purged", 41, gap + events.length + 5, "")
          assert.strictEqual(Buffer.from(Table.encodeCheckpoint(t)).toString("hex"), referenceCheckpointHex(t))
        }
      ),
      { numRuns: 200 }
    )
  })

  it("a full checkpoint plus the deltas written after it rebuild the live table exactly (property)", () => {
    /** Everything a table holds, comparable. */
    const contents = (x: Table.StreamTable) => {
      const streams: Array<[string, number, number, Array<number>]> = []
      for (const [id, st] of x.streams) streams.push([id, st.version, st.base, x.indexesOf(id, 1, st.version)])
      streams.sort((a, b) => (a[0] < b[0] ? -1 : 1))
      const ids: Array<[string, string, number, number]> = []
      x.recent.forEach((id, streamId, version, index) => ids.push([id, streamId, version, index]))
      return { appliedTo: x.appliedTo, events: x.events, streams, ids, size: x.recent.size }
    }
    fc.assert(
      fc.property(
        // rounds of events (stream number, id kind), with a checkpoint after each round
        fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: 8 }), fc.boolean()), { maxLength: 40 }), {
          minLength: 1,
          maxLength: 6
        }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 3 }),
        (rounds, window, purgedBase) => {
          const live = new Table.StreamTable(window)
          let index = 0
          // a stream whose first events are gone, as after a purge (its base is carried by the checkpoints)
          if (purgedBase > 0) live.record("purged", purgedBase + 1, ++index, "")
          const full = Table.encodeCheckpoint(live)
          live.newEpoch()
          const files: Array<Uint8Array> = []
          const start = live.appliedTo
          let since = start
          for (const round of rounds) {
            for (const [n, uuid] of round) {
              const stream = n === 8 && purgedBase > 0 ? "purged" : `s${n}`
              ++index
              live.record(stream, live.version(stream) + 1, index, uuid ? crypto.randomUUID() : `id-${index}`)
            }
            files.push(Table.encodeDelta(live, since))
            since = live.appliedTo
            live.newEpoch()
          }
          const back = Table.decodeCheckpoint(full, window)
          for (const f of files) assert.isUndefined(Table.applyDelta(back, f))
          assert.deepStrictEqual(contents(back), contents(live))
          back.compact()
          assert.deepStrictEqual(contents(back), contents(live))
          for (const st of back.streams.values()) assert.isAtMost(st.indexes.length, st.version - st.base + 4)
          // the first delta again (it continues `start`, the table has moved on) is refused and changes nothing
          if (back.appliedTo !== start) {
            const before = contents(back)
            assert.isDefined(Table.applyDelta(back, files[0]!))
            assert.deepStrictEqual(contents(back), before)
          }
        }
      ),
      { numRuns: 150 }
    )
  })

  it("a delta is refused when a stream does not continue from its version, and the table is unchanged", () => {
    const a = new Table.StreamTable(10)
    a.record("s", 1, 1, "a1")
    a.newEpoch()
    a.record("s", 2, 2, "a2")
    const delta = Table.encodeDelta(a, 1)
    const b = new Table.StreamTable(10)
    b.record("s", 1, 1, "b1")
    b.record("s", 2, 2, "b2")
    b.appliedTo = 1
    const why = Table.applyDelta(b, delta)
    assert.match(why ?? "", /continues from version 1, the table has 2/)
    assert.strictEqual(b.version("s"), 2)
    assert.isTrue(b.recent.has("b2"))
    assert.isFalse(b.recent.has("a2"))
    assert.match(Table.applyDelta(b, Table.encodeCheckpoint(a)) ?? "", /a full checkpoint/)
    assert.throws(() => Table.decodeCheckpoint(delta, 10), /delta/)
    assert.strictEqual(Table.parseDeltaName(Table.deltaName(300)), 300)
    assert.isUndefined(Table.parseCheckpointName(Table.deltaName(300)))
  })

  it("a delta's size follows the events since the last checkpoint, not the table's", () => {
    const t = new Table.StreamTable(100)
    for (let i = 1; i <= 50_000; i++) t.record(`s${i % 500}`, t.version(`s${i % 500}`) + 1, i, "")
    t.newEpoch()
    for (let i = 50_001; i <= 50_100; i++) t.record(`s${i % 500}`, t.version(`s${i % 500}`) + 1, i, `id-${i}`)
    const full = Table.encodeCheckpoint(t).length
    const delta = Table.encodeDelta(t, 50_000).length
    assert.isAbove(full, 100_000)
    assert.isBelow(delta, 10_000)
  })

  it("a checkpoint with a flipped byte is rejected (CRC), never misread", () => {
    const t = new Table.StreamTable(10)
    for (let i = 1; i <= 20; i++) t.record(`s${i % 3}`, t.version(`s${i % 3}`) + 1, i, `id${i}`)
    const bytes = Table.encodeCheckpoint(t)
    for (let k = 0; k < bytes.length; k += 7) {
      const bad = bytes.slice()
      bad[k] ^= 0x10
      assert.isTrue(Result.isFailure(Result.try(() => Table.decodeCheckpoint(bad, 10))), `byte ${k}`)
    }
    assert.strictEqual(Table.parseCheckpointName(Table.checkpointName(300)), 300)
  })
})
