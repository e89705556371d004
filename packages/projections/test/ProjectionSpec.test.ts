import * as EventType from "@binlog/core/EventType"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as MemorySink from "../src/MemorySink.ts"
import * as ProjectionSpec from "../src/ProjectionSpec.ts"
import * as Sink from "../src/Sink.ts"
import * as SqlSink from "../src/SqlSink.ts"
import {
  type BankEvent,
  bankEvents,
  Deposited,
  encodeAll,
  foldBalances,
  memoryBalances,
  memoryRows,
  type MemoryTables,
  Noted,
  Opened,
  readBalances,
  sqlBalances,
  Withdrawn
} from "./utils/fixtures.ts"

const registry = EventType.registry(Opened, Deposited, Withdrawn, Noted)

const typed = (e: BankEvent): ProjectionSpec.SpecEvent => ({
  streamId: e.account,
  event: e.type === "Opened"
    ? Opened.make({ owner: e.owner })
    : e.type === "Deposited"
    ? Deposited.make({ cents: e.cents })
    : e.type === "Withdrawn"
    ? Withdrawn.make({ cents: e.cents })
    : Noted.make({ text: e.text })
})

const specs = {
  memory: ProjectionSpec.make({
    projection: memoryBalances(),
    sink: MemorySink.make<MemoryTables>(),
    rows: memoryRows,
    registry
  }),
  sqlite: ProjectionSpec.make({
    projection: sqlBalances(),
    sink: SqlSink.sqlite({ filename: ":memory:" }),
    rows: (sql) => readBalances(sql),
    registry
  })
}

describe("ProjectionSpec", () => {
  for (const [name, spec] of Object.entries(specs)) {
    it.effect(`${name}: given events, then the read model holds their fold`, () =>
      Effect.gen(function*() {
        yield* spec.given([
          { streamId: "a", event: Opened.make({ owner: "ada" }) },
          { streamId: "a", event: Deposited.make({ cents: 500 }) },
          { streamId: "b", event: Opened.make({ owner: "bob" }) },
          { streamId: "a", event: Withdrawn.make({ cents: 120 }) },
          { streamId: "b", event: Noted.make({ text: "ignored" }) }
        ]).then([
          { account: "a", cents: 380, events: 3, lastIndex: 4 },
          { account: "b", cents: 0, events: 1, lastIndex: 3 }
        ])
      }))

    it.effect(`${name}: raw entries and typed events give the same rows; when() appends`, () =>
      Effect.gen(function*() {
        const events = bankEvents(60, 4)
        const expected = foldBalances(events)
        yield* spec.given(encodeAll(events)).then(expected)
        yield* spec.given(events.slice(0, 30).map(typed)).when(events.slice(30).map(typed)).then(expected)
      }))

    it.effect(`${name}: delivering everything twice leaves the same rows`, () =>
      Effect.gen(function*() {
        const events = bankEvents(100, 5)
        yield* spec.given(encodeAll(events)).deliveredTwice.then(foldBalances(events))
      }))

    it.effect(`${name}: a mismatch fails with ProjectionSpecFailed and the diff`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          spec.given([{ streamId: "a", event: Opened.make({ owner: "ada" }) }]).then([
            { account: "a", cents: 1, events: 1, lastIndex: 1 }
          ])
        )
        assert.strictEqual(error._tag, "ProjectionSpecFailed")
        assert.match(error.message, /cents/)
      }))
  }

  it.effect("deliveredTwice catches a sink whose checkpoint does not guard re-delivery", () =>
    Effect.gen(function*() {
      const forgetful = Effect.map(
        MemorySink.make<MemoryTables>(),
        (sink): Sink.Sink<MemorySink.MemoryStore<MemoryTables>> => ({
          ...sink,
          readCheckpoint: () => Effect.succeed(Sink.emptyCheckpoint)
        })
      )
      const spec = ProjectionSpec.make({ projection: memoryBalances(), sink: forgetful, rows: memoryRows, registry })
      const events = bankEvents(20, 2)
      // delivered once, the broken checkpoint goes unnoticed ...
      yield* spec.given(encodeAll(events)).then(foldBalances(events))
      // ... delivered twice, it does not
      const error = yield* Effect.flip(spec.given(encodeAll(events)).deliveredTwice.then(foldBalances(events)))
      assert.strictEqual(error._tag, "ProjectionSpecFailed")
    }))

  it.effect("thenFails returns the projection's failure with the index of the bad event", () =>
    Effect.gen(function*() {
      const failure = yield* specs.memory.given([
        { streamId: "a", event: Opened.make({ owner: "ada" }) },
        { streamId: "a", event: Deposited.make({ cents: 1 }) },
        new TextEncoder().encode("not an envelope")
      ]).thenFails
      assert.strictEqual(failure.index, "3")
      const notFailing = yield* Effect.flip(specs.memory.given([]).thenFails)
      assert.strictEqual(notFailing._tag, "ProjectionSpecFailed")
    }))
})
