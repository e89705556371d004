/**
 * Projection throughput: our runners vs Emmett's PostgreSQL consumer, on this machine, in this run.
 *
 * `run(ctx)` (called by `bench/run.ts`; also runnable alone: `node bench/projections.ts [--quick]`, printing rows):
 *
 * 1. **WAL → SQLite**: 1,000,000 events (256-byte JSON payloads, 10,000 items) written to a fresh log, then a
 *    `SnapshotRunner` from index 0 until caught up (`drain`) into a SQLite file (`synchronous = FULL`), one upsert
 *    per event through the typed projection (envelope peek, Schema decode, `SqlClient` statement). Target ≥ 100,000
 *    events/s.
 * 2. **WAL → PostgreSQL**, same log: the projection collects each transaction's events (`batch` hooks) and hands
 *    them to a PL/pgSQL function that runs one upsert per event, in order, server-side — one round trip per batch
 *    instead of per event. Peer: **Emmett** 0.42.0 `postgreSQLEventStoreConsumer` with a `postgreSQLRawSQLProjection`
 *    (one upsert statement per event) over 50,000 of the same events in Emmett's own store on the same server,
 *    pulling tuned for speed (`batchSize: 1000, pullingFrequencyInMs: 0`). Targets: ≥ 50,000 events/s and ≥ 10×
 *    Emmett.
 * 3. **WAL → PostgreSQL, per-event handler** (informational): the plain handler, one statement (one round trip)
 *    per event, over the first 100,000 events.
 * 4. **64 concurrent writers**: 64 writers append single events (own stream each) while the consumers run; after
 *    the writers stop, each side catches up; events projected vs events written. Ours must be exactly equal.
 *
 * Every run checks its read model (sum of `updates` = events applied, row count = items) before reporting a rate.
 * PostgreSQL runs with its durability defaults (`fsync=on`, `synchronous_commit=on`), one server for both sides.
 *
 * @since 0.1.0
 */
import * as BinLogger from "@binlog/core/BinLogger"
import * as Envelope from "@binlog/core/Envelope"
import * as EventType from "@binlog/core/EventType"
import * as Projection from "@binlog/projections/Projection"
import type * as Sink from "@binlog/projections/Sink"
import * as SnapshotRunner from "@binlog/projections/SnapshotRunner"
import * as SqlSink from "@binlog/projections/SqlSink"
import type { Event as EmmettEvent } from "@event-driven-io/emmett"
import {
  getPostgreSQLEventStore,
  postgreSQLEventStoreConsumer,
  postgreSQLRawSQLProjection
} from "@event-driven-io/emmett-postgresql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import * as NFS from "node:fs"
import * as Path from "node:path"
import pg from "pg"
import { type Cluster, cluster } from "./internal/pg-cluster.ts"
import { standalone } from "./internal/standalone.ts"
import type { BenchContext, Row } from "./internal/types.ts"

// --- sizes ---

/** Events projected into SQLite and (batched) PostgreSQL. */
const EVENTS = 1_000_000
/** Events projected by the per-event PostgreSQL handler (a round trip each). */
const PER_EVENT_EVENTS = 100_000
/** Events Emmett projects. */
const EMMETT_EVENTS = 50_000
/** Concurrent writers, and single-event appends per writer. */
const WRITERS = 64
const APPENDS_PER_WRITER = 160
/** Distinct items (rows) the events update. */
const ITEMS = 10_000
/** Payload size of every event (its JSON, as stored in the envelope / in Emmett's JSONB). */
const PAYLOAD_BYTES = 256
/** Entries per append while filling the log. */
const WRITE_BATCH = 1_000
/** Entries per sink transaction. */
const SQLITE_BATCH = 1_000
const PG_BATCH = 2_000

// --- the events ---

const ItemUpdated = EventType.make(
  "ItemUpdated",
  Schema.Struct({ item: Schema.String, seq: Schema.Number, note: Schema.String })
)

type Item = {
  readonly item: string
  readonly seq: number
  readonly note: string
}

/** The same event in Emmett's terms. */
type ItemUpdatedEvent = EmmettEvent<"ItemUpdated", Item>

const itemAt = (seq: number): Item => {
  const item = `item-${String(seq % ITEMS).padStart(5, "0")}`
  const bare = JSON.stringify({ item, seq, note: "" }).length
  return { item, seq, note: "n".repeat(PAYLOAD_BYTES - bare) }
}

const utf8 = new TextEncoder()

