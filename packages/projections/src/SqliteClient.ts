/**
 * A minimal `effect/sql` `SqlClient` over Node 24's built-in `node:sqlite` (`DatabaseSync`): the embedded default
 * for read models, with no native add-on to install. Effect 4.1 ships no SQLite driver for Node, so this module
 * supplies the few pieces `SqlClient.make` needs.
 *
 * - **One connection**, serialized by a semaphore: statements and transactions never interleave. `withTransaction`
 *   uses `BEGIN IMMEDIATE` (take the write lock up front) and savepoints for nesting.
 * - **Synchronous**: `node:sqlite` runs each statement on the calling thread, so a long statement blocks the event
 *   loop for its duration. Read-model upserts take microseconds; keep big scans out of hot paths.
 * - **Prepared statements** are cached per SQL text (at most {@link DEFAULT_PREPARE_CACHE_SIZE}, oldest evicted).
 * - **Durability**: WAL journal mode, `synchronous = FULL` by default: a committed transaction survives power loss,
 *   which the runners rely on (a snapshot lease is released only after the sink commit is durable).
 * - **Values**: numbers, strings, bigints, `Uint8Array`s and `null` bind as is; booleans as 0/1, `Date`s as ISO
 *   strings, `undefined` as `null`. Integers read as numbers, or as bigints under `SqlClient.SafeIntegers`.
 * - Not supported (not needed here): streaming cursors (`stream` collects the rows first), name transforms,
 *   `LISTEN`-style reactivity beyond `effect/reactivity`'s in-process invalidation.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Client from "effect/sql/SqlClient"
import type * as Connection from "effect/sql/SqlConnection"
import { classifySqliteError, SqlError } from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import { DatabaseSync } from "node:sqlite"
import type { SQLInputValue, StatementSync } from "node:sqlite"

/**
 * Prepared statements kept per database by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PREPARE_CACHE_SIZE = 256

/**
 * How long a statement waits for another process's lock before failing with a lock timeout, by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000

/**
 * Options of the client.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqliteClientConfig {
  /** Database file, or `":memory:"`. */
  readonly filename: string
  readonly readonly?: boolean | undefined
  /** `PRAGMA synchronous` (default `"FULL"`: commits survive power loss). */
  readonly synchronous?: "OFF" | "NORMAL" | "FULL" | "EXTRA" | undefined
  /** `PRAGMA journal_mode` (default `"WAL"`). */
  readonly journalMode?: "WAL" | "DELETE" | "TRUNCATE" | "MEMORY" | undefined
  /** Busy timeout in milliseconds (default {@link DEFAULT_BUSY_TIMEOUT_MS}). */
  readonly busyTimeoutMs?: number | undefined
  /** Prepared statements to cache (default {@link DEFAULT_PREPARE_CACHE_SIZE}). */
  readonly prepareCacheSize?: number | undefined
  readonly spanAttributes?: Record<string, unknown> | undefined
}

/**
 * A `SqlClient` backed by `node:sqlite`, with the underlying database for synchronous access (tests, tools).
 *
 * @since 0.1.0
 * @category models
 */
export interface SqliteClient extends Client.SqlClient {
  readonly config: SqliteClientConfig
  /** The `node:sqlite` database. Statements run on it directly bypass the client's lock. */
  readonly database: DatabaseSync
}

/**
 * The service key of the client (also provided as `SqlClient.SqlClient` by {@link layer}).
 *
 * @since 0.1.0
 * @category services
 */
export const SqliteClient = Context.Service<SqliteClient>("@binlog/projections/SqliteClient")

interface Prepared {
  readonly statement: StatementSync
  readonly returnsRows: boolean
  /** The `setReadBigInts` setting last applied (a native call: only made on change). */
  bigints: boolean
}

const SQLITE_CONSTRAINT_PRIMARYKEY = 1555
const SQLITE_CONSTRAINT_UNIQUE = 2067

// node:sqlite reports the SQLite result code as `errcode` (its `code` is "ERR_SQLITE_ERROR"); effect's classifier
// reads `code`/`errno`, so it gets a view with the numeric code and the original error as `cause`. A PRIMARY KEY
// conflict (1555) is reported as a unique violation (2067), as PostgreSQL does (23505 for both).
const toSqlError = (cause: unknown, operation: string) => {
  const message = cause instanceof Error ? cause.message : `SQLite ${operation} failed`
  const errcode = typeof cause === "object" && cause !== null && "errcode" in cause ? cause.errcode : undefined
  const code = errcode === SQLITE_CONSTRAINT_PRIMARYKEY ? SQLITE_CONSTRAINT_UNIQUE : errcode
  const classified = typeof code === "number" ? { code, errno: code, message, cause } : cause
  return new SqlError({ reason: classifySqliteError(classified, { message, operation }) })
}

/** Runs a synchronous driver call, turning a thrown driver error into a typed `SqlError`. */
const runSync = <A>(f: () => A, operation: string): Exit.Exit<A, SqlError> => {
  try {
    return Exit.succeed(f())
  } catch (cause) {
    return Exit.fail(toSqlError(cause, operation))
  }
}

const bindValue = (value: unknown): SQLInputValue => {
  switch (typeof value) {
    case "string":
    case "number":
    case "bigint":
      return value
    case "boolean":
      return value ? 1 : 0
    case "undefined":
      return null
    default:
      if (value === null) return null
      if (ArrayBuffer.isView(value)) return value as NodeJS.ArrayBufferView
      if (value instanceof Date) return value.toISOString()
      return String(value)
  }
}

