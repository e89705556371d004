/**
 * Projection operations on this machine, in this run: rebuild throughput (part of the log read from the archive)
 * into SQLite and PostgreSQL, and the speed-up of partitioned lanes on PostgreSQL.
 *
 * `run(ctx)` (called by `bench/run.ts` like `bench/projections.ts`; also runnable alone:
 * `node bench/operations.ts [--quick]`, printing rows):
 *
 * 1. **Rebuild → SQLite**: 300,000 events (256-byte JSON payloads, 10,000 items) in a log with `archiveDir` and
 *    4 MiB segments; a serving version v1 (skips every entry) releases them, so purge deletes the archived segments
 *    and most of the log is read back from the archive. Then `Rebuild.make` of v2 (one upsert per event, SQLite
 *    `synchronous = FULL`, 1,000 events per transaction) from index 1 until caught up: events/s. Informational.
 * 2. **Rebuild → PostgreSQL**: the same log, v2 batches each transaction's events into one PL/pgSQL call
 *    (as in `bench/projections.ts`). Informational.
 * 3. **Lanes 4 vs 1 on PostgreSQL**: 40,000 events over 10,000 items, per-event handler (one statement, one round
 *    trip per event), `CursorRunner` from index 0 until caught up, 1 lane (peer) vs 4 lanes (ours): the lanes'
 *    transactions run in parallel on the pool's connections. Ratio = speed-up.
 *
 * Every run checks its read model (sum of `updates` = events applied, row count = items) before reporting.
 * PostgreSQL runs with its durability defaults (one throwaway server, `./internal/pg-cluster.ts`).
 *
 * @since 0.1.0
 */
import * as BinLogger from "@binlog/core/BinLogger"
import * as Envelope from "@binlog/core/Envelope"
import * as EventType from "@binlog/core/EventType"
import * as CursorRunner from "@binlog/projections/CursorRunner"
import * as Lanes from "@binlog/projections/Lanes"
import * as Projection from "@binlog/projections/Projection"
import * as Rebuild from "@binlog/projections/Rebuild"
import type * as Sink from "@binlog/projections/Sink"
import * as SnapshotRunner from "@binlog/projections/SnapshotRunner"
import * as SqlSink from "@binlog/projections/SqlSink"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import * as NFS from "node:fs"
import * as Path from "node:path"
import { cluster } from "./internal/pg-cluster.ts"
import { standalone } from "./internal/standalone.ts"
import type { BenchContext, Row } from "./internal/types.ts"
import { rateRow } from "./internal/types.ts"

/** Events in the rebuild log. */
const REBUILD_EVENTS = 300_000
/** Events of the lanes comparison (a round trip each). */
const LANES_EVENTS = 40_000
const LANES = 4
const ITEMS = 10_000
const PAYLOAD_BYTES = 256
const WRITE_BATCH = 1_000
const SEGMENT_BYTES = 4 * 1024 * 1024
const SQLITE_BATCH = 1_000
const PG_BATCH = 2_000
const LANES_BATCH = 500

const ItemUpdated = EventType.make(
  "ItemUpdated",
  Schema.Struct({ item: Schema.String, seq: Schema.Number, note: Schema.String })
)

const utf8 = new TextEncoder()

const entryAt = (seq: number, streamVersion: number): Uint8Array => {
  const item = `item-${String(seq % ITEMS).padStart(5, "0")}`
  const bare = JSON.stringify({ item, seq, note: "" }).length
  return Envelope.encode(Envelope.make({
    streamId: item,
    streamVersion: BigInt(streamVersion),
    eventType: "ItemUpdated",
    schemaVersion: 1,
    eventId: "",
    timestamp: Date.now(),
    payload: utf8.encode(JSON.stringify({ item, seq, note: "n".repeat(PAYLOAD_BYTES - bare) }))
  }))
}

const fillLog = (log: BinLogger.BinLogger["Service"], count: number) =>
  Effect.gen(function*() {
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
  })

const table = (version: number) => `items_v${version}`
const ddl = (version: number) =>
  `CREATE TABLE IF NOT EXISTS ${table(version)} (id TEXT PRIMARY KEY, seq BIGINT NOT NULL, note TEXT NOT NULL,
  updates BIGINT NOT NULL)`

