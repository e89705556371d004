import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as SqlClient from "effect/sql/SqlClient"
import * as Path from "node:path"
import * as Sqlite from "../src/SqliteClient.ts"
import { tempDir } from "./utils/fixtures.ts"

const open = (filename: string) => Sqlite.make({ filename }).pipe(Effect.provide(Reactivity.layer))

describe("SqliteClient", () => {
  it.effect("binds strings, numbers, bigints, bytes, null and booleans and reads them back", () =>
    Effect.gen(function*() {
      const sql = yield* open(":memory:")
      yield* sql`CREATE TABLE t (s TEXT, n REAL, i INTEGER, b BLOB, z TEXT, f INTEGER)`
      yield* sql`INSERT INTO t VALUES (${"x"}, ${1.5}, ${9007199254740993n}, ${new Uint8Array([
        1,
        2,
        3
      ])}, ${null}, ${true})`
      const rows = yield* sql<{ s: string; n: number; b: Uint8Array; z: null; f: number }>`SELECT s, n, b, z, f FROM t`
      assert.strictEqual(rows.length, 1)
      assert.strictEqual(rows[0]!.s, "x")
      assert.strictEqual(rows[0]!.n, 1.5)
      assert.deepStrictEqual([...rows[0]!.b], [1, 2, 3])
      assert.strictEqual(rows[0]!.z, null)
      assert.strictEqual(rows[0]!.f, 1)
      // integers beyond 2^53 need SafeIntegers: then they are exact bigints
      const exact = yield* sql<{ i: bigint }>`SELECT i FROM t`.pipe(Effect.provideService(SqlClient.SafeIntegers, true))
      assert.strictEqual(exact[0]!.i, 9007199254740993n)
    }))

  it.effect("withTransaction commits on success and rolls back on failure", () =>
    Effect.gen(function*() {
      const sql = yield* open(":memory:")
      yield* sql`CREATE TABLE t (k TEXT PRIMARY KEY)`
      yield* sql.withTransaction(sql`INSERT INTO t VALUES ('a')`)
      const failed = yield* sql.withTransaction(
        Effect.andThen(sql`INSERT INTO t VALUES ('b')`, Effect.fail("boom" as const))
      ).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(failed))
      const rows = yield* sql<{ k: string }>`SELECT k FROM t ORDER BY k`
      assert.deepStrictEqual(rows.map((r) => r.k), ["a"])
      assert.isFalse(sql.database.isTransaction)
    }))

  it.effect("a nested transaction is a savepoint: its failure rolls back only its own writes", () =>
    Effect.gen(function*() {
      const sql = yield* open(":memory:")
      yield* sql`CREATE TABLE t (k TEXT PRIMARY KEY)`
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO t VALUES ('outer')`
        yield* sql.withTransaction(Effect.andThen(sql`INSERT INTO t VALUES ('inner')`, Effect.fail("no"))).pipe(
          Effect.ignore
        )
      }))
      const rows = yield* sql<{ k: string }>`SELECT k FROM t`
      assert.deepStrictEqual(rows.map((r) => r.k), ["outer"])
    }))

  it.effect("driver errors are SqlErrors with a classified reason", () =>
    Effect.gen(function*() {
      const sql = yield* open(":memory:")
      yield* sql`CREATE TABLE t (k TEXT PRIMARY KEY)`
      yield* sql`INSERT INTO t VALUES ('a')`
      const dup = yield* Effect.flip(sql`INSERT INTO t VALUES ('a')`)
      assert.strictEqual(dup._tag, "SqlError")
      assert.strictEqual(dup.reason._tag, "UniqueViolation")
      const syntax = yield* Effect.flip(sql.unsafe("SELEC nothing"))
      assert.strictEqual(syntax._tag, "SqlError")
    }))

  it.live("statements from other fibers wait while a transaction is open (no interleaving)", () =>
    Effect.gen(function*() {
      const sql = yield* open(":memory:")
      yield* sql`CREATE TABLE t (k INTEGER)`
      const writer = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO t VALUES (1)`
        yield* Effect.sleep("30 millis")
        yield* sql`INSERT INTO t VALUES (2)`
      })))
      yield* Effect.sleep("5 millis")
      const seen = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM t`
      yield* Fiber.join(writer)
      assert.strictEqual(seen[0]!.n, 2)
    }))

  it.effect("committed data survives closing and reopening a file database", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = Path.join(dir, "db.sqlite")
      const layer = Layer.fresh(Sqlite.layer({ filename }))
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (k TEXT)`
        yield* sql.withTransaction(sql`INSERT INTO t VALUES ('kept')`)
      }).pipe(Effect.provide(layer))
      const rows = yield* Effect.gen(function*() {
        const sql = yield* Sqlite.SqliteClient
        assert.strictEqual(sql.config.filename, filename)
        return yield* sql<{ k: string }>`SELECT k FROM t`
      }).pipe(Effect.provide(Layer.fresh(Sqlite.layer({ filename }))))
      assert.deepStrictEqual(rows.map((r) => r.k), ["kept"])
    }))
})
