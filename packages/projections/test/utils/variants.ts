// The sink variants the runner suite runs against (memory, SQLite, PostgreSQL), and fault-injecting wrappers.
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as Path from "node:path"
import * as MemorySink from "../../src/MemorySink.ts"
import * as Projection from "../../src/Projection.ts"
import { SinkError } from "../../src/ProjectionError.ts"
import type * as Sink from "../../src/Sink.ts"
import * as Sqlite from "../../src/SqliteClient.ts"
import * as SqlSink from "../../src/SqlSink.ts"
import {
  type BalanceRow,
  memoryBalances,
  memoryRows,
  type MemoryTables,
  readBalances,
  sqlBalances
} from "./fixtures.ts"
import { type Cluster, createDatabase, pgLayer } from "./postgres.ts"

/** A balances projection bound to a sink, and a reader of its rows. */
export interface Opened {
  readonly bound: Projection.Bound<unknown, never>
  readonly rows: Effect.Effect<ReadonlyArray<BalanceRow>, unknown>
  readonly sink: Sink.Sink<unknown>
}

export interface OpenOptions {
  readonly name?: string
  /** Wraps the projection (fault injection). */
  readonly wrap?: <C>(p: Projection.Projection<C, unknown, never>) => Projection.Projection<C, unknown, never>
  /** Wraps the sink (fault injection). */
  readonly wrapSink?: <C>(s: Sink.Sink<C>) => Sink.Sink<C>
}

/**
 * A database of one variant, created per test. Projections opened on it share one sink (one connection for
 * SQLite: a second connection to the same file would contend for its lock); `restart` closes the sink so the next
 * `open` reconnects.
 */
export interface Database {
  readonly open: (options?: OpenOptions) => Effect.Effect<Opened, unknown, Scope.Scope>
  readonly restart: Effect.Effect<void>
}

export interface Variant {
  readonly name: "memory" | "sqlite" | "postgres"
  /** Whether data survives closing and reopening (restart tests). */
  readonly durable: boolean
  readonly database: (root: string) => Effect.Effect<Database, unknown, Scope.Scope>
}

const identity = <A>(a: A) => a

const finish = <C>(
  projection: Projection.Projection<C, unknown, never>,
  sink: Sink.Sink<C>,
  options: OpenOptions,
  rows: Effect.Effect<ReadonlyArray<BalanceRow>, unknown>
): Opened => {
  const wrapped = (options.wrapSink ?? identity)(sink)
  return {
    bound: Projection.bind((options.wrap ?? identity)(projection), wrapped),
    rows,
    sink: wrapped as Sink.Sink<unknown>
  }
}

/** A sink opened on first use in its own scope (closed by `restart` or when the test ends). */
const sharedSink = <C>(acquire: Effect.Effect<Sink.Sink<C>, unknown, Scope.Scope>) =>
  Effect.gen(function*() {
    let current: { readonly scope: Scope.Closeable; readonly sink: Sink.Sink<C> } | undefined
    const restart = Effect.suspend(() => {
      const c = current
      current = undefined
      return c === undefined ? Effect.void : Scope.close(c.scope, Exit.void)
    })
    yield* Effect.addFinalizer(() => restart)
    const get = Effect.suspend(() => {
      if (current !== undefined) return Effect.succeed(current.sink)
      return Effect.gen(function*() {
        const scope = yield* Scope.make()
        const sink = yield* acquire.pipe(Scope.provide(scope))
        current = { scope, sink }
        return sink
      })
    })
    return { get, restart }
  })

const tableOf = (name: string | undefined) => name === undefined ? "balances" : `balances_${name}`

export const memory: Variant = {
  name: "memory",
  durable: false,
  database: () =>
    Effect.succeed({
      // one memory sink per projection: each has its own table of balances
      open: (options = {}) =>
        Effect.map(MemorySink.make<MemoryTables>(), (sink) =>
          finish(memoryBalances(options.name), sink, options, memoryRows(sink.client))),
      restart: Effect.void
    })
}

export const sqlite: Variant = {
  name: "sqlite",
  durable: true,
  database: (root) =>
    Effect.gen(function*() {
      const filename = Path.join(root, "read-model.db")
      const shared = yield* sharedSink(SqlSink.sqlite({ filename }))
      // queries use their own read-only connection, as a service's read side would: in WAL mode it reads the last
      // committed state without waiting for the writer's open transaction
      const reader = yield* sharedSink(
        Effect.map(Sqlite.make({ filename, readonly: true }).pipe(Effect.provide(Reactivity.layer)), (client) => ({
          kind: "sqlite-reader",
          client
        } as unknown as Sink.Sink<SqlClient.SqlClient>))
      )
      return {
        open: (options = {}) =>
          Effect.map(shared.get, (sink) => {
            const table = tableOf(options.name)
            const rows = Effect.flatMap(reader.get, (r) => readBalances(r.client, table))
            return finish(sqlBalances({ name: options.name, table }), sink, options, rows)
          }),
        restart: Effect.andThen(reader.restart, shared.restart)
      }
    })
}

