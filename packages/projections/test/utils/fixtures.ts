// Shared test fixtures: temp dirs, a log layer, a small bank domain (event types with an upcaster), envelope
// encoding, the balances projection for SQL and memory sinks, and its pure fold (the expected read model).
import * as BinLogger from "@binlog/core/BinLogger"
import * as Envelope from "@binlog/core/Envelope"
import * as EventType from "@binlog/core/EventType"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import * as FSP from "node:fs/promises"
import * as OS from "node:os"
import * as Path from "node:path"
import type * as MemorySink from "../../src/MemorySink.ts"
import * as Projection from "../../src/Projection.ts"

/** A temporary directory removed when the test's scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.promise(() => FSP.mkdtemp(Path.join(OS.tmpdir(), "binlog-proj-"))),
  (dir) => Effect.promise(() => FSP.rm(dir, { recursive: true, force: true }))
)

export const logDirs = (root: string) => ({ walDir: Path.join(root, "wal"), snapDir: Path.join(root, "snap") })

/** A fresh log layer on `root` (never shared between tests). */
export const logLayer = (root: string, options: Partial<BinLogger.Options> = {}) =>
  Layer.fresh(BinLogger.layer({ ...logDirs(root), ...options }))

// --- the bank domain ---

export const Opened = EventType.make("Opened", Schema.Struct({ owner: Schema.String }))
/** Version 1 stored whole units; version 2 stores cents. */
export const DepositedV1 = EventType.make("Deposited", Schema.Struct({ amount: Schema.Number }))
export const Deposited = DepositedV1.pipe(
  EventType.evolve(Schema.Struct({ cents: Schema.Number }), (v1) => ({ cents: v1.amount * 100 }))
)
export const Withdrawn = EventType.make("Withdrawn", Schema.Struct({ cents: Schema.Number }))
/** A type the balances projection has no handler for. */
export const Noted = EventType.make("Noted", Schema.Struct({ text: Schema.String }))

export type BankEvent =
  | { readonly type: "Opened"; readonly account: string; readonly owner: string }
  | { readonly type: "Deposited"; readonly account: string; readonly cents: number; readonly v1?: boolean }
  | { readonly type: "Withdrawn"; readonly account: string; readonly cents: number }
  | { readonly type: "Noted"; readonly account: string; readonly text: string }

const unwrap = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(String(r.failure))
  return r.success
}

/** The fixed timestamp base of fixture envelopes (ms). */
export const T0 = 1_760_000_000_000

/** Encodes one event as an envelope entry. `timestamp` defaults to T0 + version seconds. */
export const encodeEvent = (e: BankEvent, streamVersion: number, timestamp = T0 + streamVersion * 1000): Uint8Array => {
  const payload = e.type === "Opened"
    ? unwrap(Opened.encodeData({ owner: e.owner }))
    : e.type === "Deposited"
    ? e.v1 === true
      ? unwrap(DepositedV1.encodeData({ amount: e.cents / 100 }))
      : unwrap(Deposited.encodeData({ cents: e.cents }))
    : e.type === "Withdrawn"
    ? unwrap(Withdrawn.encodeData({ cents: e.cents }))
    : unwrap(Noted.encodeData({ text: e.text }))
  return Envelope.encode(Envelope.make({
    streamId: e.account,
    streamVersion: BigInt(streamVersion),
    eventType: payload.eventType,
    schemaVersion: payload.schemaVersion,
    eventId: `${e.account}/${streamVersion}`,
    timestamp,
    payloadEncoding: payload.payloadEncoding,
    payload: payload.payload
  }))
}

/** A deterministic event sequence over `accounts` accounts (every account opens before anything else). */
export const bankEvents = (n: number, accounts = 5, seed = 1): Array<BankEvent> => {
  let s = seed >>> 0
  const rand = () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
  const out: Array<BankEvent> = []
  const opened = new Set<string>()
  for (let i = 0; i < n; i++) {
    const account = `acc-${Math.floor(rand() * accounts)}`
    if (!opened.has(account)) {
      opened.add(account)
      out.push({ type: "Opened", account, owner: `owner of ${account}` })
      continue
    }
    const r = rand()
    const cents = 1 + Math.floor(rand() * 1000)
    if (r < 0.45) out.push({ type: "Deposited", account, cents: cents * 100, v1: r < 0.1 })
    else if (r < 0.75) out.push({ type: "Withdrawn", account, cents })
    else out.push({ type: "Noted", account, text: `note ${i}` })
  }
  return out
}

/** Encodes events with per-stream versions (continuing `versions` across calls). */
export const encodeAll = (events: ReadonlyArray<BankEvent>, versions = new Map<string, number>()): Array<Uint8Array> =>
  events.map((e) => {
    const v = (versions.get(e.account) ?? 0) + 1
    versions.set(e.account, v)
    return encodeEvent(e, v)
  })

