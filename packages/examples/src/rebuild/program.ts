/**
 * A projection rebuild end to end: a read model with a bug in version 1 is rebuilt as version 2 from the log —
 * whose oldest segments exist only in the archive by then — while events keep arriving, then cut over in one
 * transaction (the view `stock` switches tables) and the old version is dropped.
 *
 * 1. The warehouse appends stock movements (event store → WAL with `archiveDir`, small segments, purge on).
 * 2. Version 1 serves through a snapshot runner; its releases purge archived segments.
 * 3. The bug is noticed: shipped units were added. Version 2 is rebuilt beside it (`Rebuild.make`), reading from
 *    index 1 through the archive, with its retention hold on the live log; appends continue meanwhile and version 1
 *    keeps up with them. Version 2's low-stock alerts are side effects: suppressed while it replays what version 1
 *    already handled.
 * 4. Caught up: cutover (view switch + active-version row, one SQLite transaction), then drop-old.
 *
 * Returns what it saw (the test checks it; `main.ts` prints it).
 *
 * @since 0.1.0
 */
import * as BinLogger from "@binlog/core/BinLogger"
import * as EventStore from "@binlog/core/EventStore"
import * as Projection from "@binlog/projections/Projection"
import * as Rebuild from "@binlog/projections/Rebuild"
import * as SnapshotRunner from "@binlog/projections/SnapshotRunner"
import * as SqlSink from "@binlog/projections/SqlSink"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as NFS from "node:fs"
import * as Path from "node:path"
import { Events, type Movement, movements, onHand, StockReceived, StockShipped } from "./events.ts"
import { dropVersion, NAME, readStock, stockLevels, switchView } from "./projection.ts"

/**
 * Segment size of the example's log: small, so a few thousand events span many segments.
 *
 * @since 0.1.0
 * @category constants
 */
export const SEGMENT_SIZE_BYTES = 16 * 1024

/**
 * Movements appended before the rebuild, and while it runs.
 *
 * @since 0.1.0
 * @category constants
 */
export const BEFORE = 3_000
/**
 * @since 0.1.0
 * @category constants
 */
export const DURING = 600

/**
 * Where the example keeps things under its root directory.
 *
 * @since 0.1.0
 * @category constants
 */
export const paths = (root: string) => ({
  walDir: Path.join(root, "wal"),
  snapDir: Path.join(root, "snap"),
  archiveDir: Path.join(root, "archive"),
  streamsDir: Path.join(root, "streams"),
  database: Path.join(root, "read-model.db")
})

/**
 * The example's log and event store (archive on, purge on).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (root: string) => {
  const p = paths(root)
  const log = BinLogger.layer({
    walDir: p.walDir,
    snapDir: p.snapDir,
    archiveDir: p.archiveDir,
    segmentSizeBytes: SEGMENT_SIZE_BYTES
  })
  return Layer.fresh(EventStore.layer({ dir: p.streamsDir }).pipe(Layer.provideMerge(log)))
}

/**
 * What the program observed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Observed {
  /** Last index appended before the rebuild. */
  readonly seeded: bigint
  /** The log's first live index when the rebuild started (below it: archive only). */
  readonly firstLiveIndex: bigint
  readonly archivedSegments: number
  /** What version 1 served for the SKUs whose numbers were wrong, and the truth. */
  readonly v1Wrong: ReadonlyArray<{ readonly sku: string; readonly served: number; readonly truth: number }>
  /** Retention holds on the log while the rebuild ran. */
  readonly holdsDuringRebuild: ReadonlyArray<string>
  /** Last index appended (during the rebuild). */
  readonly last: bigint
  /** The active version after cutover. */
  readonly activeVersion: number
  readonly served: ReadonlyArray<{ readonly sku: string; readonly on_hand: number }>
  readonly expected: ReadonlyArray<{ readonly sku: string; readonly on_hand: number }>
  /** Low-stock alerts raised by version 2, with the index range they came from. */
  readonly alerts: ReadonlyArray<{ readonly sku: string; readonly onHand: number }>
  /** Tables left after drop-old. */
  readonly tables: ReadonlyArray<string>
}

/**
 * Appends movements through the event store, 50 per atomic append; returns the last index.
 *
 * @since 0.1.0
 * @category programs
 */