export const postgres = (cluster: () => Cluster): Variant => ({
  name: "postgres",
  durable: true,
  database: () =>
    Effect.gen(function*() {
      const url = yield* createDatabase(cluster())
      const shared = yield* sharedSink(Effect.gen(function*() {
        const context = yield* Layer.build(pgLayer(url))
        const sql = yield* Effect.provide(SqlClient.SqlClient, context)
        return yield* SqlSink.make(sql, { kind: "postgres" })
      }))
      return {
        open: (options = {}) =>
          Effect.map(shared.get, (sink) => {
            const table = tableOf(options.name)
            return finish(sqlBalances({ name: options.name, table }), sink, options, readBalances(sink.client, table))
          }),
        restart: shared.restart
      }
    })
})

// --- fault injection ---

const injected: unique symbol = Symbol("injected failure")

/**
 * A projection that fails on entries for which `fails(index)` is true — whatever their type, so the check runs in
 * `prepare` (inside the transaction, as runners call it) and the entry is then applied as a failure.
 */
export const failingAt =
  (fails: (index: bigint) => boolean) =>
  <C>(p: Projection.Projection<C, unknown, never>): Projection.Projection<C, unknown, never> =>
    Projection.fromParts({
      name: p.name,
      version: p.version,
      setup: p.setup,
      timestampOf: p.timestampOf,
      eventTypeOf: p.eventTypeOf,
      prepare: (entry) => (fails(entry.index) ? injected : p.prepare(entry)),
      begin: (client) => {
        const work = p.begin(client)
        return {
          apply: (entry, prepared, info) =>
            prepared === injected
              ? Effect.fail(new Error(`injected failure at ${entry.index}`))
              : work.apply(entry, prepared, info),
          end: work.end
        }
      }
    })

/** A projection whose first transaction waits for `gate` (after signalling `entered`) before applying anything. */
export const gatedBy =
  (entered: Deferred.Deferred<void>, gate: Deferred.Deferred<void>) =>
  <C>(p: Projection.Projection<C, unknown, never>): Projection.Projection<C, unknown, never> => {
    let first = true
    return Projection.fromParts({
      name: p.name,
      version: p.version,
      setup: p.setup,
      timestampOf: p.timestampOf,
      eventTypeOf: p.eventTypeOf,
      prepare: p.prepare,
      begin: (client) => {
        const work = p.begin(client)
        return {
          apply: (entry, prepared, info) => {
            if (!first) return work.apply(entry, prepared, info)
            first = false
            return Effect.andThen(
              Effect.andThen(Deferred.succeed(entered, undefined), Deferred.await(gate)),
              work.apply(entry, prepared, info)
            )
          },
          end: work.end
        }
      }
    })
  }

/**
 * A sink whose checkpoint-writing transactions fail (after their work, so everything rolls back) while `fails()` is
 * true. Transactions without a checkpoint (setup) pass.
 */
export const failingCommits = (fails: () => boolean) => <C>(sink: Sink.Sink<C>): Sink.Sink<C> => {
  let wrote = false
  return {
    ...sink,
    writeCheckpoint: (key, checkpoint) =>
      Effect.andThen(Effect.sync(() => (wrote = true)), sink.writeCheckpoint(key, checkpoint)),
    transaction: (effect) =>
      sink.transaction(
        Effect.tap(Effect.andThen(Effect.sync(() => (wrote = false)), effect), () =>
          wrote && fails()
            ? Effect.fail(
              new SinkError({ sink: sink.kind, operation: "commit (injected)", cause: new Error("injected") })
            )
            : Effect.void)
      )
  }
}

/** A projection that records how many entries (handled or skipped) each committed transaction carried. */
export const countingTransactions =
  (sizes: Array<number>) =>
  <C>(p: Projection.Projection<C, unknown, never>): Projection.Projection<C, unknown, never> => {
    // runners prepare a transaction's entries inside it, after `begin`
    let n = 0
    return Projection.fromParts({
      name: p.name,
      version: p.version,
      setup: p.setup,
      timestampOf: p.timestampOf,
      eventTypeOf: p.eventTypeOf,
      prepare: (entry) => {
        n++
        return p.prepare(entry)
      },
      begin: (client) => {
        n = 0
        const work = p.begin(client)
        return { apply: work.apply, end: Effect.andThen(work.end, Effect.sync(() => sizes.push(n))) }
      }
    })
  }
