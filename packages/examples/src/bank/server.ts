/**
 * The bank service: the {@link BankApi} handlers over an event store, served by `NodeHttpServer` on localhost.
 *
 * - Each command goes through a `CommandHandler` over the account decider: load (aggregate snapshot + tail),
 *   decide, append with the expected version, retry internal conflicts; a client-supplied `expectedVersion` is
 *   checked instead of retried (409 when stale).
 * - A transfer is two commands (`Withdraw` on `from`, `Deposit` on `to`) decided independently and appended to
 *   both account streams in one atomic WAL batch.
 * - Account snapshots are saved every {@link SNAPSHOT_EVERY_EVENTS} events under `root/aggregates`.
 * - Storage failures are defects (500); domain errors keep their HTTP statuses.
 *
 * @since 0.1.0
 */
import * as AggregateSnapshots from "@binlog/core/AggregateSnapshots"
import * as CommandHandler from "@binlog/core/CommandHandler"
import * as EventStore from "@binlog/core/EventStore"
import { NodeHttpServer } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { createServer } from "node:http"
import { type AccountView, BankApi, VersionConflict } from "./api.ts"
import {
  Account as AccountSchema,
  AccountNotFound,
  decider,
  type DomainError,
  Events,
  SameAccount,
  streamOf
} from "./domain.ts"

/**
 * Account snapshots are saved every this many events of an account.
 *
 * @since 0.1.0
 * @category constants
 */
export const SNAPSHOT_EVERY_EVENTS = 50

/**
 * Options of the service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Directory holding `wal/`, `snap/`, `streams/` and `aggregates/`. */
  readonly root: string
  /** TCP port on 127.0.0.1 (0: any free port). */
  readonly port: number
}

const idOf = (streamId: string) => streamId.slice("account-".length)

const view = (id: string, state: { owner: string; balance: number }, version: bigint): AccountView => ({
  id,
  owner: state.owner,
  balance: state.balance,
  version: Number(version)
})

/** Keeps domain errors and maps version conflicts to 409; anything else from storage is a defect (500). */
const expose = <A>(
  effect: Effect.Effect<A, DomainError | CommandHandler.HandleError, EventStore.EventStore>,
  store: EventStore.EventStore["Service"]
): Effect.Effect<A, DomainError | VersionConflict> =>
  effect.pipe(
    Effect.catch((e): Effect.Effect<never, DomainError | VersionConflict> => {
      switch (e._tag) {
        case "AccountNotOpen":
        case "AccountAlreadyOpen":
        case "InsufficientFunds":
          return Effect.fail(e)
        case "WrongExpectedVersion":
          return Effect.fail(
            new VersionConflict({ account: idOf(e.streamId), expected: e.expected, actual: Number(e.actual) })
          )
        default:
          return Effect.die(e)
      }
    }),
    Effect.provideService(EventStore.EventStore, store)
  )

const makeHandler = (root: string) =>
  Effect.map(
    AggregateSnapshots.make({ dir: `${root}/aggregates`, name: "account", schema: AccountSchema, version: 1 }),
    (snapshots) =>
      CommandHandler.make({
        decider,
        registry: Events,
        snapshots: { store: snapshots, every: SNAPSHOT_EVERY_EVENTS }
      })
  )

