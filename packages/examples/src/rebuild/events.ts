/**
 * The events of the rebuild example: a warehouse's stock movements, one stream per SKU.
 *
 * @since 0.1.0
 */
import * as EventType from "@binlog/core/EventType"
import * as Schema from "effect/Schema"

/**
 * Units arrived at the warehouse.
 *
 * @since 0.1.0
 * @category events
 */
export const StockReceived = EventType.make("StockReceived", Schema.Struct({ quantity: Schema.Number }))

/**
 * Units left the warehouse.
 *
 * @since 0.1.0
 * @category events
 */
export const StockShipped = EventType.make("StockShipped", Schema.Struct({ quantity: Schema.Number }))

/**
 * The example's event types.
 *
 * @since 0.1.0
 * @category events
 */
export const Events = EventType.registry(StockReceived, StockShipped)

/**
 * A stock movement as the example generates it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Movement {
  readonly sku: string
  readonly kind: "received" | "shipped"
  readonly quantity: number
}

/**
 * `n` deterministic movements over `skus` SKUs (from `seed`); shipments never exceed what is on hand.
 *
 * @since 0.1.0
 * @category generators
 */
export const movements = (n: number, skus: number, seed: number, onHand = new Map<string, number>()) => {
  let s = seed >>> 0
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
  const out: Array<Movement> = []
  for (let i = 0; i < n; i++) {
    const sku = `sku-${Math.floor(rand() * skus)}`
    const have = onHand.get(sku) ?? 0
    const quantity = 1 + Math.floor(rand() * 10)
    if (have >= quantity && rand() < 0.5) {
      out.push({ sku, kind: "shipped", quantity })
      onHand.set(sku, have - quantity)
    } else {
      out.push({ sku, kind: "received", quantity })
      onHand.set(sku, have + quantity)
    }
  }
  return out
}

/**
 * The pure fold: units on hand per SKU after `ms`.
 *
 * @since 0.1.0
 * @category generators
 */
export const onHand = (ms: ReadonlyArray<Movement>): Array<{ readonly sku: string; readonly on_hand: number }> => {
  const m = new Map<string, number>()
  for (const x of ms) m.set(x.sku, (m.get(x.sku) ?? 0) + (x.kind === "received" ? x.quantity : -x.quantity))
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([sku, on_hand]) => ({ sku, on_hand }))
}