/** Appends events in batches of `batch` and returns the last index. */
export const appendEvents = (
  log: BinLogger.BinLogger["Service"],
  events: ReadonlyArray<BankEvent>,
  batch = 100,
  versions = new Map<string, number>()
) =>
  Effect.gen(function*() {
    const data = encodeAll(events, versions)
    let last = 0n
    for (let i = 0; i < data.length; i += batch) last = (yield* log.log(data.slice(i, i + batch))).last
    return last
  })

// --- the read model ---

export interface BalanceRow {
  readonly account: string
  readonly cents: number
  readonly events: number
  readonly lastIndex: number
}

/** The pure fold: what the balances read model must hold after `events` at indexes `firstIndex`, ... */
export const foldBalances = (events: ReadonlyArray<BankEvent>, firstIndex = 1): Array<BalanceRow> => {
  const rows = new Map<string, { cents: number; events: number; lastIndex: number }>()
  events.forEach((e, i) => {
    if (e.type === "Noted") return
    const row = rows.get(e.account) ?? { cents: 0, events: 0, lastIndex: 0 }
    const delta = e.type === "Deposited" ? e.cents : e.type === "Withdrawn" ? -e.cents : 0
    rows.set(e.account, { cents: row.cents + delta, events: row.events + 1, lastIndex: firstIndex + i })
  })
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([account, r]) => ({ account, ...r }))
}

/** The balances projection over SQL (the same SQL runs on SQLite and PostgreSQL). */
export const sqlBalances = (
  options: {
    readonly name?: string | undefined
    readonly table?: string | undefined
    readonly version?: number | undefined
  } = {}
) => {
  const table = options.table ?? "balances"
  return Projection.make<SqlClient.SqlClient>()({
    name: options.name ?? "balances",
    version: options.version ?? 1,
    setup: (sql) =>
      sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (account TEXT PRIMARY KEY, cents BIGINT NOT NULL,
        events BIGINT NOT NULL, last_index BIGINT NOT NULL)`,
    events: { Opened, Deposited, Withdrawn },
    handlers: {
      Opened: (_, { client: sql, envelope, index }) =>
        sql`INSERT INTO ${sql(table)} (account, cents, events, last_index) VALUES (${envelope.streamId}, 0, 1, ${index})
          ON CONFLICT (account) DO UPDATE SET events = ${sql(table)}.events + 1, last_index = excluded.last_index`,
      Deposited: (e, { client: sql, envelope, index }) =>
        sql`INSERT INTO ${sql(table)} (account, cents, events, last_index) VALUES (${envelope.streamId}, ${e.cents}, 1,
          ${index}) ON CONFLICT (account) DO UPDATE SET cents = ${sql(table)}.cents + excluded.cents,
          events = ${sql(table)}.events + 1, last_index = excluded.last_index`,
      Withdrawn: (e, { client: sql, envelope, index }) =>
        sql`INSERT INTO ${sql(table)} (account, cents, events, last_index) VALUES (${envelope.streamId}, ${-e.cents}, 1,
          ${index}) ON CONFLICT (account) DO UPDATE SET cents = ${sql(table)}.cents + excluded.cents,
          events = ${sql(table)}.events + 1, last_index = excluded.last_index`
    }
  })
}

/** Reads the balances table in a driver-neutral form. */
export const readBalances = (sql: SqlClient.SqlClient, table = "balances") =>
  Effect.map(
    sql<{ account: string; cents: string; events: string; last_index: string }>`SELECT account,
      CAST(cents AS TEXT) AS cents, CAST(events AS TEXT) AS events, CAST(last_index AS TEXT) AS last_index
      FROM ${sql(table)} ORDER BY account`,
    (rows): Array<BalanceRow> =>
      rows.map((r) => ({
        account: r.account,
        cents: Number(r.cents),
        events: Number(r.events),
        lastIndex: Number(r.last_index)
      }))
  )

export interface MemoryTables extends Record<string, unknown> {
  readonly balances: { readonly cents: number; readonly events: number; readonly lastIndex: number }
}

/** The balances projection over the memory sink. */
export const memoryBalances = (name = "balances") => {
  const add = (store: MemorySink.MemoryStore<MemoryTables>, account: string, delta: number, index: bigint) =>
    store.modify("balances", account, (row) => ({
      cents: (row?.cents ?? 0) + delta,
      events: (row?.events ?? 0) + 1,
      lastIndex: Number(index)
    }))
  return Projection.make<MemorySink.MemoryStore<MemoryTables>>()({
    name,
    version: 1,
    events: { Opened, Deposited, Withdrawn },
    handlers: {
      Opened: (_, { client, envelope, index }) => add(client, envelope.streamId, 0, index),
      Deposited: (e, { client, envelope, index }) => add(client, envelope.streamId, e.cents, index),
      Withdrawn: (e, { client, envelope, index }) => add(client, envelope.streamId, -e.cents, index)
    }
  })
}

/** The memory read model as balance rows. */
export const memoryRows = (store: MemorySink.MemoryStore<MemoryTables>) =>
  Effect.map(store.rows("balances"), (rows): Array<BalanceRow> => rows.map(([account, r]) => ({ account, ...r })))
