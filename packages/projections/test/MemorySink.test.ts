import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as MemorySink from "../src/MemorySink.ts"

interface Tables extends Record<string, unknown> {
  readonly users: { readonly name: string }
}

const key = { projection: "p", version: 1 }

describe("MemorySink", () => {
  it.effect("a committed transaction applies rows and checkpoint together", () =>
    Effect.gen(function*() {
      const sink = yield* MemorySink.make<Tables>()
      const store = sink.client
      yield* sink.transaction(Effect.gen(function*() {
        yield* store.put("users", "b", { name: "Bo" })
        yield* store.put("users", "a", { name: "Al" })
        yield* sink.writeCheckpoint(key, { position: 7n, timestamp: 123 })
      }))
      assert.deepStrictEqual(yield* store.rows("users"), [["a", { name: "Al" }], ["b", { name: "Bo" }]])
      assert.deepStrictEqual(yield* sink.readCheckpoint(key), { position: 7n, timestamp: 123 })
    }))

  it.effect("a failed transaction leaves neither rows nor checkpoint behind", () =>
    Effect.gen(function*() {
      const sink = yield* MemorySink.make<Tables>()
      const store = sink.client
      yield* store.put("users", "a", { name: "Al" })
      const exit = yield* sink.transaction(Effect.gen(function*() {
        yield* store.delete("users", "a")
        yield* store.put("users", "b", { name: "Bo" })
        yield* sink.writeCheckpoint(key, { position: 9n, timestamp: undefined })
        return yield* Effect.fail("boom")
      })).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(yield* store.dump, { users: { a: { name: "Al" } } })
      assert.strictEqual((yield* sink.readCheckpoint(key)).position, 0n)
    }))

  it.effect("readers outside a transaction see committed rows only; inside, their own writes", () =>
    Effect.gen(function*() {
      const sink = yield* MemorySink.make<Tables>()
      const store = sink.client
      const written = yield* Deferred.make<void>()
      const proceed = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(sink.transaction(Effect.gen(function*() {
        yield* store.put("users", "a", { name: "Al" })
        assert.deepStrictEqual(yield* store.get("users", "a"), { name: "Al" })
        yield* Deferred.succeed(written, undefined)
        yield* Deferred.await(proceed)
      })))
      yield* Deferred.await(written)
      assert.strictEqual(yield* store.get("users", "a"), undefined)
      yield* Deferred.succeed(proceed, undefined)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* store.get("users", "a"), { name: "Al" })
    }))

  it.effect("modify sees the transaction's own earlier writes and undefined deletes", () =>
    Effect.gen(function*() {
      const sink = yield* MemorySink.make<{ counters: number }>()
      const store = sink.client
      yield* sink.transaction(Effect.gen(function*() {
        yield* store.modify("counters", "x", (n) => (n ?? 0) + 1)
        yield* store.modify("counters", "x", (n) => (n ?? 0) + 1)
        yield* store.modify("counters", "y", () => 5)
        yield* store.modify("counters", "y", () => undefined)
      }))
      assert.deepStrictEqual(yield* store.dump, { counters: { x: 2 } })
    }))
})
