import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ChildProcess from "node:child_process"
import * as NFS from "node:fs"
import * as Path from "node:path"
import * as BinLogger from "../src/BinLogger.ts"
import * as Reader from "../src/Reader.ts"
import { tempDir } from "./utils.ts"

/** A tiny tmpfs (root only) where writes run out of space: a real ENOSPC from the kernel, no mocks. */
const smallFilesystem = (sizeKiB: number) =>
  Effect.acquireRelease(
    Effect.flatMap(tempDir, (dir) =>
      Effect.sync(() => {
        const r = ChildProcess.spawnSync("mount", ["-t", "tmpfs", "-o", `size=${sizeKiB}k`, "tmpfs", dir])
        return r.status === 0 ? dir : undefined
      })),
    (dir) => Effect.sync(() => dir && ChildProcess.spawnSync("umount", [dir]))
  )

describe("BinLogger: I/O failures stop the writer", () => {
  it.live("a write that fails (ENOSPC) stops the writer with WriterStopped; later calls fail too; nothing acknowledged is lost", () =>
    Effect.gen(function*() {
      const root = yield* smallFilesystem(384)
      if (root === undefined) {
        if (process.env.CI) assert.fail("CI is set but tmpfs cannot be mounted (needs root)")
        console.warn("\n*** ENOSPC fault test SKIPPED: cannot mount a tmpfs (needs root) ***\n")
        return
      }
      const walDir = Path.join(root, "wal")
      const snapDir = Path.join(root, "snap")
      const acknowledged: Array<bigint> = []
      const outcome = yield* Effect.scoped(
        Effect.gen(function*() {
          const log = yield* BinLogger.BinLogger
          const entry = new Uint8Array(4000).fill(1)
          let failure: unknown = undefined
          for (let i = 0; i < 1000 && failure === undefined; i++) {
            const r = yield* Effect.result(log.log([entry, entry]))
            if (r._tag === "Success") acknowledged.push(r.success.last)
            else failure = r.failure
          }
          const after = yield* Effect.flip(log.log([new Uint8Array(1)]))
          const current = yield* log.currentIndex
          return { failure, after, current }
        }).pipe(Effect.provide(Layer.fresh(BinLogger.layer({ walDir, snapDir, segmentSizeBytes: 64 * 1024 }))))
      )
      assert.strictEqual((outcome.failure as { _tag: string })._tag, "WriterStopped")
      assert.strictEqual(outcome.after._tag, "WriterStopped")
      const last = acknowledged[acknowledged.length - 1]!
      assert.isTrue(acknowledged.length > 0)
      // no index past the last acknowledged one was ever made visible, and every acknowledged entry is on disk
      assert.strictEqual(outcome.current, last)
      const r = yield* Reader.readAll(walDir, { index: 0n, term: 0n }, { mode: "read" })
      assert.isTrue(r.entryCount >= Number(last))
      const onDisk = yield* Stream.runCollect(Reader.entries(walDir, 1n, { to: last }))
      assert.strictEqual(onDisk.length, Number(last))
      assert.isTrue(NFS.existsSync(walDir))
    }))
})
