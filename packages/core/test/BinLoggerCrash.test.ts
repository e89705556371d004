import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as BinLogger from "../src/BinLogger.ts"
import { runCycles } from "./crash/cycle.ts"
import { check } from "./crash/verify.ts"
import { HARNESS, harnessAvailable, tempDir } from "./utils.ts"

const APPENDER = fileURLToPath(new URL("./crash/appender.ts", import.meta.url))

describe("BinLogger crash safety (child process killed with SIGKILL)", () => {
  it.live(
    "every acknowledged range survives 12 SIGKILLs, dense and in order, and etcd's reader accepts the log",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const walDir = Path.join(root, "wal")
        const snapDir = Path.join(root, "snap")
        const report = yield* Effect.promise(() => runCycles(walDir, snapDir, 12, 7))
        assert.isTrue(report.printedLines >= 12)
        const result = yield* check(walDir, snapDir, report.acknowledged)
        const highest = report.acknowledged.reduce((m, [, l]) => (l > m ? l : m), 0n)
        assert.isTrue(result.currentIndex >= highest, `current ${result.currentIndex} < acknowledged ${highest}`)
        assert.isTrue(result.checkedAcknowledged > 0)

        if (!harnessAvailable()) {
          if (process.env.CI) assert.fail(`CI is set but the etcd harness is not built at ${HARNESS}`)
          console.warn(`\n*** etcd interop check SKIPPED: harness not built at ${HARNESS} (run .ci/run) ***\n`)
          return
        }
        const out = ChildProcess.spawnSync(HARNESS, [
          "read",
          "--quiet",
          "--wal",
          walDir,
          "--snap",
          snapDir,
          "--check-writable"
        ], {
          encoding: "utf8",
          maxBuffer: 256 * 1024 * 1024
        })
        assert.strictEqual(out.status, 0, out.stderr)
        const lines = out.stdout.trim() === "" ? [] : out.stdout.trim().split("\n")
        const last = lines.length > 0
          ? BigInt(/"index":(\d+)/.exec(lines[lines.length - 1]!)![1]!)
          : result.snapshotIndex
        assert.strictEqual(last, result.currentIndex)
      }),
    120_000
  )
})

describe("BinLogger writer lock across processes", () => {
  it.live("a writer in another process makes a second writer fail with WalLocked; after it is SIGKILLed, start works", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const walDir = Path.join(root, "wal")
      const snapDir = Path.join(root, "snap")
      const child = ChildProcess.spawn(process.execPath, [APPENDER, walDir, snapDir, "5"], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      // wait for the first acknowledged batch ("<first> <last>"; log lines are not acknowledgements)
      yield* Effect.promise(() =>
        new Promise<void>((resolve) => {
          let text = ""
          child.stdout.on("data", (chunk: Buffer) => {
            text += chunk.toString("utf8")
            if (/^\d+ \d+$/m.test(text)) resolve()
          })
        })
      )
      const layer = () => Layer.fresh(BinLogger.layer({ walDir, snapDir, segmentSizeBytes: 65536 }))
      const locked = yield* Effect.flip(
        Effect.scoped(Effect.provide(BinLogger.BinLogger.use(() => Effect.void), layer()))
      )
      child.kill("SIGKILL")
      yield* Effect.promise(() => new Promise((resolve) => child.once("exit", resolve)))
      assert.strictEqual(locked._tag, "WalLocked")
      const current = yield* Effect.scoped(Effect.provide(BinLogger.BinLogger.use((log) => log.currentIndex), layer()))
      assert.isTrue(current > 0n)
    }))
})
