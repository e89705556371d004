/**
 * Projection administration commands, as an `effect/cli` command to mount in your own binary (the `binlog` bin of
 * @binlog/core cannot know your projections' handlers):
 *
 * ```ts
 * const projections = ProjectionsCli.command({
 *   projections: [stockV1, stockV2],                    // every version the binary knows
 *   sink: SqlSink.sqlite({ filename: "read-model.db" }),
 *   log: BinLogger.layer({ walDir, snapDir, archiveDir }),
 *   rebuilds: { stock: { cutover: switchView, dropOld: dropVersion } }
 * })
 * Command.runWith(Command.make("shop-admin").pipe(Command.withSubcommands([projections])), { version })(argv)
 * ```
 *
 * - `projections list [--format text|json]`: every checkpoint row of the sink (lanes included) with its state
 *   (`active`, `previous`, `halted`), position and parked count.
 * - `projections status NAME`: the versions of NAME with positions, the log's durable index and lag, halted state
 *   and parked entries.
 * - `projections rebuild NAME [--version V]`: runs the rebuild of version V (default: the highest the binary
 *   knows) until it has caught up with the serving version and the log, with a progress bar and an ETA on stderr
 *   when it is a terminal; resumable (kill it and run it again). Does not cut over.
 * - `projections cutover NAME [--version V]`: catches up, then cuts over in one transaction.
 * - `projections drop-old NAME`: drops the previous version after a cutover.
 * - `projections parked [NAME]`: the dead-letter rows. `projections replay-parked NAME [--index I]`: replays them
 *   from the log (one, or all in order). `projections resume NAME`: clears a halted state.
 *
 * The commands open the log with the `log` layer, so they take the WAL's writer lock: run `rebuild`, `cutover` and
 * `replay-parked` while the service that owns the log is stopped, or expose the same operations from the service
 * (`Rebuild`, `runner.replayParked`). `list`, `status` (without lag) and `parked` only read the sink; the generic
 * `binlog projections list|status|parked --sqlite FILE` of @binlog/core reads the same tables without your code.
 *
 * @since 0.1.0
 */
import type * as BinLogger from "@binlog/core/BinLogger"
import * as BL from "@binlog/core/BinLogger"
import { json, table } from "@binlog/core/CliFormat"
import { Argument, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Engine from "./internal/engine.ts"
import * as Lanes from "./Lanes.ts"
import type * as Poison from "./Poison.ts"
import * as Projection from "./Projection.ts"
import * as Rebuild from "./Rebuild.ts"
import type * as Sink from "./Sink.ts"

/**
 * How often the rebuild progress bar is redrawn.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROGRESS_INTERVAL_MS = 200

/**
 * Width of the progress bar in characters.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROGRESS_BAR_WIDTH = 30

/**
 * What the commands need.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Client, E, R> {
  /** Every projection version the binary knows (rebuild picks the highest version of a name by default). */
  readonly projections: ReadonlyArray<Projection.Projection<Client, E, R>>
  /** Opens the sink (scoped). */
  readonly sink: Effect.Effect<Sink.Sink<Client>, unknown, Scope.Scope>
  /** The log. */
  readonly log: Layer.Layer<BinLogger.BinLogger, unknown>
  /** Cutover and drop statements per projection name (see `Rebuild`). */
  readonly rebuilds?:
    | Readonly<
      Record<string, {
        readonly cutover: (client: Client, version: number) => Effect.Effect<void, unknown, R>
        readonly dropOld?: ((client: Client, version: number) => Effect.Effect<void, unknown, R>) | undefined
      }>
    >
    | undefined
  /** The poison policy of each projection (replay ordering follows `perStreamOrdering`). */
  readonly poison?: Readonly<Record<string, Poison.Policy>> | undefined
  readonly batchSize?: number | undefined
}

const out = (text: string) => Effect.sync(() => void process.stdout.write(text.endsWith("\n") ? text : `${text}\n`))

/**
 * A progress line: bar, percentage, counts, rate and ETA.
 *
 * @since 0.1.0
 * @category formatting
 */
