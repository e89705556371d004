import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FSP from "node:fs/promises"
import * as OS from "node:os"
import * as Path from "node:path"
import { BEFORE, DURING, program } from "../src/rebuild/program.ts"
import { LOW_STOCK_UNITS } from "../src/rebuild/projection.ts"

const tempRoot = Effect.acquireRelease(
  Effect.promise(() => FSP.mkdtemp(Path.join(OS.tmpdir(), "binlog-rebuild-test-"))),
  (d) => Effect.promise(() => FSP.rm(d, { recursive: true, force: true }))
)

describe("examples/rebuild", () => {
  it.live("v2 rebuilt from the archive and the live log while events arrive serves the fold of every event after cutover", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const o = yield* program(root)
      // part of the log came from the archive: the live log no longer starts at 1
      assert.isAbove(Number(o.firstLiveIndex), 1)
      assert.isAbove(o.archivedSegments, 0)
      // v1's bug was visible
      assert.isAbove(o.v1Wrong.length, 0)
      assert.isTrue(o.v1Wrong.every((w) => w.served !== w.truth))
      // the rebuild held the live log while it ran
      assert.isTrue(o.holdsDuringRebuild.some((h) => h.startsWith("rebuild stock v2 @")))
      // every event, including the ones appended during the rebuild
      assert.isAtLeast(Number(o.last), BEFORE + 1)
      assert.isAtMost(Number(o.last), BEFORE + DURING)
      assert.strictEqual(o.activeVersion, 2)
      assert.deepStrictEqual(o.served.map((r) => ({ ...r })), o.expected)
      // alerts only for real low stock, never for replays of what v1 had handled
      assert.isTrue(o.alerts.every((a) => a.onHand < LOW_STOCK_UNITS))
      assert.isBelow(o.alerts.length, 200)
      assert.deepStrictEqual(o.tables, ["stock_v2"])
    }))
})