/** The envelope of event `seq` (payload = its JSON, exactly {@link PAYLOAD_BYTES} bytes). */
const entryAt = (seq: number, streamVersion: number): Uint8Array => {
  const e = itemAt(seq)
  const payload = utf8.encode(JSON.stringify(e))
  return Envelope.encode(Envelope.make({
    streamId: e.item,
    streamVersion: BigInt(streamVersion),
    eventType: "ItemUpdated",
    schemaVersion: 1,
    eventId: "",
    timestamp: Date.now(),
    payload
  }))
}

const checkPayload = Effect.sync(() => {
  const ours = ItemUpdated.encodeData(itemAt(12_345))
  if (Result.isFailure(ours)) throw new Error(String(ours.failure))
  const manual = utf8.encode(JSON.stringify(itemAt(12_345)))
  if (ours.success.payload.length !== PAYLOAD_BYTES || manual.length !== PAYLOAD_BYTES) {
    throw new Error(`payload is ${manual.length} bytes, expected ${PAYLOAD_BYTES}`)
  }
})

// --- the projections ---

const TABLE_DDL = `CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, seq BIGINT NOT NULL, note TEXT NOT NULL,
  updates BIGINT NOT NULL)`

/** One upsert per event, executed by the handler (SQLite, and PostgreSQL's per-event row). */
const perEvent = (name: string) =>
  Projection.make<SqlClient.SqlClient>()({
    name,
    version: 1,
    setup: (sql) => sql.unsafe(TABLE_DDL),
    events: { ItemUpdated },
    handlers: {
      ItemUpdated: (e, { client: sql }) =>
        sql`INSERT INTO items (id, seq, note, updates) VALUES (${e.item}, ${e.seq}, ${e.note}, 1)
        ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, note = excluded.note, updates = items.updates + 1`
    }
  })

const UPSERT_FUNCTION = `CREATE OR REPLACE FUNCTION bench_upsert_items(ids text[], seqs bigint[], notes text[])
  RETURNS void LANGUAGE plpgsql AS $$
  BEGIN
    FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
      INSERT INTO items (id, seq, note, updates) VALUES (ids[i], seqs[i], notes[i], 1)
      ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, note = excluded.note, updates = items.updates + 1;
    END LOOP;
  END $$`

/** One upsert per event, run server-side: handlers collect, the batch's `end` makes one call. */
const batched = (name: string) =>
  Projection.make<SqlClient.SqlClient>()({
    name,
    version: 1,
    setup: (sql) => Effect.andThen(sql.unsafe(TABLE_DDL), sql.unsafe(UPSERT_FUNCTION)),
    events: { ItemUpdated },
    batch: {
      begin: () => ({ ids: [] as Array<string>, seqs: [] as Array<number>, notes: [] as Array<string> }),
      end: (b, sql) =>
        b.ids.length === 0
          ? Effect.void
          : Effect.asVoid(sql`SELECT bench_upsert_items(${b.ids}::text[], ${b.seqs}::bigint[], ${b.notes}::text[])`)
    },
    handlers: {
      ItemUpdated: (e, { batch }) =>
        Effect.sync(() => {
          batch.ids.push(e.item)
          batch.seqs.push(e.seq)
          batch.notes.push(e.note)
        })
    }
  })

const readTotals = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<{ rows: string; updates: string | null }>`SELECT CAST(COUNT(*) AS TEXT) AS rows,
      CAST(SUM(updates) AS TEXT) AS updates FROM items`,
    (r) => ({ rows: Number(r[0]!.rows), updates: Number(r[0]!.updates ?? 0) })
  )

// --- helpers ---

const logLayer = (dir: string) =>
  Layer.fresh(BinLogger.layer({ walDir: Path.join(dir, "wal"), snapDir: Path.join(dir, "snap") }))

/** Appends events 0..count-1 in batches; returns the seconds it took. */
const fillLog = (log: BinLogger.BinLogger["Service"], count: number) =>
  Effect.gen(function*() {
    const started = performance.now()
    const versions = new Map<number, number>()
    for (let first = 0; first < count; first += WRITE_BATCH) {
      const batch: Array<Uint8Array> = []
      for (let seq = first; seq < Math.min(count, first + WRITE_BATCH); seq++) {
        const v = (versions.get(seq % ITEMS) ?? 0) + 1
        versions.set(seq % ITEMS, v)
        batch.push(entryAt(seq, v))
      }
      yield* log.log(batch)
    }
    return (performance.now() - started) / 1000
  })

