import * as BinLogger from "@binlog/core/BinLogger"
import * as Envelope from "@binlog/core/Envelope"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Latch from "effect/Latch"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import * as CursorRunner from "../src/CursorRunner.ts"
import * as MemorySink from "../src/MemorySink.ts"
import * as Projection from "../src/Projection.ts"
import * as ProjectionMetrics from "../src/ProjectionMetrics.ts"
import * as SnapshotRunner from "../src/SnapshotRunner.ts"
import {
  appendEvents,
  bankEvents,
  encodeEvent,
  foldBalances,
  logLayer,
  memoryBalances,
  memoryRows,
  type MemoryTables,
  Noted,
  Opened,
  tempDir
} from "./utils/fixtures.ts"

const fastRetry = Schedule.spaced("10 millis")

const withLog = <A, E>(
  root: string,
  f: (log: BinLogger.BinLogger["Service"]) => Effect.Effect<A, E, Scope.Scope | BinLogger.BinLogger>,
  options: Partial<BinLogger.Options> = {}
) =>
  Effect.gen(function*() {
    const log = yield* BinLogger.BinLogger
    return yield* Effect.scoped(f(log))
  }).pipe(Effect.provide(logLayer(root, options)))

/** An envelope whose payload is not valid JSON: decoding it fails, skipping it must not even try. */
const garbage = (type: string, account: string, version: number) =>
  Envelope.encode(Envelope.make({
    streamId: account,
    streamVersion: BigInt(version),
    eventType: type,
    schemaVersion: 1,
    eventId: `${account}/${version}`,
    timestamp: 1,
    payload: new TextEncoder().encode("{not json")
  }))

