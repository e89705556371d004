import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as NFS from "node:fs"
import * as Path from "node:path"
import * as BinLogger from "../src/BinLogger.ts"
import * as EventStore from "../src/EventStore.ts"
import * as EventType from "../src/EventType.ts"
import * as Table from "../src/internal/eventstore/streamTable.ts"
import { Deposited, Events, Opened, Withdrawn, withStore } from "./EventStore.utils.ts"
import { tempDir } from "./utils.ts"

const { ExpectedVersion } = EventStore

const versionsOf = (streamId: string) =>
  Stream.runCollect(EventStore.readStream(Events, streamId)).pipe(
    Effect.map((es) => es.map((e) => Number(e.streamVersion)))
  )

describe("EventStore: append and read", () => {
  it.effect("append assigns stream versions 1..n and dense global indexes; reads return them decoded", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const a = yield* EventStore.append(Events, "acc-1", ExpectedVersion.noStream, [
            Opened.make({ owner: "ada" }),
            Deposited.make({ amount: 10 })
          ])
          assert.deepStrictEqual(a, { streamVersion: 2n, first: 1n, last: 2n, idempotent: false })
          const b = yield* EventStore.append(Events, "acc-2", ExpectedVersion.any, [Opened.make({ owner: "bob" })])
          assert.deepStrictEqual(b, { streamVersion: 1n, first: 3n, last: 3n, idempotent: false })
          const c = yield* EventStore.append(Events, "acc-1", ExpectedVersion.exact(2n), [
            Withdrawn.make({ amount: 3 })
          ], { correlationId: "corr-1", metadata: { user: "ada" } })
          assert.strictEqual(c.streamVersion, 3n)

          const s1 = yield* Stream.runCollect(EventStore.readStream(Events, "acc-1"))
          assert.deepStrictEqual(s1.map((e) => [e.index, e.streamVersion, e.event]), [
            [1n, 1n, { type: "Opened", data: { owner: "ada" } }],
            [2n, 2n, { type: "Deposited", data: { amount: 10 } }],
            [4n, 3n, { type: "Withdrawn", data: { amount: 3 } }]
          ])
          assert.strictEqual(s1[2]!.correlationId, "corr-1")
          assert.deepStrictEqual({ ...s1[2]!.metadata }, { user: "ada" })
          const partial = yield* Stream.runCollect(EventStore.readStream(Events, "acc-1", { from: 2n, to: 2n }))
          assert.deepStrictEqual(partial.map((e) => e.streamVersion), [2n])
          const all = yield* Stream.runCollect(EventStore.readAll(Events))
          assert.deepStrictEqual(all.map((e) => `${e.streamId}@${e.streamVersion}`), [
            "acc-1@1",
            "acc-1@2",
            "acc-2@1",
            "acc-1@3"
          ])
          assert.deepStrictEqual(yield* Stream.runCollect(EventStore.readStream(Events, "nope")), [])
          assert.strictEqual(yield* EventStore.streamVersion("acc-1"), 3n)
          assert.strictEqual(yield* EventStore.streamVersion("nope"), 0n)
        })
      )
    }))

  it.effect("isHeadUnsafe agrees with streamHead: the current version and last index match, nothing else does", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          assert.isTrue(store.isHeadUnsafe("acc-1", 0n, 0n), "a missing stream is at 0/0")
          assert.isFalse(store.isHeadUnsafe("acc-1", 1n, 0n))
          yield* EventStore.append(Events, "acc-2", ExpectedVersion.any, [Opened.make({ owner: "bob" })])
          yield* EventStore.append(Events, "acc-1", ExpectedVersion.any, [
            Opened.make({ owner: "ada" }),
            Deposited.make({ amount: 1 })
          ])
          const head = yield* store.streamHead("acc-1")
          assert.deepStrictEqual(head, { version: 2n, index: 3n })
          assert.isTrue(store.isHeadUnsafe("acc-1", head.version, head.index))
          assert.isFalse(store.isHeadUnsafe("acc-1", 1n, 2n), "an older head")
          assert.isFalse(store.isHeadUnsafe("acc-1", 2n, 2n), "the right version at another index")
          assert.isFalse(store.isHeadUnsafe("acc-1", 0n, 0n))
          yield* EventStore.append(Events, "acc-1", ExpectedVersion.exact(2n), [Deposited.make({ amount: 2 })])
          assert.isFalse(store.isHeadUnsafe("acc-1", 2n, 3n), "stale after another append")
          assert.isTrue(store.isHeadUnsafe("acc-1", 3n, 4n))
        })
      )
    }))

  it.effect("each expectation kind is checked and a rejected append writes nothing (WrongExpectedVersion)", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const log = yield* BinLogger.BinLogger
          const e = [Deposited.make({ amount: 1 })]
          const missing = yield* Effect.flip(EventStore.append(Events, "s", ExpectedVersion.streamExists, e))
          assert.strictEqual(missing._tag, "WrongExpectedVersion")
          const wrongExact = yield* Effect.flip(EventStore.append(Events, "s", ExpectedVersion.exact(1n), e))
          assert.deepInclude(wrongExact, { _tag: "WrongExpectedVersion", streamId: "s", expected: "1", actual: 0n })
          assert.strictEqual(yield* log.currentIndex, 0n)
          yield* EventStore.append(Events, "s", ExpectedVersion.exact(0n), e)
          const exists = yield* Effect.flip(EventStore.append(Events, "s", ExpectedVersion.noStream, e))
          assert.deepInclude(exists, { _tag: "WrongExpectedVersion", expected: "noStream", actual: 1n })
          yield* EventStore.append(Events, "s", ExpectedVersion.streamExists, e)
          yield* EventStore.append(Events, "s", ExpectedVersion.any, e)
          assert.strictEqual(yield* log.currentIndex, 3n)
          assert.deepStrictEqual(yield* versionsOf("s"), [1, 2, 3])
        })
      )
    }))

  it.effect("an event over the log's entry limit fails with InvalidAppend and leaves the stream untouched", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const big = yield* Effect.flip(
            EventStore.append(Events, "s", ExpectedVersion.noStream, [Opened.make({ owner: "x".repeat(400) })])
          )
          assert.strictEqual(big._tag, "InvalidAppend")
          assert.include(big.message, "limit 256")
          // the stream table recorded nothing: the stream still does not exist
          const ok = yield* EventStore.append(Events, "s", ExpectedVersion.noStream, [Opened.make({ owner: "ann" })])
          assert.strictEqual(ok.streamVersion, 1n)
          assert.strictEqual(yield* (yield* BinLogger.BinLogger).currentIndex, 1n)
        }),
        { maxEntryBytes: 256 }
      )
    }))

  it.effect("invalid requests fail with InvalidAppend and write nothing", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const e = Deposited.make({ amount: 1 })
          const empty = yield* Effect.flip(EventStore.append(Events, "s", ExpectedVersion.any, []))
          assert.strictEqual(empty._tag, "InvalidAppend")
          const twice = yield* Effect.flip(EventStore.appendMany(Events, [
            { streamId: "a", expectedVersion: ExpectedVersion.any, events: [e] },
            { streamId: "a", expectedVersion: ExpectedVersion.any, events: [e] }
          ]))
          assert.strictEqual(twice._tag, "InvalidAppend")
          const noId = yield* Effect.flip(EventStore.append(Events, "", ExpectedVersion.any, [e]))
          assert.strictEqual(noId._tag, "InvalidAppend")
          const huge = yield* Effect.flip(
            EventStore.append(Events, "s", ExpectedVersion.any, [
              Opened.make({ owner: "x".repeat(BinLogger.DEFAULT_MAX_ENTRY_BYTES) })
            ])
          )
          assert.strictEqual(huge._tag, "InvalidAppend")
          const badPayload = yield* Effect.flip(
            EventStore.append(Events, "s", ExpectedVersion.any, [{ type: "Deposited", data: { amount: "x" } } as never])
          )
          assert.strictEqual(badPayload._tag, "EventEncodeError")
          assert.strictEqual(yield* (yield* BinLogger.BinLogger).currentIndex, 0n)
          assert.strictEqual(yield* EventStore.streamVersion("s"), 0n)
        })
      )
    }))
})

