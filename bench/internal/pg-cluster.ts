/**
 * The projections benchmark's PostgreSQL: one throwaway server for the whole run (started with
 * `./postgres.ts`'s `startPostgres`, PostgreSQL's durability defaults left alone: `fsync=on`,
 * `synchronous_commit=on`), as a scoped Effect, plus fresh databases on it and `SqlClient`s for them.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { type Postgres, startPostgres } from "./postgres.ts"

/**
 * A running server and what the benchmark does with it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Cluster {
  readonly server: Postgres
  /** Connection URL of database `name`. */
  readonly url: (name: string) => string
  /** Creates database `name` and returns its URL. */
  readonly createDatabase: (name: string) => Effect.Effect<string, unknown>
  /** A `SqlClient` on database `name` for the current scope. */
  readonly client: (name: string) => Effect.Effect<SqlClient.SqlClient, unknown, Scope.Scope>
}

const withDatabase = (url: string, name: string) => {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

/**
 * Starts the server for the lifetime of the scope (stopped and deleted when it closes). Fails when PostgreSQL's
 * server binaries are not installed.
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const cluster = (baseDir: string): Effect.Effect<Cluster, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => startPostgres({ baseDir }),
        catch: (e) => (e instanceof Error ? e : new Error(String(e)))
      }).pipe(
        Effect.flatMap((pg) =>
          pg === undefined
            ? Effect.fail(new Error("PostgreSQL server binaries not found (install Debian's postgresql package)"))
            : Effect.succeed(pg)
        )
      ),
      (pg) => Effect.sync(() => pg.stop())
    )
    const url = (name: string) => withDatabase(server.url, name)
    const client = (name: string) =>
      Effect.gen(function*() {
        const context = yield* Layer.build(Layer.fresh(PgClient.layer({ url: Redacted.make(url(name)) })))
        return yield* Effect.provide(SqlClient.SqlClient, context)
      })
    const createDatabase = (name: string) =>
      Effect.scoped(
        Effect.gen(function*() {
          const sql = yield* client("postgres")
          yield* sql.unsafe(`CREATE DATABASE ${name}`)
          return url(name)
        })
      )
    return { server, url, createDatabase, client }
  })
