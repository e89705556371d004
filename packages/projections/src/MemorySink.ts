/**
 * An in-memory sink: tables of rows keyed by string, with real transactions. For tests, and for embedded state a
 * process rebuilds at start (a cache, a lookup table).
 *
 * - **Tables**: `MemorySink.make<{ accounts: Account }>()` types each table's rows; rows are plain values you treat
 *   as immutable (store a new object instead of mutating the one you read).
 * - **Transactions**: writes inside `transaction` go to an overlay; commit applies it in one step, failure or
 *   interruption discards it. Readers outside the transaction see committed rows only; inside, their own writes.
 *   Transactions are serialized. Writes outside any transaction apply at once.
 * - **Durability**: none. After a restart the store is empty and every checkpoint is 0, so a memory projection must
 *   be able to read the log from its start: run it with a `CursorRunner` (its retention hold keeps the segments it
 *   needs while it runs) or rebuild it from an archive. With a `SnapshotRunner`, released ranges are gone for good.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Semaphore from "effect/Semaphore"
import * as Sink from "./Sink.ts"

/**
 * The client of the memory sink.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryStore<Tables extends Record<string, unknown> = Record<string, unknown>> {
  /** The row under `key`, if any. */
  readonly get: <T extends keyof Tables & string>(table: T, key: string) => Effect.Effect<Tables[T] | undefined>
  /** Inserts or replaces the row under `key`. */
  readonly put: <T extends keyof Tables & string>(table: T, key: string, row: Tables[T]) => Effect.Effect<void>
  /** Replaces the row under `key` by `f(current)`; `undefined` deletes it. */
  readonly modify: <T extends keyof Tables & string>(
    table: T,
    key: string,
    f: (current: Tables[T] | undefined) => Tables[T] | undefined
  ) => Effect.Effect<void>
  /** Deletes the row under `key`. */
  readonly delete: <T extends keyof Tables & string>(table: T, key: string) => Effect.Effect<void>
  /** The rows of a table as `[key, row]` pairs, sorted by key. */
  readonly rows: <T extends keyof Tables & string>(
    table: T
  ) => Effect.Effect<ReadonlyArray<readonly [string, Tables[T]]>>
  /** Every non-empty table: `{ table: { key: row } }`, keys sorted (for assertions). */
  readonly dump: Effect.Effect<Readonly<Record<string, Readonly<Record<string, unknown>>>>>
}

const DELETED: unique symbol = Symbol.for("@binlog/projections/MemorySink/deleted")
type Slot = unknown | typeof DELETED

interface Overlay {
  readonly tables: Map<string, Map<string, Slot>>
  readonly checkpoints: Map<string, Sink.Checkpoint>
}

const checkpointId = (key: Sink.CheckpointKey) => `${key.projection}\u0000${key.version}`

// the sink's own state lives in internal tables (hidden from `dump`), so it shares the transactions' overlays
const INTERNAL = "\u0000"
const PARKED = `${INTERNAL}parked`
const HALTED = `${INTERNAL}halted`
const ACTIVE = `${INTERNAL}active`
const CHECKPOINTS = `${INTERNAL}checkpoint-keys`
/** Index as a fixed-width key, so rows sort by index. */
const indexKey = (key: Sink.CheckpointKey, index: bigint) =>
  `${checkpointId(key)}\u0000${index.toString().padStart(20, "0")}`

const byKey = <A>(a: readonly [string, A], b: readonly [string, A]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)

let storeCounter = 0

