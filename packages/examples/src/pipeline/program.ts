/**
 * A typed pipeline end to end: commands append events through the event store (WAL) → the runner decodes each
 * entry's envelope, skips types the projection ignores, decodes and upcasts the rest with their `Schema`s → the
 * projector writes a SQLite read model in the same transaction as its checkpoint → a query waits for its own
 * command's write with `awaitPosition` (read-your-writes without an "inline" projection).
 *
 * Returns what it saw, so the test can check it; `main.ts` runs it and prints it.
 *
 * @since 0.1.0
 */
import * as EventStore from "@binlog/core/EventStore"
import type * as EventType from "@binlog/core/EventType"
import * as Projection from "@binlog/projections/Projection"
import type * as Runner from "@binlog/projections/Runner"
import * as SnapshotRunner from "@binlog/projections/SnapshotRunner"
import * as SqlSink from "@binlog/projections/SqlSink"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Path from "node:path"
import { Events, EventsV1, OrderCancelled, OrderNoted, OrderPlaced, OrderPlacedV1, OrderShipped } from "./events.ts"
import { findOrder, NAME, type OrderRow, orderSummaries, salesBySku, type SalesRow } from "./projection.ts"

/**
 * One append as the program made it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Appended {
  readonly orderId: string
  readonly type: string
  readonly index: bigint
}

/**
 * What the pipeline program observed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Observed {
  readonly appended: ReadonlyArray<Appended>
  /** The command whose query waited for it, and what the query saw right after `awaitPosition`. */
  readonly readYourWrites: { readonly index: bigint; readonly row: OrderRow | undefined }
  readonly orders: ReadonlyArray<OrderRow>
  readonly sales: ReadonlyArray<SalesRow>
  readonly status: Runner.ProjectionStatus
  readonly lag: Runner.Lag
  /** The log's snapshot index once the runner released everything it applied. */
  readonly released: bigint
}

const { noStream, streamExists } = EventStore.ExpectedVersion

/**
 * Runs the pipeline on `root` (`wal/`, `snap/`, `streams/` and `read-model.db` beneath it). Running it again on
 * the same directory with another `runId` appends more orders and resumes the projection from its checkpoint.
 *
 * @since 0.1.0
 * @category programs
 */
export const program = (root: string, runId = `${Date.now()}`): Effect.Effect<Observed, unknown> =>
  Effect.gen(function*() {
    const appended: Array<Appended> = []
    const run = <E extends EventType.Event>(
      registry: EventType.Registry<E>,
      orderId: string,
      expected: EventStore.ExpectedVersion,
      event: E
    ) =>
      Effect.gen(function*() {
        const r = yield* EventStore.append(registry, orderId, expected, [event])
        appended.push({ orderId, type: event.type, index: r.last })
        yield* Effect.log(`command: ${event.type} on ${orderId} → index ${r.last}`)
        return r.last
      })
    const order = (n: number) => `order-${runId}-${n}`

    // 1. yesterday's writer still wrote OrderPlaced v1 (whole euros)
    yield* run(EventsV1, order(1), noStream, OrderPlacedV1.make({ sku: "mug", quantity: 2, unitPrice: 9 }))
    yield* run(EventsV1, order(2), noStream, OrderPlacedV1.make({ sku: "tee", quantity: 1, unitPrice: 25 }))

    // 2. the read model: SQLite, kept up to date by a snapshot runner
    const sink = yield* SqlSink.sqlite({ filename: Path.join(root, "read-model.db") })
    const runner = yield* SnapshotRunner.make({ projections: [Projection.bind(orderSummaries, sink)] })
    yield* Effect.log(`projection ${NAME} started at checkpoint ${yield* runner.position(NAME)}`)

    // 3. today's writer: v2 events, plus a note the projection ignores
    yield* run(
      Events,
      order(3),
      noStream,
      OrderPlaced.make({ sku: "mug", quantity: 1, unitPriceCents: 950, currency: "EUR" })
    )
    yield* run(Events, order(1), streamExists, OrderShipped.make({ carrier: "post" }))
    yield* run(Events, order(2), streamExists, OrderNoted.make({ text: "customer asked about sizes" }))
    yield* run(Events, order(2), streamExists, OrderCancelled.make({ reason: "wrong size" }))

    // 4. a command, then a query that must see it: wait for the command's index, then read
    const index = yield* run(
      Events,
      order(4),
      noStream,
      OrderPlaced.make({ sku: "cap", quantity: 3, unitPriceCents: 1200, currency: "EUR" })
    )
    yield* runner.awaitPosition(NAME, index)
    const row = yield* findOrder(sink.client, order(4))
    yield* Effect.log(`query after awaitPosition(${index}): ${JSON.stringify(row)}`)

    // 5. everything applied and released
    yield* runner.drain
    const last = appended[appended.length - 1]!.index
    yield* runner.awaitReleased(last)
    const orders = (yield* sink.client<OrderRow>`SELECT order_id, sku, quantity, total_cents, currency, status,
      placed_schema_version FROM orders_v1 ORDER BY order_id`).filter((o) => o.order_id.startsWith(`order-${runId}-`))
    const sales = yield* salesBySku(sink.client)
    const [status] = yield* runner.status
    const lag = yield* runner.lag(NAME)
    const log = yield* EventStore.EventStore
    const released = yield* log.logger.snapshotIndex
    for (const o of orders) {
      yield* Effect.log(
        `order ${o.order_id}: ${o.quantity} × ${o.sku} = ${o.total_cents} ${o.currency}, ${o.status}` +
          ` (placed with schema v${o.placed_schema_version})`
      )
    }
    for (const s of sales) {
      yield* Effect.log(`sku ${s.sku}: ${s.orders} orders, ${s.units} units, ${s.revenue_cents} cents`)
    }
    yield* Effect.log(
      `projection ${NAME}: checkpoint ${status!.position}, lag ${lag.entries} entries, ` +
        `snapshot released at ${released}`
    )
    return { appended, readYourWrites: { index, row }, orders, sales, status: status!, lag, released }
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.fresh(EventStore.layerWithLog({ root })))
  )
