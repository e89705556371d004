/**
 * Our side of the read benchmark, in its own process (run by `bench/wal.ts`) so its peak RSS is its own: opens the
 * log with `BinLogger.layer` (recovery: one streaming pass that checks every CRC, timed separately as
 * `open_seconds`), then streams every entry with `BinLogger.read(1n)`, counting entries and payload bytes. Only
 * the stream is timed. Fails if the count differs from `--expect`.
 *
 * Prints one JSON line: entries, data_bytes, seconds, entries_per_sec, mb_per_sec, open_seconds, max_rss_mb
 * (`process.resourceUsage().maxRSS`).
 *
 * Usage: node bench/internal/read-child.ts --wal DIR --snap DIR [--expect N]
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as BinLogger from "../../packages/core/src/BinLogger.ts"
import { arg } from "./args.ts"

const walDir = arg("wal")
const snapDir = arg("snap")
const expect = Number(arg("expect", "-1"))

const started = performance.now()

const program = Effect.gen(function*() {
  const log = yield* BinLogger.BinLogger
  const openSeconds = (performance.now() - started) / 1000
  let entries = 0
  let bytes = 0
  const t0 = performance.now()
  yield* log.read(1n).pipe(
    Stream.runForEachArray((chunk) =>
      Effect.sync(() => {
        entries += chunk.length
        for (let i = 0; i < chunk.length; i++) bytes += chunk[i]!.data.length
      })
    )
  )
  const seconds = (performance.now() - t0) / 1000
  if (expect >= 0 && entries !== expect) {
    return yield* Effect.die(new Error(`read ${entries} entries, expected ${expect}`))
  }
  return {
    entries,
    data_bytes: bytes,
    seconds,
    entries_per_sec: entries / seconds,
    mb_per_sec: bytes / 1e6 / seconds,
    open_seconds: openSeconds,
    max_rss_mb: process.resourceUsage().maxRSS / 1024
  }
}).pipe(Effect.provide(BinLogger.layer({ walDir, snapDir, syncInterval: 0, purge: false })))

Effect.runPromise(program).then(
  (result) => console.log(JSON.stringify(result)),
  (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  }
)
