// The segment pipeline's zero-fill (the pending file written with zeros on request, never written after it is taken,
// and the WAL asking for it only while its durable writes are small), and the writer's seek points.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as NFS from "node:fs"
import * as Path from "node:path"
import * as Reader from "../src/Reader.ts"
import * as SegmentPipeline from "../src/SegmentPipeline.ts"
import * as Wal from "../src/Wal.ts"
import { tempDir } from "./utils.ts"

const MiB = 1 << 20

/** Waits (polling) until `done()` holds; fails after `limitMs`. */
const waitUntil = (done: () => boolean, limitMs = 20_000) =>
  Effect.gen(function*() {
    const until = Date.now() + limitMs
    while (!done()) {
      if (Date.now() > until) return yield* Effect.die(new Error("condition not reached"))
      yield* Effect.sleep("10 millis")
    }
  })

const isAllZero = (bytes: Uint8Array) => bytes.every((b) => b === 0)

describe("SegmentPipeline: zero-fill", () => {
  it.live("a requested zero-fill writes the whole pending file with zeros before it is taken", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.scoped(Effect.gen(function*() {
        const pipeline = yield* SegmentPipeline.make(dir, 3 * MiB + 4096)
        pipeline.requestZeroFill(true)
        yield* waitUntil(pipeline.pendingZeroFilled)
        const file = yield* pipeline.take
        assert.isTrue(file.zeroFilled)
        const bytes = NFS.readFileSync(file.path)
        assert.strictEqual(bytes.length, 3 * MiB + 4096)
        assert.isTrue(isAllZero(bytes))
        NFS.closeSync(file.fd)
        // asked once, the next files are zero-filled too
        yield* waitUntil(pipeline.pendingZeroFilled)
        pipeline.requestZeroFill(false)
        const next = yield* pipeline.take
        assert.isTrue(next.zeroFilled)
        NFS.closeSync(next.fd)
        // not asked any more: the file after is only preallocated
        const last = yield* pipeline.take
        assert.isFalse(last.zeroFilled)
        NFS.closeSync(last.fd)
      }))
    }))

  it.live("a take stops a running zero-fill: nothing is written to the file once it is handed over", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      for (const delayMs of [0, 1, 5, 20]) {
        yield* Effect.scoped(Effect.gen(function*() {
          const pipeline = yield* SegmentPipeline.make(Path.join(dir), 48 * MiB)
          pipeline.requestZeroFill(true)
          if (delayMs > 0) yield* Effect.sleep(`${delayMs} millis`)
          const file = yield* pipeline.take
          // taken at once, the zero-fill was stopped after its first piece (later ones may have finished it)
          if (delayMs === 0) assert.isFalse(file.zeroFilled, "a take right away stops the zero-fill")
          // what the writer would write next: markers early and late in the file
          const marker = Buffer.from("segment data, not zeros")
          for (const at of [0, 40 * MiB]) NFS.writeSync(file.fd, marker, 0, marker.length, at)
          yield* Effect.sleep("150 millis")
          for (const at of [0, 40 * MiB]) {
            const back = Buffer.alloc(marker.length)
            NFS.readSync(file.fd, back, 0, back.length, at)
            assert.strictEqual(back.toString(), marker.toString(), `overwritten at ${at} (delay ${delayMs} ms)`)
          }
          NFS.closeSync(file.fd)
        }))
      }
    }))
})

describe("Wal: zero-filled segments for small durable writes", () => {
  const run = (entryBytes: number, entries: number) =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      return yield* Effect.scoped(Effect.gen(function*() {
        const w = yield* Wal.create(Path.join(dir, "wal"), { segmentSizeBytes: 2 * MiB, dsync: true })
        const data = new Uint8Array(entryBytes).fill(7)
        for (let i = 1; i <= entries; i++) {
          yield* w.saveBatches(BigInt(i), [[data]], true)
          // give the pipeline time to zero-fill once the writer has asked (after its first 64 writes)
          if (i === 100) yield* Effect.sleep("500 millis")
        }
        return { zeroFilled: w.zeroFilledSegments(), segments: w.segments().length }
      }))
    })

  it.live("small writes: the next segments are zero-filled", () =>
    Effect.gen(function*() {
      const small = yield* run(4096, 1200)
      assert.isAtLeast(small.segments, 2)
      assert.isAtLeast(small.zeroFilled, 1)
    }))

  it.live("large writes: segments are only preallocated (zero-filling would write each segment twice)", () =>
    Effect.gen(function*() {
      const large = yield* run(200 * 1024, 100)
      assert.isAtLeast(large.segments, 5)
      assert.strictEqual(large.zeroFilled, 0)
    }))
})

