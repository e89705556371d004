import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FSP from "node:fs/promises"
import * as OS from "node:os"
import * as Path from "node:path"
import { program } from "../src/pipeline/program.ts"

const tempRoot = Effect.acquireRelease(
  Effect.promise(() => FSP.mkdtemp(Path.join(OS.tmpdir(), "binlog-pipeline-test-"))),
  (d) => Effect.promise(() => FSP.rm(d, { recursive: true, force: true }))
)

describe("examples/pipeline", () => {
  it.live("v1 events are upcast, ignored types are skipped, and a query sees its own command's write", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const seen = yield* program(root, "a")
      assert.deepStrictEqual(seen.appended.map((a) => [a.orderId, a.type, a.index]), [
        ["order-a-1", "OrderPlaced", 1n],
        ["order-a-2", "OrderPlaced", 2n],
        ["order-a-3", "OrderPlaced", 3n],
        ["order-a-1", "OrderShipped", 4n],
        ["order-a-2", "OrderNoted", 5n],
        ["order-a-2", "OrderCancelled", 6n],
        ["order-a-4", "OrderPlaced", 7n]
      ])
      // read-your-writes: right after awaitPosition the query finds the order its command placed
      assert.strictEqual(seen.readYourWrites.index, 7n)
      assert.deepStrictEqual({ ...seen.readYourWrites.row }, {
        order_id: "order-a-4",
        sku: "cap",
        quantity: 3,
        total_cents: 3600,
        currency: "EUR",
        status: "placed",
        placed_schema_version: 2
      })
      // v1 entries (whole euros) read as v2 (cents, currency)
      assert.deepStrictEqual(seen.orders.map((o) => ({ ...o })), [
        {
          order_id: "order-a-1",
          sku: "mug",
          quantity: 2,
          total_cents: 1800,
          currency: "EUR",
          status: "shipped",
          placed_schema_version: 1
        },
        {
          order_id: "order-a-2",
          sku: "tee",
          quantity: 1,
          total_cents: 2500,
          currency: "EUR",
          status: "cancelled",
          placed_schema_version: 1
        },
        {
          order_id: "order-a-3",
          sku: "mug",
          quantity: 1,
          total_cents: 950,
          currency: "EUR",
          status: "placed",
          placed_schema_version: 2
        },
        {
          order_id: "order-a-4",
          sku: "cap",
          quantity: 3,
          total_cents: 3600,
          currency: "EUR",
          status: "placed",
          placed_schema_version: 2
        }
      ])
      assert.deepStrictEqual(seen.sales.map((s) => ({ ...s })), [
        { sku: "cap", orders: 1, units: 3, revenue_cents: 3600 },
        { sku: "mug", orders: 2, units: 3, revenue_cents: 2750 },
        { sku: "tee", orders: 0, units: 0, revenue_cents: 0 }
      ])
      assert.strictEqual(seen.status.position, 7n)
      assert.strictEqual(seen.status.failures, 0)
      assert.strictEqual(seen.lag.entries, 0n)
      assert.strictEqual(seen.released, 7n)
    }))

  it.live("a second run on the same directory resumes from the checkpoint and applies only the new events", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      yield* program(root, "a")
      const second = yield* program(root, "b")
      assert.strictEqual(second.appended[0]!.index, 8n)
      assert.strictEqual(second.status.position, 14n)
      assert.strictEqual(second.released, 14n)
      // sales count both runs exactly once
      assert.deepStrictEqual(second.sales.map((s) => ({ ...s })), [
        { sku: "cap", orders: 2, units: 6, revenue_cents: 7200 },
        { sku: "mug", orders: 4, units: 6, revenue_cents: 5500 },
        { sku: "tee", orders: 0, units: 0, revenue_cents: 0 }
      ])
    }))
})
