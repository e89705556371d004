// The runner suite, run against every sink: memory, SQLite and PostgreSQL (a throwaway cluster; skipped loudly
// when the server binaries are absent, failing instead when CI is set).
import * as BinLogger from "@binlog/core/BinLogger"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as CursorRunner from "../src/CursorRunner.ts"
import * as ProjectionMetrics from "../src/ProjectionMetrics.ts"
import type * as Runner from "../src/Runner.ts"
import * as SnapshotRunner from "../src/SnapshotRunner.ts"
import { appendEvents, bankEvents, encodeAll, foldBalances, logLayer, T0, tempDir } from "./utils/fixtures.ts"
import { type Cluster, skipPostgres, startCluster } from "./utils/postgres.ts"
import {
  countingTransactions,
  failingAt,
  failingCommits,
  gatedBy,
  memory,
  postgres,
  sqlite,
  type Variant
} from "./utils/variants.ts"

const fastRetry = Schedule.spaced("10 millis")

/** Runs `f` with a log on `root`; `f`'s own scope (runners) closes before the log does. */
const withLog = <A, E>(
  root: string,
  f: (log: BinLogger.BinLogger["Service"]) => Effect.Effect<A, E, Scope.Scope | BinLogger.BinLogger>,
  options: Partial<BinLogger.Options> = {}
) =>
  Effect.gen(function*() {
    const log = yield* BinLogger.BinLogger
    return yield* Effect.scoped(f(log))
  }).pipe(Effect.provide(logLayer(root, options)))

type MakeRunner = (
  options: Runner.Options<unknown, never>
) => Effect.Effect<Runner.Runner, unknown, BinLogger.BinLogger | Scope.Scope>

const runners: ReadonlyArray<readonly [string, MakeRunner]> = [
  ["SnapshotRunner", (o) => SnapshotRunner.make(o)],
  ["CursorRunner", (o) => CursorRunner.make(o)]
]

/** Polls a condition every few ms (for states that have no event to wait on, such as "has failed once"). */
const eventually = (check: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    while (!(yield* check)) yield* Effect.sleep("5 millis")
  })

const skipPg = skipPostgres()
let cluster: Cluster | undefined
beforeAll(async () => {
  if (!skipPg) cluster = await startCluster({ durability: "fast" })
}, 60_000)
afterAll(() => cluster?.stop())

const variants: ReadonlyArray<readonly [Variant, boolean]> = [
  [memory, false],
  [sqlite, false],
  [postgres(() => cluster!), skipPg]
]