/** Runs a snapshot runner over the whole log until caught up; returns events/s and the read model's totals. */
const project = (
  projection: Projection.Projection<SqlClient.SqlClient, unknown, never>,
  sink: Effect.Effect<Sink.Sink<SqlClient.SqlClient>, unknown, Scope.Scope>,
  batchSize: number
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const log = yield* BinLogger.BinLogger
      const target = yield* log.currentIndex
      const s = yield* sink
      const started = performance.now()
      const runner = yield* SnapshotRunner.make({ projections: [Projection.bind(projection, s)], batchSize })
      yield* runner.drain
      const seconds = (performance.now() - started) / 1000
      const totals = yield* readTotals(s.client)
      return { events: Number(target), seconds, rate: Number(target) / seconds, ...totals }
    })
  )

const verify = (what: string, expectedUpdates: number, totals: { rows: number; updates: number }) =>
  totals.updates === expectedUpdates && totals.rows === Math.min(ITEMS, expectedUpdates)
    ? Effect.void
    : Effect.fail(
      new Error(
        `${what}: read model has ${totals.updates} updates over ${totals.rows} rows, expected ${expectedUpdates}`
      )
    )

const literal = (s: string) => `'${s.replaceAll("'", "''")}'`

const event = (seq: number): ItemUpdatedEvent => ({ type: "ItemUpdated", data: itemAt(seq) })

const emmettProjection = (table: string) =>
  postgreSQLRawSQLProjection<ItemUpdatedEvent>({
    name: `${table}_projection`,
    canHandle: ["ItemUpdated"],
    // Emmett's SQL type is a branded string; the statement is built with escaped literals
    evolve: (e) =>
      `INSERT INTO ${table} (id, seq, note, updates) VALUES (${literal(e.data.item)}, ${e.data.seq},
        ${literal(e.data.note)}, 1) ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, note = EXCLUDED.note,
        updates = ${table}.updates + 1` as never
  })

const emmettTotals = async (url: string, table: string) => {
  const client = new pg.Client(url)
  await client.connect()
  try {
    const r = await client.query(
      `SELECT COUNT(*)::text AS rows, COALESCE(SUM(updates), 0)::text AS updates FROM ${table}`
    )
    return { rows: Number(r.rows[0].rows), updates: Number(r.rows[0].updates) }
  } finally {
    await client.end()
  }
}

const emmettCreateTable = async (url: string, table: string) => {
  const client = new pg.Client(url)
  await client.connect()
  try {
    await client.query(TABLE_DDL.replace("items", table))
  } finally {
    await client.end()
  }
}

/** Emmett: append `count` events (1,000 per appendToStream), then consume them all with the tuned consumer. */
const emmettThroughput = async (url: string, count: number) => {
  const store = getPostgreSQLEventStore(url)
  try {
    for (let first = 0; first < count; first += 1000) {
      const events = []
      for (let seq = first; seq < Math.min(count, first + 1000); seq++) {
        events.push(event(seq))
      }
      await store.appendToStream(`batch-${first}`, events)
    }
  } finally {
    await store.close()
  }
  await emmettCreateTable(url, "items")
  const consumer = postgreSQLEventStoreConsumer({
    connectionString: url,
    pulling: { batchSize: 1000, pullingFrequencyInMs: 0 },
    stopWhen: { noMessagesLeft: true }
  })
  consumer.projector<ItemUpdatedEvent>({ projection: emmettProjection("items") })
  const started = performance.now()
  await consumer.start()
  const seconds = (performance.now() - started) / 1000
  await consumer.close()
  const totals = await emmettTotals(url, "items")
  return { events: count, seconds, rate: count / seconds, ...totals }
}

/** Emmett under 64 concurrent writers: the consumer runs while they write, then until nothing new arrives. */
const emmettConcurrent = async (url: string, writers: number, perWriter: number) => {
  const store = getPostgreSQLEventStore(url)
  // create the schema before the consumer starts polling
  await store.appendToStream("warm-up", [{ type: "Ignored", data: {} }])
  await emmettCreateTable(url, "items")
  const consumer = postgreSQLEventStoreConsumer({
    connectionString: url,
    pulling: { batchSize: 1000, pullingFrequencyInMs: 0 }
  })
  consumer.projector<ItemUpdatedEvent>({ projection: emmettProjection("items") })
  const running = consumer.start()
  let seq = 0
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < perWriter; i++) {
        await store.appendToStream(`writer-${w}`, [event(seq++)])
      }
    })
  )
  const written = writers * perWriter
  // let it catch up: stop once the count has not moved for 3 s (or everything is there)
  let last = -1
  let stableSince = performance.now()
  while (true) {
    const { updates } = await emmettTotals(url, "items")
    if (updates !== last) {
      last = updates
      stableSince = performance.now()
    }
    if (updates >= written || performance.now() - stableSince > 3000) break
    await new Promise((r) => setTimeout(r, 200))
  }
  await consumer.stop()
  await running.catch(() => undefined)
  await consumer.close()
  await store.close()
  return { written, projected: last }
}

