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
 * and so are, under their default names, the sink's state tables (read by `binlog projections` in @binlog/core):
 *
 * ```sql
 * CREATE TABLE binlog_projection_parked (           -- dead letters: the entry itself stays in the log
 *   projection TEXT NOT NULL, version INTEGER NOT NULL, position BIGINT NOT NULL,
 *   event_type TEXT, stream_id TEXT, reason TEXT NOT NULL,     -- 'failed' | 'blocked'
 *   error TEXT NOT NULL, attempts INTEGER NOT NULL, parked_at_ms BIGINT NOT NULL,
 *   PRIMARY KEY (projection, version, position))
 * CREATE TABLE binlog_projection_halted (           -- projections stopped by the `stop` policy
 *   projection TEXT NOT NULL, version INTEGER NOT NULL, position BIGINT NOT NULL,
 *   error TEXT NOT NULL, halted_at_ms BIGINT NOT NULL, PRIMARY KEY (projection, version))
 * CREATE TABLE binlog_projection_active (           -- the version serving each name (rebuild cutover)
 *   projection TEXT PRIMARY KEY, version INTEGER NOT NULL, previous_version INTEGER,
 *   cutover_at_ms BIGINT NOT NULL)
 * ```
 *
 * Lanes (`Lanes`) keep one checkpoint row per lane, under the projection name `<name>#lane<i>/<n>`.
 *
 * The same DDL and upsert (`INSERT ... ON CONFLICT DO UPDATE`) run on SQLite ≥ 3.24 and PostgreSQL ≥ 9.5, and so
 * can projection handlers that stick to that common SQL.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
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
 * Name of the dead-letter table by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PARKED_TABLE = "binlog_projection_parked"