describe("typed projections", () => {
  it.live("events without a handler are skipped without decoding their payload; handled ones are decoded", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const sink = yield* MemorySink.make<MemoryTables>()
      const events = bankEvents(300, 3).filter((e) => e.type !== "Noted")
      yield* withLog(root, (log) =>
        Effect.gen(function*() {
          yield* appendEvents(log, events)
          // undecodable "Noted" entries: the balances projection has no handler for Noted
          yield* log.log([garbage("Noted", "acc-0", 999), garbage("SomethingElse", "acc-1", 999)])
          const runner = yield* SnapshotRunner.make({ projections: [Projection.bind(memoryBalances(), sink)] })
          yield* runner.drain
          assert.deepStrictEqual(yield* memoryRows(sink.client), foldBalances(events))
          const [status] = yield* runner.status
          assert.strictEqual(status!.failures, 0)
        }))
    }))

  it.live("an undecodable event with a handler fails the projection with EventDecodeError at its index", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const sink = yield* MemorySink.make<{ notes: string }>()
      const notes = Projection.make<MemorySink.MemoryStore<{ notes: string }>>()({
        name: "notes",
        version: 1,
        events: { Noted },
        handlers: { Noted: (e, { client, envelope }) => client.put("notes", envelope.streamId, e.text) }
      })
      yield* withLog(root, (log) =>
        Effect.gen(function*() {
          yield* log.log([encodeEvent({ type: "Noted", account: "a", text: "fine" }, 1), garbage("Noted", "b", 1)])
          const runner = yield* CursorRunner.make({
            projections: [Projection.bind(notes, sink)],
            retry: Schedule.recurs(1)
          })
          const exit = yield* Effect.exit(runner.awaitPosition("notes", 2n))
          assert.isTrue(Exit.isFailure(exit))
          const [status] = yield* runner.status
          assert.strictEqual(status!.state, "stopped")
          assert.strictEqual(status!.position, 0n)
          assert.match(status!.lastError ?? "", /failed at index 2 \(Noted\).*cannot decode Noted v1 at index 2/)
          assert.deepStrictEqual(yield* sink.client.dump, {})
        }))
    }))

  it.live("entries that are not envelopes fail a typed projection unless its policy is to skip them", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const strict = yield* MemorySink.make<MemoryTables>()
      const lenient = yield* MemorySink.make<MemoryTables>()
      const opened = (name: string, onInvalid: Projection.InvalidPolicy) =>
        Projection.make<MemorySink.MemoryStore<MemoryTables>>()({
          name,
          version: 1,
          events: { Opened },
          onInvalid,
          handlers: {
            Opened: (_, { client, envelope, index }) =>
              client.put("balances", envelope.streamId, { cents: 0, events: 1, lastIndex: Number(index) })
          }
        })
      yield* withLog(root, (log) =>
        Effect.gen(function*() {
          yield* log.log([
            new TextEncoder().encode("plain text"),
            encodeEvent({ type: "Opened", account: "x", owner: "o" }, 1)
          ])
          const runner = yield* CursorRunner.make({
            projections: [
              Projection.bind(opened("strict", "fail"), strict),
              Projection.bind(opened("lenient", "skip"), lenient)
            ],
            retry: Schedule.recurs(0)
          })
          yield* runner.awaitPosition("lenient", 2n)
          assert.deepStrictEqual(yield* lenient.client.dump, { balances: { x: { cents: 0, events: 1, lastIndex: 2 } } })
          assert.isTrue(Exit.isFailure(yield* Effect.exit(runner.awaitPosition("strict", 2n))))
          const status = yield* runner.status
          assert.match(status[0]!.lastError ?? "", /not a valid event envelope/)
        }))
    }))

  it.live("a raw projection sees every entry with its index; filter skips entries before any Effect runs", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const sink = yield* MemorySink.make<{ lines: string }>()
      const seen: Array<bigint> = []
      const lines = Projection.raw<MemorySink.MemoryStore<{ lines: string }>>()({
        name: "lines",
        version: 1,
        filter: (entry) => entry.data[0] !== 0x23, // "#" lines are comments
        apply: (entry, { client, index }) =>
          Effect.andThen(
            Effect.sync(() => seen.push(index)),
            client.put("lines", String(index), new TextDecoder().decode(entry.data))
          )
      })
      yield* withLog(root, (log) =>
        Effect.gen(function*() {
          const enc = new TextEncoder()
          yield* log.log(["a", "# skip", "b"].map((s) => enc.encode(s)))
          const runner = yield* SnapshotRunner.make({ projections: [Projection.bind(lines, sink)] })
          yield* runner.drain
        }))
      assert.deepStrictEqual(seen, [1n, 3n])
      assert.deepStrictEqual(yield* sink.client.dump, { lines: { "1": "a", "3": "b" } })
    }))

  it("a handler key must name its event type", () => {
    assert.throws(() =>
      Projection.make<unknown>()({
        name: "bad",
        version: 1,
        events: { Renamed: Opened },
        handlers: { Renamed: () => Effect.void }
      }), /events.Renamed is the event type Opened/)
  })
})