const isBindable = (value: unknown) => {
  const t = typeof value
  return t === "string" || t === "number" || t === "bigint" || value === null || ArrayBuffer.isView(value)
}

/** The parameters as `node:sqlite` takes them (the same array when nothing needs converting). */
const bindAll = (params: ReadonlyArray<unknown>): Array<SQLInputValue> => {
  let i = 0
  while (i < params.length && isBindable(params[i])) i++
  if (i === params.length) return params as Array<SQLInputValue>
  const out = new Array<SQLInputValue>(params.length)
  for (let j = 0; j < params.length; j++) out[j] = bindValue(params[j])
  return out
}

/**
 * Opens the database for the lifetime of the scope (closed when it closes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: SqliteClientConfig
): Effect.Effect<SqliteClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const db = new DatabaseSync(config.filename, {
            readOnly: config.readonly ?? false,
            timeout: config.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS
          })
          if (config.readonly !== true) {
            db.exec(`PRAGMA journal_mode = ${config.journalMode ?? "WAL"}`)
            db.exec(`PRAGMA synchronous = ${config.synchronous ?? "FULL"}`)
          }
          return db
        },
        catch: (cause) => toSqlError(cause, "open")
      }),
      (db) => Effect.sync(() => db.isOpen && db.close())
    )

    const cacheSize = Math.max(1, config.prepareCacheSize ?? DEFAULT_PREPARE_CACHE_SIZE)
    const cache = new Map<string, Prepared>()
    // projections repeat one or two statements per event: compare with the last one before hashing the text
    let lastSql = ""
    let lastPrepared: Prepared | undefined
    const prepare = (sql: string): Prepared => {
      if (lastPrepared !== undefined && sql === lastSql) return lastPrepared
      const hit = cache.get(sql)
      if (hit !== undefined) {
        lastSql = sql
        lastPrepared = hit
        return hit
      }
      const statement = db.prepare(sql)
      const prepared = { statement, returnsRows: statement.columns().length > 0, bigints: false }
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!)
      cache.set(sql, prepared)
      lastSql = sql
      lastPrepared = prepared
      return prepared
    }

    const runRows = (prepared: Prepared, params: ReadonlyArray<unknown>, safeIntegers: boolean) => {
      const { returnsRows, statement } = prepared
      if (prepared.bigints !== safeIntegers) {
        statement.setReadBigInts(safeIntegers)
        prepared.bigints = safeIntegers
      }
      if (!returnsRows) {
        statement.run(...bindAll(params))
        return []
      }
      return statement.all(...bindAll(params))
    }

    const execute = (
      sql: string,
      params: ReadonlyArray<unknown>,
      transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined,
      prepared: boolean
    ): Effect.Effect<ReadonlyArray<unknown>, SqlError> =>
      // the statement runs synchronously on this thread: build the Exit directly (one Effect step per statement)
      Effect.withFiber((fiber) =>
        runSync(() => {
          const p = prepared ? prepare(sql) : { statement: db.prepare(sql), returnsRows: true, bigints: false }
          const rows = runRows(p, params, fiber.getRef(Client.SafeIntegers)) as ReadonlyArray<object>
          return transformRows === undefined ? rows : transformRows(rows)
        }, "execute")
      )

    const executeValues = (sql: string, params: ReadonlyArray<unknown>, prepared: boolean) =>
      Effect.flatMap(Client.SafeIntegers, (safe) =>
        Effect.try({
          try: () => {
            const statement = prepared ? prepare(sql).statement : db.prepare(sql)
            statement.setReturnArrays(true)
            statement.setReadBigInts(safe)
            try {
              return statement.all(...bindAll(params)) as unknown as ReadonlyArray<ReadonlyArray<unknown>>
            } finally {
              statement.setReturnArrays(false)
            }
          },
          catch: (cause) => toSqlError(cause, "execute")
        }))

    const connection: Connection.Connection = {
      execute: (sql, params, transformRows) => execute(sql, params, transformRows, true),
      executeRaw: (sql, params) => execute(sql, params, undefined, true),
      executeStream: (sql, params, transformRows) =>
        Stream.fromIterableEffect(execute(sql, params, transformRows, true)),
      executeValues: (sql, params) => executeValues(sql, params, true),
      executeValuesUnprepared: (sql, params) => executeValues(sql, params, false),
      executeUnprepared: (sql, params, transformRows) =>
        params.length === 0
          ? Effect.try({ try: () => (db.exec(sql), []), catch: (cause) => toSqlError(cause, "exec") })
          : execute(sql, params, transformRows, false)
    }

    const semaphore = yield* Semaphore.make(1)
    const acquirers = Client.makeSqliteAcquirers({
      connection: Effect.succeed(connection),
      semaphore,
      isTransaction: () => db.isTransaction
    })
    const client = yield* Client.make({
      ...acquirers,
      compiler: Statement.makeCompilerSqlite(),
      driver: "sqlite-node-builtin",
      beginTransaction: "BEGIN IMMEDIATE",
      releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`,
      spanAttributes: [
        ...Object.entries(config.spanAttributes ?? {}),
        ["db.system.name", "sqlite"]
      ]
    })
    return Object.assign(client, { config, database: db })
  })

/**
 * The client as a layer providing both {@link SqliteClient} and `SqlClient.SqlClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: SqliteClientConfig): Layer.Layer<SqliteClient | Client.SqlClient, SqlError> =>
  Layer.effectContext(
    Effect.map(make(config), (client) => Context.make(SqliteClient, client).pipe(Context.add(Client.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer))
