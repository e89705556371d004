/**
 * The events of the pipeline example: orders of a small shop, defined once with `Schema`. `OrderPlaced` changed
 * shape: version 1 stored a whole-euro `unitPrice`; version 2 stores `unitPriceCents` and a `currency`. Entries
 * written with version 1 stay in the log as they are; reading them runs the upcaster v1 → v2, so every consumer
 * (the projection included) only ever sees the current shape.
 *
 * @since 0.1.0
 */
import * as EventType from "@binlog/core/EventType"
import * as Schema from "effect/Schema"

/**
 * `OrderPlaced` as the shop first wrote it (kept to show an old writer; readers never see this shape).
 *
 * @since 0.1.0
 * @category events
 */
export const OrderPlacedV1 = EventType.make(
  "OrderPlaced",
  Schema.Struct({ sku: Schema.String, quantity: Schema.Number, unitPrice: Schema.Number })
)

/**
 * `OrderPlaced`, current version (2): prices in cents with a currency; v1 entries are upcast (euros × 100, EUR).
 *
 * @since 0.1.0
 * @category events
 */
export const OrderPlaced = OrderPlacedV1.pipe(
  EventType.evolve(
    Schema.Struct({
      sku: Schema.String,
      quantity: Schema.Number,
      unitPriceCents: Schema.Number,
      currency: Schema.String
    }),
    (v1) => ({ sku: v1.sku, quantity: v1.quantity, unitPriceCents: Math.round(v1.unitPrice * 100), currency: "EUR" })
  )
)

/**
 * @since 0.1.0
 * @category events
 */
export const OrderShipped = EventType.make("OrderShipped", Schema.Struct({ carrier: Schema.String }))

/**
 * @since 0.1.0
 * @category events
 */
export const OrderCancelled = EventType.make("OrderCancelled", Schema.Struct({ reason: Schema.String }))

/**
 * A note on an order: the projection has no handler for it, so it skips it without decoding the payload.
 *
 * @since 0.1.0
 * @category events
 */
export const OrderNoted = EventType.make("OrderNoted", Schema.Struct({ text: Schema.String }))

/**
 * Everything the shop writes today.
 *
 * @since 0.1.0
 * @category registries
 */
export const Events = EventType.registry(OrderPlaced, OrderShipped, OrderCancelled, OrderNoted)

/**
 * What the old writer knew (writes `OrderPlaced` with schema version 1).
 *
 * @since 0.1.0
 * @category registries
 */
export const EventsV1 = EventType.registry(OrderPlacedV1)
