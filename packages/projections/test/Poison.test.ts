// Poison events: bisection down to the failing entry, retry then park, per-stream blocking, stop that survives a
// restart, and replay of parked entries from the log — on every sink (PostgreSQL skipped loudly when absent).
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as CursorRunner from "../src/CursorRunner.ts"
import * as Poison from "../src/Poison.ts"
import * as ProjectionMetrics from "../src/ProjectionMetrics.ts"
import * as SnapshotRunner from "../src/SnapshotRunner.ts"
import { appendEvents, bankEvents, foldBalances, tempDir } from "./utils/fixtures.ts"
import { fastRetry, withLog, without } from "./utils/harness.ts"
import { type Cluster, skipPostgres, startCluster } from "./utils/postgres.ts"
import { failingAt, memory, postgres, sqlite, type Variant } from "./utils/variants.ts"

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

/** The first index ≥ `from` whose event the balances projection handles (not a note). */
const handledAt = (events: ReturnType<typeof bankEvents>, from: number) => {
  for (let i = from; i <= events.length; i++) if (events[i - 1]!.type !== "Noted") return i
  throw new Error("no handled event")
}

for (const [variant, skip] of variants) {
  describe.skipIf(skip)(`poison events on the ${variant.name} sink`, () => {
    for (
      const [runnerName, make] of [["CursorRunner", CursorRunner.make], [
        "SnapshotRunner",
        SnapshotRunner.make
      ]] as const
    ) {
      it.live(`${runnerName}: a transient failure is retried alone; a permanent one is parked and the rest applied`, () =>
        Effect.gen(function*() {
          const root = yield* tempDir
          const db = yield* variant.database(root)
          const events = bankEvents(1_200, 6)
          const transient = handledAt(events, 200)
          const permanent = handledAt(events, 700)
          let transientLeft = 2
          const opened = yield* db.open({
            wrap: failingAt((i) => (i === BigInt(transient) && transientLeft-- > 0) || i === BigInt(permanent))
          })
          yield* withLog(root, (log) =>
            Effect.gen(function*() {
              const last = yield* appendEvents(log, events)
              const bound = Poison.withPolicy(opened.bound, Poison.park({ retry: Schedule.recurs(3) }))
              const runner = yield* make({ projections: [bound], batchSize: 500, retry: fastRetry })
              yield* runner.awaitPosition("balances", last)
              // everything but the permanent failure is applied, exactly once
              assert.deepStrictEqual(yield* opened.rows, foldBalances(without(events, (i) => i === permanent)))
              const parked = yield* runner.parked("balances")
              assert.strictEqual(parked.length, 1)
              const row = parked[0]!
              assert.strictEqual(row.index, BigInt(permanent))
              assert.strictEqual(row.eventType, events[permanent - 1]!.type)
              assert.strictEqual(row.streamId, events[permanent - 1]!.account)
              assert.strictEqual(row.reason, "failed")
              assert.include(row.error, `injected failure at ${permanent}`)
              const metrics = ProjectionMetrics.poisonForProjection("balances", 1)
              assert.strictEqual((yield* Metric.value(metrics.eventsParked)).count, 1)
              assert.strictEqual((yield* Metric.value(metrics.parkedEntries)).value, 1)
              const [status] = yield* runner.status
              assert.strictEqual(status!.parked, 1)
              assert.strictEqual(status!.state, "running")
            }), {}).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
        }))
    }

    it.live("per-stream ordering parks the later events of a parked stream; replay restores the whole fold", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        const events = bankEvents(1_000, 5)
        const bad = handledAt(events, 300)
        const stream = events[bad - 1]!.account
        let broken = true
        const opened = yield* db.open({ wrap: failingAt((i) => broken && i === BigInt(bad)) })
        yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const last = yield* appendEvents(log, events)
            const bound = Poison.withPolicy(opened.bound, Poison.park({ perStreamOrdering: true }))
            const runner = yield* CursorRunner.make({ projections: [bound], batchSize: 128, retry: fastRetry })
            yield* runner.awaitPosition("balances", last)
            // the stream stops at the parked event; every other stream is complete
            const blocked = (i: number, e: { readonly account: string; readonly type: string }) =>
              i >= bad && e.account === stream
            assert.deepStrictEqual(yield* opened.rows, foldBalances(without(events, blocked)))
            const parked = yield* runner.parked("balances")
            const expected = events.flatMap((e, i) => (blocked(i + 1, e) && e.type !== "Noted" ? [BigInt(i + 1)] : []))
            assert.deepStrictEqual(parked.map((p) => p.index), expected)
            assert.strictEqual(parked[0]!.reason, "failed")
            assert.isTrue(parked.slice(1).every((p) => p.reason === "blocked" && p.streamId === stream))
            // new events of the blocked stream keep being parked, in order
            const more = bankEvents(200, 5, 7).filter((e) => e.account === stream && e.type === "Withdrawn")
            const last2 = yield* appendEvents(log, more, 100, new Map([[stream, 10_000]]))
            yield* runner.awaitPosition("balances", last2)
            assert.strictEqual((yield* runner.parked("balances")).length, expected.length + more.length)
            // replaying one entry out of its stream's order is refused; replaying all (in order) resolves everything
            const refused = yield* runner.replayParked("balances", expected[1]!)
            assert.deepStrictEqual(refused.replayed, [])
            assert.strictEqual(refused.failed.length, 1)
            broken = false
            const result = yield* runner.replayParked("balances")
            assert.strictEqual(result.replayed.length, expected.length + more.length)
            assert.deepStrictEqual(result.failed, [])
            assert.deepStrictEqual(yield* runner.parked("balances"), [])
            const all = [...events, ...more]
            const rows = yield* opened.rows
            const folded = foldBalances(all)
            // replayed events were applied after later events of other streams: sums and counts match the fold,
            // the stream's last index is that of its last replayed event
            assert.deepStrictEqual(
              rows.map((r) => [r.account, r.cents, r.events]),
              folded.map((r) => [r.account, r.cents, r.events])
            )
            // the stream is unblocked: a new event of it is applied directly
            const last3 = yield* appendEvents(
              log,
              [{ type: "Deposited", account: stream, cents: 100 }],
              1,
              new Map([[stream, 20_000]])
            )
            yield* runner.awaitPosition("balances", last3)
            assert.deepStrictEqual(yield* runner.parked("balances"), [])
          }))
      }))

    it.live("replaying one parked entry applies it from the log and removes only its row; a failing replay stays parked", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        const events = bankEvents(600, 6)
        const a = handledAt(events, 100)
        const b = handledAt(events, 400)
        const failing = new Set([BigInt(a), BigInt(b)])
        const opened = yield* db.open({ wrap: failingAt((i) => failing.has(i)) })
        yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const last = yield* appendEvents(log, events)
            const runner = yield* CursorRunner.make({
              projections: [Poison.withPolicy(opened.bound, Poison.park())],
              batchSize: 100,
              retry: fastRetry
            })
            yield* runner.awaitPosition("balances", last)
            assert.deepStrictEqual((yield* runner.parked("balances")).map((p) => p.index), [BigInt(a), BigInt(b)])
            // b still fails: it stays parked, with its attempt counted
            const again = yield* runner.replayParked("balances", BigInt(b))
            assert.deepStrictEqual(again.replayed, [])
            assert.deepStrictEqual(again.failed.map((f) => f.index), [BigInt(b)])
            failing.delete(BigInt(a))
            const one = yield* runner.replayParked("balances", BigInt(a))
            assert.deepStrictEqual(one, { replayed: [BigInt(a)], failed: [] })
            const left = yield* runner.parked("balances")
            assert.deepStrictEqual(left.map((p) => [p.index, p.attempts]), [[BigInt(b), 1]])
            const rows = yield* opened.rows
            const expected = foldBalances(without(events, (i) => i === b))
            assert.deepStrictEqual(
              rows.map((r) => [r.account, r.cents, r.events]),
              expected.map((r) => [r.account, r.cents, r.events])
            )
          }))
      }))

    if (variant.durable) {
      it.live("stop halts at the failing entry after committing everything before it, and stays halted across a restart until resumed", () =>
        Effect.gen(function*() {
          const root = yield* tempDir
          const db = yield* variant.database(root)
          const events = bankEvents(900, 5)
          const bad = handledAt(events, 450)
          let broken = true
          const open = db.open({ wrap: failingAt((i) => broken && i === BigInt(bad)) })
          const policy = Poison.stop({ retry: Schedule.recurs(2) })
          const last = yield* withLog(root, (log) =>
            Effect.gen(function*() {
              const last = yield* appendEvents(log, events)
              const opened = yield* open
              const runner = yield* CursorRunner.make({
                projections: [Poison.withPolicy(opened.bound, policy)],
                batchSize: 1_000,
                retry: fastRetry
              })
              const exit = yield* Effect.exit(runner.awaitPosition("balances", last))
              assert.isTrue(Exit.isFailure(exit))
              const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
              assert.strictEqual(error?._tag, "Fail")
              assert.strictEqual(error?._tag === "Fail" ? error.error._tag : undefined, "ProjectionHalted")
              // bisection committed everything before the failing entry
              assert.strictEqual(yield* runner.position("balances"), BigInt(bad - 1))
              assert.deepStrictEqual(yield* opened.rows, foldBalances(events.slice(0, bad - 1)))
              const [status] = yield* runner.status
              assert.strictEqual(status!.state, "halted")
              return last
            }))
          yield* db.restart
          broken = false // the bug is "fixed", but the projection stays halted until resumed
          yield* withLog(root, (log) =>
            Effect.gen(function*() {
              const opened = yield* open
              const runner = yield* CursorRunner.make({
                projections: [Poison.withPolicy(opened.bound, policy)],
                batchSize: 1_000,
                retry: fastRetry
              })
              const [status] = yield* runner.status
              assert.strictEqual(status!.state, "halted")
              yield* Effect.sleep("50 millis")
              assert.strictEqual(yield* runner.position("balances"), BigInt(bad - 1))
              // the halted projection's retention hold is still where it stopped
              assert.deepStrictEqual(yield* (runner as CursorRunner.Service).holds, [[
                "projection:balances:v1",
                BigInt(bad)
              ]])
              yield* runner.resume("balances")
              yield* runner.awaitPosition("balances", last)
              assert.deepStrictEqual(yield* opened.rows, foldBalances(events))
              assert.strictEqual(yield* log.currentIndex, last)
            }))
          // and the resumed state is persisted
          yield* db.restart
          yield* withLog(root, () =>
            Effect.gen(function*() {
              const opened = yield* open
              const runner = yield* CursorRunner.make({ projections: [Poison.withPolicy(opened.bound, policy)] })
              const [status] = yield* runner.status
              assert.strictEqual(status!.state, "running")
            }))
        }))
    }
  })
}
