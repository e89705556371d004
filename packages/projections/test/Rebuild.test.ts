// Rebuilds: a new version built from index 1 — partly from the archive after purge — into new tables while the
// serving version keeps up with live appends, side effects suppressed below the serving version's checkpoint,
// cutover in one transaction, drop of the old version; on SQLite and PostgreSQL.
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import * as NFS from "node:fs"
import * as Path from "node:path"
import * as Projection from "../src/Projection.ts"
import * as Rebuild from "../src/Rebuild.ts"
import type * as Sink from "../src/Sink.ts"
import * as SnapshotRunner from "../src/SnapshotRunner.ts"
import { appendEvents, bankEvents, foldBalances, readBalances, sqlBalances, tempDir } from "./utils/fixtures.ts"
import { withLog } from "./utils/harness.ts"
import { type Cluster, skipPostgres, startCluster } from "./utils/postgres.ts"
import { postgres, sqlite, type Variant } from "./utils/variants.ts"

const skipPg = skipPostgres()
let cluster: Cluster | undefined
beforeAll(async () => {
  if (!skipPg) cluster = await startCluster({ durability: "fast" })
}, 60_000)
afterAll(() => cluster?.stop())

/** Records, for the v2 projection, which indexes ran with side effects on. */
const recordingSideEffects =
  (seen: Map<bigint, boolean>) =>
  <C>(p: Projection.Projection<C, unknown, never>): Projection.Projection<C, unknown, never> =>
    Projection.fromParts({
      name: p.name,
      version: p.version,
      setup: p.setup,
      timestampOf: p.timestampOf,
      eventTypeOf: p.eventTypeOf,
      prepare: p.prepare,
      begin: (client) => {
        const work = p.begin(client)
        return {
          apply: (entry, prepared, info) =>
            Effect.andThen(
              Effect.sync(() => seen.set(entry.index, info?.sideEffects ?? true)),
              work.apply(entry, prepared, info)
            ),
          end: work.end
        }
      }
    })

const viewSwitch = (sql: SqlClient.SqlClient) =>
  Effect.andThen(sql`DROP VIEW IF EXISTS balances`, sql`CREATE VIEW balances AS SELECT * FROM balances_v2`)

for (
  const [variant, skip] of [[sqlite, false], [postgres(() => cluster!), skipPg]] as ReadonlyArray<
    readonly [Variant, boolean]
  >
) {
  describe.skipIf(skip)(`rebuild on the ${variant.name} sink`, () => {
    it.live("a new version is built from the archive and the live log while appends go on, then cut over and the old dropped", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        const archiveDir = Path.join(root, "archive")
        const first = bankEvents(3_000, 8)
        const during = bankEvents(1_000, 8, 5)
        const opened = yield* db.open({ name: "v1" }) // the serving version: balances_v1 table, name "balances"
        const sink = opened.sink as Sink.Sink<SqlClient.SqlClient>
        const v1 = sqlBalances({ name: "balances", table: "balances_v1", version: 1 })
        yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const versions = new Map<string, number>()
            const drained = yield* appendEvents(log, first, 100, versions)
            const servingScope = yield* Scope.make()
            const serving = yield* SnapshotRunner.make({ projections: [Projection.bind(v1, sink)], batchSize: 200 })
              .pipe(
                Scope.provide(servingScope)
              )
            yield* serving.awaitReleased(drained)
            // purge has run: the first entries are only in the archive now
            const status = yield* log.status
            assert.isAbove(Number(status.firstIndex), 1)
            assert.isAbove(NFS.readdirSync(archiveDir).filter((f) => f.endsWith(".wal")).length, 0)

            const seen = new Map<bigint, boolean>()
            const v2 = recordingSideEffects(seen)(sqlBalances({ name: "balances", table: "balances_v2", version: 2 }))
            const appender = yield* Effect.forkChild(appendEvents(log, during, 10, versions))
            const rebuild = yield* Rebuild.make({
              projection: v2,
              sink,
              batchSize: 150,
              cutover: viewSwitch,
              dropOld: (sql, version) => sql`DROP TABLE ${sql(`balances_v${version}`)}`
            })
            // the rebuild's retention hold is on the log
            assert.isTrue((yield* log.status).holds.some((h) => h.name === "rebuild balances v2"))
            const last = yield* Fiber.join(appender)
            yield* rebuild.awaitCaughtUp
            yield* serving.awaitPosition("balances", last)
            yield* rebuild.cutover
            const all = [...first, ...during]
            assert.deepStrictEqual(yield* readBalances(sink.client, "balances"), foldBalances(all))
            assert.deepStrictEqual(yield* readBalances(sink.client, "balances_v1"), foldBalances(all))
            const activeRow = Option.getOrThrow(yield* sink.readActive("balances"))
            assert.deepStrictEqual([activeRow.version, activeRow.previousVersion], [2, 1])
            const progress = yield* rebuild.progress
            assert.isTrue(progress.active)
            // nothing at or below the serving version's checkpoint ran with side effects
            for (const [index, sideEffects] of seen) if (index <= drained) assert.isFalse(sideEffects)
            // once the old version stops, what the rebuild applies beyond its checkpoint runs with side effects
            yield* Scope.close(servingScope, Exit.void)
            const after = yield* appendEvents(log, bankEvents(50, 8, 9), 10, versions)
            yield* rebuild.runner.awaitPosition("balances", after)
            for (const [index, sideEffects] of seen) if (index > last) assert.isTrue(sideEffects)
            assert.isTrue(seen.has(after))
            // a second cutover is a no-op; then the old version goes
            yield* rebuild.cutover
            yield* rebuild.dropOld
            const keys = (yield* sink.checkpoints).map((c) => [c.projection, c.version])
            assert.deepStrictEqual(keys.filter(([p]) => p === "balances"), [["balances", 2]])
            const gone = yield* Effect.flip(readBalances(sink.client, "balances_v1"))
            assert.isDefined(gone)
            assert.strictEqual(Option.getOrThrow(yield* sink.readActive("balances")).previousVersion, undefined)
            const again = yield* Effect.flip(rebuild.dropOld)
            assert.strictEqual(again._tag, "RebuildError")
          }), { archiveDir, segmentSizeBytes: 16 * 1024 })
      }))

    it.live("a rebuild needs a higher version than the serving one", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        const opened = yield* db.open()
        const sink = opened.sink as Sink.Sink<SqlClient.SqlClient>
        yield* withLog(root, () =>
          Effect.gen(function*() {
            yield* sink.writeActive({ projection: "balances", version: 3, previousVersion: undefined, cutoverAtMs: 0 })
            const error = yield* Effect.flip(Rebuild.make({
              projection: sqlBalances({ version: 2 }),
              sink,
              cutover: () => Effect.void
            }))
            assert.strictEqual(error._tag, "RebuildError")
          }))
      }))
  })
}
