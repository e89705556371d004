import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as BinLogger from "../src/BinLogger.ts"
import { HARNESS, harnessAvailable, tempDir, text } from "./utils.ts"

const harness = (args: ReadonlyArray<string>, input?: string) => {
  const r = ChildProcess.spawnSync(HARNESS, args, {
    encoding: "utf8",
    input,
    maxBuffer: 64 * 1024 * 1024
  })
  if (r.status !== 0) throw new Error(`etcdwal ${args.join(" ")} failed: ${r.stderr}`)
  return r.stdout
}

const harnessEntries = (out: string) =>
  out.trim() === "" ? [] : out.trim().split("\n").map((l) => {
    const o = JSON.parse(l) as { data: string }
    return { index: BigInt(/"index":(\d+)/.exec(l)![1]!), data: Buffer.from(o.data, "base64").toString("utf8") }
  })

const b64 = (s: string) => Buffer.from(s).toString("base64")

const available = harnessAvailable()
if (!available) {
  if (process.env.CI) throw new Error(`CI is set but the etcd harness is not built at ${HARNESS}`)
  console.warn(`\n*** BinLogger/etcd interop tests SKIPPED: harness not built at ${HARNESS} (run .ci/run) ***\n`)
}

describe.skipIf(!available)("BinLogger interop with etcd's own wal/snap code (go-binlogger's files)", () => {
  it.effect("a directory written by go-binlogger's call sequence (etcdwal write --snapshot) opens and continues", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const walDir = Path.join(root, "wal")
      const snapDir = Path.join(root, "snap")
      // 12 entries, snapshot at 12 (…000c.snap: a name go-binlogger itself cannot parse), then 3 more
      harness(
        ["write", "--quiet", "--wal", walDir, "--snap", snapDir, "--batch", "4", "--snapshot"],
        Array.from({ length: 12 }, (_, i) => b64(`go ${i + 1}`)).join("\n") + "\n"
      )
      harness(
        ["write", "--quiet", "--wal", walDir, "--snap", snapDir],
        ["go 13", "go 14", "go 15"].map(b64).join("\n") + "\n"
      )
      const seen = yield* Effect.scoped(
        Effect.gen(function*() {
          const log = yield* BinLogger.BinLogger
          const snapIndex = yield* log.snapshotIndex
          const lease = Option.getOrThrow(yield* log.createSnapshot)
          const leased = (yield* lease.entriesArray).map((e) => new TextDecoder().decode(e.data))
          yield* lease.release(true)
          const next = yield* log.log([text("ts 16")])
          return { snapIndex, prev: lease.prevIndex, leased, next }
        }).pipe(Effect.provide(Layer.fresh(BinLogger.layer({ walDir, snapDir }))))
      )
      assert.deepStrictEqual(seen.snapIndex, 12n)
      assert.deepStrictEqual(seen.prev, 12n)
      assert.deepStrictEqual(seen.leased, ["go 13", "go 14", "go 15"])
      assert.deepStrictEqual(seen.next, { first: 16n, last: 16n })
      // and etcd reads what we added, from the snapshot we released, in write mode too
      const out = harnessEntries(harness(["read", "--quiet", "--wal", walDir, "--snap", snapDir, "--check-writable"]))
      assert.deepStrictEqual(out, [{ index: 16n, data: "ts 16" }])
    }))

  it.effect("a directory written by the BinLogger (groups, snapshots, several segments) is read by etcd, and go-binlogger's writer continues it", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const walDir = Path.join(root, "wal")
      const snapDir = Path.join(root, "snap")
      yield* Effect.scoped(
        Effect.gen(function*() {
          const log = yield* BinLogger.BinLogger
          yield* Effect.all(Array.from({ length: 40 }, (_, i) => log.log([text(`ts ${i}-a`), text(`ts ${i}-b`)])), {
            concurrency: 8
          })
          yield* Effect.flatMap(log.createSnapshot, (l) => Option.getOrThrow(l).release(true))
          yield* log.log([text("after snapshot")])
        }).pipe(Effect.provide(Layer.fresh(BinLogger.layer({ walDir, snapDir, segmentSizeBytes: 1024, purge: false }))))
      )
      const fromZero = harnessEntries(harness(["read", "--quiet", "--wal", walDir, "--from", "0", "--check-writable"]))
      assert.strictEqual(fromZero.length, 81)
      assert.deepStrictEqual(fromZero.map((e) => e.index), Array.from({ length: 81 }, (_, i) => BigInt(i + 1)))
      assert.strictEqual(fromZero[80]!.data, "after snapshot")
      const fromSnap = harnessEntries(
        harness(["read", "--quiet", "--wal", walDir, "--snap", snapDir, "--check-writable"])
      )
      assert.deepStrictEqual(fromSnap, [{ index: 81n, data: "after snapshot" }])
      // etcd's writer (as go-binlogger) appends; we read everything back
      harness(["write", "--quiet", "--wal", walDir, "--snap", snapDir, "--segment-size", "1024"], b64("from go") + "\n")
      const all = yield* Effect.scoped(
        Effect.gen(function*() {
          const log = yield* BinLogger.BinLogger
          return yield* Stream.runCollect(log.read(1n))
        }).pipe(Effect.provide(Layer.fresh(BinLogger.layer({ walDir, snapDir, segmentSizeBytes: 1024, purge: false }))))
      )
      assert.strictEqual(all.length, 82)
      assert.strictEqual(new TextDecoder().decode(all[81]!.data), "from go")
    }))
})
