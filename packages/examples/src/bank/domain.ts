/**
 * The bank's domain: account events (Effect `Schema`s with versions), commands, state, typed domain errors and the
 * account {@link Decider}. Money is in integer cents.
 *
 * `Deposited` and `Withdrawn` carry an optional `transfer` id when they are one half of a transfer; a transfer is a
 * `Withdraw` on one account and a `Deposit` on the other, decided independently and appended atomically.
 *
 * @since 0.1.0
 */
import * as Decider from "@binlog/core/Decider"
import * as EventType from "@binlog/core/EventType"
import * as Schema from "effect/Schema"

/**
 * An amount of money in cents: a positive integer.
 *
 * @since 0.1.0
 * @category models
 */
export const Cents = Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0)))

/**
 * @since 0.1.0
 * @category events
 */
export const AccountOpened = EventType.make("AccountOpened", Schema.Struct({ owner: Schema.String }))

/**
 * @since 0.1.0
 * @category events
 */
export const Deposited = EventType.make(
  "Deposited",
  Schema.Struct({ amount: Schema.Int, transfer: Schema.optional(Schema.String) })
)

/**
 * @since 0.1.0
 * @category events
 */
export const Withdrawn = EventType.make(
  "Withdrawn",
  Schema.Struct({ amount: Schema.Int, transfer: Schema.optional(Schema.String) })
)

/**
 * The bank's event types.
 *
 * @since 0.1.0
 * @category events
 */
export const Events = EventType.registry(AccountOpened, Deposited, Withdrawn)

/**
 * @since 0.1.0
 * @category events
 */
export type Event = EventType.EventOf<typeof AccountOpened | typeof Deposited | typeof Withdrawn>

/**
 * @since 0.1.0
 * @category commands
 */
export type Command =
  | { readonly _tag: "Open"; readonly account: string; readonly owner: string }
  | {
    readonly _tag: "Deposit"
    readonly account: string
    readonly amount: number
    readonly transfer?: string | undefined
  }
  | {
    readonly _tag: "Withdraw"
    readonly account: string
    readonly amount: number
    readonly transfer?: string | undefined
  }

/**
 * The state of an account (also the schema of its aggregate snapshots).
 *
 * @since 0.1.0
 * @category models
 */
export const Account = Schema.Struct({
  open: Schema.Boolean,
  owner: Schema.String,
  balance: Schema.Int
})

/**
 * @since 0.1.0
 * @category models
 */
export type Account = typeof Account.Type

/**
 * The account does not exist (was never opened).
 *
 * @since 0.1.0
 * @category errors
 */
export class AccountNotFound extends Schema.TaggedError<AccountNotFound>()("AccountNotFound", {
  account: Schema.String
}, { httpApiStatus: 404 }) {}

/**
 * A command on an account that is not open.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccountNotOpen extends Schema.TaggedError<AccountNotOpen>()("AccountNotOpen", {
  account: Schema.String
}, { httpApiStatus: 422 }) {}

/**
 * Opening an account that is already open.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccountAlreadyOpen extends Schema.TaggedError<AccountAlreadyOpen>()("AccountAlreadyOpen", {
  account: Schema.String
}, { httpApiStatus: 422 }) {}

/**
 * A withdrawal larger than the balance (no overdrafts).
 *
 * @since 0.1.0
 * @category errors
 */
export class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  account: Schema.String,
  balance: Schema.Int,
  requested: Schema.Int
}, { httpApiStatus: 422 }) {}

/**
 * A transfer from an account to itself.
 *
 * @since 0.1.0
 * @category errors
 */
export class SameAccount extends Schema.TaggedError<SameAccount>()("SameAccount", {
  account: Schema.String
}, { httpApiStatus: 422 }) {}

/**
 * The decider's errors.
 *
 * @since 0.1.0
 * @category errors
 */
export type DomainError = AccountNotOpen | AccountAlreadyOpen | InsufficientFunds

const withTransfer = (amount: number, transfer: string | undefined) =>
  transfer === undefined ? { amount } : { amount, transfer }

/**
 * The account decider.
 *
 * @since 0.1.0
 * @category deciders
 */
export const decider: Decider.Decider<Command, Event, Account, DomainError> = {
  initialState: () => ({ open: false, owner: "", balance: 0 }),
  decide: (command, state) => {
    const account = command.account
    switch (command._tag) {
      case "Open":
        return state.open
          ? Decider.reject(new AccountAlreadyOpen({ account }))
          : Decider.accept(AccountOpened.make({ owner: command.owner }))
      case "Deposit":
        return !state.open
          ? Decider.reject(new AccountNotOpen({ account }))
          : Decider.accept(Deposited.make(withTransfer(command.amount, command.transfer)))
      case "Withdraw":
        if (!state.open) return Decider.reject(new AccountNotOpen({ account }))
        if (state.balance < command.amount) {
          return Decider.reject(new InsufficientFunds({ account, balance: state.balance, requested: command.amount }))
        }
        return Decider.accept(Withdrawn.make(withTransfer(command.amount, command.transfer)))
    }
  },
  evolve: (state, event) => {
    switch (event.type) {
      case "AccountOpened":
        return { ...state, open: true, owner: event.data.owner }
      case "Deposited":
        return { ...state, balance: state.balance + event.data.amount }
      case "Withdrawn":
        return { ...state, balance: state.balance - event.data.amount }
    }
  }
}

/**
 * The stream of an account.
 *
 * @since 0.1.0
 * @category naming
 */
export const streamOf = (account: string): string => `account-${account}`
