// The segment pipeline's zero-fill: the pending file written with zeros on request, never written after it is taken,
// and the WAL asking for it only while its durable writes are small.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NFS from "node:fs"
import * as Path from "node:path"
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