/**
 * Name of the halted-state table by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_HALTED_TABLE = "binlog_projection_halted"

/**
 * Name of the active-version table by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_ACTIVE_TABLE = "binlog_projection_active"

/**
 * Options of a SQL sink.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Checkpoint table (default {@link DEFAULT_CHECKPOINT_TABLE}). */
  readonly checkpointTable?: string | undefined
  /** Dead-letter table (default {@link DEFAULT_PARKED_TABLE}). */
  readonly parkedTable?: string | undefined
  /** Halted-state table (default {@link DEFAULT_HALTED_TABLE}). */
  readonly haltedTable?: string | undefined
  /** Active-version table (default {@link DEFAULT_ACTIVE_TABLE}). */
  readonly activeTable?: string | undefined
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
    const parkedT = sql(options.parkedTable ?? DEFAULT_PARKED_TABLE)
    const haltedT = sql(options.haltedTable ?? DEFAULT_HALTED_TABLE)
    const activeT = sql(options.activeTable ?? DEFAULT_ACTIVE_TABLE)
    yield* sql`CREATE TABLE IF NOT EXISTS ${parkedT} (
      projection TEXT NOT NULL,
      version INTEGER NOT NULL,
      position BIGINT NOT NULL,
      event_type TEXT,
      stream_id TEXT,
      reason TEXT NOT NULL,
      error TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      parked_at_ms BIGINT NOT NULL,
      PRIMARY KEY (projection, version, position)
    )`.pipe(Effect.mapError(fail("create parked table")))
    yield* sql`CREATE TABLE IF NOT EXISTS ${haltedT} (
      projection TEXT NOT NULL,
      version INTEGER NOT NULL,
      position BIGINT NOT NULL,
      error TEXT NOT NULL,
      halted_at_ms BIGINT NOT NULL,
      PRIMARY KEY (projection, version)
    )`.pipe(Effect.mapError(fail("create halted table")))
    yield* sql`CREATE TABLE IF NOT EXISTS ${activeT} (
      projection TEXT PRIMARY KEY,
      version INTEGER NOT NULL,
      previous_version INTEGER,
      cutover_at_ms BIGINT NOT NULL
    )`.pipe(Effect.mapError(fail("create active table")))

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

    const state: Sink.SinkState = {
      park: (key, e) =>
        sql`INSERT INTO ${parkedT} (projection, version, position, event_type, stream_id, reason, error, attempts,
            parked_at_ms) VALUES (${key.projection}, ${key.version}, ${e.index}, ${e.eventType ?? null},
            ${e.streamId ?? null}, ${e.reason}, ${e.error}, ${e.attempts}, ${e.parkedAtMs})
          ON CONFLICT (projection, version, position) DO UPDATE SET error = excluded.error,
            attempts = excluded.attempts, reason = excluded.reason`.pipe(
          Effect.mapError(fail("park entry")),
          Effect.asVoid
        ),
      parked: (key) =>
        sql<
          {
            readonly position: string
            readonly event_type: string | null
            readonly stream_id: string | null
            readonly reason: string
            readonly error: string
            readonly attempts: string
            readonly parked_at_ms: string
          }
        >`SELECT CAST(position AS TEXT) AS position, event_type, stream_id, reason, error,
          CAST(attempts AS TEXT) AS attempts, CAST(parked_at_ms AS TEXT) AS parked_at_ms FROM ${parkedT}
          WHERE projection = ${key.projection} AND version = ${key.version} ORDER BY position`.pipe(
          Effect.mapError(fail("read parked entries")),
          Effect.map((rows) =>
            rows.map((r): Sink.ParkedEntry => ({
              index: BigInt(r.position),
              eventType: r.event_type ?? undefined,
              streamId: r.stream_id ?? undefined,
              reason: r.reason === "blocked" ? "blocked" : "failed",
              error: r.error,
              attempts: Number(r.attempts),
              parkedAtMs: Number(r.parked_at_ms)
            }))
          )
        ),
      unpark: (key, index) =>
        sql`DELETE FROM ${parkedT} WHERE projection = ${key.projection} AND version = ${key.version}
          AND position = ${index}`.pipe(Effect.mapError(fail("unpark entry")), Effect.asVoid),
      readHalted: (key) =>
        sql<{ readonly position: string; readonly error: string; readonly at: string }>`SELECT
          CAST(position AS TEXT) AS position, error, CAST(halted_at_ms AS TEXT) AS at FROM ${haltedT}
          WHERE projection = ${key.projection} AND version = ${key.version}`.pipe(
          Effect.mapError(fail("read halted state")),
          Effect.map((rows) =>
            Option.map(
              Option.fromUndefinedOr(rows[0]),
              (r): Sink.Halted => ({ index: BigInt(r.position), error: r.error, haltedAtMs: Number(r.at) })
            )
          )
        ),
      writeHalted: (key, halted) =>
        (Option.isNone(halted)
          ? sql`DELETE FROM ${haltedT} WHERE projection = ${key.projection} AND version = ${key.version}`
          : sql`INSERT INTO ${haltedT} (projection, version, position, error, halted_at_ms) VALUES (${key.projection},
              ${key.version}, ${halted.value.index}, ${halted.value.error}, ${halted.value.haltedAtMs})
              ON CONFLICT (projection, version) DO UPDATE SET position = excluded.position, error = excluded.error,
              halted_at_ms = excluded.halted_at_ms`).pipe(Effect.mapError(fail("write halted state")), Effect.asVoid),
      readActive: (projection) =>
        sql<{ readonly version: string; readonly previous: string | null; readonly at: string }>`SELECT
          CAST(version AS TEXT) AS version, CAST(previous_version AS TEXT) AS previous,
          CAST(cutover_at_ms AS TEXT) AS at FROM ${activeT} WHERE projection = ${projection}`.pipe(
          Effect.mapError(fail("read active version")),
          Effect.map((rows) =>
            Option.map(Option.fromUndefinedOr(rows[0]), (r): Sink.ActiveVersion => ({
              projection,
              version: Number(r.version),
              previousVersion: r.previous === null ? undefined : Number(r.previous),
              cutoverAtMs: Number(r.at)
            }))
          )
        ),
      writeActive: (a) =>
        sql`INSERT INTO ${activeT} (projection, version, previous_version, cutover_at_ms) VALUES (${a.projection},
            ${a.version}, ${a.previousVersion ?? null}, ${a.cutoverAtMs})
          ON CONFLICT (projection) DO UPDATE SET version = excluded.version,
            previous_version = excluded.previous_version, cutover_at_ms = excluded.cutover_at_ms`.pipe(
          Effect.mapError(fail("write active version")),
          Effect.asVoid
        ),
      checkpoints: sql<
        {
          readonly projection: string
          readonly version: string
          readonly position: string
          readonly ts: string | null
          readonly updated: string
        }
      >`SELECT projection, CAST(version AS TEXT) AS version, CAST(position AS TEXT) AS position,
        CAST(event_timestamp_ms AS TEXT) AS ts, CAST(updated_at_ms AS TEXT) AS updated FROM ${table}
        ORDER BY projection, version`.pipe(
        Effect.mapError(fail("list checkpoints")),
        Effect.map((rows) =>
          rows.map((r): Sink.CheckpointRow => ({
            projection: r.projection,
            version: Number(r.version),
            position: BigInt(r.position),
            timestamp: r.ts === null ? undefined : Number(r.ts),
            updatedAtMs: Number(r.updated)
          }))
        )
      ),
      forget: (key) =>
        Effect.all([
          sql`DELETE FROM ${table} WHERE projection = ${key.projection} AND version = ${key.version}`,
          sql`DELETE FROM ${parkedT} WHERE projection = ${key.projection} AND version = ${key.version}`,
          sql`DELETE FROM ${haltedT} WHERE projection = ${key.projection} AND version = ${key.version}`
        ], { discard: true }).pipe(Effect.mapError(fail("forget projection")))
    }

    return { kind, client: sql, transaction, register, readCheckpoint, writeCheckpoint, ...state }
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