describe("EventStore: concurrency", () => {
  it.live("64 fibers racing with exact expectations: exactly one wins per version and the stream has no gaps", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const ROUNDS = 20
          for (let v = 0; v < ROUNDS; v++) {
            const outcomes = yield* Effect.all(
              Array.from({ length: 64 }, (_, f) =>
                Effect.result(
                  EventStore.append(Events, "hot", ExpectedVersion.exact(BigInt(v)), [
                    Deposited.make({ amount: f })
                  ])
                )),
              { concurrency: "unbounded" }
            )
            const wins = outcomes.filter((o) => o._tag === "Success")
            assert.strictEqual(wins.length, 1, `round ${v}`)
            for (const o of outcomes) {
              if (o._tag === "Failure") {
                assert.strictEqual(o.failure._tag, "WrongExpectedVersion")
              }
            }
          }
          assert.deepStrictEqual(yield* versionsOf("hot"), Array.from({ length: ROUNDS }, (_, i) => i + 1))
        })
      )
    }))

  it.live("64 fibers each appending 10 events with read-then-exact retries produce a dense stream of 640", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          let conflicts = 0
          const appendOne = (
            f: number,
            k: number
          ): Effect.Effect<void, EventStore.AppendError, EventStore.EventStore> =>
            Effect.gen(function*() {
              const v = yield* EventStore.streamVersion("shared")
              yield* EventStore.append(Events, "shared", ExpectedVersion.exact(v), [
                Deposited.make({ amount: f * 1000 + k })
              ])
            }).pipe(Effect.catchTag("WrongExpectedVersion", () => {
              conflicts++
              return Effect.andThen(Effect.yieldNow, appendOne(f, k))
            }))
          yield* Effect.all(
            Array.from({ length: 64 }, (_, f) =>
              Effect.gen(function*() {
                for (let k = 0; k < 10; k++) yield* appendOne(f, k)
              })),
            { concurrency: "unbounded" }
          )
          const events = yield* Stream.runCollect(EventStore.readStream(Events, "shared"))
          assert.deepStrictEqual(
            events.map((e) => Number(e.streamVersion)),
            Array.from({ length: 640 }, (_, i) => i + 1)
          )
          // every (fiber, k) exactly once
          const amounts = new Set(events.map((e) => (e.event.data as { amount: number }).amount))
          assert.strictEqual(amounts.size, 640)
          // per fiber, in its own order
          for (let f = 0; f < 64; f++) {
            const mine = events.map((e) => (e.event.data as { amount: number }).amount).filter((a) =>
              Math.floor(a / 1000) === f
            )
            assert.deepStrictEqual(mine, Array.from({ length: 10 }, (_, k) => f * 1000 + k))
          }
          assert.isAbove(conflicts, 0)
        })
      )
    }))
})

