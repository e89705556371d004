/**
 * Our side of the write benchmarks, in its own process (run by `bench/wal.ts`):
 *
 * - `--writers W --batch 1`: W fibers each call `BinLogger.log([entry])` in a loop (`syncInterval` 0: every call
 *   returns only once its entry is fdatasynced), measuring each call's latency.
 * - `--writers 1 --batch B`: one caller logs batches of B entries.
 *
 * `--warmup N` entries are logged first, untimed, so the JIT has compiled the hot path (the Go peer is compiled
 * ahead of time). Prints one JSON line: entries, seconds, entries_per_sec, log_ms_p50, log_ms_p99, plus the
 * number of fdatasync-ed groups when the metric is available.
 *
 * Usage: node bench/internal/write-child.ts --dir DIR --n N --size BYTES --batch B --writers W [--warmup N]
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as BinLogger from "../../packages/core/src/BinLogger.ts"
import { arg } from "./args.ts"

const dir = arg("dir")
const n = Number(arg("n"))
const size = Number(arg("size", "256"))
const batch = Number(arg("batch", "1"))
const writers = Number(arg("writers", "1"))
const warmup = Number(arg("warmup", "0"))

// one payload per writer, random-looking bytes (the CRC cost does not depend on content, but compression-happy
// storage layers would)
const payloads = Array.from({ length: writers }, (_, w) => {
  const p = new Uint8Array(size)
  let x = (w + 1) * 0x9e3779b1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    p[i] = x & 0xff
  }
  return p
})
const batches = payloads.map((p) => Array.from({ length: batch }, () => p))

const program = Effect.gen(function*() {
  const log = yield* BinLogger.BinLogger
  const run = (callsPerWriter: number, latencies: Float64Array | undefined) =>
    Effect.forEach(
      batches,
      (entries, w) =>
        Effect.gen(function*() {
          for (let k = 0; k < callsPerWriter; k++) {
            const start = performance.now()
            yield* log.log(entries)
            if (latencies !== undefined) latencies[w * callsPerWriter + k] = performance.now() - start
          }
        }),
      { concurrency: "unbounded", discard: true }
    )
  const warmCalls = Math.ceil(warmup / writers / batch)
  if (warmCalls > 0) yield* run(warmCalls, undefined)
  const calls = Math.max(1, Math.floor(n / writers / batch))
  const latencies = new Float64Array(calls * writers)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  yield* run(calls, latencies)
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  latencies.sort()
  const pct = (p: number) => latencies[Math.floor(p * (latencies.length - 1))]!
  const entries = calls * writers * batch
  return {
    entries,
    entry_bytes: size,
    batch,
    writers,
    warmup_entries: warmCalls * writers * batch,
    seconds,
    entries_per_sec: entries / seconds,
    mb_per_sec: (entries * size) / 1e6 / seconds,
    log_ms_p50: pct(0.5),
    log_ms_p99: pct(0.99),
    // CPU time of this process (all threads) per entry: less noisy than wall time for comparing code changes
    cpu_us_per_entry: (cpu.user + cpu.system) / entries
  }
}).pipe(
  Effect.provide(BinLogger.layer({ walDir: `${dir}/wal`, snapDir: `${dir}/snap`, syncInterval: 0 }))
)

Effect.runPromise(program).then(
  (result) => console.log(JSON.stringify(result)),
  (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  }
)
