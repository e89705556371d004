// The projection commands, mounted in the example's own binary (src/rebuild/cli.ts) and in the core `binlog`
// binary (generic, reading the sink's tables), tested by spawning them on a seeded directory.
import * as Poison from "@binlog/projections/Poison"
import * as Projection from "@binlog/projections/Projection"
import * as SnapshotRunner from "@binlog/projections/SnapshotRunner"
import * as SqlSink from "@binlog/projections/SqlSink"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as FSP from "node:fs/promises"
import * as OS from "node:os"
import * as Path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { fileURLToPath } from "node:url"
import { movements, onHand } from "../src/rebuild/events.ts"
import { appendAll, layer, paths } from "../src/rebuild/program.ts"
import { stockLevels } from "../src/rebuild/projection.ts"

const CLI = fileURLToPath(new URL("../src/rebuild/cli.ts", import.meta.url))
const BINLOG = fileURLToPath(new URL("../../core/src/bin.ts", import.meta.url))

const tempRoot = Effect.acquireRelease(
  Effect.promise(() => FSP.mkdtemp(Path.join(OS.tmpdir(), "binlog-rebuild-cli-"))),
  (d) => Effect.promise(() => FSP.rm(d, { recursive: true, force: true }))
)

const exec = (file: string, args: ReadonlyArray<string>) =>
  Effect.sync(() => {
    const r = ChildProcess.spawnSync(process.execPath, [file, ...args], { encoding: "utf8" })
    return { code: r.status, stdout: r.stdout, stderr: r.stderr }
  })

const cli = (root: string, ...args: ReadonlyArray<string>) => exec(CLI, [root, "projections", ...args])

/** v1 of the stock projection, failing on one entry (parked by the policy). */
const failingOn = (index: bigint) => {
  const p = stockLevels(1)
  return Projection.fromParts({
    name: p.name,
    version: p.version,
    setup: p.setup,
    prepare: p.prepare,
    eventTypeOf: p.eventTypeOf,
    timestampOf: p.timestampOf,
    begin: (client) => {
      const work = p.begin(client)
      return {
        apply: (entry, prepared, info) =>
          entry.index === index
            ? Effect.fail(new Error("v1 cannot handle this one"))
            : work.apply(entry, prepared, info),
        end: work.end
      }
    }
  })
}

describe("examples/rebuild cli", () => {
  it.live("list, parked, replay-parked, rebuild, cutover and drop-old work from the example's binary", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const ms = movements(400, 6, 3)
      // seed: the service appended 400 movements and ran v1, which parked entry 7
      const last = yield* Effect.gen(function*() {
        const sink = yield* SqlSink.sqlite({ filename: paths(root).database })
        const runner = yield* SnapshotRunner.make({
          projections: [Poison.withPolicy(Projection.bind(failingOn(7n), sink), Poison.park())]
        })
        const last = yield* appendAll(ms)
        yield* runner.awaitReleased(last)
        return last
      }).pipe(Effect.scoped, Effect.provide(layer(root)))

      const list = yield* cli(root, "list")
      assert.strictEqual(list.code, 0, list.stderr)
      assert.match(list.stdout, new RegExp(`^stock\\s+1\\s+${last}\\s+running\\s+1$`, "m"))

      const parked = yield* cli(root, "parked", "--format", "json")
      assert.strictEqual(parked.code, 0, parked.stderr)
      const rows = JSON.parse(parked.stdout) as Array<{ index: string; reason: string; error: string }>
      assert.deepStrictEqual(rows.map((r) => [r.index, r.reason]), [["7", "failed"]])
      assert.include(rows[0]!.error, "v1 cannot handle this one")

      const replay = yield* cli(root, "replay-parked", "stock", "--version", "1")
      assert.strictEqual(replay.code, 0, replay.stderr)
      assert.include(replay.stdout, "replayed 7")
      assert.strictEqual(JSON.parse((yield* cli(root, "parked", "--format", "json")).stdout).length, 0)

      const rebuild = yield* cli(root, "rebuild", "stock")
      assert.strictEqual(rebuild.code, 0, rebuild.stderr)
      assert.include(rebuild.stdout, `rebuild stock v2: caught up at ${last}`)

      const status = yield* cli(root, "status", "stock", "--format", "json")
      assert.strictEqual(status.code, 0, status.stderr)
      const states = (JSON.parse(status.stdout) as Array<{ version: number; state: string; lag: string }>)
        .map((r) => [r.version, r.state, r.lag])
      assert.deepStrictEqual(states, [[1, "running", "0"], [2, "running", "0"]])

      const cutover = yield* cli(root, "cutover", "stock")
      assert.strictEqual(cutover.code, 0, cutover.stderr)
      assert.include(cutover.stdout, "v2 is active (was v1)")
      const after = yield* cli(root, "list", "--format", "json")
      assert.deepStrictEqual(
        (JSON.parse(after.stdout) as Array<{ version: number; state: string }>).map((r) => [r.version, r.state]),
        [[1, "previous"], [2, "active"]]
      )

      const drop = yield* cli(root, "drop-old", "stock")
      assert.strictEqual(drop.code, 0, drop.stderr)
      assert.include(drop.stdout, "v1 dropped")

      // the view serves v2: the fold of every movement
      const db = new DatabaseSync(paths(root).database, { readOnly: true })
      const served = db.prepare("SELECT sku, on_hand FROM stock ORDER BY sku").all()
      db.close()
      assert.deepStrictEqual(served.map((r) => ({ ...r })), onHand(ms))

      // the generic command of the core binary reads the same tables
      const generic = yield* exec(BINLOG, ["projections", "list", "--sqlite", paths(root).database])
      assert.strictEqual(generic.code, 0, generic.stderr)
      assert.match(generic.stdout, new RegExp(`^stock\\s+2\\s+${last}\\s+active\\s+0$`, "m"))

      // `binlog stat --sqlite` names the holds the sink's projections place (a v3 being rebuilt, as an example)
      const rw = new DatabaseSync(paths(root).database)
      rw.prepare(
        "INSERT INTO binlog_projection_checkpoints (projection, version, position, updated_at_ms) VALUES ('stock', 3, 10, 0)"
      ).run()
      rw.close()
      const stat = yield* exec(BINLOG, [
        "stat",
        "--wal",
        paths(root).walDir,
        "--snap",
        paths(root).snapDir,
        "--sqlite",
        paths(root).database,
        "--format",
        "json"
      ])
      assert.strictEqual(stat.code, 0, stat.stderr)
      const holds = (JSON.parse(stat.stdout) as { retention: { holds: Array<{ name: string; index: string }> } })
        .retention.holds
      assert.deepStrictEqual(holds, [
        { name: "projection:stock:v2", index: String(last + 1n) },
        { name: "rebuild stock v3", index: "11" }
      ])

      const unknown = yield* cli(root, "rebuild", "nope")
      assert.notStrictEqual(unknown.code, 0)
      assert.include(unknown.stderr, "unknown projection nope")
    }))
})
