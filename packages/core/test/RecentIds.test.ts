// The idempotency window's typed-array hash table must behave exactly like the obvious model: a ring of the last N
// ids where the newest copy of an id wins.
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { RecentIds } from "../src/internal/eventstore/recentIds.ts"

/** The reference: the last `window` remember calls, newest copy of an id wins. */
class Model {
  readonly window: number
  readonly ring: Array<{ id: string; streamId: string; version: number; index: number }> = []
  constructor(window: number) {
    this.window = window
  }
  remember(id: string, streamId: string, version: number, index: number) {
    if (this.window === 0 || id.length === 0) return
    this.ring.push({ id, streamId, version, index })
    if (this.ring.length > this.window) this.ring.shift()
  }
  find(id: string) {
    for (let i = this.ring.length - 1; i >= 0; i--) {
      const e = this.ring[i]!
      if (e.id === id) return { streamId: e.streamId, version: e.version, index: e.index }
    }
    return undefined
  }
  /** Live ids oldest first (an older copy of an id that is stored again later is not listed). */
  list() {
    return this.ring.filter((e, i) => !this.ring.slice(i + 1).some((l) => l.id === e.id))
      .map((e) => [e.id, e.streamId, e.version, e.index] as const)
  }
}

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, "0")
// few distinct values so that ids repeat and collide often; UUID-shaped, almost-UUID and plain ids mixed
const uuidLike = fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 3 })).map(([a, b]) =>
  `${hex(a * 0x9e3779b1 >>> 0, 8)}-${hex(b, 4)}-4000-8000-${hex(a, 12)}`
)
const eventId = fc.oneof(
  uuidLike,
  fc.constant(""),
  uuidLike.map((u) => u.toUpperCase()), // not canonical: kept as a string
  uuidLike.map((u) => `${u.slice(0, 35)}g`), // not hex
  fc.constantFrom("a", "b", "key/s/0", "key/s/1"),
  fc.uuid()
)

describe("RecentIds", () => {
  it("finds exactly the ids of the last N events with their newest position, for any sequence (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2100 }), // above the initial 1024 slots: growth is covered too
        fc.array(fc.tuple(eventId, fc.constantFrom("s1", "s2", "s3")), { maxLength: 2600 }),
        fc.array(eventId, { maxLength: 30 }),
        (window, ops, probes) => {
          const r = new RecentIds(window)
          const m = new Model(window)
          ops.forEach(([id, stream], i) => {
            r.remember(id, stream, i + 1, i + 10)
            m.remember(id, stream, i + 1, i + 10)
          })
          for (const id of [...probes, ...ops.slice(-40).map(([id]) => id)]) {
            assert.deepStrictEqual(r.find(id), m.find(id), id)
            assert.strictEqual(r.has(id), m.find(id) !== undefined)
          }
          const listed: Array<readonly [string, string, number, number]> = []
          r.forEach((id, s, v, i) => listed.push([id, s, v, i]))
          assert.deepStrictEqual(listed, m.list())
          assert.strictEqual(r.size, m.list().length)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("a full window of random UUIDs evicts the oldest one by one", () => {
    const r = new RecentIds(5000)
    const ids = Array.from({ length: 12_000 }, () => crypto.randomUUID())
    ids.forEach((id, i) => r.remember(id, "s", i + 1, i + 1))
    assert.strictEqual(r.size, 5000)
    for (let i = 0; i < ids.length; i++) {
      const found = r.find(ids[i]!)
      if (i < 7000) assert.isUndefined(found)
      else assert.deepStrictEqual(found, { streamId: "s", version: i + 1, index: i + 1 })
    }
  })
})