describe("EventStore: multi-stream appends", () => {
  it.effect("appendMany writes to several streams as one batch, or nothing when one expectation fails", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const log = yield* BinLogger.BinLogger
          yield* EventStore.append(Events, "a", ExpectedVersion.noStream, [Opened.make({ owner: "a" })])
          const r = yield* EventStore.appendMany(Events, [
            { streamId: "a", expectedVersion: ExpectedVersion.exact(1n), events: [Withdrawn.make({ amount: 5 })] },
            { streamId: "b", expectedVersion: ExpectedVersion.noStream, events: [Deposited.make({ amount: 5 })] }
          ])
          assert.deepStrictEqual(r.streams, [{ streamId: "a", streamVersion: 2n }, {
            streamId: "b",
            streamVersion: 1n
          }])
          assert.deepStrictEqual([r.first, r.last], [2n, 3n])
          const all = yield* Stream.runCollect(EventStore.readAll(Events, { from: 2n }))
          assert.deepStrictEqual(all.map((e) => e.transaction), [{ position: 0, size: 2 }, { position: 1, size: 2 }])

          const before = yield* log.currentIndex
          const err = yield* Effect.flip(EventStore.appendMany(Events, [
            { streamId: "a", expectedVersion: ExpectedVersion.exact(2n), events: [Withdrawn.make({ amount: 1 })] },
            { streamId: "b", expectedVersion: ExpectedVersion.exact(0n), events: [Deposited.make({ amount: 1 })] }
          ]))
          assert.deepInclude(err, { _tag: "WrongExpectedVersion", streamId: "b", actual: 1n })
          assert.strictEqual(yield* log.currentIndex, before)
          assert.deepStrictEqual(yield* versionsOf("a"), [1, 2])
          assert.deepStrictEqual(yield* versionsOf("b"), [1])
        })
      )
    }))
})

