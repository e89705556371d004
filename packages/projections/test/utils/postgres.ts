// A throwaway PostgreSQL cluster for tests: Debian's server binaries (/usr/lib/postgresql/<v>/bin), a temp data
// directory, 127.0.0.1 on a free port, started as the `postgres` user when we run as root. Absent binaries: tests
// are skipped with a loud warning, unless CI is set, in which case they run (and fail).
import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as ChildProcess from "node:child_process"
import * as NFS from "node:fs"
import * as Net from "node:net"
import * as OS from "node:os"
import * as Path from "node:path"

/** Where the server binaries are looked for (override with BINLOG_PG_BIN). */
export const PG_BIN = process.env["BINLOG_PG_BIN"] ?? ["17", "16", "15"]
  .map((v) => `/usr/lib/postgresql/${v}/bin`)
  .find((dir) => NFS.existsSync(Path.join(dir, "initdb"))) ??
  "/usr/lib/postgresql/15/bin"

export const postgresAvailable = (): boolean => NFS.existsSync(Path.join(PG_BIN, "initdb"))

/** True when PostgreSQL tests must be skipped (binaries absent and not on CI); prints a loud warning once. */
export const skipPostgres = (): boolean => {
  if (postgresAvailable() || process.env["CI"]) return false
  console.warn(
    `\n${"!".repeat(78)}\n!! PostgreSQL server binaries not found in ${PG_BIN}: SKIPPING PostgreSQL tests.\n` +
      `!! Install Debian's postgresql package (or set BINLOG_PG_BIN); on CI these tests fail instead.\n` +
      `${"!".repeat(78)}\n`
  )
  return true
}

export interface Cluster {
  readonly port: number
  readonly dir: string
  /** URL of database `db` (default `postgres`). */
  readonly url: (db?: string) => string
  readonly stop: () => void
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const isRoot = () => process.getuid?.() === 0

const runAsPostgres = (command: string, args: ReadonlyArray<string>) => {
  const bin = Path.join(PG_BIN, command)
  const [file, argv] = isRoot() ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, [...args]]
  return ChildProcess.execFileSync(file, argv, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" })
}

export interface ClusterOptions {
  /** Durability settings: `"safe"` (fsync and synchronous_commit on, PostgreSQL's defaults) or `"fast"`. */
  readonly durability?: "safe" | "fast"
}

/** Starts a cluster (plain Promise API, for `beforeAll`). */
export const startCluster = async (options: ClusterOptions = {}): Promise<Cluster> => {
  const dir = NFS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-pg-"))
  if (isRoot()) {
    const uid = Number(ChildProcess.execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim())
    const gid = Number(ChildProcess.execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim())
    NFS.chownSync(dir, uid, gid)
  }
  const data = Path.join(dir, "data")
  runAsPostgres("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"])
  const port = await freePort()
  const settings = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c max_connections=50",
    ...(options.durability === "fast" ? ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"] : [])
  ]
  runAsPostgres("pg_ctl", [
    "-D",
    data,
    "-o",
    settings.join(" "),
    "-l",
    Path.join(dir, "log"),
    "-w",
    "-t",
    "60",
    "start"
  ])
  let stopped = false
  return {
    port,
    dir,
    url: (db = "postgres") => `postgres://postgres@127.0.0.1:${port}/${db}`,
    stop: () => {
      if (stopped) return
      stopped = true
      try {
        runAsPostgres("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
      } finally {
        NFS.rmSync(dir, { recursive: true, force: true })
      }
    }
  }
}

let databaseCounter = 0

/** Creates a fresh database on the cluster and returns its URL. */
export const createDatabase = (cluster: Cluster): Effect.Effect<string, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const name = `t_${process.pid}_${databaseCounter++}`
    yield* Effect.scoped(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE DATABASE ${name}`)).pipe(
        Effect.provide(PgClient.layer({ url: Redacted.make(cluster.url()), maxConnections: 1 }))
      )
    )
    return cluster.url(name)
  })

/** A `SqlClient` layer on `url`. */
export const pgLayer = (url: string) => Layer.fresh(PgClient.layer({ url: Redacted.make(url) }))
