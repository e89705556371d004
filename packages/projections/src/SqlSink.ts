/**
 * SQL sinks: the read model and its checkpoint table in one SQL database, written through an `effect/sql`
 * `SqlClient` — SQLite through {@link sqlite} (Node's built-in `node:sqlite`, the embedded default) or PostgreSQL
 * through {@link postgres} (`@effect/sql-pg`'s `PgClient.layer`). Handlers receive the `SqlClient`; inside the
 * runner's transaction its statements run on the transaction's connection, so the read-model changes and the
 * checkpoint commit together.
 *
 * The checkpoint table (default {@link DEFAULT_CHECKPOINT_TABLE}) is created if missing:
 *
 * ```sql
 * CREATE TABLE binlog_projection_checkpoints (
 *   projection TEXT NOT NULL, version INTEGER NOT NULL,
 *   position BIGINT NOT NULL,            -- last WAL index applied
 *   event_timestamp_ms BIGINT,           -- envelope timestamp of that entry, if known
 *   updated_at_ms BIGINT NOT NULL,
 *   PRIMARY KEY (projection, version))
 * ```
 *
 * The same DDL and upsert (`INSERT ... ON CONFLICT DO UPDATE`) run on SQLite ≥ 3.24 and PostgreSQL ≥ 9.5, and so
 * can projection handlers that stick to that common SQL.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as Client from "effect/sql/SqlClient"
import { isSqlError } from "effect/sql/SqlError"
import { SinkError } from "./ProjectionError.ts"
import * as Sink from "./Sink.ts"
import * as SqliteClient from "./SqliteClient.ts"

/**
 * Name of the checkpoint table by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CHECKPOINT_TABLE = "binlog_projection_checkpoints"

/**
 * Options of a SQL sink.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Checkpoint table (default {@link DEFAULT_CHECKPOINT_TABLE}). */
  readonly checkpointTable?: string | undefined
  /** Sink kind for errors, spans and metrics (default: from the client's driver). */
  readonly kind?: string | undefined
}

const kindOf = (sql: Client.SqlClient) =>
  sql.driver === "pg" ? "postgres" : sql.driver.startsWith("sqlite") ? "sqlite" : sql.driver

/**
 * A sink over a `SqlClient`; creates the checkpoint table if it is missing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  sql: Client.SqlClient,
  options: Options = {}
): Effect.Effect<Sink.Sink<Client.SqlClient>, SinkError> =>
  Effect.gen(function*() {
    const kind = options.kind ?? kindOf(sql)
    const table = sql(options.checkpointTable ?? DEFAULT_CHECKPOINT_TABLE)
    const fail = (operation: string) => (cause: unknown) => new SinkError({ sink: kind, operation, cause })

    yield* sql`CREATE TABLE IF NOT EXISTS ${table} (
      projection TEXT NOT NULL,
      version INTEGER NOT NULL,
      position BIGINT NOT NULL,
      event_timestamp_ms BIGINT,
      updated_at_ms BIGINT NOT NULL,
      PRIMARY KEY (projection, version)
    )`.pipe(Effect.mapError(fail("create checkpoint table")))

    const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SinkError, R> =>
      sql.withTransaction(effect).pipe(
        Effect.catchIf(isSqlError, (e) => Effect.fail(fail("transaction")(e)))
      )

    // PostgreSQL runs READ COMMITTED: lock the row so a second runner of the same projection waits, then sees the
    // first one's checkpoint. SQLite needs no lock (BEGIN IMMEDIATE serializes writers).
    const lock = kind === "postgres" ? sql.literal(" FOR UPDATE") : sql.literal("")

    const register = (key: Sink.CheckpointKey): Effect.Effect<Sink.Checkpoint, SinkError> =>
      sql`INSERT INTO ${table} (projection, version, position, event_timestamp_ms, updated_at_ms)
        VALUES (${key.projection}, ${key.version}, 0, NULL, ${Date.now()})
        ON CONFLICT (projection, version) DO NOTHING`.pipe(
        Effect.mapError(fail("register checkpoint")),
        Effect.andThen(readCheckpoint(key))
      )

    const readCheckpoint = (key: Sink.CheckpointKey): Effect.Effect<Sink.Checkpoint, SinkError> =>
      sql<{ readonly position: string; readonly ts: string | null }>`SELECT
        CAST(position AS TEXT) AS position, CAST(event_timestamp_ms AS TEXT) AS ts
        FROM ${table} WHERE projection = ${key.projection} AND version = ${key.version}${lock}`.pipe(
        Effect.mapError(fail("read checkpoint")),
        Effect.map((rows) => {
          const row = rows[0]
          if (row === undefined) return Sink.emptyCheckpoint
          return { position: BigInt(row.position), timestamp: row.ts === null ? undefined : Number(row.ts) }
        })
      )

    const writeCheckpoint = (key: Sink.CheckpointKey, checkpoint: Sink.Checkpoint): Effect.Effect<void, SinkError> =>
      checkpoint.position > Sink.MAX_SQL_POSITION || checkpoint.position < 0n
        ? Effect.die(new RangeError(`position ${checkpoint.position} does not fit a signed 64-bit column`))
        : sql`INSERT INTO ${table} (projection, version, position, event_timestamp_ms, updated_at_ms)
            VALUES (${key.projection}, ${key.version}, ${checkpoint.position}, ${checkpoint.timestamp ?? null},
              ${Date.now()})
            ON CONFLICT (projection, version) DO UPDATE SET position = excluded.position,
              event_timestamp_ms = excluded.event_timestamp_ms, updated_at_ms = excluded.updated_at_ms`.pipe(
          Effect.mapError(fail("write checkpoint")),
          Effect.asVoid
        )

    return { kind, client: sql, transaction, register, readCheckpoint, writeCheckpoint }
  })

/**
 * A SQLite sink on a database file, opened for the lifetime of the scope (see `SqliteClient` for durability
 * settings: WAL journal, `synchronous = FULL` by default).
 *
 * @since 0.1.0
 * @category constructors
 */
export const sqlite = (
  config: SqliteClient.SqliteClientConfig & Options
): Effect.Effect<Sink.Sink<Client.SqlClient>, SinkError, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* SqliteClient.make(config).pipe(
      Effect.provide(Reactivity.layer),
      Effect.mapError((cause) => new SinkError({ sink: "sqlite", operation: `open ${config.filename}`, cause }))
    )
    return yield* make(client, config)
  })

/**
 * A sink over the `SqlClient` in the context — for PostgreSQL, provide `PgClient.layer({ url })` from
 * `@effect/sql-pg`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const postgres = (
  options: Options = {}
): Effect.Effect<Sink.Sink<Client.SqlClient>, SinkError, Client.SqlClient> =>
  Effect.flatMap(Client.SqlClient, (sql) => make(sql, { kind: "postgres", ...options }))