describe("EventStore: idempotent retries", () => {
  it.effect("an append whose event ids are stored is acknowledged with the original positions, not written twice", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const log = yield* BinLogger.BinLogger
          const events = [
            { event: Opened.make({ owner: "x" }), eventId: "id-1" },
            { event: Deposited.make({ amount: 1 }), eventId: "id-2" }
          ]
          const first = yield* EventStore.append(Events, "s", ExpectedVersion.noStream, events)
          yield* EventStore.append(Events, "other", ExpectedVersion.noStream, [Opened.make({ owner: "y" })])
          // the retry's expectation would fail now, but the ids say it already happened
          const retry = yield* EventStore.append(Events, "s", ExpectedVersion.noStream, events)
          assert.deepStrictEqual(retry, { ...first, idempotent: true })
          assert.strictEqual(yield* log.currentIndex, 3n)
          assert.deepStrictEqual(yield* versionsOf("s"), [1, 2])

          const mixed = yield* Effect.flip(EventStore.append(Events, "s", ExpectedVersion.any, [
            { event: Deposited.make({ amount: 1 }), eventId: "id-2" },
            { event: Deposited.make({ amount: 2 }), eventId: "id-3" }
          ]))
          assert.deepInclude(mixed, { _tag: "DuplicateEventId", eventId: "id-2" })
          const elsewhere = yield* Effect.flip(EventStore.append(Events, "t", ExpectedVersion.any, [
            { event: Deposited.make({ amount: 1 }), eventId: "id-1" }
          ]))
          assert.strictEqual(elsewhere._tag, "DuplicateEventId")
          const inside = yield* Effect.flip(EventStore.append(Events, "t", ExpectedVersion.any, [
            { event: Deposited.make({ amount: 1 }), eventId: "id-9" },
            { event: Deposited.make({ amount: 1 }), eventId: "id-9" }
          ]))
          assert.strictEqual(inside._tag, "DuplicateEventId")
          assert.strictEqual(yield* log.currentIndex, 3n)
        })
      )
    }))

  it.live("concurrent retries of one append: exactly one write, every caller gets the same positions", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const events = [{ event: Deposited.make({ amount: 7 }), eventId: "once" }]
          const results = yield* Effect.all(
            Array.from({ length: 16 }, () => EventStore.append(Events, "s", ExpectedVersion.noStream, events)),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((r) => !r.idempotent).length, 1)
          for (const r of results) assert.deepStrictEqual([r.first, r.last, r.streamVersion], [1n, 1n, 1n])
          assert.deepStrictEqual(yield* versionsOf("s"), [1])
        })
      )
    }))

  it.effect("the window is bounded: ids older than the last N events are forgotten", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const old = [{ event: Deposited.make({ amount: 1 }), eventId: "old" }]
          yield* EventStore.append(Events, "s", ExpectedVersion.any, old)
          for (let i = 0; i < 3; i++) {
            yield* EventStore.append(Events, "s", ExpectedVersion.any, [Deposited.make({ amount: 2 })])
          }
          const again = yield* EventStore.append(Events, "s", ExpectedVersion.any, old)
          assert.strictEqual(again.idempotent, false)
          assert.strictEqual(again.streamVersion, 5n)
        }),
        { idempotencyWindow: 3 }
      )
    }))

  it.effect("the idempotency window survives a restart", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const events = [{ event: Deposited.make({ amount: 1 }), eventId: "persisted" }]
      const first = yield* withStore(root, EventStore.append(Events, "s", ExpectedVersion.noStream, events))
      const retry = yield* withStore(root, EventStore.append(Events, "s", ExpectedVersion.noStream, events))
      assert.deepStrictEqual(retry, { ...first, idempotent: true })
    }))
})

