/**
 * The read model of the pipeline example, in SQLite: one row per order and sales per SKU. The projection is plain
 * SQL through `effect/sql`'s `SqlClient` (the same statements run on PostgreSQL); the runner wraps each batch of
 * handlers in a transaction with the projection's checkpoint, so a handler never sees an event twice.
 *
 * @since 0.1.0
 */
import * as Projection from "@binlog/projections/Projection"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import { OrderCancelled, OrderNoted, OrderPlaced, OrderShipped } from "./events.ts"

/**
 * The projection's name (its checkpoint key, with the version).
 *
 * @since 0.1.0
 * @category constants
 */
export const NAME = "order-summaries"

/**
 * Orders and sales per SKU.
 *
 * @since 0.1.0
 * @category projections
 */
export const orderSummaries = Projection.make<SqlClient.SqlClient>()({
  name: NAME,
  version: 1,
  setup: (sql) =>
    Effect.andThen(
      sql`CREATE TABLE IF NOT EXISTS orders_v1 (order_id TEXT PRIMARY KEY, sku TEXT NOT NULL,
        quantity INTEGER NOT NULL, total_cents INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL,
        placed_schema_version INTEGER NOT NULL, updated_at_index INTEGER NOT NULL)`,
      sql`CREATE TABLE IF NOT EXISTS sales_by_sku_v1 (sku TEXT PRIMARY KEY, orders INTEGER NOT NULL,
        units INTEGER NOT NULL, revenue_cents INTEGER NOT NULL)`
    ),
  events: { OrderPlaced, OrderShipped, OrderCancelled, OrderNoted },
  handlers: {
    OrderPlaced: (e, { client: sql, envelope, index }) =>
      Effect.andThen(
        sql`INSERT INTO orders_v1 VALUES (${envelope.streamId}, ${e.sku}, ${e.quantity},
          ${e.quantity * e.unitPriceCents}, ${e.currency}, 'placed', ${envelope.schemaVersion}, ${index})`,
        sql`INSERT INTO sales_by_sku_v1 VALUES (${e.sku}, 1, ${e.quantity}, ${e.quantity * e.unitPriceCents})
          ON CONFLICT (sku) DO UPDATE SET orders = sales_by_sku_v1.orders + 1,
          units = sales_by_sku_v1.units + excluded.units,
          revenue_cents = sales_by_sku_v1.revenue_cents + excluded.revenue_cents`
      ),
    OrderShipped: (_, { client: sql, envelope, index }) =>
      sql`UPDATE orders_v1 SET status = 'shipped', updated_at_index = ${index} WHERE order_id = ${envelope.streamId}`,
    OrderCancelled: (_, { client: sql, envelope, index }) =>
      Effect.andThen(
        sql`UPDATE sales_by_sku_v1 SET orders = orders - 1, units = units - o.quantity,
          revenue_cents = revenue_cents - o.total_cents
          FROM (SELECT sku, quantity, total_cents FROM orders_v1 WHERE order_id = ${envelope.streamId}) AS o
          WHERE sales_by_sku_v1.sku = o.sku`,
        sql`UPDATE orders_v1 SET status = 'cancelled', updated_at_index = ${index}
          WHERE order_id = ${envelope.streamId}`
      )
    // OrderNoted: no handler, so notes are skipped after reading only their type
  }
})

/**
 * A row of `orders_v1`.
 *
 * @since 0.1.0
 * @category models
 */
export interface OrderRow {
  readonly order_id: string
  readonly sku: string
  readonly quantity: number
  readonly total_cents: number
  readonly currency: string
  readonly status: string
  readonly placed_schema_version: number
}

/**
 * The query side: one order.
 *
 * @since 0.1.0
 * @category queries
 */
export const findOrder = (sql: SqlClient.SqlClient, orderId: string) =>
  Effect.map(
    sql<OrderRow>`SELECT order_id, sku, quantity, total_cents, currency, status, placed_schema_version
      FROM orders_v1 WHERE order_id = ${orderId}`,
    (rows) => rows[0]
  )

/**
 * A row of `sales_by_sku_v1`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SalesRow {
  readonly sku: string
  readonly orders: number
  readonly units: number
  readonly revenue_cents: number
}

/**
 * The query side: sales per SKU.
 *
 * @since 0.1.0
 * @category queries
 */
export const salesBySku = (sql: SqlClient.SqlClient) =>
  sql<SalesRow>`SELECT sku, orders, units, revenue_cents FROM sales_by_sku_v1 ORDER BY sku`
