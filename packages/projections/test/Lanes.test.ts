// Partitioned lanes: the documented hash, per-stream order under random interleavings (fast-check), one
// checkpoint per lane that survives an interrupted run, and changing the number of lanes safely — on every sink.
import * as Envelope from "@binlog/core/Envelope"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as CursorRunner from "../src/CursorRunner.ts"
import * as Lanes from "../src/Lanes.ts"
import * as MemorySink from "../src/MemorySink.ts"
import * as Poison from "../src/Poison.ts"
import * as Projection from "../src/Projection.ts"
import * as SnapshotRunner from "../src/SnapshotRunner.ts"
import { appendEvents, type BankEvent, bankEvents, foldBalances, tempDir } from "./utils/fixtures.ts"
import { eventually, fastRetry, withLog } from "./utils/harness.ts"
import { type Cluster, skipPostgres, startCluster } from "./utils/postgres.ts"
import { failingAt, postgres, sqlite, type Variant } from "./utils/variants.ts"

const skipPg = skipPostgres()
let cluster: Cluster | undefined
beforeAll(async () => {
  if (!skipPg) cluster = await startCluster({ durability: "fast" })
}, 60_000)
afterAll(() => cluster?.stop())

describe("lane assignment", () => {
  it("is FNV-1a 32 of the UTF-8 stream id modulo the lane count (published test vectors)", () => {
    assert.strictEqual(Lanes.fnv1a32(""), 0x811c9dc5)
    assert.strictEqual(Lanes.fnv1a32("a"), 0xe40c292c)
    assert.strictEqual(Lanes.fnv1a32("foobar"), 0xbf9cf968)
    assert.strictEqual(Lanes.laneOf("foobar", 7), 0xbf9cf968 % 7)
    assert.strictEqual(Lanes.laneOf(undefined, 7), 0)
    assert.strictEqual(Lanes.laneName("p", 2, 4), "p#lane2/4")
    assert.deepStrictEqual(Lanes.parseLaneName("p#lane2/4"), { projection: "p", lane: 2, lanes: 4 })
    assert.deepStrictEqual(Lanes.parseLaneName("p"), { projection: "p", lane: 0, lanes: 1 })
  })
})

interface OrderTables extends Record<string, unknown> {
  readonly last: { readonly version: number; readonly violations: number }
}

/** A projection that checks each stream's versions arrive as 1, 2, 3, … (a violation is counted, not thrown). */
const orderChecker = (yields: ReadonlyArray<number>) => {
  let n = 0
  return Projection.raw<MemorySink.MemoryStore<OrderTables>>()({
    name: "order",
    version: 1,
    apply: (entry, { client }) =>
      Effect.gen(function*() {
        const h = Envelope.decodeHeader(entry.data)
        if (Result.isFailure(h)) return yield* Effect.die(h.failure)
        const stream = h.success.streamId
        const version = Number(h.success.streamVersion)
        // random interleaving: lanes give way to each other between events
        for (let i = yields[n++ % yields.length]!; i > 0; i--) yield* Effect.yieldNow
        yield* client.modify("last", stream, (row) => ({
          version,
          violations: (row?.violations ?? 0) + (version === (row?.version ?? 0) + 1 ? 0 : 1)
        }))
      }),
    stream: (entry) => {
      const h = Envelope.decodeHeader(entry.data)
      return Result.isSuccess(h) ? h.success.streamId : undefined
    }
  })
}

describe("lanes", () => {
  it.live(
    "apply each stream's events in log order whatever the interleaving, with every lane's checkpoint at the end",
    () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 150 }),
            fc.integer({ min: 1, max: 6 }),
            fc.integer({ min: 1, max: 40 }),
            fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 16 }),
            fc.boolean(),
            (streams, lanes, batchSize, yields, snapshot) =>
              Effect.runPromise(Effect.scoped(Effect.gen(function*() {
                const root = yield* tempDir
                const events = streams.map((s): BankEvent => ({ type: "Deposited", account: `s${s}`, cents: 1 }))
                const sink = yield* MemorySink.make<OrderTables>()
                yield* withLog(root, (log) =>
                  Effect.gen(function*() {
                    // appended in random batch sizes while the runner is already running
                    const bound = Lanes.withLanes(Projection.bind(orderChecker(yields), sink), lanes)
                    const runner = snapshot
                      ? yield* SnapshotRunner.make({ projections: [bound], batchSize })
                      : yield* CursorRunner.make({ projections: [bound], batchSize })
                    const last = yield* appendEvents(log, events, 1 + (batchSize % 13))
                    yield* runner.awaitPosition("order", last)
                    const rows = yield* sink.client.rows("last")
                    const counts = new Map<string, number>()
                    for (const e of events) counts.set(e.account, (counts.get(e.account) ?? 0) + 1)
                    assert.deepStrictEqual(
                      rows.map(([stream, r]) => [stream, r.version, r.violations]),
                      [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([s, n]) => [s, n, 0])
                    )
                    const checkpoints = yield* sink.checkpoints
                    assert.strictEqual(checkpoints.length, lanes)
                    assert.isTrue(checkpoints.every((c) => c.position === last))
                  }))
              })))
          ),
          { numRuns: 25 }
        )
      ),
    30_000
  )
})