describe("EventStore: restart and checkpoints", () => {
  it.effect("restart in the middle of a run keeps versions correct (checkpoint + tail, and full replay)", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const run = (from: number, to: number) =>
        Effect.gen(function*() {
          for (let i = from; i < to; i++) {
            const stream = `s-${i % 3}`
            const v = BigInt(Math.floor(i / 3))
            yield* EventStore.append(Events, stream, ExpectedVersion.exact(v), [Deposited.make({ amount: i })])
          }
          return yield* (yield* EventStore.EventStore).stats
        })
      const s1 = yield* withStore(root, run(0, 100), { checkpointEvery: 30 })
      assert.strictEqual(s1.events, 100)
      const ckpts = NFS.readdirSync(Path.join(root, "streams")).filter((n) => n.endsWith(".ckpt"))
      assert.isAtMost(ckpts.length, EventStore.KEEP_CHECKPOINTS)
      assert.isAbove(ckpts.length, 0)
      const s2 = yield* withStore(root, run(100, 150), { checkpointEvery: 30 })
      assert.strictEqual(s2.events, 150)
      // without any checkpoint: full replay gives the same table
      NFS.rmSync(Path.join(root, "streams"), { recursive: true })
      yield* withStore(
        root,
        Effect.gen(function*() {
          const stats = yield* (yield* EventStore.EventStore).stats
          assert.strictEqual(stats.events, 150)
          assert.strictEqual(stats.lastCheckpointIndex, 0n)
          for (let k = 0; k < 3; k++) {
            assert.deepStrictEqual(yield* versionsOf(`s-${k}`), Array.from({ length: 50 }, (_, i) => i + 1))
          }
          const wrong = yield* Effect.flip(EventStore.append(Events, "s-0", ExpectedVersion.exact(49n), [
            Deposited.make({ amount: 0 })
          ]))
          assert.deepInclude(wrong, { _tag: "WrongExpectedVersion", actual: 50n })
        })
      )
    }))

  it.effect("start replays only the tail after the newest checkpoint", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          for (let i = 0; i < 20; i++) {
            yield* EventStore.append(Events, "s", ExpectedVersion.any, [Deposited.make({ amount: i })])
          }
          yield* (yield* EventStore.EventStore).checkpoint
        })
      )
      // damage a payload before the checkpoint: a full replay would not notice (headers only), so instead prove the
      // checkpoint is used by its index being reported and the tail being appended after it
      yield* withStore(
        root,
        Effect.gen(function*() {
          const stats = yield* (yield* EventStore.EventStore).stats
          assert.strictEqual(stats.lastCheckpointIndex, 20n)
          assert.strictEqual(stats.events, 20)
          yield* EventStore.append(Events, "s", ExpectedVersion.exact(20n), [Deposited.make({ amount: 20 })])
        })
      )
    }))

  it.effect("checkpoints after the first are deltas; a restart reads the full one and its deltas, then the tail", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const dir = Path.join(root, "streams")
      const files = (ext: string) => NFS.readdirSync(dir).filter((n) => n.endsWith(ext)).sort()
      const appendRound = (from: number, to: number) =>
        Effect.gen(function*() {
          for (let i = from; i < to; i++) {
            yield* EventStore.append(Events, `s-${i % 4}`, ExpectedVersion.any, [
              { event: Deposited.make({ amount: i }), eventId: `id-${i}` }
            ])
            if ((i + 1) % 10 === 0) yield* (yield* EventStore.EventStore).checkpoint
          }
        })
      yield* withStore(root, appendRound(0, 60), { checkpointEvery: 1_000_000 })
      // the first checkpoint is full (nothing to continue), the next ones are deltas; the final one (at close) too
      assert.lengthOf(files(".ckpt"), 1)
      assert.strictEqual(files(".ckpt")[0], "streams-000000000000000a.ckpt")
      assert.isAtLeast(files(".delta").length, 4)
      yield* withStore(
        root,
        Effect.gen(function*() {
          const stats = yield* (yield* EventStore.EventStore).stats
          assert.strictEqual(stats.lastCheckpointIndex, 60n, "the last delta is loaded")
          assert.strictEqual(stats.events, 60)
          for (let k = 0; k < 4; k++) {
            assert.deepStrictEqual(yield* versionsOf(`s-${k}`), Array.from({ length: 15 }, (_, i) => i + 1))
          }
          // the idempotency window came back through the deltas
          const retry = yield* EventStore.append(Events, "s-3", ExpectedVersion.any, [
            { event: Deposited.make({ amount: 59 }), eventId: "id-59" }
          ])
          assert.isTrue(retry.idempotent)
          assert.strictEqual(retry.first, 60n)
          yield* appendRound(60, 70)
        }),
        { checkpointEvery: 1_000_000 }
      )
      // a damaged delta: the chain stops before it and the log's tail is replayed from there, with the same result
      const [firstDelta] = files(".delta")
      const bytes = NFS.readFileSync(Path.join(dir, firstDelta!))
      bytes[bytes.length - 1] ^= 0xff
      NFS.writeFileSync(Path.join(dir, firstDelta!), bytes)
      yield* withStore(
        root,
        Effect.gen(function*() {
          const stats = yield* (yield* EventStore.EventStore).stats
          assert.strictEqual(stats.lastCheckpointIndex, 10n, "only the full checkpoint is used")
          assert.strictEqual(stats.events, 70)
          for (let k = 0; k < 4; k++) {
            assert.deepStrictEqual(
              yield* versionsOf(`s-${k}`),
              Array.from({ length: 17 + (k < 2 ? 1 : 0) }, (_, i) => i + 1)
            )
          }
          const retry = yield* EventStore.append(Events, "s-0", ExpectedVersion.any, [
            { event: Deposited.make({ amount: 0 }), eventId: "id-0" }
          ])
          assert.isTrue(retry.idempotent, "ids from before the damaged delta come back through the replay")
          yield* (yield* EventStore.EventStore).checkpoint
        }),
        { checkpointEvery: 1_000_000 }
      )
      // after a broken chain the next checkpoint is a full one: the next start needs neither the damaged delta nor
      // the replay
      assert.strictEqual(files(".ckpt").at(-1), "streams-0000000000000046.ckpt")
      yield* withStore(
        root,
        Effect.gen(function*() {
          const stats = yield* (yield* EventStore.EventStore).stats
          assert.strictEqual(stats.lastCheckpointIndex, 70n)
          assert.strictEqual(stats.events, 70)
        }),
        { checkpointEvery: 1_000_000 }
      )
    }))

  it.effect("a full checkpoint follows once the deltas hold as many events as the last full one (older files go)", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const dir = Path.join(root, "streams")
      yield* withStore(
        root,
        Effect.gen(function*() {
          for (let i = 0; i < 200; i++) {
            yield* EventStore.append(Events, `s-${i % 5}`, ExpectedVersion.any, [Deposited.make({ amount: i })])
          }
        }),
        { checkpointEvery: 10 }
      )
      const fulls = NFS.readdirSync(dir).filter((n) => n.endsWith(".ckpt")).map(Table.parseCheckpointName).sort(
        (a, b) => a! - b!
      )
      const deltas = NFS.readdirSync(dir).filter((n) => n.endsWith(".delta")).map(Table.parseDeltaName)
      // a full one each time the table has about doubled since the previous (checkpoints run in the background, so
      // their indexes fall a few entries after each multiple of 10): the last two are kept
      assert.lengthOf(fulls, EventStore.KEEP_CHECKPOINTS)
      assert.isAtLeast(fulls[1]!, 2 * fulls[0]! - 10, String(fulls))
      assert.isAbove(fulls[0]!, 40, String(fulls))
      // deltas from before the older kept full one are gone, and deltas follow the newest
      assert.isTrue(deltas.every((i) => i! > fulls[0]!), String(deltas))
      assert.isTrue(deltas.some((i) => i! > fulls[1]!), String(deltas))
      yield* withStore(
        root,
        Effect.gen(function*() {
          assert.strictEqual((yield* (yield* EventStore.EventStore).stats).events, 200)
          assert.strictEqual(yield* EventStore.streamVersion("s-4"), 40n)
        }),
        { checkpointEvery: 10 }
      )
    }))

  it.effect("a checkpoint beyond the log's end (entries lost by a machine crash) is dropped, not trusted", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          for (let i = 0; i < 5; i++) {
            yield* EventStore.append(Events, "s", ExpectedVersion.any, [Deposited.make({ amount: i })])
          }
        })
      )
      const dir = Path.join(root, "streams")
      const [name] = NFS.readdirSync(dir).filter((n) => n.endsWith(".ckpt"))
      // pretend it covers 1,000 entries
      NFS.renameSync(Path.join(dir, name!), Path.join(dir, "streams-00000000000003e8.ckpt"))
      yield* withStore(
        root,
        Effect.gen(function*() {
          assert.strictEqual(yield* EventStore.streamVersion("s"), 5n)
        })
      )
      assert.notInclude(NFS.readdirSync(dir), "streams-00000000000003e8.ckpt")
    }))
})

