/**
 * The bank's HTTP API, declared with `effect/http-api`: commands as `POST`, state as `GET`, typed errors with their
 * HTTP statuses (404 unknown account, 409 version conflict, 422 domain errors; malformed input is rejected with 400
 * by the schema decoding of the request).
 *
 * | method | path | body | result |
 * | --- | --- | --- | --- |
 * | POST | `/accounts/:id` | `{ owner }` | the new account |
 * | POST | `/accounts/:id/deposits` | `{ amount, expectedVersion? }` | the account |
 * | POST | `/accounts/:id/withdrawals` | `{ amount, expectedVersion? }` | the account |
 * | POST | `/transfers` | `{ from, to, amount }` | both accounts and the transfer id |
 * | GET | `/accounts/:id` | | the account |
 * | GET | `/accounts/:id/events` | | its events with versions and global indexes |
 *
 * Amounts are integer cents > 0. `expectedVersion` is optimistic concurrency from the client (409 when the account
 * has moved on); without it the server retries internal conflicts itself. An `idempotency-key` header makes a
 * retried command return the original result instead of applying it twice.
 *
 * @since 0.1.0
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import * as Schema from "effect/Schema"
import { AccountAlreadyOpen, AccountNotFound, AccountNotOpen, Cents, InsufficientFunds, SameAccount } from "./domain.ts"

/**
 * The account changed since the version the client expected.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionConflict extends Schema.TaggedError<VersionConflict>()("VersionConflict", {
  account: Schema.String,
  expected: Schema.String,
  actual: Schema.Number
}, { httpApiStatus: 409 }) {}

/**
 * An account as the API shows it.
 *
 * @since 0.1.0
 * @category models
 */
export const AccountView = Schema.Struct({
  id: Schema.String,
  owner: Schema.String,
  balance: Schema.Int,
  /** The account stream's version (number of events). */
  version: Schema.Int
})

/**
 * @since 0.1.0
 * @category models
 */
export type AccountView = typeof AccountView.Type

/**
 * A stored event as the API shows it.
 *
 * @since 0.1.0
 * @category models
 */
export const EventView = Schema.Struct({
  index: Schema.String,
  version: Schema.Int,
  type: Schema.String,
  data: Schema.Unknown,
  timestamp: Schema.Number
})

/**
 * The outcome of a transfer.
 *
 * @since 0.1.0
 * @category models
 */
export const TransferView = Schema.Struct({
  transfer: Schema.String,
  from: AccountView,
  to: AccountView,
  /** Global log indexes of the two events. */
  first: Schema.String,
  last: Schema.String
})

/** Every command may meet any domain error of the account decider, or a version conflict. */
const CommandErrors = [AccountNotOpen, AccountAlreadyOpen, InsufficientFunds, VersionConflict] as const

const AccountId = Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/)))

const Amount = Schema.Struct({ amount: Cents, expectedVersion: Schema.optional(Schema.Int) })

const IdempotencyKey = { "idempotency-key": Schema.optional(Schema.String) }

/**
 * The `accounts` group.
 *
 * @since 0.1.0
 * @category api
 */
export class AccountsApi extends HttpApiGroup.make("accounts")
  .add(
    HttpApiEndpoint.post("open", "/:id", {
      params: { id: AccountId },
      headers: IdempotencyKey,
      payload: Schema.Struct({ owner: Schema.NonEmptyString }),
      success: AccountView,
      error: CommandErrors
    }),
    HttpApiEndpoint.post("deposit", "/:id/deposits", {
      params: { id: AccountId },
      headers: IdempotencyKey,
      payload: Amount,
      success: AccountView,
      error: CommandErrors
    }),
    HttpApiEndpoint.post("withdraw", "/:id/withdrawals", {
      params: { id: AccountId },
      headers: IdempotencyKey,
      payload: Amount,
      success: AccountView,
      error: CommandErrors
    }),
    HttpApiEndpoint.get("get", "/:id", {
      params: { id: AccountId },
      success: AccountView,
      error: AccountNotFound
    }),
    HttpApiEndpoint.get("events", "/:id/events", {
      params: { id: AccountId },
      success: Schema.Array(EventView),
      error: AccountNotFound
    })
  )
  .prefix("/accounts")
{}

/**
 * The `transfers` group.
 *
 * @since 0.1.0
 * @category api
 */
export class TransfersApi extends HttpApiGroup.make("transfers")
  .add(
    HttpApiEndpoint.post("transfer", "/", {
      headers: IdempotencyKey,
      payload: Schema.Struct({ from: AccountId, to: AccountId, amount: Cents }),
      success: TransferView,
      error: [...CommandErrors, SameAccount]
    })
  )
  .prefix("/transfers")
{}

/**
 * The bank API.
 *
 * @since 0.1.0
 * @category api
 */
export class BankApi extends HttpApi.make("bank").add(AccountsApi).add(TransfersApi) {}