/**
 * Creates an empty in-memory sink.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Tables extends Record<string, unknown> = Record<string, unknown>>(): Effect.Effect<
  Sink.Sink<MemoryStore<Tables>>
> =>
  Effect.gen(function*() {
    const tables = new Map<string, Map<string, unknown>>()
    const checkpoints = new Map<string, Sink.Checkpoint>()
    const lock = yield* Semaphore.make(1)
    // the open transaction of *this* store, found through the fiber's context (like effect/sql's connection)
    const Current = Context.Service<Overlay>(`@binlog/projections/MemorySink/${storeCounter++}`)
    const current = Effect.serviceOption(Current)

    const readSlot = (overlay: Option.Option<Overlay>, table: string, key: string): unknown => {
      if (Option.isSome(overlay)) {
        const slot = overlay.value.tables.get(table)?.get(key)
        if (slot !== undefined) return slot === DELETED ? undefined : slot
      }
      return tables.get(table)?.get(key)
    }

    const writeSlot = (overlay: Option.Option<Overlay>, table: string, key: string, value: unknown) => {
      if (Option.isSome(overlay)) {
        let t = overlay.value.tables.get(table)
        if (t === undefined) overlay.value.tables.set(table, t = new Map())
        t.set(key, value === undefined ? DELETED : value)
        return
      }
      applySlot(table, key, value)
    }

    const applySlot = (table: string, key: string, value: unknown) => {
      let t = tables.get(table)
      if (value === undefined || value === DELETED) {
        t?.delete(key)
        return
      }
      if (t === undefined) tables.set(table, t = new Map())
      t.set(key, value)
    }

    const rowsOf = (overlay: Option.Option<Overlay>, table: string): Array<readonly [string, unknown]> => {
      const merged = new Map(tables.get(table) ?? [])
      if (Option.isSome(overlay)) {
        for (const [k, v] of overlay.value.tables.get(table) ?? []) {
          if (v === DELETED) merged.delete(k)
          else merged.set(k, v)
        }
      }
      return [...merged.entries()].sort(byKey)
    }

    const store: MemoryStore<Tables> = {
      get: (table, key) => Effect.map(current, (o) => readSlot(o, table, key) as Tables[typeof table] | undefined),
      put: (table, key, row) => Effect.map(current, (o) => writeSlot(o, table, key, row)),
      modify: (table, key, f) =>
        Effect.map(current, (o) => writeSlot(o, table, key, f(readSlot(o, table, key) as Tables[typeof table]))),
      delete: (table, key) => Effect.map(current, (o) => writeSlot(o, table, key, undefined)),
      rows: (table) =>
        Effect.map(current, (o) => rowsOf(o, table) as ReadonlyArray<readonly [string, Tables[typeof table]]>),
      dump: Effect.map(current, (o) => {
        const names = new Set([...tables.keys(), ...(Option.isSome(o) ? o.value.tables.keys() : [])])
        const out: Record<string, Record<string, unknown>> = {}
        for (const name of [...names].sort()) {
          if (name.startsWith(INTERNAL)) continue
          const rows = rowsOf(o, name)
          if (rows.length > 0) out[name] = Object.fromEntries(rows)
        }
        return out
      })
    }

    const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.flatMap(current, (outer) => {
        // nested: join the outer transaction
        if (Option.isSome(outer)) return effect
        return lock.withPermits(1)(
          Effect.suspend(() => {
            const overlay: Overlay = { tables: new Map(), checkpoints: new Map() }
            return Effect.tap(Effect.provideService(effect, Current, overlay), () =>
              Effect.sync(() => {
                for (const [table, rows] of overlay.tables) {
                  for (const [key, value] of rows) applySlot(table, key, value)
                }
                for (const [id, c] of overlay.checkpoints) checkpoints.set(id, c)
              }))
          })
        )
      })

    const readCheckpoint = (key: Sink.CheckpointKey) =>
      Effect.map(current, (o) => {
        const id = checkpointId(key)
        return (Option.isSome(o) ? o.value.checkpoints.get(id) : undefined) ?? checkpoints.get(id) ??
          { position: 0n, timestamp: undefined }
      })

    const writeCheckpoint = (key: Sink.CheckpointKey, checkpoint: Sink.Checkpoint) =>
      Effect.map(current, (o) => {
        if (Option.isSome(o)) o.value.checkpoints.set(checkpointId(key), checkpoint)
        else checkpoints.set(checkpointId(key), checkpoint)
        writeSlot(o, CHECKPOINTS, checkpointId(key), { ...key, updatedAtMs: Date.now() })
      })

    const state: Sink.SinkState = {
      park: (key, entry) => Effect.map(current, (o) => writeSlot(o, PARKED, indexKey(key, entry.index), entry)),
      parked: (key) =>
        Effect.map(current, (o) => {
          const prefix = `${checkpointId(key)}\u0000`
          return rowsOf(o, PARKED).filter(([k]) => k.startsWith(prefix)).map(([, v]) => v as Sink.ParkedEntry)
        }),
      unpark: (key, index) => Effect.map(current, (o) => writeSlot(o, PARKED, indexKey(key, index), undefined)),
      readHalted: (key) =>
        Effect.map(current, (o) => Option.fromUndefinedOr(readSlot(o, HALTED, checkpointId(key)) as Sink.Halted)),
      writeHalted: (key, halted) =>
        Effect.map(current, (o) => writeSlot(o, HALTED, checkpointId(key), Option.getOrUndefined(halted))),
      readActive: (projection) =>
        Effect.map(current, (o) => Option.fromUndefinedOr(readSlot(o, ACTIVE, projection) as Sink.ActiveVersion)),
      writeActive: (active) => Effect.map(current, (o) => writeSlot(o, ACTIVE, active.projection, active)),
      checkpoints: Effect.flatMap(current, (o) =>
        Effect.forEach(rowsOf(o, CHECKPOINTS), ([, v]) => {
          const row = v as Sink.CheckpointKey & { readonly updatedAtMs: number }
          return Effect.map(readCheckpoint(row), (c): Sink.CheckpointRow => ({
            projection: row.projection,
            version: row.version,
            position: c.position,
            timestamp: c.timestamp,
            updatedAtMs: row.updatedAtMs
          }))
        })),
      forget: (key) =>
        Effect.map(current, (o) => {
          const prefix = `${checkpointId(key)}\u0000`
          for (const [k] of rowsOf(o, PARKED)) if (k.startsWith(prefix)) writeSlot(o, PARKED, k, undefined)
          writeSlot(o, HALTED, checkpointId(key), undefined)
          writeSlot(o, CHECKPOINTS, checkpointId(key), undefined)
          if (Option.isSome(o)) o.value.checkpoints.set(checkpointId(key), Sink.emptyCheckpoint)
          else checkpoints.delete(checkpointId(key))
        })
    }

    return {
      kind: "memory",
      client: store,
      transaction,
      register: (key) =>
        Effect.flatMap(current, (o) => {
          if (readSlot(o, CHECKPOINTS, checkpointId(key)) === undefined) {
            writeSlot(o, CHECKPOINTS, checkpointId(key), { ...key, updatedAtMs: Date.now() })
          }
          return readCheckpoint(key)
        }),
      readCheckpoint,
      writeCheckpoint,
      ...state
    }
  })