export const progressLine = (done: bigint, total: bigint, elapsedMs: number, startedAt: bigint): string => {
  const span = total > 0n ? Number(total) : 1
  const fraction = Math.min(1, Number(done) / span)
  const filled = Math.round(fraction * PROGRESS_BAR_WIDTH)
  const bar = "#".repeat(filled) + ".".repeat(PROGRESS_BAR_WIDTH - filled)
  const rate = elapsedMs > 0 ? (Number(done - startedAt) * 1000) / elapsedMs : 0
  const left = Number(total - done)
  const eta = rate > 0 && left > 0 ? `${Math.ceil(left / rate)}s` : left <= 0 ? "0s" : "?"
  return `[${bar}] ${(fraction * 100).toFixed(1)}% ${done}/${total} entries, ${Math.round(rate)}/s, ETA ${eta}`
}

const nameArg = Argument.String("name").pipe(Argument.withDescription("projection name"))
const formatFlag = Flag.Literals("format", ["text", "json"]).pipe(
  Flag.withDescription("text (default) or JSON"),
  Flag.withDefault("text" as const)
)
const versionFlag = Flag.Int("version").pipe(
  Flag.withMetavar("V"),
  Flag.withDescription("the projection version (default: the highest this binary knows)"),
  Flag.optional
)

/**
 * One line of `list`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListRow {
  readonly projection: string
  readonly version: number
  readonly position: bigint
  readonly state: string
  readonly parked: number
}

/**
 * The rows of `list` (every checkpoint row of the sink, with states).
 *
 * @since 0.1.0
 * @category operations
 */
export const listRows = <Client>(sink: Sink.Sink<Client>) =>
  Effect.gen(function*() {
    const rows: Array<ListRow> = []
    for (const c of yield* sink.checkpoints) {
      const base = Lanes.parseLaneName(c.projection).projection
      const active = yield* sink.readActive(base)
      const halted = yield* sink.readHalted(c)
      const parked = (yield* sink.parked(c)).length
      const state = Option.isSome(halted)
        ? `halted at ${halted.value.index}`
        : Option.isSome(active)
        ? active.value.version === c.version
          ? "active"
          : active.value.previousVersion === c.version
          ? "previous"
          : "building"
        : "running"
      rows.push({ projection: c.projection, version: c.version, position: c.position, state, parked })
    }
    return rows
  })

/**
 * The `projections` command (see the module header).
 *
 * @since 0.1.0
 * @category commands
 */