export const appendAll = (ms: ReadonlyArray<Movement>) =>
  Effect.gen(function*() {
    let last = 0n
    for (let i = 0; i < ms.length; i += 50) {
      // one atomic append per 50 movements, one stream entry per SKU (in order within the SKU)
      const bySku = new Map<
        string,
        Array<ReturnType<typeof StockReceived.make> | ReturnType<typeof StockShipped.make>>
      >()
      for (const m of ms.slice(i, i + 50)) {
        const event = m.kind === "received"
          ? StockReceived.make({ quantity: m.quantity })
          : StockShipped.make({ quantity: m.quantity })
        const list = bySku.get(m.sku) ?? []
        list.push(event)
        bySku.set(m.sku, list)
      }
      const r = yield* EventStore.appendMany(
        Events,
        [...bySku.entries()].map(([streamId, events]) => ({
          streamId,
          expectedVersion: EventStore.ExpectedVersion.any,
          events
        }))
      )
      last = r.last
    }
    return last
  })

/**
 * Runs the example on `root` (a fresh directory).
 *
 * @since 0.1.0
 * @category programs
 */
export const program = (root: string): Effect.Effect<Observed, unknown> =>
  Effect.gen(function*() {
    const log = yield* BinLogger.BinLogger
    const sink = yield* SqlSink.sqlite({ filename: paths(root).database })
    const stock = new Map<string, number>()
    const before = movements(BEFORE, 12, 1, stock)
    const during = movements(DURING, 12, 2, stock)

    // 1–2. version 1 serves; its releases let purge delete archived segments
    const servingScope = yield* Scope.make()
    const serving = yield* SnapshotRunner.make({ projections: [Projection.bind(stockLevels(1), sink)] }).pipe(
      Scope.provide(servingScope)
    )
    const seeded = yield* appendAll(before)
    yield* serving.awaitReleased(seeded)
    yield* log.sync
    const status = yield* log.status
    const archivedSegments = NFS.readdirSync(paths(root).archiveDir).filter((f) => f.endsWith(".wal")).length
    yield* Effect.log(
      `appended ${seeded} events; v1 released them; live log starts at ${status.firstIndex}, ` +
        `${archivedSegments} segments archived`
    )
    const truth = onHand(before)
    const v1Rows = yield* readStock(sink.client)
    const v1Wrong = v1Rows.flatMap((r) => {
      const t = truth.find((x) => x.sku === r.sku)?.on_hand ?? 0
      return r.on_hand === t ? [] : [{ sku: r.sku, served: r.on_hand, truth: t }]
    })
    yield* Effect.log(`v1 serves wrong numbers for ${v1Wrong.length} SKUs, e.g. ${JSON.stringify(v1Wrong[0])}`)

    // 3. rebuild v2 from index 1 while events keep arriving
    const alerts: Array<{ sku: string; onHand: number }> = []
    const appender = yield* Effect.forkChild(appendAll(during))
    const rebuild = yield* Rebuild.make({
      projection: stockLevels(2, (sku, left) => alerts.push({ sku, onHand: left })),
      sink,
      cutover: (sql) => switchView(sql, 2),
      dropOld: dropVersion
    })
    const holdsDuringRebuild = (yield* log.status).holds.map((h) => `${h.name} @ ${h.index}`)
    yield* Effect.log(`rebuilding ${NAME} v2 from index 1; holds on the log: ${holdsDuringRebuild.join(", ")}`)
    const last = yield* Fiber.join(appender)
    yield* rebuild.awaitCaughtUp
    const progress = yield* rebuild.progress
    yield* Effect.log(
      `v2 caught up at ${progress.position} (v1 at ${progress.servingPosition}); ${alerts.length} low-stock alerts ` +
        `raised for entries v1 had not handled`
    )

    // 4. cutover in one transaction, then retire v1 and drop its table
    yield* rebuild.cutover
    yield* Scope.close(servingScope, Exit.void)
    yield* rebuild.dropOld
    const served = yield* readStock(sink.client)
    const tables = (yield* sink.client<{ readonly name: string }>`SELECT name FROM sqlite_master
      WHERE type = 'table' AND name LIKE 'stock%' ORDER BY name`).map((t) => t.name)
    const active = yield* sink.readActive(NAME)
    const activeVersion = active._tag === "Some" ? active.value.version : 1
    yield* Effect.log(`cut over to v${activeVersion}; v1 dropped; tables now: ${tables.join(", ")}`)
    return {
      seeded,
      firstLiveIndex: status.firstIndex,
      archivedSegments,
      v1Wrong,
      holdsDuringRebuild,
      last,
      activeVersion,
      served,
      expected: onHand([...before, ...during]),
      alerts,
      tables
    }
  }).pipe(Effect.scoped, Effect.provide(layer(root)))