/** Ours under 64 concurrent writers: the runner follows live while they write, then drains. */
const oursConcurrent = (dir: string, pgUrl: Cluster, database: string, writers: number, perWriter: number) =>
  Effect.scoped(
    Effect.gen(function*() {
      const log = yield* BinLogger.BinLogger
      const pgClient = yield* pgUrl.client(database)
      const pgSink = yield* SqlSink.make(pgClient, { kind: "postgres" })
      const sqliteSink = yield* SqlSink.sqlite({ filename: Path.join(dir, "concurrent.db") })
      const runner = yield* SnapshotRunner.make({
        projections: [
          Projection.bind(batched("items_pg"), pgSink),
          Projection.bind(perEvent("items_sqlite"), sqliteSink)
        ],
        batchSize: PG_BATCH
      })
      let seq = 0
      yield* Effect.forEach(
        Array.from({ length: writers }, (_, w) => w),
        (w) =>
          Effect.gen(function*() {
            for (let i = 0; i < perWriter; i++) yield* log.log([entryAt(seq++, w * perWriter + i + 1)])
          }),
        { concurrency: "unbounded", discard: true }
      )
      yield* runner.drain
      const written = Number(yield* log.currentIndex)
      const pgTotals = yield* readTotals(pgClient)
      const sqliteTotals = yield* readTotals(sqliteSink.client)
      return { written, projectedPg: pgTotals.updates, projectedSqlite: sqliteTotals.updates }
    })
  ).pipe(Effect.provide(logLayer(dir)))

// --- the run ---

const round = (x: number) => Math.round(x)

/**
 * The benchmark: rows for `bench/run.ts`.
 *
 * @since 0.1.0
 * @category benchmarks
 */