const accountsHandlers = (root: string) =>
  HttpApiBuilder.group(
    BankApi,
    "accounts",
    Effect.fn(function*(handlers) {
      const store = yield* EventStore.EventStore
      const handler = yield* Effect.orDie(makeHandler(root))
      const opts = (key: string | undefined, expectedVersion?: number) => ({
        idempotencyKey: key,
        expectedVersion: expectedVersion === undefined ? undefined : BigInt(expectedVersion)
      })
      return handlers
        .handle("open", ({ headers, params, payload }) =>
          expose(
            Effect.map(
              handler.handle(
                streamOf(params.id),
                { _tag: "Open", account: params.id, owner: payload.owner },
                opts(headers["idempotency-key"])
              ),
              (h) => view(params.id, h.state, h.streamVersion)
            ),
            store
          ))
        .handle("deposit", ({ headers, params, payload }) =>
          expose(
            Effect.map(
              handler.handle(
                streamOf(params.id),
                { _tag: "Deposit", account: params.id, amount: payload.amount },
                opts(headers["idempotency-key"], payload.expectedVersion)
              ),
              (h) => view(params.id, h.state, h.streamVersion)
            ),
            store
          ))
        .handle("withdraw", ({ headers, params, payload }) =>
          expose(
            Effect.map(
              handler.handle(
                streamOf(params.id),
                { _tag: "Withdraw", account: params.id, amount: payload.amount },
                opts(headers["idempotency-key"], payload.expectedVersion)
              ),
              (h) => view(params.id, h.state, h.streamVersion)
            ),
            store
          ))
        .handle("get", ({ params }) =>
          Effect.gen(function*() {
            const loaded = yield* handler.load(streamOf(params.id)).pipe(
              Effect.provideService(EventStore.EventStore, store),
              Effect.orDie
            )
            if (!loaded.state.open) return yield* new AccountNotFound({ account: params.id })
            return view(params.id, loaded.state, loaded.streamVersion)
          }))
        .handle("events", ({ params }) =>
          Effect.gen(function*() {
            const events = yield* Stream.runCollect(EventStore.readStream(Events, streamOf(params.id))).pipe(
              Effect.provideService(EventStore.EventStore, store),
              Effect.orDie
            )
            if (events.length === 0) return yield* new AccountNotFound({ account: params.id })
            return events.map((e) => ({
              index: e.index.toString(),
              version: Number(e.streamVersion),
              type: e.event.type,
              data: e.event.data,
              timestamp: e.timestamp
            }))
          }))
    })
  )

const transfersHandlers = (root: string) =>
  HttpApiBuilder.group(
    BankApi,
    "transfers",
    Effect.fn(function*(handlers) {
      const store = yield* EventStore.EventStore
      const handler = yield* Effect.orDie(makeHandler(root))
      return handlers.handle("transfer", ({ headers, payload }) =>
        Effect.gen(function*() {
          if (payload.from === payload.to) return yield* new SameAccount({ account: payload.from })
          const key = headers["idempotency-key"]
          const transfer = key ?? crypto.randomUUID()
          const [from, to] = yield* expose(
            handler.handleMany([
              {
                streamId: streamOf(payload.from),
                command: { _tag: "Withdraw", account: payload.from, amount: payload.amount, transfer }
              },
              {
                streamId: streamOf(payload.to),
                command: { _tag: "Deposit", account: payload.to, amount: payload.amount, transfer }
              }
            ], { idempotencyKey: key, correlationId: transfer }),
            store
          )
          return {
            transfer,
            from: view(payload.from, from!.state, from!.streamVersion),
            to: view(payload.to, to!.state, to!.streamVersion),
            first: String(from!.first),
            last: String(from!.last)
          }
        }))
    })
  )

/**
 * The API routes with their handlers (needs an `EventStore`).
 *
 * @since 0.1.0
 * @category layers
 */
export const routes = (root: string) =>
  HttpApiBuilder.layer(BankApi).pipe(Layer.provide([accountsHandlers(root), transfersHandlers(root)]))

/**
 * The whole service: event store + log under `root`, HTTP server on 127.0.0.1:`port`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options) =>
  HttpRouter.serve(routes(options.root), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provide(EventStore.layerWithLog({ root: options.root })),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: "127.0.0.1" }))
  )

/**
 * The base URL the running server listens on.
 *
 * @since 0.1.0
 * @category accessors
 */
export const baseUrl: Effect.Effect<string, never, HttpServer.HttpServer> = HttpServer.HttpServer.useSync((server) =>
  HttpServer.formatAddress(server.address)
)
