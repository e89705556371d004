// The rebuild crash-test child: ONE process owns the log (archive on, purge on, small segments), runs the serving
// version v1 of the balances projection with a SnapshotRunner, rebuilds v2 beside it, and appends. The parent
// SIGKILLs it in the middle of the rebuild and restarts it; the rebuild must resume from its checkpoint.
//
//   node rebuild-worker.ts <root> <seed> seed [pgUrl]     append SEED_EVENTS, let v1 release them (purge → archive)
//   node rebuild-worker.ts <root> <seed> run [pgUrl]      v1 + rebuild v2 + appends forever; prints progress lines
//   node rebuild-worker.ts <root> <seed> finish [pgUrl]   no appends: drain v1, catch up v2, cut over, print "done <i>"
import * as BinLogger from "@binlog/core/BinLogger"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import * as Path from "node:path"
import * as Projection from "../../src/Projection.ts"
import * as Rebuild from "../../src/Rebuild.ts"
import type * as Sink from "../../src/Sink.ts"
import * as SnapshotRunner from "../../src/SnapshotRunner.ts"
import * as SqlSink from "../../src/SqlSink.ts"
import { encodeEvent, sqlBalances } from "../utils/fixtures.ts"
import { pgLayer } from "../utils/postgres.ts"
import { eventAt, SEGMENT_SIZE_BYTES } from "./domain.ts"

/** Events in the log before the rebuild starts (most of them only in the archive once v1 released them). */
export const SEED_EVENTS = 4_000

const [root, seedArg, mode, pgUrl] = process.argv.slice(2)
if (root === undefined || seedArg === undefined || !["seed", "run", "finish"].includes(mode ?? "")) {
  process.stderr.write("usage: rebuild-worker.ts <root> <seed> seed|run|finish [pgUrl]\n")
  process.exit(2)
}
const seed = Number(seedArg)

const openSink: Effect.Effect<Sink.Sink<SqlClient.SqlClient>, unknown, import("effect/Scope").Scope> =
  pgUrl === undefined
    ? SqlSink.sqlite({ filename: Path.join(root, "read-model.db") })
    : Effect.gen(function*() {
      const context = yield* Layer.build(pgLayer(pgUrl))
      const sql = yield* Effect.provide(SqlClient.SqlClient, context)
      return yield* SqlSink.make(sql, { kind: "postgres" })
    })

const append = (log: BinLogger.BinLogger["Service"], size: number) =>
  log.logPrepared((first) => {
    const batch: Array<Uint8Array> = []
    for (let i = 0; i < size; i++) {
      const index = first + BigInt(i)
      batch.push(encodeEvent(eventAt(seed, index), Number(index), Date.now()))
    }
    return Result.succeed(batch)
  })

const program = Effect.gen(function*() {
  const log = yield* BinLogger.BinLogger
  const sink = yield* openSink
  const serving = yield* SnapshotRunner.make({
    projections: [Projection.bind(sqlBalances({ table: "balances_v1", version: 1 }), sink)],
    batchSize: 200
  })
  if (mode === "seed") {
    let last = 0n
    while (last < BigInt(SEED_EVENTS)) last = (yield* append(log, 100)).last
    yield* serving.awaitReleased(last)
    process.stdout.write(`seeded ${last}\n`)
    return
  }
  const rebuild = yield* Rebuild.make({
    projection: sqlBalances({ table: "balances_v2", version: 2 }),
    sink,
    batchSize: 10,
    cutover: (sql) =>
      Effect.andThen(sql`DROP VIEW IF EXISTS balances`, sql`CREATE VIEW balances AS SELECT * FROM balances_v2`)
  })
  if (mode === "finish") {
    yield* serving.drain
    yield* rebuild.awaitCaughtUp
    yield* rebuild.cutover
    process.stdout.write(`done ${yield* log.currentIndex}\n`)
    return
  }
  process.stdout.write("ready\n")
  yield* Effect.forkChild(Effect.forever(Effect.gen(function*() {
    const p = yield* rebuild.progress
    process.stdout.write(`rebuild ${p.position} ${p.durableIndex}\n`)
    yield* Effect.sleep("10 millis")
  })))
  let n = 0
  while (true) {
    yield* append(log, 1 + (n++ % 7))
    yield* Effect.sleep("3 millis")
  }
}).pipe(
  Effect.scoped,
  Effect.provide(BinLogger.layer({
    walDir: Path.join(root, "wal"),
    snapDir: Path.join(root, "snap"),
    archiveDir: Path.join(root, "archive"),
    segmentSizeBytes: SEGMENT_SIZE_BYTES
  }))
)

Effect.runPromise(program).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`rebuild worker failed: ${error}\n`)
    process.exit(1)
  }
)