describe("EventStore: reads", () => {
  it.effect("readStream reads by position: a damaged entry of another stream does not affect it", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          for (let i = 0; i < 300; i++) {
            yield* EventStore.append(Events, i % 2 === 0 ? "even" : "odd", ExpectedVersion.any, [
              Opened.make({ owner: `owner-${String(i).padStart(4, "0")}` })
            ])
          }
          // first reads build the per-segment offset index
          assert.strictEqual((yield* Stream.runCollect(EventStore.readStream(Events, "even"))).length, 150)
          assert.strictEqual((yield* Stream.runCollect(EventStore.readStream(Events, "odd"))).length, 150)
          const walDir = Path.join(root, "wal")
          const segments = NFS.readdirSync(walDir).filter((n) => n.endsWith(".wal")).sort()
          assert.isAbove(segments.length, 3)
          // damage the payload of event 151 (an "odd" one) where it lies
          const target = segments.map((n) => Path.join(walDir, n)).find((p) =>
            NFS.readFileSync(p).includes(Buffer.from("owner-0151"))
          )!
          const bytes = NFS.readFileSync(target)
          bytes[bytes.indexOf(Buffer.from("owner-0151")) + 7] ^= 0x01
          NFS.writeFileSync(target, bytes)

          const even = yield* Stream.runCollect(EventStore.readStream(Events, "even"))
          assert.deepStrictEqual(even.map((e) => Number(e.streamVersion)), Array.from({ length: 150 }, (_, i) => i + 1))
          const odd = yield* Effect.flip(Stream.runCollect(EventStore.readStream(Events, "odd")))
          assert.strictEqual(odd._tag, "CrcMismatch")
          // a sequential read of the whole log meets the damage too
          const all = yield* Effect.flip(Stream.runCollect(EventStore.readAll(Events)))
          assert.strictEqual(all._tag, "CrcMismatch")
        }),
        { segmentSizeBytes: 8 * 1024 }
      )
    }))

  it.live("readAll with follow continues live after catching up", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          yield* EventStore.append(Events, "s", ExpectedVersion.any, [Deposited.make({ amount: 1 })])
          const fiber = yield* EventStore.readAll(Events, { follow: true }).pipe(
            Stream.take(3),
            Stream.runCollect,
            Effect.forkChild
          )
          yield* Effect.sleep("20 millis")
          yield* EventStore.append(Events, "t", ExpectedVersion.any, [Deposited.make({ amount: 2 })])
          yield* EventStore.append(Events, "s", ExpectedVersion.any, [Deposited.make({ amount: 3 })])
          const got = yield* Fiber.join(fiber)
          assert.deepStrictEqual(got.map((e) => (e.event.data as { amount: number }).amount), [1, 2, 3])
        })
      )
    }))

  it.effect("unknown event types follow the reader's policy: fail, skip or raw", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const Closed = EventType.make("Closed", Schema.Struct({ reason: Schema.String }))
      const Writer = EventType.registry(Opened, Closed)
      const Reader = EventType.registry(Opened)
      yield* withStore(
        root,
        Effect.gen(function*() {
          yield* EventStore.append(Writer, "s", ExpectedVersion.any, [
            Opened.make({ owner: "a" }),
            Closed.make({ reason: "done" })
          ])
          const fail = yield* Effect.flip(Stream.runCollect(EventStore.readStream(Reader, "s")))
          assert.deepInclude(fail, { _tag: "UnknownEventType", eventType: "Closed", index: "2" })
          const skip = yield* Stream.runCollect(EventStore.readAll(Reader, { unknown: "skip" }))
          assert.deepStrictEqual(skip.map((e) => e.event.type), ["Opened"])
          const raw = yield* Stream.runCollect(EventStore.readStream(Reader, "s", { unknown: "raw" }))
          const unknown = raw[1]!.event
          assert.instanceOf(unknown, EventType.UnknownEvent)
          if (unknown instanceof EventType.UnknownEvent) {
            assert.strictEqual(unknown.type, "Closed")
            assert.strictEqual(new TextDecoder().decode(unknown.payload), `{"reason":"done"}`)
          }
        })
      )
    }))
})