describe("Wal: seek points (reads of recent entries begin near them)", () => {
  const collect = (dir: string, from: bigint, options: Reader.EntriesOptions) =>
    Stream.runCollect(Reader.entries(dir, from, options)).pipe(
      Effect.map((es) => es.map((e) => `${e.index}:${Buffer.from(e.data ?? new Uint8Array(0)).toString("hex")}`))
    )

  it.live("a read begun at the writer's seek point returns exactly what a read from the segment start returns", () =>
    Effect.gen(function*() {
      for (const direct of [false, true]) {
        const dir = Path.join(yield* tempDir, "wal")
        yield* Effect.scoped(Effect.gen(function*() {
          const w = yield* Wal.create(dir, { segmentSizeBytes: 64 * 1024, dsync: true, direct })
          let next = 1n
          let seed = 7
          const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
          // groups of 1 to 600 entries of 0 to 300 bytes: many segments, seek points in most of them
          for (let g = 0; g < 60; g++) {
            const count = 1 + random(600)
            const batch = Array.from({ length: count }, () => new Uint8Array(random(300)).fill(random(256)))
            yield* w.saveBatches(next, [batch], true)
            next += BigInt(count)
          }
          const last = next - 1n
          assert.isAbove(w.segments().length, 10)
          let seeked = 0
          for (let from = 1n; from <= last; from += BigInt(1 + random(97))) {
            const span = BigInt(random(700))
            const to = from + span > last ? last : from + span
            const start = w.seekPoint(from)
            if (start !== undefined) {
              assert.isTrue(start.index <= from)
              seeked++
            }
            const plain = yield* collect(dir, from, { to }).pipe(
              Effect.mapError((e) => new Error(`plain read ${from}..${to}: ${e.message}`))
            )
            const fromPoint = yield* collect(dir, from, { to, start }).pipe(
              Effect.mapError((e) =>
                new Error(
                  `read ${from}..${to} from ${JSON.stringify({ ...start, index: String(start?.index) })}: ${e.message}`
                )
              )
            )
            assert.deepStrictEqual(fromPoint, plain, `from ${from} to ${to} (direct ${direct})`)
            assert.strictEqual(plain.length, Number(to - from) + 1)
          }
          assert.isAbove(seeked, 100)
        }))
      }
    }))

  it.live("a seek point of another segment is ignored; a wrong offset never yields other entries", () =>
    Effect.gen(function*() {
      const dir = Path.join(yield* tempDir, "wal")
      yield* Effect.scoped(Effect.gen(function*() {
        const w = yield* Wal.create(dir, { segmentSizeBytes: 64 * 1024, dsync: true })
        const data = new Uint8Array(100).fill(1)
        for (let i = 0; i < 40; i++) yield* w.saveBatches(BigInt(i * 300 + 1), [Array(300).fill(data)], true)
        const point = w.seekPoint(6000n)!
        assert.isDefined(point)
        // a point of an older segment for a later read: ignored, the read is whole
        const later = w.segments()[w.segments().length - 1]!.index + 5n
        const whole = yield* collect(dir, later, { to: later + 10n, start: point })
        assert.deepStrictEqual(
          whole.map((e) => e.split(":")[0]),
          Array.from({ length: 11 }, (_, i) => String(later + BigInt(i)))
        )
        // a point 8 bytes off: the read fails or ends early, but never hands out entries other than those asked for
        const off = yield* Effect.result(
          collect(dir, 6000n, { to: 6010n, start: { ...point, offset: point.offset + 8 } })
        )
        if (off._tag === "Success") {
          for (const e of off.success) assert.isTrue(Number(e.split(":")[0]) >= 6000 && Number(e.split(":")[0]) <= 6010)
        }
      }))
    }))
})
