// Crash-test child: appends batches through the BinLogger until killed, printing "<first> <last>" to stdout after
// each batch is durable. Entry data is derived from its index, so a checker can verify any entry without a record
// of what was written. Now and then it leases a snapshot and releases it (as success or failure), so crashes also
// land inside leases, releases and purges.
//
// usage: node appender.ts <walDir> <snapDir> <seed> [segmentSizeBytes]
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as BinLogger from "../../src/BinLogger.ts"
import { entryData } from "./verify.ts"

const [walDir, snapDir, seedText, segmentText] = process.argv.slice(2)
let seed = Number(seedText ?? "1") >>> 0
const random = () => {
  // xorshift32: deterministic per seed
  seed ^= seed << 13
  seed >>>= 0
  seed ^= seed >>> 17
  seed ^= seed << 5
  seed >>>= 0
  return seed / 0x1_0000_0000
}

const program = Effect.gen(function*() {
  const log = yield* BinLogger.BinLogger
  const writers = Array.from({ length: 4 }, () =>
    Effect.gen(function*() {
      while (true) {
        const size = 1 + Math.floor(random() * (random() < 0.2 ? 400 : 20))
        const range = yield* log.logPrepared((first) =>
          Result.succeed(Array.from({ length: size }, (_, k) => entryData(first + BigInt(k))))
        )
        process.stdout.write(`${range.first} ${range.last}\n`)
      }
    }))
  const snapshotter = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(`${5 + Math.floor(random() * 40)} millis`)
      const lease = yield* Effect.catchTag(log.createSnapshot, "SnapshotLeaseBusy", () => Effect.succeed(Option.none()))
      if (Option.isNone(lease)) continue
      const n = yield* Stream.runFold(lease.value.entries, () => 0, (acc) => acc + 1)
      if (BigInt(n) !== lease.value.currentIndex - lease.value.prevIndex) return yield* Effect.die("short lease range")
      yield* lease.value.release(random() < 0.8)
    }
  })
  yield* Effect.all([...writers, snapshotter], { concurrency: "unbounded" })
})

Effect.runPromise(
  Effect.scoped(
    program.pipe(
      Effect.provide(Layer.fresh(BinLogger.layer({
        walDir: walDir!,
        snapDir: snapDir!,
        segmentSizeBytes: Number(segmentText ?? 65536),
        keepSnapshots: 3
      })))
    )
  )
).catch((e) => {
  process.stderr.write(`appender failed: ${String(e)} ${e?.cause ? String(e.cause) : ""}\n`)
  process.exit(2)
})