export const command = <Client, E, R>(options: Options<Client, E, R>) => {
  const versionsOf = (name: string) =>
    options.projections.filter((p) => p.name === name).sort((a, b) => a.version - b.version)
  const pick = (name: string, version: Option.Option<number>) =>
    Effect.suspend(() => {
      const known = versionsOf(name)
      const p = Option.isSome(version) ? known.find((k) => k.version === version.value) : known[known.length - 1]
      return p === undefined
        ? Effect.fail(
          new Error(
            `unknown projection ${name}${Option.isSome(version) ? ` v${version.value}` : ""} (known: ${
              options.projections.map((k) => `${k.name} v${k.version}`).join(", ")
            })`
          )
        )
        : Effect.succeed(p)
    })
  const withSink = <A, E2, R2>(f: (sink: Sink.Sink<Client>) => Effect.Effect<A, E2, R2>) =>
    Effect.scoped(Effect.flatMap(options.sink, f))
  const withLogAndSink = <A, E2, R2>(
    f: (sink: Sink.Sink<Client>, log: BinLogger.BinLogger["Service"]) => Effect.Effect<A, E2, R2>
  ) =>
    Effect.scoped(Effect.gen(function*() {
      const sink = yield* options.sink
      const log = yield* BL.BinLogger
      return yield* f(sink, log)
    })).pipe(Effect.provide(options.log))
  const rebuildOf = (name: string) => {
    const r = options.rebuilds?.[name]
    return r === undefined
      ? Effect.fail(new Error(`no cutover is configured for ${name} (options.rebuilds)`))
      : Effect.succeed(r)
  }

  const list = Command.make(
    "list",
    { format: formatFlag },
    (c) =>
      withSink((sink) =>
        Effect.flatMap(listRows(sink), (rows) =>
          c.format === "json"
            ? out(json(rows))
            : out(table(
              ["PROJECTION", "VERSION", "POSITION", "STATE", "PARKED"],
              rows.map((r) => [r.projection, String(r.version), r.position.toString(), r.state, String(r.parked)])
            )))
      )
  ).pipe(Command.withDescription("Every projection version in the sink: position, state, parked entries"))

  const status = Command.make(
    "status",
    { name: nameArg, format: formatFlag },
    (c) =>
      withLogAndSink((sink, log) =>
        Effect.gen(function*() {
          const durable = yield* log.currentIndex
          const rows = (yield* listRows(sink)).filter((r) => Lanes.parseLaneName(r.projection).projection === c.name)
          const withLag = rows.map((r) => ({ ...r, durableIndex: durable, lag: durable - r.position }))
          if (c.format === "json") return yield* out(json(withLag))
          yield* out(table(
            ["PROJECTION", "VERSION", "POSITION", "LAG", "STATE", "PARKED"],
            withLag.map((r) => [
              r.projection,
              String(r.version),
              r.position.toString(),
              r.lag.toString(),
              r.state,
              String(r.parked)
            ])
          ))
          yield* out(`log durable index: ${durable}`)
        })
      )
  ).pipe(Command.withDescription("The versions of a projection with their lag behind the log"))

  const startRebuild = (name: string, version: Option.Option<number>) =>
    Effect.gen(function*() {
      const p = yield* pick(name, version)
      const r = yield* rebuildOf(name)
      const sink = yield* options.sink
      const rebuild = yield* Rebuild.make({
        projection: p,
        sink,
        batchSize: options.batchSize,
        poison: options.poison?.[name],
        cutover: (client) => r.cutover(client, p.version),
        dropOld: r.dropOld
      })
      return { rebuild, projection: p }
    })

  const rebuildCmd = Command.make(
    "rebuild",
    { name: nameArg, version: versionFlag },
    (c) =>
      Effect.scoped(Effect.gen(function*() {
        const { projection, rebuild } = yield* startRebuild(c.name, c.version)
        const first = yield* rebuild.progress
        const started = Date.now()
        if (process.stderr.isTTY === true) {
          yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
            yield* Effect.sleep(PROGRESS_INTERVAL_MS)
            const p = yield* rebuild.progress
            const target = p.durableIndex > p.servingPosition ? p.durableIndex : p.servingPosition
            process.stderr.write(
              `\r\x1b[K${c.name} v${projection.version}: ${
                progressLine(p.position, target, Date.now() - started, first.position)
              }`
            )
          })))
          yield* Effect.addFinalizer(() => Effect.sync(() => process.stderr.write("\r\x1b[K")))
        }
        yield* rebuild.awaitCaughtUp
        const p = yield* rebuild.progress
        yield* out(
          `rebuild ${c.name} v${projection.version}: caught up at ${p.position} (serving v${p.servingVersion} at ` +
            `${p.servingPosition}; ${p.position - first.position} entries in ${
              ((Date.now() - started) / 1000).toFixed(1)
            }s)`
        )
      })).pipe(Effect.provide(options.log))
  ).pipe(
    Command.withDescription("Rebuild a new version from the log (archive included) until it has caught up")
  )

  const cutoverCmd = Command.make(
    "cutover",
    { name: nameArg, version: versionFlag },
    (c) =>
      Effect.scoped(Effect.gen(function*() {
        const { projection, rebuild } = yield* startRebuild(c.name, c.version)
        yield* rebuild.awaitCaughtUp
        yield* rebuild.cutover
        const p = yield* rebuild.progress
        yield* out(`cutover ${c.name}: v${projection.version} is active (was v${p.servingVersion}) at ${p.position}`)
      })).pipe(Effect.provide(options.log))
  ).pipe(
    Command.withDescription("Catch up and cut over to the new version in one transaction")
  )

  const dropOldCmd = Command.make("drop-old", { name: nameArg }, (c) =>
    withSink((sink) =>
      Effect.gen(function*() {
        const r = yield* rebuildOf(c.name)
        const before = yield* sink.readActive(c.name)
        yield* Rebuild.dropOldVersion(sink, c.name, r.dropOld)
        const dropped = Option.isSome(before) ? before.value.previousVersion : undefined
        yield* out(`drop-old ${c.name}: v${dropped} dropped`)
      })
    )).pipe(Command.withDescription("Drop the previous version of a projection after its cutover"))

  const parkedCmd = Command.make("parked", {
    name: nameArg.pipe(Argument.optional),
    format: formatFlag
  }, (c) =>
    withSink((sink) =>
      Effect.gen(function*() {
        const rows: Array<Sink.ParkedEntry & { readonly projection: string; readonly version: number }> = []
        for (const cp of yield* sink.checkpoints) {
          if (Option.isSome(c.name) && Lanes.parseLaneName(cp.projection).projection !== c.name.value) continue
          for (const p of yield* sink.parked(cp)) rows.push({ projection: cp.projection, version: cp.version, ...p })
        }
        if (c.format === "json") return yield* out(json(rows))
        yield* out(table(
          ["PROJECTION", "VERSION", "INDEX", "TYPE", "STREAM", "REASON", "ATTEMPTS", "ERROR"],
          rows.map((r) => [
            r.projection,
            String(r.version),
            r.index.toString(),
            r.eventType ?? "",
            r.streamId ?? "",
            r.reason,
            String(r.attempts),
            r.error
          ])
        ))
      })
    )).pipe(Command.withDescription("Entries parked by poison policies (the dead-letter table)"))

  /** The engine of one projection version (setup, checkpoint, parked state; no fibers). */
  const engineOf = (name: string, version: Option.Option<number>) =>
    Effect.gen(function*() {
      const p = yield* pick(name, version)
      const sink = yield* options.sink
      const log = yield* BL.BinLogger
      const rows = (yield* sink.checkpoints).filter((r) =>
        r.version === p.version && Lanes.parseLaneName(r.projection).projection === name
      )
      const lanes = rows.length > 0 ? Lanes.parseLaneName(rows[0]!.projection).lanes : 1
      const bound: Projection.Bound<E, R> = {
        ...Projection.bind(p, sink),
        poison: options.poison?.[name],
        lanes
      }
      return yield* Engine.make({ projections: [bound] }, log)
    })

  const replayCmd = Command.make("replay-parked", {
    name: nameArg,
    version: versionFlag,
    index: Flag.String("index").pipe(
      Flag.withMetavar("INDEX"),
      Flag.withDescription("replay only this entry (default: all, in index order)"),
      Flag.filterMap((s) => (/^\d+$/.test(s) ? Option.some(BigInt(s)) : Option.none()), (s) => `bad index ${s}`),
      Flag.optional
    )
  }, (c) =>
    Effect.scoped(Effect.gen(function*() {
      const engine = yield* engineOf(c.name, c.version)
      const result = yield* engine.runner.replayParked(c.name, Option.getOrUndefined(c.index))
      for (const i of result.replayed) yield* out(`replayed ${i}`)
      for (const f of result.failed) yield* out(`still parked ${f.index}: ${f.error}`)
      if (result.failed.length > 0) return yield* Effect.fail(new Error(`${result.failed.length} entries still parked`))
    })).pipe(Effect.provide(options.log))).pipe(
      Command.withDescription("Replay parked entries from the log (one, or all in order)")
    )

  const resumeCmd = Command.make(
    "resume",
    { name: nameArg, version: versionFlag },
    (c) =>
      Effect.scoped(Effect.gen(function*() {
        const engine = yield* engineOf(c.name, c.version)
        yield* engine.runner.resume(c.name)
        yield* out(`resumed ${c.name}`)
      })).pipe(Effect.provide(options.log))
  ).pipe(
    Command.withDescription("Clear the halted state of a projection (it runs again at the next start)")
  )

  return Command.make("projections").pipe(
    Command.withDescription("Projection administration: list, status, rebuild, cutover, drop-old, parked entries"),
    Command.withSubcommands([list, status, rebuildCmd, cutoverCmd, dropOldCmd, parkedCmd, replayCmd, resumeCmd])
  )
}