for (
  const [variant, skip] of [[sqlite, false], [postgres(() => cluster!), skipPg]] as ReadonlyArray<
    readonly [Variant, boolean]
  >
) {
  describe.skipIf(skip)(`lanes on the ${variant.name} sink`, () => {
    it.live("each lane keeps its own checkpoint: after an interrupted run every lane resumes from it, each event once", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        const events = bankEvents(2_000, 12)
        // one stream's lane is stuck on a failing event; the other lanes go on
        const bad = events.findIndex((e, i) => i > 600 && e.type === "Withdrawn") + 1
        const stuckLane = Lanes.laneOf(events[bad - 1]!.account, 4)
        let broken = true
        const open = db.open({ wrap: failingAt((i) => broken && i === BigInt(bad)) })
        const last = yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const last = yield* appendEvents(log, events)
            const opened = yield* open
            const runner = yield* CursorRunner.make({
              projections: [Lanes.withLanes(opened.bound, 4)],
              batchSize: 100,
              retry: fastRetry
            })
            const status = runner.status
            yield* eventually(
              Effect.map(status, (s) => s.every((l, lane) => lane === stuckLane ? l.failures > 0 : l.position === last))
            )
            const checkpoints = yield* opened.sink.checkpoints
            assert.deepStrictEqual(checkpoints.map((c) => c.projection), [0, 1, 2, 3].map((l) => `balances#lane${l}/4`))
            for (const c of checkpoints) {
              if (c.projection === `balances#lane${stuckLane}/4`) assert.isBelow(Number(c.position), bad)
              else assert.strictEqual(c.position, last)
            }
            // the projection's position is its slowest lane's
            assert.isBelow(Number(yield* runner.position("balances")), bad)
            return last
          }))
        yield* db.restart
        broken = false
        yield* withLog(root, () =>
          Effect.gen(function*() {
            const opened = yield* open
            const runner = yield* CursorRunner.make({
              projections: [Lanes.withLanes(opened.bound, 4)],
              batchSize: 100,
              retry: fastRetry
            })
            yield* runner.awaitPosition("balances", last)
            assert.deepStrictEqual(yield* opened.rows, foldBalances(events))
          }))
      }))

    it.live("changing the number of lanes drains the old lanes to a common position first, then re-keys them", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        const events = bankEvents(1_500, 9)
        const bad = events.findIndex((e, i) => i > 500 && e.type === "Deposited") + 1
        let broken = true
        const open = db.open({ wrap: failingAt((i) => broken && i === BigInt(bad)) })
        const last = yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const last = yield* appendEvents(log, events)
            const opened = yield* open
            const runner = yield* CursorRunner.make({
              projections: [Lanes.withLanes(opened.bound, 3)],
              batchSize: 64,
              retry: fastRetry
            })
            yield* eventually(Effect.map(runner.status, (s) =>
              s.some((l) =>
                l.failures > 0
              ) && s.filter((l) => l.position === last).length === 2))
            return last
          }))
        yield* db.restart
        broken = false
        // more events arrive; then the projection restarts with 5 lanes
        const more = bankEvents(300, 9, 3)
        yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const opened = yield* open
            const versions = new Map<string, number>()
            for (const e of events) versions.set(e.account, (versions.get(e.account) ?? 0) + 1)
            const last2 = yield* appendEvents(log, more, 50, versions)
            const runner = yield* CursorRunner.make({
              projections: [Lanes.withLanes(opened.bound, 5)],
              batchSize: 64,
              retry: fastRetry
            })
            const checkpoints = yield* opened.sink.checkpoints
            assert.deepStrictEqual(
              checkpoints.map((c) => c.projection),
              [0, 1, 2, 3, 4].map((l) => `balances#lane${l}/5`)
            )
            // the old lanes were drained to the old layout's highest position before re-keying
            assert.isTrue(checkpoints.every((c) => c.position === last))
            yield* runner.awaitPosition("balances", last2)
            const all = [...events, ...more]
            const rows = yield* opened.rows
            assert.deepStrictEqual(
              rows.map((r) => [r.account, r.cents, r.events]),
              foldBalances(all).map((r) => [r.account, r.cents, r.events])
            )
          }))
        // and back to one lane (the plain checkpoint name)
        yield* db.restart
        yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const opened = yield* open
            yield* CursorRunner.make({ projections: [opened.bound] })
            const checkpoints = yield* opened.sink.checkpoints
            assert.deepStrictEqual(checkpoints.map((c) => [c.projection, c.position]), [[
              "balances",
              yield* log.currentIndex
            ]])
          }))
      }))

    it.live("changing the number of lanes is refused while an old lane has parked entries", () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const db = yield* variant.database(root)
        const events = bankEvents(400, 6)
        const bad = events.findIndex((e, i) => i > 100 && e.type === "Deposited") + 1
        const open = db.open({ wrap: failingAt((i) => i === BigInt(bad)) })
        yield* withLog(root, (log) =>
          Effect.gen(function*() {
            const last = yield* appendEvents(log, events)
            const opened = yield* open
            const runner = yield* CursorRunner.make({
              projections: [Lanes.withLanes(Poison.withPolicy(opened.bound, Poison.park()), 2)],
              retry: fastRetry
            })
            yield* runner.awaitPosition("balances", last)
          }))
        yield* db.restart
        yield* withLog(root, () =>
          Effect.gen(function*() {
            const opened = yield* open
            const error = yield* Effect.flip(CursorRunner.make({ projections: [Lanes.withLanes(opened.bound, 3)] }))
            assert.strictEqual(error._tag, "LanesRescaleRefused")
          }))
      }))
  })
}
