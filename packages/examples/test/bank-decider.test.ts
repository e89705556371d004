import * as DeciderSpec from "@binlog/core/DeciderSpec"
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import {
  AccountAlreadyOpen,
  AccountNotOpen,
  AccountOpened,
  decider,
  Deposited,
  Events,
  InsufficientFunds,
  Withdrawn
} from "../src/bank/domain.ts"

const spec = DeciderSpec.make(decider)
const opened = AccountOpened.make({ owner: "Ann" })

describe("bank account decider (DeciderSpec)", () => {
  it("opens an account once", () => {
    spec.given([]).when({ _tag: "Open", account: "a", owner: "Ann" }).then([opened])
    spec.given([opened]).when({ _tag: "Open", account: "a", owner: "Ann" }).then(
      new AccountAlreadyOpen({ account: "a" })
    )
  })

  it("deposits only into open accounts", () => {
    spec.given([]).when({ _tag: "Deposit", account: "a", amount: 5 }).then(new AccountNotOpen({ account: "a" }))
    spec.given([opened]).when({ _tag: "Deposit", account: "a", amount: 5, transfer: "t1" }).then([
      Deposited.make({ amount: 5, transfer: "t1" })
    ])
  })

  it("never lets the balance go negative", () => {
    spec.given([opened, Deposited.make({ amount: 10 }), Withdrawn.make({ amount: 4 })])
      .when({ _tag: "Withdraw", account: "a", amount: 7 })
      .then(new InsufficientFunds({ account: "a", balance: 6, requested: 7 }))
    spec.given([opened, Deposited.make({ amount: 10 })])
      .when({ _tag: "Withdraw", account: "a", amount: 10 })
      .then([Withdrawn.make({ amount: 10 })])
  })

  const stored = DeciderSpec.withEventStore({ decider, registry: Events, streamId: "account-a" })

  it.live("the same rules hold through the event store (encoding, versions, append)", () =>
    Effect.gen(function*() {
      yield* stored.given([opened, Deposited.make({ amount: 3, transfer: "t9" })])
        .when({ _tag: "Withdraw", account: "a", amount: 3 })
        .then([Withdrawn.make({ amount: 3 })])
      yield* stored.given([opened])
        .when({ _tag: "Withdraw", account: "a", amount: 1 })
        .then(new InsufficientFunds({ account: "a", balance: 0, requested: 1 }))
    }))
})
