import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as NFS from "node:fs"
import * as Path from "node:path"
import * as AggregateSnapshots from "../src/AggregateSnapshots.ts"
import * as CommandHandler from "../src/CommandHandler.ts"
import { account, Events, State, withStore } from "./EventStore.utils.ts"
import { tempDir } from "./utils.ts"

/** The account decider, counting how many events each load folds. */
const counting = () => {
  const counter = { evolved: 0 }
  const decider: typeof account = {
    ...account,
    evolve: (s, e) => {
      counter.evolved++
      return account.evolve(s, e)
    }
  }
  return { decider, counter }
}

const handlerWith = (root: string, decider: typeof account, version = 1, every = 10) =>
  Effect.map(
    AggregateSnapshots.make({ dir: Path.join(root, "aggregates"), name: "account", schema: State, version }),
    (store) => CommandHandler.make({ decider, registry: Events, snapshots: { store, every } })
  )

const deposits = (handler: Effect.Success<ReturnType<typeof handlerWith>>, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* handler.handle("acc", { _tag: "Deposit", amount: 1 })
  })

describe("AggregateSnapshots", () => {
  it.effect("a snapshot is saved every N events and loading folds only the tail after it", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { counter, decider } = counting()
      yield* withStore(
        root,
        Effect.gen(function*() {
          const handler = yield* handlerWith(root, decider)
          yield* handler.handle("acc", { _tag: "Open", owner: "ada" })
          yield* deposits(handler, 24) // 25 events: snapshots at 10 and 20
          const snaps = yield* AggregateSnapshots.make({
            dir: Path.join(root, "aggregates"),
            name: "account",
            schema: State,
            version: 1
          })
          const snap = yield* snaps.load("acc")
          assert.isTrue(Option.isSome(snap))
          if (Option.isSome(snap)) {
            assert.strictEqual(snap.value.streamVersion, 20n)
            assert.strictEqual(snap.value.index, 20n)
            assert.deepStrictEqual(snap.value.state, { open: true, balance: 19, events: 20 })
          }
          counter.evolved = 0
          const loaded = yield* handler.load("acc")
          assert.deepStrictEqual([loaded.streamVersion, loaded.snapshotVersion, loaded.state.balance], [25n, 20n, 24])
          assert.strictEqual(counter.evolved, 5)
        })
      )
    }))

  it.effect("a snapshot written by an older state schema version is ignored and rebuilt, not misread", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const v1 = yield* handlerWith(root, account, 1, 5)
          yield* v1.handle("acc", { _tag: "Open", owner: "ada" })
          yield* deposits(v1, 5)
          // v2 of the state: a different shape under the same directory
          const StateV2 = Schema.Struct({ cents: Schema.Number })
          const storeV2 = yield* AggregateSnapshots.make({
            dir: Path.join(root, "aggregates"),
            name: "account",
            schema: StateV2,
            version: 2
          })
          assert.isTrue(Option.isNone(yield* storeV2.load("acc")))
          // the v1 reader still reads its own
          const { counter, decider } = counting()
          const again = yield* handlerWith(root, decider, 1, 5)
          const loaded = yield* again.load("acc")
          assert.strictEqual(loaded.snapshotVersion, 5n)
          assert.strictEqual(counter.evolved, 1)
          // a v3 reader ignores it, folds everything, and its next save replaces the file
          const { counter: c3, decider: d3 } = counting()
          const v3 = yield* handlerWith(root, d3, 3, 5)
          const l3 = yield* v3.load("acc")
          assert.deepStrictEqual([l3.snapshotVersion, l3.state.balance, c3.evolved], [0n, 5, 6])
          yield* v3.snapshot("acc")
          const store3 = yield* AggregateSnapshots.make({
            dir: Path.join(root, "aggregates"),
            name: "account",
            schema: State,
            version: 3
          })
          assert.strictEqual(Option.map(yield* store3.load("acc"), (s) => s.streamVersion).pipe(Option.getOrNull), 6n)
        })
      )
    }))

  it.effect("a damaged snapshot file, or one that does not match the log, is ignored", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const handler = yield* handlerWith(root, account, 1, 3)
          yield* handler.handle("acc", { _tag: "Open", owner: "ada" })
          yield* deposits(handler, 3)
          const dir = Path.join(root, "aggregates", "account")
          const file = Path.join(dir, AggregateSnapshots.fileName("acc"))
          const bytes = NFS.readFileSync(file)
          bytes[bytes.length - 6] ^= 0xff
          NFS.writeFileSync(file, bytes)
          const { counter, decider } = counting()
          const h2 = yield* handlerWith(root, decider, 1, 3)
          const l = yield* h2.load("acc")
          assert.deepStrictEqual([l.snapshotVersion, l.state.balance, counter.evolved], [0n, 3, 4])
          // a snapshot claiming a version/index the log does not have (a lost tail)
          const snaps = yield* AggregateSnapshots.make({
            dir: Path.join(root, "aggregates"),
            name: "account",
            schema: State,
            version: 1
          })
          yield* snaps.save("acc", { state: { open: true, balance: 1000, events: 50 }, streamVersion: 50n, index: 50n })
          const l2 = yield* h2.load("acc")
          assert.deepStrictEqual([l2.snapshotVersion, l2.state.balance], [0n, 3])
          // one of another stream copied over this one's file
          yield* snaps.save("other", { state: { open: true, balance: 7, events: 1 }, streamVersion: 1n, index: 1n })
          NFS.copyFileSync(Path.join(dir, AggregateSnapshots.fileName("other")), file)
          assert.isTrue(Option.isNone(yield* snaps.load("acc")))
        })
      )
    }))

  it.effect("snapshot(streamId) saves on demand", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withStore(
        root,
        Effect.gen(function*() {
          const handler = yield* handlerWith(root, account, 1, 1000)
          yield* handler.handle("acc", { _tag: "Open", owner: "ada" })
          yield* deposits(handler, 2)
          const snaps = yield* AggregateSnapshots.make({
            dir: Path.join(root, "aggregates"),
            name: "account",
            schema: State,
            version: 1
          })
          assert.isTrue(Option.isNone(yield* snaps.load("acc")))
          yield* handler.snapshot("acc")
          const s = yield* snaps.load("acc")
          assert.deepStrictEqual(Option.map(s, (x) => [x.streamVersion, x.state.balance]).pipe(Option.getOrNull), [
            3n,
            2
          ])
        })
      )
    }))
})