const perEvent = (version: number) =>
  Projection.make<SqlClient.SqlClient>()({
    name: "items",
    version,
    setup: (sql) => sql.unsafe(ddl(version)),
    events: { ItemUpdated },
    handlers: {
      ItemUpdated: (e, { client: sql }) =>
        sql`INSERT INTO ${sql(table(version))} (id, seq, note, updates) VALUES (${e.item}, ${e.seq}, ${e.note}, 1)
        ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, note = excluded.note,
        updates = ${sql(table(version))}.updates + 1`
    }
  })

const upsertFunction = (version: number) =>
  `CREATE OR REPLACE FUNCTION bench_upsert_v${version}(ids text[], seqs bigint[], notes text[])
  RETURNS void LANGUAGE plpgsql AS $$
  BEGIN
    FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
      INSERT INTO ${table(version)} (id, seq, note, updates) VALUES (ids[i], seqs[i], notes[i], 1)
      ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, note = excluded.note, updates = ${table(version)}.updates + 1;
    END LOOP;
  END $$`

const batched = (version: number) =>
  Projection.make<SqlClient.SqlClient>()({
    name: "items",
    version,
    setup: (sql) => Effect.andThen(sql.unsafe(ddl(version)), sql.unsafe(upsertFunction(version))),
    events: { ItemUpdated },
    batch: {
      begin: () => ({ ids: [] as Array<string>, seqs: [] as Array<number>, notes: [] as Array<string> }),
      end: (b, sql) =>
        b.ids.length === 0
          ? Effect.void
          : Effect.asVoid(
            sql`SELECT ${sql(`bench_upsert_v${version}`)}(${b.ids}::text[], ${b.seqs}::bigint[], ${b.notes}::text[])`
          )
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

/** The serving version of the rebuild runs: reads nothing (skips every entry), releases, so purge runs. */
const serving = Projection.raw<SqlClient.SqlClient>()({
  name: "items",
  version: 1,
  filter: () => false,
  apply: () => Effect.void
})

const verify = (what: string, sql: SqlClient.SqlClient, version: number, events: number) =>
  Effect.gen(function*() {
    const r = yield* sql<{ rows: string; updates: string | null }>`SELECT CAST(COUNT(*) AS TEXT) AS rows,
      CAST(SUM(updates) AS TEXT) AS updates FROM ${sql(table(version))}`
    const rows = Number(r[0]!.rows)
    const updates = Number(r[0]!.updates ?? 0)
    if (updates !== events || rows !== Math.min(ITEMS, events)) {
      return yield* Effect.fail(new Error(`${what}: ${updates} updates over ${rows} rows, expected ${events}`))
    }
  })

/** Rebuilds v2 from index 1 (archive, then live) until caught up; returns events/s and where the log started. */
const rebuild = (
  projection: Projection.Projection<SqlClient.SqlClient, unknown, never>,
  sink: Sink.Sink<SqlClient.SqlClient>,
  batchSize: number
) =>
  Effect.scoped(Effect.gen(function*() {
    const log = yield* BinLogger.BinLogger
    const target = yield* log.currentIndex
    const firstLive = (yield* log.status).firstIndex
    const started = performance.now()
    const r = yield* Rebuild.make({ projection, sink, batchSize, cutover: () => Effect.void })
    yield* r.awaitCaughtUp
    const seconds = (performance.now() - started) / 1000
    return { events: Number(target), seconds, rate: Number(target) / seconds, firstLiveIndex: Number(firstLive) }
  }))

const lanesRun = (
  projection: Projection.Projection<SqlClient.SqlClient, unknown, never>,
  sink: Sink.Sink<SqlClient.SqlClient>,
  lanes: number
) =>
  Effect.scoped(Effect.gen(function*() {
    const log = yield* BinLogger.BinLogger
    const target = yield* log.currentIndex
    const started = performance.now()
    const runner = yield* CursorRunner.make({
      projections: [Lanes.withLanes(Projection.bind(projection, sink), lanes)],
      batchSize: LANES_BATCH
    })
    yield* runner.awaitPosition(projection.name, target)
    const seconds = (performance.now() - started) / 1000
    return { events: Number(target), seconds, rate: Number(target) / seconds, lanes }
  }))

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
    const events = REBUILD_EVENTS / scale
    const lanesEvents = LANES_EVENTS / scale
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => NFS.mkdtempSync(Path.join(ctx.tmpRoot, "operations-"))),
      (d) => Effect.sync(() => NFS.rmSync(d, { recursive: true, force: true }))
    )
    const pg = yield* cluster(ctx.tmpRoot)
    const rows: Array<Row> = []

    // 1 + 2: rebuilds from archive + live
    const rebuildLog = Layer.fresh(BinLogger.layer({
      walDir: Path.join(dir, "wal"),
      snapDir: Path.join(dir, "snap"),
      archiveDir: Path.join(dir, "archive"),
      segmentSizeBytes: SEGMENT_BYTES
    }))
    const rebuilt = yield* Effect.gen(function*() {
      const log = yield* BinLogger.BinLogger
      yield* fillLog(log, events)
      const sqliteSink = yield* SqlSink.sqlite({ filename: Path.join(dir, "items.db") })
      yield* pg.createDatabase("rebuild")
      const pgSink = yield* Effect.flatMap(pg.client("rebuild"), (sql) => SqlSink.make(sql, { kind: "postgres" }))
      // the serving v1 releases everything: purge deletes the archived segments
      yield* Effect.scoped(Effect.gen(function*() {
        const runner = yield* SnapshotRunner.make({ projections: [Projection.bind(serving, sqliteSink)] })
        yield* runner.awaitReleased(yield* log.currentIndex)
      }))
      const sqlite = yield* rebuild(perEvent(2), sqliteSink, SQLITE_BATCH)
      yield* verify("rebuild into SQLite", sqliteSink.client, 2, events)
      ctx.log(`operations: rebuild → SQLite ${round(sqlite.rate)} events/s (live log from ${sqlite.firstLiveIndex})`)
      const postgres = yield* rebuild(batched(2), pgSink, PG_BATCH)
      yield* verify("rebuild into PostgreSQL", pgSink.client, 2, events)
      ctx.log(`operations: rebuild → PostgreSQL ${round(postgres.rate)} events/s`)
      return { sqlite, postgres }
    }).pipe(Effect.scoped, Effect.provide(rebuildLog))
    for (const [sinkName, r] of [["SQLite", rebuilt.sqlite], ["PostgreSQL", rebuilt.postgres]] as const) {
      rows.push({
        name: `operations: rebuild from archive + live → ${sinkName}, ${events.toLocaleString("en-US")} events`,
        unit: "events/s",
        ours: round(r.rate),
        peer: null,
        peerName: "",
        ratio: null,
        target: null,
        met: null,
        note: `informational; entries 1..${r.firstLiveIndex - 1} read from the archive (purged from the live log); ` +
          (sinkName === "SQLite"
            ? `one upsert per event, ${SQLITE_BATCH} per transaction, synchronous=FULL`
            : `one PL/pgSQL call per ${PG_BATCH}-event transaction`),
        details: r
      })
    }

    // 3: lanes on PostgreSQL, per-event handler
    const lanes = yield* Effect.gen(function*() {
      const log = yield* BinLogger.BinLogger
      yield* fillLog(log, lanesEvents)
      yield* pg.createDatabase("lanes1")
      yield* pg.createDatabase("lanes4")
      const one = yield* Effect.scoped(Effect.gen(function*() {
        const sink = yield* Effect.flatMap(pg.client("lanes1"), (sql) => SqlSink.make(sql, { kind: "postgres" }))
        const r = yield* lanesRun(perEvent(1), sink, 1)
        yield* verify("1 lane", sink.client, 1, lanesEvents)
        return r
      }))
      const many = yield* Effect.scoped(Effect.gen(function*() {
        const sink = yield* Effect.flatMap(pg.client("lanes4"), (sql) => SqlSink.make(sql, { kind: "postgres" }))
        const r = yield* lanesRun(perEvent(1), sink, LANES)
        yield* verify(`${LANES} lanes`, sink.client, 1, lanesEvents)
        return r
      }))
      ctx.log(`operations: lanes 1: ${round(one.rate)} events/s, ${LANES}: ${round(many.rate)} events/s`)
      return { one, many }
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.fresh(BinLogger.layer({
        walDir: Path.join(dir, "lanes", "wal"),
        snapDir: Path.join(dir, "lanes", "snap")
      })))
    )
    rows.push(rateRow({
      name: `operations: ${LANES} lanes vs 1 on PostgreSQL, ${lanesEvents.toLocaleString("en-US")} events, ` +
        "per-event handler",
      unit: "events/s",
      ours: round(lanes.many.rate),
      peer: round(lanes.one.rate),
      peerName: "the same projection in 1 lane",
      target: null,
      note: `informational speed-up; CursorRunner from index 0 until caught up, ${LANES_BATCH} events per ` +
        "transaction, one statement (round trip) per event; lanes = FNV-1a of the stream id mod N",
      details: lanes
    }))
    return rows
  })

// standalone: node bench/operations.ts [--quick]
standalone(import.meta.url, "operations", run)