describe("runner safety checks", () => {
  it.live("two projections with one name are refused", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const a = yield* MemorySink.make<MemoryTables>()
      const b = yield* MemorySink.make<MemoryTables>()
      const error = yield* withLog(root, () =>
        Effect.flip(SnapshotRunner.make({
          projections: [Projection.bind(memoryBalances(), a), Projection.bind(memoryBalances(), b)]
        })))
      assert.strictEqual(error._tag, "DuplicateProjection")
    }))

  it.live("a checkpoint beyond the log's durable index is refused (the read model belongs to another log)", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const sink = yield* MemorySink.make<MemoryTables>()
      yield* sink.writeCheckpoint({ projection: "balances", version: 1 }, { position: 50n, timestamp: undefined })
      const error = yield* withLog(root, (log) =>
        Effect.gen(function*() {
          yield* appendEvents(log, bankEvents(10))
          return yield* Effect.flip(CursorRunner.make({ projections: [Projection.bind(memoryBalances(), sink)] }))
        }))
      assert.strictEqual(error._tag, "CheckpointAhead")
    }))

  it.live("a projection that needs purged entries stops with CheckpointGap instead of skipping them", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const events = bankEvents(400, 4)
      yield* withLog(root, (log) =>
        Effect.gen(function*() {
          yield* appendEvents(log, events, 10)
          // release everything: purge deletes the old segments
          yield* log.withSnapshot(() => Effect.void)
          const first = (yield* log.status).firstIndex
          assert.isAbove(Number(first), 1)
          const sink = yield* MemorySink.make<MemoryTables>()
          const runner = yield* CursorRunner.make({ projections: [Projection.bind(memoryBalances(), sink)] })
          const exit = yield* Effect.exit(runner.awaitPosition("balances", 1n))
          assert.isTrue(Exit.isFailure(exit))
          const [status] = yield* runner.status
          assert.strictEqual(status!.state, "stopped")
          assert.match(status!.lastError ?? "", /cannot continue: the log starts at index/)
          assert.deepStrictEqual(yield* sink.client.dump, {})
        }), { segmentSizeBytes: 1024 })
    }))

  it.live("closing the runner's scope rolls back the open transaction and releases its lease as failed", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const sink = yield* MemorySink.make<MemoryTables>()
      const events = bankEvents(50)
      const started = yield* Latch.make(false)
      const slow = Projection.raw<MemorySink.MemoryStore<MemoryTables>>()({
        name: "slow",
        version: 1,
        apply: (entry, { client }) =>
          Effect.andThen(
            client.put("balances", String(entry.index), { cents: 1, events: 1, lastIndex: 0 }),
            Effect.andThen(started.open, Effect.never)
          )
      })
      yield* withLog(root, (log) =>
        Effect.gen(function*() {
          yield* appendEvents(log, events)
          yield* Effect.scoped(Effect.gen(function*() {
            yield* SnapshotRunner.make({ projections: [Projection.bind(slow, sink)] })
            yield* started.await
            assert.isDefined((yield* log.status).lease)
          }))
          // the scope closed: lease back, nothing committed, nothing released
          assert.isUndefined((yield* log.status).lease)
          assert.strictEqual(yield* log.snapshotIndex, 0n)
          assert.deepStrictEqual(yield* sink.client.dump, {})
          assert.strictEqual((yield* sink.readCheckpoint({ projection: "slow", version: 1 })).position, 0n)
        }))
    }))
})

describe("observability", () => {
  it.live("spans per range and per transaction carry from/to/entries/duration; metrics count applied and skipped", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const spans: Array<Tracer.NativeSpan> = []
      const recorder = Tracer.make({
        span(options) {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const events = bankEvents(500, 4)
      const sink = yield* MemorySink.make<MemoryTables>()
      yield* withLog(root, (log) =>
        Effect.gen(function*() {
          const last = yield* appendEvents(log, events)
          const runner = yield* SnapshotRunner.make({
            projections: [Projection.bind(memoryBalances("observed"), sink)],
            batchSize: 200
          })
          yield* runner.awaitReleased(last)
        })).pipe(Effect.withTracer(recorder), Effect.provideService(Metric.MetricRegistry, new Map()))
      const ranges = spans.filter((s) => s.name === "SnapshotRunner.range")
      assert.isAtLeast(ranges.length, 1)
      const range = ranges[0]!
      assert.strictEqual(range.attributes.get("from"), "1")
      assert.strictEqual(range.attributes.get("to"), "500")
      assert.strictEqual(range.attributes.get("entries"), "500")
      assert.strictEqual(typeof range.attributes.get("durationMs"), "number")
      const transactions = spans.filter((s) => s.name === "Projection.transaction")
      assert.isAtLeast(transactions.length, 3)
      const first = transactions[0]!
      assert.strictEqual(first.attributes.get("projection"), "observed")
      assert.strictEqual(first.attributes.get("from"), "1")
      assert.isAtMost(Number(first.attributes.get("entries")), 200)
      assert.strictEqual(typeof first.attributes.get("durationMs"), "number")
      // both kinds of span end, and lie within the range
      assert.strictEqual(first.status._tag, "Ended")
      assert.strictEqual(range.status._tag, "Ended")
    }))

  it.live("applied, skipped and transaction metrics are tagged with the projection", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const events = bankEvents(400, 3)
      const noted = events.filter((e) => e.type === "Noted").length
      const sink = yield* MemorySink.make<MemoryTables>()
      yield* withLog(root, (log) =>
        Effect.gen(function*() {
          yield* appendEvents(log, events)
          const runner = yield* CursorRunner.make({
            projections: [Projection.bind(memoryBalances("counted"), sink)],
            batchSize: 100
          })
          yield* runner.drain
          const m = ProjectionMetrics.forProjection("counted", 1)
          assert.strictEqual((yield* Metric.value(m.eventsApplied)).count, events.length - noted)
          assert.strictEqual((yield* Metric.value(m.eventsSkipped)).count, noted)
          const batches = yield* Metric.value(m.batchEntries)
          assert.strictEqual(batches.sum, events.length)
          assert.isAtMost(batches.max, 100)
          assert.strictEqual((yield* Metric.value(m.transactionDuration)).count, batches.count)
          assert.strictEqual((yield* Metric.value(m.position)).value, events.length)
        })).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
    }))
})