for (const [variant, skip] of variants) {
  describe.skipIf(skip)(`runners on the ${variant.name} sink`, () => {
    it.live("the snapshot runner releases a lease only after the sink committed, and applies each event once", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        const entered = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        const opened = yield* db.open({ wrap: gatedBy(entered, gate) })
        const events = bankEvents(2_000, 7)
        yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const last = yield* appendEvents(log, events)
            const runner = yield* SnapshotRunner.make({ projections: [opened.bound], batchSize: 250, retry: fastRetry })
            yield* Deferred.await(entered)
            // a lease is out and its first transaction is open: nothing is released, nothing is visible
            const status = yield* log.status
            assert.deepStrictEqual(status.lease, { prevIndex: 0n, currentIndex: last })
            assert.strictEqual(yield* log.snapshotIndex, 0n)
            assert.deepStrictEqual(yield* opened.rows, [])
            yield* Deferred.succeed(gate, undefined)
            yield* runner.awaitReleased(last)
            assert.strictEqual(yield* log.snapshotIndex, last)
            assert.deepStrictEqual(yield* opened.rows, foldBalances(events))
          }))
      }))

    it.live("a failed commit releases the lease as failed; the range comes back and is applied exactly once", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        let failures = 3
        const opened = yield* db.open({ wrapSink: failingCommits(() => failures-- > 0) })
        const events = bankEvents(1_500, 5)
        yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const last = yield* appendEvents(log, events)
            const runner = yield* SnapshotRunner.make({ projections: [opened.bound], batchSize: 400, retry: fastRetry })
            yield* runner.awaitReleased(last)
            assert.strictEqual(yield* log.snapshotIndex, last)
            assert.deepStrictEqual(yield* opened.rows, foldBalances(events))
            const [status] = yield* runner.status
            assert.strictEqual(status!.failures, 3)
            assert.strictEqual(status!.state, "running")
          }))
      }))

    for (const [runnerName, makeRunner] of runners) {
      it.live(`${runnerName}: a failure mid-range re-delivers it and the checkpoint prevents double application`, () =>
        Effect.gen(function*() {
          const root = yield* tempDir
          const db = yield* variant.database(root)
          let armed = true
          const name = `mid_${runnerName.toLowerCase()}`
          const opened = yield* db.open({
            name,
            wrap: failingAt((i) => {
              if (armed && i === 1_234n) {
                armed = false
                return true
              }
              return false
            })
          })
          const events = bankEvents(2_000, 9)
          yield* withLog(root, (log) =>
            Effect.gen(function*() {
              const last = yield* appendEvents(log, events)
              const runner = yield* makeRunner({ projections: [opened.bound], batchSize: 100, retry: fastRetry })
              yield* runner.drain
              assert.strictEqual(yield* runner.position(name), last)
              assert.deepStrictEqual(yield* opened.rows, foldBalances(events))
              const [status] = yield* runner.status
              assert.strictEqual(status!.failures, 1)
              assert.match(status!.lastError ?? "", /injected failure at 1234/)
            }))
        }))

      it.live(`${runnerName}: awaitPosition gives a query read-your-writes while the runner tails the log live`, () =>
        Effect.gen(function*() {
          const root = yield* tempDir
          const db = yield* variant.database(root)
          const opened = yield* db.open()
          const events = bankEvents(40, 3, 5)
          const data = encodeAll(events)
          const latenciesMs: Array<number> = []
          yield* withLog(root, (log) =>
            Effect.gen(function*() {
              const runner = yield* makeRunner({ projections: [opened.bound], retry: fastRetry })
              for (let i = 0; i < data.length; i++) {
                const started = performance.now()
                const { last } = yield* log.log([data[i]!])
                yield* runner.awaitPosition("balances", last)
                latenciesMs.push(performance.now() - started)
                // the query sees its own write
                assert.deepStrictEqual(yield* opened.rows, foldBalances(events.slice(0, i + 1)))
              }
            }))
          latenciesMs.sort((a, b) => a - b)
          const p50 = latenciesMs[Math.floor(latenciesMs.length / 2)]!
          const max = latenciesMs[latenciesMs.length - 1]!
          console.log(
            `${variant.name}/${runnerName}: append → visible in the read model: p50 ${p50.toFixed(2)} ms, ` +
              `max ${max.toFixed(2)} ms over ${latenciesMs.length} single-event appends (measured, not asserted)`
          )
        }))

      it.live(`${runnerName}: a range larger than batchSize is split into transactions of at most batchSize`, () =>
        Effect.gen(function*() {
          const root = yield* tempDir
          const db = yield* variant.database(root)
          const sizes: Array<number> = []
          const opened = yield* db.open({ wrap: countingTransactions(sizes) })
          const events = bankEvents(2_500, 11)
          yield* withLog(root, (log) =>
            Effect.gen(function*() {
              yield* appendEvents(log, events, 500)
              const runner = yield* makeRunner({ projections: [opened.bound], batchSize: 300, retry: fastRetry })
              yield* runner.drain
            }))
          assert.isAtLeast(sizes.length, Math.ceil(2_500 / 300))
          assert.isAtMost(Math.max(...sizes), 300)
          assert.strictEqual(sizes.reduce((a, b) => a + b, 0), 2_500)
          assert.deepStrictEqual(yield* opened.rows, foldBalances(events))
        }))
    }

    it.live("one failing projection does not hold the others back, and the lease is not released until it recovers", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        let broken = true
        const healthy = yield* db.open({ name: "healthy" })
        const failing = yield* db.open({ name: "failing", wrap: failingAt((i) => broken && i > 700n) })
        const events = bankEvents(1_200, 6)
        yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const last = yield* appendEvents(log, events)
            const runner = yield* SnapshotRunner.make({
              projections: [healthy.bound, failing.bound],
              batchSize: 100,
              retry: fastRetry
            })
            yield* runner.awaitPosition("healthy", last)
            yield* eventually(Effect.map(runner.status, (s) => s[1]!.failures >= 2))
            assert.deepStrictEqual(yield* healthy.rows, foldBalances(events))
            assert.strictEqual(yield* runner.position("failing"), 700n)
            assert.deepStrictEqual(yield* failing.rows, foldBalances(events.slice(0, 700)))
            assert.strictEqual(yield* log.snapshotIndex, 0n)
            assert.strictEqual((yield* runner.status)[1]!.state, "retrying")
            broken = false
            yield* runner.awaitReleased(last)
            assert.deepStrictEqual(yield* failing.rows, foldBalances(events))
            assert.deepStrictEqual(yield* healthy.rows, foldBalances(events))
            assert.strictEqual(yield* log.snapshotIndex, last)
          }))
      }))

    it.live("lag is durable index − checkpoint, in entries and seconds, as metrics tagged with the projection", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        const stuckAt = 300n
        const healthy = yield* db.open({ name: "lag_ok" })
        const stuck = yield* db.open({ name: "lag_stuck", wrap: failingAt((i) => i > stuckAt) })
        const events = bankEvents(1_000, 4)
        yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const last = yield* appendEvents(log, events)
            const runner = yield* CursorRunner.make({
              projections: [healthy.bound, stuck.bound],
              batchSize: 100,
              retry: fastRetry
            })
            yield* runner.awaitPosition("lag_ok", last)
            yield* eventually(Effect.map(runner.status, (s) => s[1]!.failures >= 1))
            const before = Date.now()
            const lag = yield* runner.lag("lag_stuck")
            const after = Date.now()
            assert.strictEqual(lag.position, stuckAt)
            assert.strictEqual(lag.durableIndex, last)
            assert.strictEqual(lag.entries, last - stuckAt)
            // the checkpoint entry's envelope timestamp: fixture events carry T0 + streamVersion seconds
            const checkpointTimestamp = T0 + 1000 * versionAt(events, Number(stuckAt))
            assert.isAtLeast(lag.seconds!, (before - checkpointTimestamp) / 1000)
            assert.isAtMost(lag.seconds!, (after - checkpointTimestamp) / 1000)
            assert.deepStrictEqual(yield* runner.lag("lag_ok"), {
              projection: "lag_ok",
              position: last,
              durableIndex: last,
              entries: 0n,
              seconds: 0
            })
            const stuckMetrics = ProjectionMetrics.forProjection("lag_stuck", 1)
            const okMetrics = ProjectionMetrics.forProjection("lag_ok", 1)
            assert.strictEqual((yield* Metric.value(stuckMetrics.lagEntries)).value, Number(last - stuckAt))
            assert.strictEqual((yield* Metric.value(okMetrics.lagEntries)).value, 0)
            assert.strictEqual((yield* Metric.value(stuckMetrics.position)).value, Number(stuckAt))
            assert.isAbove((yield* Metric.value(stuckMetrics.lagSeconds)).value, 0)
            assert.isAtLeast((yield* Metric.value(stuckMetrics.failures)).count, 1)
          }), {}).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
      }))

    it.live("the cursor runner starts later from its own checkpoint, catches up, then follows live", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        const early = yield* db.open({ name: "early" })
        const late = yield* db.open({ name: "late" })
        const first = bankEvents(800, 5, 1)
        const second = bankEvents(300, 5, 2).filter((e) => e.type !== "Opened")
        yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const versions = new Map<string, number>()
            yield* appendEvents(log, first, 100, versions)
            const snapshots = yield* SnapshotRunner.make({ projections: [early.bound], retry: fastRetry })
            yield* snapshots.drain
            // the late projection starts from 0 with its own cursor while the snapshot runner keeps going
            const cursor = yield* CursorRunner.make({ projections: [late.bound], retry: fastRetry })
            const last = yield* appendEvents(log, second, 7, versions)
            yield* cursor.awaitPosition("late", last)
            yield* snapshots.awaitPosition("early", last)
            const expected = foldBalances([...first, ...second])
            assert.deepStrictEqual(yield* late.rows, expected)
            assert.deepStrictEqual(yield* early.rows, expected)
          }))
      }))

    if (variant.durable) {
      it.live("two runners of the same projection never apply an entry twice (the checkpoint row is locked)", () =>
        Effect.gen(function*() {
          const root = yield* tempDir
          const db = yield* variant.database(root)
          const a = yield* db.open()
          const b = yield* db.open()
          const events = bankEvents(1_500, 8)
          yield* withLog(root, (log) =>
            Effect.gen(function*() {
              const last = yield* appendEvents(log, events, 30)
              const one = yield* CursorRunner.make({ projections: [a.bound], batchSize: 40, retry: fastRetry })
              const two = yield* CursorRunner.make({ projections: [b.bound], batchSize: 40, retry: fastRetry })
              yield* one.awaitPosition("balances", last)
              yield* two.awaitPosition("balances", last)
              assert.deepStrictEqual(yield* a.rows, foldBalances(events))
            }))
        }))

      for (const [runnerName, makeRunner] of runners) {
        it.live(`${runnerName}: after a restart it resumes from the stored checkpoint without re-applying`, () =>
          Effect.gen(function*() {
            const root = yield* tempDir
            const db = yield* variant.database(root)
            const first = bankEvents(600, 5, 3)
            const second = bankEvents(400, 5, 4).filter((e) => e.type !== "Opened")
            const versions = new Map<string, number>()
            const mid = yield* withLog(root, (log) =>
              Effect.gen(function*() {
                const opened = yield* db.open()
                const last = yield* appendEvents(log, first, 50, versions)
                const runner = yield* makeRunner({ projections: [opened.bound], retry: fastRetry })
                yield* runner.drain
                return last
              }))
            yield* db.restart
            yield* withLog(root, (log) =>
              Effect.gen(function*() {
                const opened = yield* db.open()
                const last = yield* appendEvents(log, second, 50, versions)
                const runner = yield* makeRunner({ projections: [opened.bound], retry: fastRetry })
                assert.isAtLeast(Number(yield* runner.position("balances")), Number(mid))
                yield* runner.drain
                assert.strictEqual(yield* runner.position("balances"), last)
                assert.deepStrictEqual(yield* opened.rows, foldBalances([...first, ...second]))
              }))
          }))
      }
    }
  })
}

/** The stream version of the event at 1-based `index` (events are encoded with per-stream versions). */
const versionAt = (events: ReturnType<typeof bankEvents>, index: number): number => {
  const target = events[index - 1]!
  let v = 0
  for (let i = 0; i < index; i++) if (events[i]!.account === target.account) v++
  return v
}
