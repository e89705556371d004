// The crash-test child: ONE process appends to the log (the WAL has one writer: BinLogger locks its directory) and
// runs both runners over it into one SQLite file. The parent SIGKILLs it at random moments and restarts it.
//
//   node worker.ts <root> <seed> run     append forever (batches of 1..40 events), project, print "appended <last>"
//   node worker.ts <root> <seed> drain   no appends: project until caught up and released, print "drained <index>"
//
// The event at index i is a pure function of (seed, i) (`eventAt`), so the parent can fold the whole log without
// reading it, and purge stays on (the cursor projection's retention hold must protect what it still needs).
import * as BinLogger from "@binlog/core/BinLogger"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Path from "node:path"
import * as CursorRunner from "../../src/CursorRunner.ts"
import * as Projection from "../../src/Projection.ts"
import * as SnapshotRunner from "../../src/SnapshotRunner.ts"
import * as SqlSink from "../../src/SqlSink.ts"
import { encodeEvent, sqlBalances } from "../utils/fixtures.ts"
import { eventAt, SEGMENT_SIZE_BYTES } from "./domain.ts"

const [root, seedArg, mode] = process.argv.slice(2)
if (root === undefined || seedArg === undefined || (mode !== "run" && mode !== "drain")) {
  process.stderr.write("usage: worker.ts <root> <seed> run|drain\n")
  process.exit(2)
}
const seed = Number(seedArg)

const program = Effect.gen(function*() {
  const log = yield* BinLogger.BinLogger
  const sink = yield* SqlSink.sqlite({ filename: Path.join(root, "read-model.db") })
  // the cursor runner first: its retention hold must be in place before any release can purge
  const cursor = yield* CursorRunner.make({
    projections: [Projection.bind(sqlBalances({ name: "by_cursor", table: "balances_cursor" }), sink)],
    batchSize: 64
  })
  const snapshots = yield* SnapshotRunner.make({
    projections: [Projection.bind(sqlBalances({ name: "by_snapshot", table: "balances_snapshot" }), sink)],
    batchSize: 50
  })
  if (mode === "drain") {
    const target = yield* log.currentIndex
    yield* cursor.drain
    yield* snapshots.drain
    yield* snapshots.awaitReleased(target)
    process.stdout.write(`drained ${target}\n`)
    return
  }
  process.stdout.write(`ready ${yield* log.currentIndex}\n`)
  let n = 0
  while (true) {
    const size = 1 + ((n++ * 7919 + seed) % 40)
    const range = yield* log.logPrepared((first) => {
      const batch: Array<Uint8Array> = []
      for (let i = 0; i < size; i++) {
        const index = first + BigInt(i)
        batch.push(encodeEvent(eventAt(seed, index), Number(index), Date.now()))
      }
      return Result.succeed(batch)
    })
    process.stdout.write(`appended ${range.last}\n`)
    // sometimes let the runners catch up, so kills land in every phase (appending, applying, releasing)
    if (n % 5 === 0) yield* Effect.sleep("2 millis")
  }
}).pipe(
  Effect.scoped,
  Effect.provide(BinLogger.layer({
    walDir: Path.join(root, "wal"),
    snapDir: Path.join(root, "snap"),
    segmentSizeBytes: SEGMENT_SIZE_BYTES
  }))
)

Effect.runPromise(program).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`worker failed: ${error}\n`)
    process.exit(1)
  }
)
