// Rebuild crash test: a child process serves v1, rebuilds v2 (partly from the archive) and appends; it is
// SIGKILLed in the middle of the rebuild, several times, and restarted. At the end the rebuild catches up and cuts
// over: the v2 table and the switched view hold exactly the fold of the whole log, every event once — on SQLite and
// PostgreSQL.
import { PgClient } from "@effect/sql-pg"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { fileURLToPath } from "node:url"
import { eventsUpTo } from "./crash/domain.ts"
import { type Child, spawnWorker } from "./utils/child.ts"
import { type BalanceRow, foldBalances } from "./utils/fixtures.ts"
import { type Cluster, skipPostgres, startCluster } from "./utils/postgres.ts"

const WORKER = fileURLToPath(new URL("./crash/rebuild-worker.ts", import.meta.url))
const KILLS = 3

type Run = Child

const spawn = (args: ReadonlyArray<string>): Run => spawnWorker(WORKER, args)

const finished = async (run: Run, what: string) => {
  const code = await run.exited
  if (code !== 0) throw new Error(`${what} failed (exit ${code}): ${run.stderr()}\n${run.lines.join("\n")}`)
}

/** Runs the whole scenario; returns the final index and the rows of `balances_v2` and of the view. */
const scenario = async (
  root: string,
  seed: number,
  extra: ReadonlyArray<string>,
  read: (done: bigint) => Promise<{
    readonly table: ReadonlyArray<BalanceRow>
    readonly view: ReadonlyArray<BalanceRow>
  }>
) => {
  await finished(spawn([root, String(seed), "seed", ...extra]), "seed")
  // purge ran after archiving: the oldest segments exist only in the archive, where the rebuild must read them
  const archived = NFS.readdirSync(Path.join(root, "archive")).filter((f) => f.endsWith(".wal"))
  const live = NFS.readdirSync(Path.join(root, "wal")).filter((f) => f.endsWith(".wal"))
  assert.isAbove(archived.length, 0)
  assert.isFalse(live.includes(archived[0]!))
  let midRebuildKills = 0
  let lastPosition = 0n
  for (let k = 0; k < KILLS; k++) {
    const run = spawn([root, String(seed), "run", ...extra])
    const progressed = await run.waitFor(/^rebuild [1-9]\d* \d+$/)
    if (!progressed) throw new Error(`run exited early: ${run.stderr()}`)
    await new Promise((r) => setTimeout(r, 60 + k * 40))
    run.kill()
    await run.exited
    const progress = run.lines.flatMap((l) => {
      const m = /^rebuild (\d+) (\d+)$/.exec(l)
      return m === null ? [] : [[BigInt(m[1]!), BigInt(m[2]!)] as const]
    })
    const [position, durable] = progress[progress.length - 1]!
    if (position < durable) midRebuildKills++
    // resumed from its checkpoint: never back to the start
    assert.isAtLeast(Number(progress[0]![0]), Number(lastPosition))
    lastPosition = position
  }
  const finish = spawn([root, String(seed), "finish", ...extra])
  await finished(finish, "finish")
  const done = BigInt(/^done (\d+)$/.exec(finish.lines.find((l) => l.startsWith("done "))!)![1]!)
  return { done, midRebuildKills, ...(await read(done)) }
}

const sqliteRows = (file: string, table: string): Array<BalanceRow> => {
  const db = new DatabaseSync(file, { readOnly: true })
  try {
    return (db.prepare(`SELECT account, cents, events, last_index FROM ${table} ORDER BY account`).all() as Array<
      { account: string; cents: number; events: number; last_index: number }
    >).map((r) => ({ account: r.account, cents: r.cents, events: r.events, lastIndex: r.last_index }))
  } finally {
    db.close()
  }
}

const onDb = <A>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, f).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
    )
  )

const skipPg = skipPostgres()
let cluster: Cluster | undefined
beforeAll(async () => {
  if (!skipPg) cluster = await startCluster({ durability: "fast" })
}, 60_000)
afterAll(() => cluster?.stop())

describe("rebuild crash safety", () => {
  it(
    `SQLite: after ${KILLS} SIGKILLs mid-rebuild, the resumed rebuild cuts over to exactly the fold of the log`,
    async () => {
      const root = NFS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-rebuild-crash-"))
      try {
        const seed = 4242
        const file = Path.join(root, "read-model.db")
        const result = await scenario(root, seed, [], async () => ({
          table: sqliteRows(file, "balances_v2"),
          view: sqliteRows(file, "balances")
        }))
        assert.isAtLeast(result.midRebuildKills, 1)
        const expected = foldBalances(eventsUpTo(seed, result.done))
        assert.deepStrictEqual(result.table, expected)
        assert.deepStrictEqual(result.view, expected)
      } finally {
        NFS.rmSync(root, { recursive: true, force: true })
      }
    },
    50_000
  )

  it.skipIf(skipPg)(
    `PostgreSQL: after ${KILLS} SIGKILLs mid-rebuild, the resumed rebuild cuts over to exactly the fold`,
    async () => {
      const root = NFS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-rebuild-crash-"))
      try {
        const seed = 777
        const c = cluster!
        const dbName = `rebuild_crash_${process.pid}`
        await onDb(c.url(), (sql) => sql.unsafe(`CREATE DATABASE ${dbName}`))
        const url = c.url(dbName)
        const rows = (table: string) =>
          onDb(url, (sql) =>
            Effect.map(
              sql<{ account: string; cents: string; events: string; last_index: string }>`SELECT account,
              CAST(cents AS TEXT) AS cents, CAST(events AS TEXT) AS events, CAST(last_index AS TEXT) AS last_index
              FROM ${sql(table)} ORDER BY account`,
              (rs) =>
                rs.map((r) => ({
                  account: r.account,
                  cents: Number(r.cents),
                  events: Number(r.events),
                  lastIndex: Number(r.last_index)
                }))
            ))
        const result = await scenario(root, seed, [url], async () => ({
          table: await rows("balances_v2"),
          view: await rows("balances")
        }))
        assert.isAtLeast(result.midRebuildKills, 1)
        const expected = foldBalances(eventsUpTo(seed, result.done))
        assert.deepStrictEqual(result.table, expected)
        assert.deepStrictEqual(result.view, expected)
      } finally {
        NFS.rmSync(root, { recursive: true, force: true })
      }
    },
    50_000
  )
})