export const run = (ctx: BenchContext): Effect.Effect<ReadonlyArray<Row>, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const scale = ctx.quick ? 10 : 1
    const events = EVENTS / scale
    const perEventEvents = PER_EVENT_EVENTS / scale
    const emmettEvents = EMMETT_EVENTS / scale
    const perWriter = Math.max(10, APPENDS_PER_WRITER / scale)
    yield* checkPayload
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => NFS.mkdtempSync(Path.join(ctx.tmpRoot, "projections-"))),
      (d) => Effect.sync(() => NFS.rmSync(d, { recursive: true, force: true }))
    )
    const pgCluster = yield* cluster(ctx.tmpRoot)
    ctx.log(`projections: PostgreSQL ${pgCluster.server.version} on port ${pgCluster.server.port}`)
    const rows: Array<Row> = []

    // 1 + 2: the big log, into SQLite and into PostgreSQL (batched)
    const main = Path.join(dir, "main")
    const results = yield* Effect.gen(function*() {
      const log = yield* BinLogger.BinLogger
      const writeSeconds = yield* fillLog(log, events)
      ctx.log(`projections: wrote ${events} events in ${writeSeconds.toFixed(1)} s`)
      const sqlite = yield* project(
        perEvent("items"),
        SqlSink.sqlite({ filename: Path.join(dir, "items.db") }),
        SQLITE_BATCH
      )
      yield* verify("SQLite", events, sqlite)
      ctx.log(`projections: SQLite ${round(sqlite.rate)} events/s`)
      yield* pgCluster.createDatabase("ours_batched")
      const pgBatched = yield* project(
        batched("items"),
        Effect.flatMap(pgCluster.client("ours_batched"), (sql) => SqlSink.make(sql, { kind: "postgres" })),
        PG_BATCH
      )
      yield* verify("PostgreSQL (batched)", events, pgBatched)
      ctx.log(`projections: PostgreSQL batched ${round(pgBatched.rate)} events/s`)
      return { writeSeconds, sqlite, pgBatched }
    }).pipe(Effect.provide(logLayer(main)))

    // 3: per-event handler into PostgreSQL, on a smaller log
    const pgPerEvent = yield* Effect.gen(function*() {
      const log = yield* BinLogger.BinLogger
      yield* fillLog(log, perEventEvents)
      yield* pgCluster.createDatabase("ours_per_event")
      const r = yield* project(
        perEvent("items"),
        Effect.flatMap(pgCluster.client("ours_per_event"), (sql) => SqlSink.make(sql, { kind: "postgres" })),
        SQLITE_BATCH
      )
      yield* verify("PostgreSQL (per event)", perEventEvents, r)
      ctx.log(`projections: PostgreSQL per event ${round(r.rate)} events/s`)
      return r
    }).pipe(Effect.provide(logLayer(Path.join(dir, "per-event"))))

    // Emmett, same server
    const emmettUrl = yield* pgCluster.createDatabase("emmett")
    const emmett = yield* Effect.tryPromise(() => emmettThroughput(emmettUrl, emmettEvents))
    ctx.log(`projections: Emmett ${round(emmett.rate)} events/s (${emmett.updates} of ${emmett.events} applied)`)

    const peerName = "Emmett 0.42.0 postgreSQLEventStoreConsumer + postgreSQLRawSQLProjection (batchSize 1000, 0 ms)"
    rows.push({
      name: `projections: WAL → SQLite, ${events.toLocaleString("en-US")} events, one upsert each`,
      unit: "events/s",
      ours: round(results.sqlite.rate),
      peer: null,
      peerName: "",
      ratio: null,
      target: null,
      met: results.sqlite.rate >= 100_000,
      note: "absolute target ≥ 100,000 events/s; SnapshotRunner from index 0 until caught up, synchronous=FULL",
      details: { ...results.sqlite, batchSize: SQLITE_BATCH, writeSeconds: results.writeSeconds }
    })
    const pgRatio = results.pgBatched.rate / emmett.rate
    rows.push({
      name: `projections: WAL → PostgreSQL, ${events.toLocaleString("en-US")} events, one upsert each (batched call)`,
      unit: "events/s",
      ours: round(results.pgBatched.rate),
      peer: round(emmett.rate),
      peerName,
      ratio: pgRatio,
      target: 10,
      met: pgRatio >= 10 && results.pgBatched.rate >= 50_000,
      note: "also absolute ≥ 50,000 events/s; ours: handlers collect a transaction's events, one PL/pgSQL call " +
        `upserts them one by one in order; Emmett: ${emmettEvents.toLocaleString("en-US")} events, one statement each`,
      details: { ours: { ...results.pgBatched, batchSize: PG_BATCH }, emmett }
    })
    rows.push({
      name: `projections: WAL → PostgreSQL, ${perEventEvents.toLocaleString("en-US")} events, per-event handler`,
      unit: "events/s",
      ours: round(pgPerEvent.rate),
      peer: round(emmett.rate),
      peerName,
      ratio: pgPerEvent.rate / emmett.rate,
      target: null,
      met: null,
      note: "informational: one statement (one round trip) per event, like Emmett's raw SQL projector",
      details: { ours: { ...pgPerEvent, batchSize: SQLITE_BATCH }, emmett }
    })

    // 4: 64 concurrent writers
    yield* pgCluster.createDatabase("ours_concurrent")
    const ours = yield* oursConcurrent(Path.join(dir, "concurrent"), pgCluster, "ours_concurrent", WRITERS, perWriter)
    const emmettConcUrl = yield* pgCluster.createDatabase("emmett_concurrent")
    const theirs = yield* Effect.tryPromise(() => emmettConcurrent(emmettConcUrl, WRITERS, perWriter))
    ctx.log(
      `projections: ${WRITERS} writers: ours ${ours.projectedPg}/${ours.written} (PostgreSQL), ` +
        `${ours.projectedSqlite}/${ours.written} (SQLite); Emmett ${theirs.projected}/${theirs.written}`
    )
    rows.push({
      name: `projections: ${WRITERS} concurrent writers, events projected (PostgreSQL) of ${ours.written} written`,
      unit: "events",
      ours: ours.projectedPg,
      peer: theirs.projected,
      peerName: `${peerName}, ${theirs.written} written`,
      ratio: theirs.projected > 0 ? (ours.projectedPg / ours.written) / (theirs.projected / theirs.written) : null,
      target: null,
      met: ours.projectedPg === ours.written && ours.projectedSqlite === ours.written,
      note: "ours must equal written exactly (also checked for SQLite); ratio = our fraction ÷ Emmett's fraction",
      details: { ours, emmett: theirs }
    })
    return rows
  })

// standalone: node bench/projections.ts [--quick]
standalone(import.meta.url, "projections", run)