describe("retention", () => {
  it.live("the cursor runner's retention hold keeps the segments it still needs through purges, then moves on", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      let broken = true
      const events = bankEvents(600, 4)
      const sink = yield* MemorySink.make<MemoryTables>()
      const balances = memoryBalances()
      const stuck = Projection.fromParts<MemorySink.MemoryStore<MemoryTables>, unknown, never>({
        ...balances,
        prepare: (entry) => (broken && entry.index > 100n ? "stuck" : balances.prepare(entry)),
        begin: (client) => {
          const work = balances.begin(client)
          return {
            apply: (entry, prepared) =>
              prepared === "stuck" ? Effect.fail(new Error("stuck")) : work.apply(entry, prepared),
            end: work.end
          }
        }
      })
      yield* withLog(root, (log) =>
        Effect.gen(function*() {
          const last = yield* appendEvents(log, events, 10)
          const runner = yield* CursorRunner.make({
            projections: [Projection.bind(stuck, sink)],
            batchSize: 50,
            retry: fastRetry
          })
          // stuck below 101 (transactions follow the log's read chunks, so the exact position depends on them)
          while ((yield* runner.status)[0]!.failures === 0) yield* Effect.sleep("5 millis")
          const position = yield* runner.position("balances")
          assert.isAtMost(Number(position), 100)
          assert.deepStrictEqual(yield* runner.holds, [[CursorRunner.holdName("balances", 1), position + 1n]])
          // another lease holder releases everything: purge runs, but the hold keeps position + 1 readable
          yield* log.withSnapshot(() => Effect.void)
          const status = yield* log.status
          assert.isAtMost(Number(status.firstIndex), Number(position + 1n))
          assert.isTrue(status.segments.length > 1)
          assert.isTrue(
            status.segments.some((s) =>
              s.keptBy._tag === "Hold" && s.keptBy.name === CursorRunner.holdName("balances", 1)
            ),
            JSON.stringify(status.segments.map((s) => s.keptBy), (_, v) => typeof v === "bigint" ? String(v) : v)
          )
          broken = false
          yield* runner.awaitPosition("balances", last)
          assert.deepStrictEqual(yield* memoryRows(sink.client), foldBalances(events))
          assert.deepStrictEqual(yield* runner.holds, [[CursorRunner.holdName("balances", 1), last + 1n]])
          // with the hold moved to the end, a purge may now delete everything before the last segment
          yield* log.purge
          const after = yield* log.status
          assert.isAbove(Number(after.firstIndex), 101)
        }), { segmentSizeBytes: 1024 })
    }))
})
