/**
 * The read model of the rebuild example: units on hand per SKU, served through the view `stock`.
 *
 * Version 1 has a bug: it ADDS shipped units. Version 2 subtracts them, and raises a low-stock alert when a SKU
 * drops below {@link LOW_STOCK_UNITS} — a side effect, so only when `ctx.sideEffects` is true (not while the
 * rebuild replays what version 1 already handled). Each version writes its own table (`stock_v1`, `stock_v2`); the
 * view is switched at cutover, in one transaction.
 *
 * @since 0.1.0
 */
import * as Projection from "@binlog/projections/Projection"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import { StockReceived, StockShipped } from "./events.ts"

/**
 * The projection's name.
 *
 * @since 0.1.0
 * @category constants
 */
export const NAME = "stock"

/**
 * The alert threshold of version 2.
 *
 * @since 0.1.0
 * @category constants
 */
export const LOW_STOCK_UNITS = 3

/**
 * The table of a version.
 *
 * @since 0.1.0
 * @category constants
 */
export const tableOf = (version: number) => `stock_v${version}`

/**
 * The stock projection, version 1 (buggy) or 2 (fixed); `alert` receives version 2's low-stock alerts.
 *
 * @since 0.1.0
 * @category projections
 */
export const stockLevels = (version: 1 | 2, alert: (sku: string, onHand: number) => void = () => {}) => {
  const table = tableOf(version)
  const add = (sql: SqlClient.SqlClient, sku: string, delta: number, index: bigint) =>
    sql<{ readonly on_hand: number }>`INSERT INTO ${sql(table)} (sku, on_hand, updated_at_index)
      VALUES (${sku}, ${delta}, ${index}) ON CONFLICT (sku) DO UPDATE
      SET on_hand = ${sql(table)}.on_hand + excluded.on_hand, updated_at_index = excluded.updated_at_index
      RETURNING on_hand`
  return Projection.make<SqlClient.SqlClient>()({
    name: NAME,
    version,
    setup: (sql) =>
      Effect.andThen(
        sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (sku TEXT PRIMARY KEY, on_hand INTEGER NOT NULL,
          updated_at_index INTEGER NOT NULL)`,
        // readers query the view; the first version creates it
        version === 1
          ? Effect.asVoid(sql`CREATE VIEW IF NOT EXISTS stock AS SELECT sku, on_hand FROM stock_v1`)
          : Effect.void
      ),
    events: { StockReceived, StockShipped },
    handlers: {
      StockReceived: (e, { client: sql, envelope, index }) => add(sql, envelope.streamId, e.quantity, index),
      StockShipped: (e, { client: sql, envelope, index, sideEffects }) =>
        version === 1
          ? add(sql, envelope.streamId, e.quantity, index) // the bug: shipped units are added
          : Effect.map(add(sql, envelope.streamId, -e.quantity, index), (rows) => {
            const left = rows[0]?.on_hand ?? 0
            if (sideEffects && left < LOW_STOCK_UNITS) alert(envelope.streamId, left)
          })
    }
  })
}

/**
 * Points the view `stock` at `version` (the cutover statement).
 *
 * @since 0.1.0
 * @category sql
 */
export const switchView = (sql: SqlClient.SqlClient, version: number) =>
  Effect.andThen(
    sql`DROP VIEW IF EXISTS stock`,
    sql.unsafe(`CREATE VIEW stock AS SELECT sku, on_hand FROM ${tableOf(version)}`)
  )

/**
 * Drops a version's table (after cutover).
 *
 * @since 0.1.0
 * @category sql
 */
export const dropVersion = (sql: SqlClient.SqlClient, version: number) =>
  sql.unsafe(`DROP TABLE IF EXISTS ${tableOf(version)}`)

/**
 * What readers see: the view.
 *
 * @since 0.1.0
 * @category queries
 */
export const readStock = (sql: SqlClient.SqlClient) =>
  sql<{ readonly sku: string; readonly on_hand: number }>`SELECT sku, on_hand FROM stock ORDER BY sku`
