import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { FetchHttpClient } from "effect/http"
import type { HttpClient } from "effect/http"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as NFS from "node:fs"
import * as FSP from "node:fs/promises"
import * as OS from "node:os"
import * as Path from "node:path"
import * as Server from "../src/bank/server.ts"
import * as Session from "../src/bank/session.ts"

const tempRoot = Effect.acquireRelease(
  Effect.promise(() => FSP.mkdtemp(Path.join(OS.tmpdir(), "binlog-bank-test-"))),
  (d) => Effect.promise(() => FSP.rm(d, { recursive: true, force: true }))
)

/** Runs `f` with the service up on a free port over `root`, and a client pointed at it. */
const withBank = <A, E>(
  root: string,
  f: (
    request: typeof Session.send extends (base: string, ...rest: infer R) => infer O ? (...args: R) => O : never
  ) => Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const url = yield* Server.baseUrl
      return yield* f((...args) => Session.send(url, ...args))
    }).pipe(Effect.provide(Layer.mergeAll(Layer.fresh(Server.layer({ root, port: 0 })), FetchHttpClient.layer)))
  )

describe("bank service over HTTP", () => {
  it.live("the scripted session gets every expected status (200, 409, 422, 400, 404)", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const exchanges = yield* Effect.scoped(
        Effect.gen(function*() {
          return yield* Session.run(yield* Server.baseUrl, { quiet: true })
        }).pipe(Effect.provide(Layer.mergeAll(Layer.fresh(Server.layer({ root, port: 0 })), FetchHttpClient.layer)))
      )
      for (const e of exchanges) assert.strictEqual(e.status, e.expected, `${e.method} ${e.path}: ${e.note}`)
      const statuses = new Set(exchanges.map((e) => e.status))
      for (const s of [200, 400, 404, 409, 422]) assert.isTrue(statuses.has(s))
    }))

  it.live("commands change state; GET reads it; typed errors map to 422/409/404", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      yield* withBank(root, (send) =>
        Effect.gen(function*() {
          assert.strictEqual((yield* send("POST", "/accounts/a1", { owner: "Ann" })).status, 200)
          const again = yield* send("POST", "/accounts/a1", { owner: "Ann" })
          assert.deepStrictEqual(again, { status: 422, response: { _tag: "AccountAlreadyOpen", account: "a1" } })
          const notOpen = yield* send("POST", "/accounts/zz/deposits", { amount: 1 })
          assert.deepStrictEqual(notOpen, { status: 422, response: { _tag: "AccountNotOpen", account: "zz" } })
          const dep = yield* send("POST", "/accounts/a1/deposits", { amount: 700, expectedVersion: 1 })
          assert.deepStrictEqual(dep.response, { id: "a1", owner: "Ann", balance: 700, version: 2 })
          const stale = yield* send("POST", "/accounts/a1/withdrawals", { amount: 100, expectedVersion: 1 })
          assert.deepStrictEqual(stale, {
            status: 409,
            response: { _tag: "VersionConflict", account: "a1", expected: "1", actual: 2 }
          })
          const over = yield* send("POST", "/accounts/a1/withdrawals", { amount: 701 })
          assert.deepStrictEqual(over, {
            status: 422,
            response: { _tag: "InsufficientFunds", account: "a1", balance: 700, requested: 701 }
          })
          const get = yield* send("GET", "/accounts/a1")
          assert.deepStrictEqual(get, { status: 200, response: { id: "a1", owner: "Ann", balance: 700, version: 2 } })
          assert.strictEqual((yield* send("GET", "/accounts/nobody")).status, 404)
        }))
    }))

  it.live("bad input is rejected with 400 and changes nothing", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      yield* withBank(root, (send) =>
        Effect.gen(function*() {
          yield* send("POST", "/accounts/a1", { owner: "Ann" })
          for (
            const body of [{}, { amount: 0 }, { amount: -1 }, { amount: 1.5 }, { amount: "7" }, {
              amount: 5,
              expectedVersion: "x"
            }]
          ) {
            assert.strictEqual((yield* send("POST", "/accounts/a1/deposits", body)).status, 400, JSON.stringify(body))
          }
          assert.strictEqual((yield* send("POST", "/accounts/a1", { owner: "" })).status, 400)
          assert.strictEqual((yield* send("POST", "/accounts/bad%20id", { owner: "x" })).status, 400)
          assert.strictEqual((yield* send("POST", "/transfers", { from: "a1", amount: 5 })).status, 400)
          const get = yield* send("GET", "/accounts/a1")
          assert.deepStrictEqual(get.response, { id: "a1", owner: "Ann", balance: 0, version: 1 })
        }))
    }))

  it.live("a transfer moves money between both streams atomically; a rejected one writes nothing", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      yield* withBank(root, (send) =>
        Effect.gen(function*() {
          yield* send("POST", "/accounts/a", { owner: "A" })
          yield* send("POST", "/accounts/b", { owner: "B" })
          yield* send("POST", "/accounts/a/deposits", { amount: 100 })
          const t = yield* send("POST", "/transfers", { from: "a", to: "b", amount: 60 })
          assert.strictEqual(t.status, 200)
          const body = t.response as { from: { balance: number }; to: { balance: number }; first: string; last: string }
          assert.deepStrictEqual([body.from.balance, body.to.balance], [40, 60])
          assert.strictEqual(BigInt(body.last), BigInt(body.first) + 1n)
          const rejected = yield* send("POST", "/transfers", { from: "a", to: "b", amount: 41 })
          assert.strictEqual(rejected.status, 422)
          assert.strictEqual((yield* send("POST", "/transfers", { from: "a", to: "a", amount: 1 })).status, 422)
          assert.strictEqual((yield* send("POST", "/transfers", { from: "a", to: "nobody", amount: 1 })).status, 422)
          const ev = (yield* send("GET", "/accounts/b/events")).response as ReadonlyArray<{ type: string }>
          assert.deepStrictEqual(ev.map((e) => e.type), ["AccountOpened", "Deposited"])
          assert.strictEqual(((yield* send("GET", "/accounts/a")).response as { balance: number }).balance, 40)
        }))
    }))

  it.live("concurrent transfers over HTTP conserve money and never overdraw (server-side conflict retries)", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      yield* withBank(root, (send) =>
        Effect.gen(function*() {
          const ids = ["p", "q", "r", "s"]
          for (const id of ids) {
            yield* send("POST", `/accounts/${id}`, { owner: id })
            yield* send("POST", `/accounts/${id}/deposits`, { amount: 50 })
          }
          const results = yield* Effect.all(
            Array.from({ length: 40 }, (_, k) =>
              send("POST", "/transfers", { from: ids[k % 4], to: ids[(k + 1 + (k % 3)) % 4], amount: 20 })),
            { concurrency: 16 }
          )
          for (const r of results) {
            assert.include([200, 422], r.status)
          }
          let total = 0
          for (const id of ids) {
            const a = (yield* send("GET", `/accounts/${id}`)).response as { balance: number }
            assert.isAtLeast(a.balance, 0)
            total += a.balance
          }
          assert.strictEqual(total, 200)
        }))
    }))

  it.live("state, versions and idempotency keys survive a restart of the service", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      yield* withBank(root, (send) =>
        Effect.gen(function*() {
          yield* send("POST", "/accounts/a", { owner: "A" })
          for (let i = 0; i < Server.SNAPSHOT_EVERY_EVENTS + 5; i++) {
            yield* send("POST", "/accounts/a/deposits", { amount: 1 }, { "idempotency-key": `dep-${i}` })
          }
        }))
      assert.isAbove(NFS.readdirSync(Path.join(root, "aggregates", "account")).length, 0)
      yield* withBank(root, (send) =>
        Effect.gen(function*() {
          const a = yield* send("GET", "/accounts/a")
          assert.deepStrictEqual(a.response, { id: "a", owner: "A", balance: 55, version: 56 })
          const retry = yield* send("POST", "/accounts/a/deposits", { amount: 1 }, { "idempotency-key": "dep-54" })
          assert.deepStrictEqual(retry.response, { id: "a", owner: "A", balance: 55, version: 56 })
          const next = yield* send("POST", "/accounts/a/deposits", { amount: 1, expectedVersion: 56 })
          assert.strictEqual(next.status, 200)
        }))
    }))
})
