import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FSP from "node:fs/promises"
import * as OS from "node:os"
import * as Path from "node:path"
import { program } from "../src/basics/program.ts"

describe("examples/basics", () => {
  it.effect("writes, snapshots, reopens at the snapshot and reads every entry back", () =>
    Effect.gen(function*() {
      const root = yield* Effect.acquireRelease(
        Effect.promise(() => FSP.mkdtemp(Path.join(OS.tmpdir(), "binlog-ex-"))),
        (d) => Effect.promise(() => FSP.rm(d, { recursive: true, force: true }))
      )
      const seen = yield* program(Path.join(root, "wal"), Path.join(root, "snap"))
      assert.deepStrictEqual(seen.firstBatch, { first: 1n, last: 3n })
      assert.deepStrictEqual(seen.snapshot, {
        prevIndex: 0n,
        currentIndex: 3n,
        entries: ["open account 17", "deposit 100", "withdraw 30"]
      })
      assert.strictEqual(seen.snapshotIndexAfterReopen, 3n)
      assert.deepStrictEqual(seen.afterReopen.map((e) => e.data), [
        "open account 17",
        "deposit 100",
        "withdraw 30",
        "deposit 5"
      ])
    }))
})
