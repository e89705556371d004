// A throwaway PostgreSQL cluster for tests, started by the same helper the benchmarks use (bench/internal/postgres.ts:
// Debian's server binaries, a temp data directory, 127.0.0.1 on a free port, the `postgres` user when we run as
// root). Absent binaries: tests are skipped with a loud warning, unless CI is set, in which case they run (and fail).
import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { findBinaries, startPostgres } from "../../../../bench/internal/postgres.ts"

/** True when PostgreSQL tests must be skipped (binaries absent and not on CI); prints a loud warning. */
export const skipPostgres = (): boolean => {
  if (findBinaries() !== undefined || process.env["CI"]) return false
  console.warn(
    `\n${"!".repeat(78)}\n!! PostgreSQL server binaries not found: SKIPPING PostgreSQL tests.\n` +
      `!! Install Debian's postgresql package (or set PG_BIN); on CI these tests fail instead.\n` +
      `${"!".repeat(78)}\n`
  )
  return true
}

export interface Cluster {
  readonly port: number
  /** URL of database `db` (default `postgres`). */
  readonly url: (db?: string) => string
  readonly stop: () => void
}

export interface ClusterOptions {
  /** Durability settings: `"safe"` (fsync and synchronous_commit on, PostgreSQL's defaults) or `"fast"`. */
  readonly durability?: "safe" | "fast"
}

/** Starts a cluster (plain Promise API, for `beforeAll`) with the bench's throwaway-server helper. */
export const startCluster = async (options: ClusterOptions = {}): Promise<Cluster> => {
  const pg = await startPostgres({
    settings: options.durability === "fast"
      ? { fsync: "off", synchronous_commit: "off", full_page_writes: "off" }
      : {}
  })
  if (pg === undefined) throw new Error("PostgreSQL server binaries not found (install Debian's postgresql)")
  return {
    port: pg.port,
    url: (db = "postgres") => `postgres://postgres@127.0.0.1:${pg.port}/${db}`,
    stop: pg.stop
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
