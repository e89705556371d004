import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as DeciderSpec from "../src/DeciderSpec.ts"
import {
  account,
  AlreadyOpen,
  Deposited,
  Events,
  InsufficientFunds,
  NotOpen,
  Opened,
  Withdrawn
} from "./EventStore.utils.ts"

const spec = DeciderSpec.make(account)

const thrown = (f: () => void): Error => {
  try {
    f()
  } catch (e) {
    if (e instanceof Error) return e
  }
  return assert.fail("expected the spec to fail")
}

describe("DeciderSpec (pure)", () => {
  it("given/when/then passes on the expected events or error", () => {
    spec.given([]).when({ _tag: "Open", owner: "ada" }).then([Opened.make({ owner: "ada" })])
    spec.given([Opened.make({ owner: "ada" })]).when({ _tag: "Open", owner: "ada" }).then(new AlreadyOpen())
    spec.given([Opened.make({ owner: "ada" }), Deposited.make({ amount: 5 })])
      .when({ _tag: "Withdraw", amount: 9 })
      .then(new InsufficientFunds({ balance: 5, requested: 9 }))
    spec.given([]).when({ _tag: "Deposit", amount: 1 }).then(new NotOpen())
  })

  it("a mismatch throws an AssertionError with a readable line diff", () => {
    const e = thrown(() =>
      spec.given([Opened.make({ owner: "ada" })]).when({ _tag: "Deposit", amount: 5 }).then([
        Deposited.make({ amount: 6 })
      ])
    )
    assert.instanceOf(e, DeciderSpec.SpecFailure)
    assert.strictEqual(e.name, "AssertionError")
    assert.include(e.message, "the command produced other events")
    assert.include(e.message, `-       "amount": 6`)
    assert.include(e.message, `+       "amount": 5`)
    assert.include(e.message, `      "type": "Deposited"`)
  })

  it("an unexpected error (or unexpected events) fails with both sides shown", () => {
    const e1 = thrown(() => spec.given([]).when({ _tag: "Withdraw", amount: 1 }).then([Withdrawn.make({ amount: 1 })]))
    assert.include(e1.message, "expected events, but the command failed")
    assert.include(e1.message, `"_tag": "NotOpen"`)
    const e2 = thrown(() =>
      spec.given([Opened.make({ owner: "x" }), Deposited.make({ amount: 3 })]).when({ _tag: "Withdraw", amount: 1 })
        .then(new InsufficientFunds({ balance: 3, requested: 1 }))
    )
    assert.include(e2.message, "expected an error, but the command produced events")
    const e3 = thrown(() =>
      spec.given([Opened.make({ owner: "x" })]).when({ _tag: "Withdraw", amount: 4 })
        .then(new InsufficientFunds({ balance: 1, requested: 4 }))
    )
    assert.include(e3.message, `-   "balance": 1`)
    assert.include(e3.message, `+   "balance": 0`)
  })

  it("render normalises bigints, bytes, key order and errors", () => {
    assert.strictEqual(
      DeciderSpec.render({ b: 1n, a: new Uint8Array([1, 255]) }),
      `{\n  "a": "<bytes 01ff>",\n  "b": "1n"\n}`
    )
    assert.strictEqual(DeciderSpec.render(new NotOpen()), `{\n  "_tag": "NotOpen"\n}`)
  })
})

describe("DeciderSpec.withEventStore", () => {
  const storeSpec = DeciderSpec.withEventStore({ decider: account, registry: Events })

  it.live("runs given/when/then through a real event store on a temporary WAL", () =>
    Effect.gen(function*() {
      yield* storeSpec.given([Opened.make({ owner: "ada" }), Deposited.make({ amount: 10 })])
        .when({ _tag: "Withdraw", amount: 4 })
        .then([Withdrawn.make({ amount: 4 })])
      yield* storeSpec.given([Opened.make({ owner: "ada" })])
        .when({ _tag: "Withdraw", amount: 4 })
        .then(new InsufficientFunds({ balance: 0, requested: 4 }))
    }))

  it.live("a mismatch dies with the diff", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        storeSpec.given([Opened.make({ owner: "ada" })]).when({ _tag: "Deposit", amount: 1 }).then([
          Deposited.make({ amount: 2 })
        ])
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const text = String(exit.cause)
        assert.include(text, `-       "amount": 2`)
        assert.include(text, `+       "amount": 1`)
      }
    }))
})
