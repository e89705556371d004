import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as BinLogger from "../src/BinLogger.ts"
import * as CommandHandler from "../src/CommandHandler.ts"
import * as Decider from "../src/Decider.ts"
import * as EventStore from "../src/EventStore.ts"
import type { AlreadyOpen, Command, Event, NotOpen, State } from "./EventStore.utils.ts"
import { account, Deposited, Events, InsufficientFunds, Opened, Withdrawn, withStore } from "./EventStore.utils.ts"
import { tempDir } from "./utils.ts"

const handler = CommandHandler.make({ decider: account, registry: Events })

describe("Decider", () => {
  it("fold and run are pure functions of the history", () => {
    const history = [Opened.make({ owner: "a" }), Deposited.make({ amount: 3 })]
    assert.deepStrictEqual(Decider.fold(account, history), { open: true, balance: 3, events: 2 })
    const r = Decider.run(account, history, { _tag: "Withdraw", amount: 2 })
    assert.deepStrictEqual(
      r,
      Result.succeed({ events: [Withdrawn.make({ amount: 2 })], state: { open: true, balance: 1, events: 3 } })
    )
  })
})

describe("CommandHandler", () => {
  it.effect("handle loads the state, decides and appends with the loaded version", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const a = yield* handler.handle("acc", { _tag: "Open", owner: "ada" })
          assert.deepStrictEqual([a.streamVersion, a.first, a.last, a.events], [1n, 1n, 1n, [
            Opened.make({ owner: "ada" })
          ]])
          const b = yield* handler.handle("acc", { _tag: "Deposit", amount: 10 })
          assert.deepStrictEqual(b.state, { open: true, balance: 10, events: 2 })
          const loaded = yield* handler.load("acc")
          assert.deepStrictEqual([loaded.streamVersion, loaded.index, loaded.state.balance], [2n, 2n, 10])
        })
      )
    }))

  it.effect("with a tracing backend installed, handle and the log's appends make their spans", () =>
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
      yield* withStore(
        root,
        Effect.gen(function*() {
          yield* handler.handle("acc", { _tag: "Open", owner: "ada" })
          yield* (yield* BinLogger.BinLogger).log([new Uint8Array([1])])
          yield* EventStore.append(Events, "other", EventStore.ExpectedVersion.noStream, [Opened.make({ owner: "bo" })])
        }).pipe(Effect.withTracer(recorder))
      )
      const names = spans.map((s) => s.name)
      for (const name of ["CommandHandler.handle", "BinLogger.logPrepared", "BinLogger.log", "EventStore.append"]) {
        assert.include(names, name)
      }
      // EventStore.append is the parent of its log append; the handler's span is a sibling of its own
      const append = spans.find((s) => s.name === "EventStore.append")!
      const logSpans = spans.filter((s) => s.name === "BinLogger.logPrepared")
      assert.strictEqual(logSpans.length, 2)
      assert.isTrue(logSpans.some((s) => Option.getOrUndefined(s.parent) === append))
      const handle = spans.find((s) => s.name === "CommandHandler.handle")!
      assert.strictEqual(handle.attributes.get("streams"), "acc")
      assert.strictEqual(handle.status._tag, "Ended")
    }))

  it.effect("domain errors stay typed, are not retried, and write nothing", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          yield* handler.handle("acc", { _tag: "Open", owner: "ada" })
          const err = yield* Effect.flip(handler.handle("acc", { _tag: "Withdraw", amount: 5 }))
          assert.instanceOf(err, InsufficientFunds)
          assert.deepInclude(err, { balance: 0, requested: 5 })
          assert.strictEqual(yield* (yield* BinLogger.BinLogger).currentIndex, 1n)
        })
      )
    }))

  it.live("concurrent commands on one stream conflict and are retried against the newer state", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          yield* handler.handle("acc", { _tag: "Open", owner: "ada" })
          const retrying = CommandHandler.make({
            decider: account,
            registry: Events,
            retry: Schedule.spaced("1 millis").pipe(Schedule.jittered)
          })
          yield* Effect.all(
            Array.from({ length: 32 }, () => retrying.handle("acc", { _tag: "Deposit", amount: 1 })),
            { concurrency: "unbounded" }
          )
          const s = yield* retrying.load("acc")
          assert.deepStrictEqual([s.streamVersion, s.state.balance], [33n, 32])
        })
      )
    }))

  it.live("when retries run out the conflict surfaces as WrongExpectedVersion", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          yield* handler.handle("acc", { _tag: "Open", owner: "ada" })
          let attempts = 0
          const limited = CommandHandler.make({ decider: account, registry: Events, retry: Schedule.recurs(2) })
          // another writer gets in between every load and append of the handler
          const interfering = EventStore.EventStore.useSync((store) =>
            EventStore.EventStore.of({
              ...store,
              appendEncoded: (appends) => {
                attempts++
                return Effect.andThen(
                  store.appendEncoded([{
                    streamId: "acc",
                    expectedVersion: EventStore.ExpectedVersion.any,
                    events: appends[0]!.events.map((e) => ({ ...e, eventId: crypto.randomUUID() }))
                  }]),
                  store.appendEncoded(appends)
                )
              }
            })
          )
          const err = yield* Effect.flip(
            limited.handle("acc", { _tag: "Deposit", amount: 5 }).pipe(
              Effect.provideServiceEffect(EventStore.EventStore, interfering)
            )
          )
          assert.strictEqual(err._tag, "WrongExpectedVersion")
          assert.strictEqual(attempts, 3)
        })
      )
    }))

  it.effect("handleMany decides each stream and appends all atomically (a transfer)", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          yield* handler.handle("a", { _tag: "Open", owner: "a" })
          yield* handler.handle("b", { _tag: "Open", owner: "b" })
          yield* handler.handle("a", { _tag: "Deposit", amount: 10 })
          const [wa, db] = yield* handler.handleMany([
            { streamId: "a", command: { _tag: "Withdraw", amount: 4 } },
            { streamId: "b", command: { _tag: "Deposit", amount: 4 } }
          ])
          assert.deepStrictEqual([wa!.state.balance, db!.state.balance], [6, 4])
          assert.deepStrictEqual([wa!.first, wa!.last], [4n, 5n])
          // one side fails: nothing is written
          const err = yield* Effect.flip(handler.handleMany([
            { streamId: "a", command: { _tag: "Withdraw", amount: 100 } },
            { streamId: "b", command: { _tag: "Deposit", amount: 100 } }
          ]))
          assert.strictEqual(err._tag, "InsufficientFunds")
          assert.strictEqual(yield* (yield* BinLogger.BinLogger).currentIndex, 5n)
          const all = yield* Stream.runCollect(EventStore.readAll(Events, { from: 4n }))
          assert.deepStrictEqual(all.map((e) => e.transaction), [{ position: 0, size: 2 }, { position: 1, size: 2 }])
        })
      )
    }))

  it.effect("an idempotency key makes a retried request return the original positions", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          yield* handler.handle("a", { _tag: "Open", owner: "a" })
          const first = yield* handler.handle("a", { _tag: "Deposit", amount: 5 }, { idempotencyKey: "req-1" })
          const again = yield* handler.handle("a", { _tag: "Deposit", amount: 5 }, { idempotencyKey: "req-1" })
          assert.strictEqual(again.idempotent, true)
          assert.deepStrictEqual([again.first, again.last, again.streamVersion], [first.first, first.last, 2n])
          assert.strictEqual(again.state.balance, 5)
          assert.strictEqual((yield* handler.load("a")).state.balance, 5)
          // acknowledged even when deciding again would now fail
          const w = yield* handler.handle("a", { _tag: "Withdraw", amount: 5 }, { idempotencyKey: "req-2" })
          const w2 = yield* handler.handle("a", { _tag: "Withdraw", amount: 5 }, { idempotencyKey: "req-2" })
          assert.deepStrictEqual([w2.idempotent, w2.first, w2.state.balance], [true, w.first, 0])
          // and for several streams at once
          yield* handler.handle("b", { _tag: "Open", owner: "b" })
          yield* handler.handle("a", { _tag: "Deposit", amount: 9 })
          const t = [
            { streamId: "a", command: { _tag: "Withdraw", amount: 9 } as const },
            { streamId: "b", command: { _tag: "Deposit", amount: 9 } as const }
          ]
          const t1 = yield* handler.handleMany(t, { idempotencyKey: "t-1" })
          const t2 = yield* handler.handleMany(t, { idempotencyKey: "t-1" })
          assert.deepStrictEqual(t2.map((h) => [h.idempotent, h.first, h.last, h.streamVersion, h.state.balance]), [
            [true, t1[0]!.first, t1[0]!.last, t1[0]!.streamVersion, 0],
            [true, t1[1]!.first, t1[1]!.last, t1[1]!.streamVersion, 9]
          ])
        })
      )
    }))

  it.effect("a caller's expectedVersion that no longer matches fails at once with WrongExpectedVersion", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          yield* handler.handle("a", { _tag: "Open", owner: "a" })
          const ok = yield* handler.handle("a", { _tag: "Deposit", amount: 1 }, { expectedVersion: 1n })
          assert.strictEqual(ok.streamVersion, 2n)
          const stale = yield* Effect.flip(handler.handle("a", { _tag: "Deposit", amount: 1 }, { expectedVersion: 1n }))
          assert.deepInclude(stale, { _tag: "WrongExpectedVersion", expected: "1", actual: 2n })
          assert.strictEqual((yield* handler.load("a")).streamVersion, 2n)
        })
      )
    }))

  it.effect("handle (one stream, its own fast path) returns what handleMany returns for the same commands", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      // deposits of 0 decide no events: nothing is appended and the current state comes back
      const decider: Decider.Decider<Command, Event, State, NotOpen | AlreadyOpen | InsufficientFunds> = {
        ...account,
        decide: (c, s) => c._tag === "Deposit" && c.amount === 0 ? Decider.ignore : account.decide(c, s)
      }
      const cached = CommandHandler.make({ decider, registry: Events, cache: { capacity: 10 } })
      const plain = CommandHandler.make({ decider, registry: Events })
      const commands: ReadonlyArray<Command> = [
        { _tag: "Open", owner: "ada" },
        { _tag: "Deposit", amount: 5 },
        { _tag: "Deposit", amount: 0 },
        { _tag: "Withdraw", amount: 2 },
        { _tag: "Deposit", amount: 0 }
      ]
      yield* withStore(
        root,
        Effect.gen(function*() {
          for (const [k, handler] of [cached, plain].entries()) {
            for (const command of commands) {
              const one = yield* handler.handle(`one-${k}`, command)
              const [many] = yield* handler.handleMany([{ streamId: `many-${k}`, command }])
              // the two streams get the same versions; global indexes interleave, so compare them relatively
              assert.deepStrictEqual(
                { ...one, streamId: "", first: undefined, last: undefined },
                { ...many!, streamId: "", first: undefined, last: undefined }
              )
              assert.strictEqual(one.first === undefined, many!.first === undefined)
              if (one.last !== undefined) assert.strictEqual(many!.last, one.last + 1n)
            }
            // the domain error and the stale expected version come out the same way too
            const withdraw: Command = { _tag: "Withdraw", amount: 100 }
            const e1 = yield* Effect.flip(handler.handle(`one-${k}`, withdraw))
            const e2 = yield* Effect.flip(handler.handleMany([{ streamId: `many-${k}`, command: withdraw }]))
            assert.deepStrictEqual(e1, e2)
            const stale = yield* Effect.flip(
              handler.handle(`one-${k}`, { _tag: "Deposit", amount: 1 }, { expectedVersion: 1n })
            )
            assert.strictEqual(stale._tag, "WrongExpectedVersion")
          }
          assert.deepStrictEqual((yield* cached.load("one-0")).state, (yield* plain.load("many-1")).state)
          assert.deepStrictEqual((yield* cached.load("one-0")).state, { open: true, balance: 3, events: 3 })
        })
      )
    }))

  it.effect("with a state cache, loads fold only what was appended since (and stay correct)", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      let evolved = 0
      const counted = CommandHandler.make({
        decider: {
          ...account,
          evolve: (s, e) => {
            evolved++
            return account.evolve(s, e)
          }
        },
        registry: Events,
        cache: { capacity: 2 }
      })
      yield* withStore(
        root,
        Effect.gen(function*() {
          yield* counted.handle("a", { _tag: "Open", owner: "a" })
          for (let i = 0; i < 5; i++) yield* counted.handle("a", { _tag: "Deposit", amount: 1 })
          evolved = 0
          assert.strictEqual((yield* counted.load("a")).state.balance, 5)
          assert.strictEqual(evolved, 0)
          // another writer appends: only that event is folded
          yield* EventStore.append(Events, "a", EventStore.ExpectedVersion.exact(6n), [Deposited.make({ amount: 10 })])
          const l = yield* counted.load("a")
          assert.deepStrictEqual([l.state.balance, l.streamVersion, evolved], [15, 7n, 1])
          // eviction: with capacity 2, touching three other streams evicts "a"
          yield* counted.handle("b", { _tag: "Open", owner: "b" })
          yield* counted.handle("c", { _tag: "Open", owner: "c" })
          yield* counted.handle("d", { _tag: "Open", owner: "d" })
          evolved = 0
          assert.strictEqual((yield* counted.load("a")).state.balance, 15)
          assert.strictEqual(evolved, 7)
        })
      )
    }))
})
