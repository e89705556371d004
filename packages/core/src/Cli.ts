/**
 * The `binlog` command line, on `effect/cli`, over the BinLogger service and the `Reader`/`Repair` modules:
 *
 * - `binlog append --wal D --snap S [--sync-interval MS] [--base64] [--segment-size BYTES]`: one entry per line of
 *   standard input (raw bytes without the newline, or standard base64 with `--base64`). Lines are grouped as they
 *   arrive (everything readable since the last write is one `BinLogger.log` batch); after each batch is durable
 *   one line `<first> <last>` is printed. Nothing is printed before the batch is durable: with a sync interval,
 *   ranges are printed after the periodic `sync` that covers them.
 * - `binlog read --wal D [--snap S | --from N] [--to N] [--follow]`: entries as JSON lines
 *   `{"index":"N","data":"<base64>"}`. Read-only: never takes the writer lock, never repairs. Only committed
 *   entries are shown (complete, CRC-valid and covered by a commit marker when the log has markers); `--follow`
 *   keeps showing entries that another process appends (see `internal/cli/follow.ts` for how a writer's crash and
 *   restart is handled).
 * - `binlog verify --wal D [--snap S] [--format text|json]`: frames, CRC chain, metadata, entries, snapshot records
 *   and `.snap` files; exit 0 when clean, 1 with the typed error (file, offset, reason) otherwise, a torn tail
 *   included.
 * - `binlog dump --wal D [--format json|table] [--data]`: every frame with its length word, type, CRC, CRC check,
 *   sizes and decoded entry index / snapshot / HardState; exit 1 if a frame is bad.
 * - `binlog repair --wal D`: etcd's repair of a torn tail (`Repair.repair`), with the writer lock.
 * - `binlog stat --wal D [--snap S] [--format text|json] [--sqlite FILE]`: segments, indexes, snapshots, sizes,
 *   and what keeps each segment (`Retention.plan`): the latest snapshot, and with `--sqlite` the retention holds the
 *   projections checkpointed in that @binlog/projections SQLite sink place while they run.
 * - `binlog projections list|status [NAME]|parked [NAME] --sqlite FILE [--format text|json]`: the checkpoint,
 *   state (active/previous/building/halted) and dead-letter tables of a @binlog/projections SQLite sink, read by
 *   their documented names (rebuild, cutover and replays need the handlers: `ProjectionsCli` in your binary).
 *
 * Errors: bad arguments and failures print ONE line on stderr (`binlog <command>: <message>`, typed errors named
 * by their tag) and exit 2 (usage) or 1 (anything else); an interrupt (SIGINT/SIGTERM) exits 130 after closing the
 * log. Log messages of the library (recoveries, dropped bytes) go to stderr; stdout carries only data. Progress is
 * drawn on stderr only when it is a terminal.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import { Argument, CliOutput, Command, Flag } from "effect/cli"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Stdio from "effect/Stdio"
import * as Stream from "effect/Stream"
import * as BinLogger from "./BinLogger.ts"
import { append } from "./internal/cli/append.ts"
import { dump } from "./internal/cli/dump.ts"
import { describe, UsageError } from "./internal/cli/errors.ts"
import { follow } from "./internal/cli/follow.ts"
import { base64, errLine, out, withProgress } from "./internal/cli/output.ts"
import { projectionsList, projectionsParked, stat, verify } from "./internal/cli/report.ts"
import * as View from "./internal/cli/view.ts"
import * as Reader from "./Reader.ts"
import type * as RecordCodec from "./RecordCodec.ts"
import * as Repair from "./Repair.ts"

export {
  /**
   * `binlog dump` found bad frames.
   *
   * @since 0.1.0
   * @category errors
   */
  BadFrames,
  /**
   * A line of `binlog append`'s input that cannot be an entry.
   *
   * @since 0.1.0
   * @category errors
   */
  InvalidInput,
  /**
   * Arguments that parse but do not make sense together.
   *
   * @since 0.1.0
   * @category errors
   */
  UsageError,
  /**
   * `binlog verify` found corrupt `.snap` files.
   *
   * @since 0.1.0
   * @category errors
   */
  VerifyFailed
} from "./internal/cli/errors.ts"

/**
 * The version `binlog --version` prints.
 *
 * @since 0.1.0
 * @category constants
 */
export const VERSION = "0.1.0"

/**
 * Exit codes: success, failure (a damaged log, an I/O error, a locked directory...), bad usage, interrupted.
 *
 * @since 0.1.0
 * @category constants
 */
export const ExitCode = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const

const MAX_INDEX = (1n << 64n) - 1n

/** Smallest `--segment-size` accepted: one page (the writer preallocates and cuts segments by whole pages). */
const MIN_SEGMENT_BYTES = 4096

const parseIndex = (text: string): Option.Option<bigint> => {
  if (!/^\d{1,20}$/.test(text)) return Option.none()
  const n = BigInt(text)
  return n >= 1n && n <= MAX_INDEX ? Option.some(n) : Option.none()
}

const walFlag = Flag.String("wal").pipe(
  Flag.withMetavar("DIR"),
  Flag.withDescription("WAL directory (the *.wal segment files)")
)
const snapFlag = Flag.String("snap").pipe(
  Flag.withMetavar("DIR"),
  Flag.withDescription("snapshot directory (the *.snap files)"),
  Flag.optional
)
const indexFlag = (name: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withMetavar("INDEX"),
    Flag.withDescription(description),
    Flag.filterMap(parseIndex, (s) => `expected an index from 1 to 18446744073709551615, got "${s}"`),
    Flag.optional
  )
const reportFormat = Flag.Literals("format", ["text", "json"]).pipe(
  Flag.withDescription("text (default) or one JSON object"),
  Flag.withDefault("text" as const)
)

const jsonLines = (chunk: ReadonlyArray<RecordCodec.EntryValue>): string => {
  let text = ""
  for (const e of chunk) text += `{"index":"${e.index}","data":"${base64(e.data)}"}\n`
  return text
}

// ---------------------------------------------------------------------------------------------------------------
// append

const appendCommand = Command.make(
  "append",
  {
    wal: walFlag,
    snap: Flag.String("snap").pipe(Flag.withMetavar("DIR"), Flag.withDescription("snapshot directory")),
    syncInterval: Flag.Int("sync-interval").pipe(
      Flag.withMetavar("MS"),
      Flag.withDescription("0 (default): fdatasync every batch; > 0: fdatasync every MS milliseconds"),
      Flag.withDefault(0),
      Flag.filter((n) => n >= 0, (n) => `expected 0 or more milliseconds, got ${n}`)
    ),
    base64: Flag.Boolean("base64").pipe(
      Flag.withDescription("each line is standard base64 (default: the raw line bytes, without the newline)"),
      Flag.withDefault(false)
    ),
    segmentSize: Flag.Int("segment-size").pipe(
      Flag.withMetavar("BYTES"),
      Flag.withDescription("segment cut threshold (default 64000000)"),
      Flag.filter((n) => n >= MIN_SEGMENT_BYTES, (n) => `expected at least ${MIN_SEGMENT_BYTES} bytes, got ${n}`),
      Flag.optional
    )
  },
  Effect.fn("binlog.append")(function*(c) {
    const stdio = yield* Stdio.Stdio
    yield* append(stdio.stdin, {
      base64: c.base64,
      syncIntervalMs: c.syncInterval,
      maxEntryBytes: BinLogger.DEFAULT_MAX_ENTRY_BYTES
    }).pipe(
      Effect.provide(BinLogger.layer({
        walDir: c.wal,
        snapDir: c.snap,
        syncInterval: c.syncInterval,
        segmentSizeBytes: Option.getOrUndefined(c.segmentSize)
      })),
      Effect.scoped
    )
  })
).pipe(
  Command.withDescription(
    "Append one entry per stdin line; print \"<first> <last>\" once each batch is durable"
  ),
  Command.withExamples([
    { command: "printf 'a\\nb\\n' | binlog append --wal wal --snap snap", description: "prints 1 2" },
    { command: "binlog append --wal wal --snap snap --base64 < lines.b64" }
  ])
)

// ---------------------------------------------------------------------------------------------------------------
// read

const readCommand = Command.make(
  "read",
  {
    wal: walFlag,
    snap: snapFlag.pipe(Flag.withDescription("start after the newest snapshot of this directory")),
    from: indexFlag("from", "first index to show (default 1, or after the snapshot with --snap)"),
    to: indexFlag("to", "last index to show (with --follow: wait for it, then exit)"),
    follow: Flag.Boolean("follow").pipe(
      Flag.withDescription("keep showing entries that another process appends"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("binlog.read")(function*(c) {
    if (Option.isSome(c.snap) && Option.isSome(c.from)) {
      return yield* new UsageError({ reason: "--snap and --from cannot be used together" })
    }
    const view = yield* View.open(c.wal, c.snap).pipe(withProgress("binlog read", () => "scanning the log"))
    const from = Option.getOrElse(c.from, () => (Option.isSome(c.snap) ? view.start.index + 1n : 1n))
    const to = Option.getOrUndefined(c.to)
    let shown = 0
    let last = 0n
    if (!c.follow) {
      const end = to !== undefined && to < view.committed ? to : view.committed
      if (from <= end) {
        yield* Reader.entries(c.wal, from, { to: end }).pipe(
          Stream.runForEachArray((chunk) => {
            shown += chunk.length
            last = chunk[chunk.length - 1]!.index
            return out(jsonLines(chunk))
          }),
          withProgress("binlog read", () => `${shown} entries, at index ${last} of ${end}`, { streamsToStdout: true })
        )
      }
      if (view.scan.end._tag === "TornTail") {
        const e = view.scan.end.error
        yield* errLine(
          `binlog read: note: the log ends in an incomplete record at ${e.file} @${e.offset} (${e.droppedBytes} ` +
            `bytes not shown): a write in progress, or a torn tail (see binlog verify)`
        )
      }
      return
    }
    const reached = yield* Deferred.make<void>()
    const emit = (chunk: Arr.NonEmptyReadonlyArray<RecordCodec.EntryValue>) =>
      Effect.suspend(() => {
        const shownChunk = to === undefined ? chunk : chunk.filter((e) => e.index <= to)
        const done = to !== undefined && chunk[chunk.length - 1]!.index >= to
        return Effect.andThen(
          out(jsonLines(shownChunk)),
          done ? Deferred.succeed(reached, undefined) : Effect.void
        )
      })
    if (to !== undefined && from > to) return
    yield* Effect.raceFirst(
      Effect.scoped(follow({ walDir: c.wal, from, initial: view, emit })),
      Deferred.await(reached)
    )
  })
).pipe(
  Command.withDescription("Print committed entries as JSON lines {\"index\":\"N\",\"data\":\"<base64>\"} (read-only)"),
  Command.withExamples([
    { command: "binlog read --wal wal --snap snap", description: "entries after the newest snapshot" },
    { command: "binlog read --wal wal --from 100 --follow", description: "from index 100, then live" }
  ])
)

// ---------------------------------------------------------------------------------------------------------------
// verify, dump, repair, stat

const verifyCommand = Command.make(
  "verify",
  {
    wal: walFlag,
    snap: snapFlag,
    format: reportFormat
  },
  Effect.fn("binlog.verify")(function*(c) {
    yield* verify(c.wal, c.snap, c.format)
  })
).pipe(
  Command.withDescription(
    "Read everything (frames, CRC chain, metadata, entries, snapshot records, .snap files); exit 0 only when clean"
  )
)

const dumpCommand = Command.make(
  "dump",
  {
    wal: walFlag,
    format: Flag.Literals("format", ["json", "table"]).pipe(
      Flag.withDescription("json (default): one JSON line per frame; table: aligned columns"),
      Flag.withDefault("json" as const)
    ),
    data: Flag.Boolean("data").pipe(
      Flag.withDescription("include each record's data (base64)"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("binlog.dump")(function*(c) {
    yield* Effect.scoped(dump(c.wal, { format: c.format, data: c.data }))
  })
).pipe(
  Command.withDescription("List every frame: file, offset, length word, type, CRC and its check, decoded payload")
)

const repairCommand = Command.make(
  "repair",
  { wal: walFlag },
  Effect.fn("binlog.repair")(function*(c) {
    yield* View.checkDir(c.wal)
    const result = yield* Repair.repair(c.wal)
    if (result._tag === "Clean") {
      return yield* out(`clean: ${result.segment} ends cleanly, nothing to repair\n`)
    }
    const t = result.torn
    yield* out(
      `repaired: truncated ${result.segment} at offset ${t.offset}, dropping ${t.droppedBytes} bytes (${t.reason}); ` +
        `the original is kept as ${result.brokenCopy}\n`
    )
  })
).pipe(
  Command.withDescription(
    "Repair a torn tail as etcd does: truncate the last segment at the torn record, keep a .broken copy"
  )
)

const sqliteFlag = Flag.String("sqlite").pipe(
  Flag.withMetavar("FILE"),
  Flag.withDescription("SQLite database of a @binlog/projections sink (its checkpoint, parked, halted tables)")
)

const statCommand = Command.make(
  "stat",
  {
    wal: walFlag,
    snap: snapFlag,
    format: reportFormat,
    sqlite: sqliteFlag.pipe(
      Flag.withDescription("also show the retention holds of the projections checkpointed in this SQLite sink"),
      Flag.optional
    )
  },
  Effect.fn("binlog.stat")(function*(c) {
    yield* stat(c.wal, c.snap, c.format, c.sqlite)
  })
).pipe(
  Command.withDescription("Segments, indexes, snapshots, sizes, and what keeps each segment from a purge")
)

const projectionName = Argument.String("name").pipe(
  Argument.withDescription("projection name (default: all)"),
  Argument.optional
)

const projectionsCommand = Command.make("projections").pipe(
  Command.withDescription(
    "Read a @binlog/projections SQLite sink: checkpoints, states, parked entries (rebuilds, cutover and replays " +
      "need your handlers: mount ProjectionsCli.command in your own binary)"
  ),
  Command.withSubcommands([
    Command.make(
      "list",
      { sqlite: sqliteFlag, format: reportFormat },
      (c) => projectionsList(c.sqlite, Option.none(), c.format)
    ).pipe(Command.withDescription("Every projection version: position, state, parked entries")),
    Command.make(
      "status",
      { name: projectionName, sqlite: sqliteFlag, format: reportFormat },
      (c) => projectionsList(c.sqlite, c.name, c.format)
    ).pipe(Command.withDescription("The versions (and lanes) of one projection")),
    Command.make(
      "parked",
      { name: projectionName, sqlite: sqliteFlag, format: reportFormat },
      (c) => projectionsParked(c.sqlite, c.name, c.format)
    ).pipe(Command.withDescription("Entries parked by poison policies (the dead-letter table)"))
  ])
)

/**
 * The `binlog` command and its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("binlog").pipe(
  Command.withDescription("Inspect, append to and repair a binlog / etcd WAL directory"),
  Command.withSubcommands([
    appendCommand,
    readCommand,
    verifyCommand,
    dumpCommand,
    repairCommand,
    statCommand,
    projectionsCommand
  ])
)

const COMMANDS: ReadonlySet<string> = new Set(["append", "read", "verify", "dump", "repair", "stat", "projections"])

/** Parse errors: one line on stderr; help and version: stdout. */
const presenter: CliOutput.Presenter = {
  present: (event) =>
    Effect.gen(function*() {
      const formatter = yield* CliOutput.Formatter
      switch (event._tag) {
        case "Help":
          return yield* out(formatter.formatHelpDoc(event.helpDoc) + "\n")
        case "Version":
          return yield* out(`${event.name} ${event.version}\n`)
        case "InvalidInvocation": {
          const path = event.commandPath.join(" ")
          const first = event.errors[0]
          const message = first === undefined ? "invalid arguments" : first.message
          return yield* errLine(`${path}: ${message} (see: ${path} --help)`)
        }
      }
    })
}

/** Library log lines (recoveries, dropped bytes) as single lines on stderr, never on stdout. */
const stderrLogger = Logger.make((options) => {
  const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
  process.stderr.write(`${options.logLevel.toLowerCase()}: ${message}\n`)
})

/**
 * Runs the command line on `args` (without the node and script paths) and returns the exit code. Every failure
 * is reported as one line on stderr.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (args: ReadonlyArray<string>): Effect.Effect<number> => {
  const prefix = args[0] !== undefined && COMMANDS.has(args[0]) ? `binlog ${args[0]}` : "binlog"
  return Command.runWith(command, { version: VERSION })(args).pipe(
    Effect.as(ExitCode.ok as number),
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.succeed(ExitCode.interrupted)
      const failure = Cause.findErrorOption(cause)
      if (Option.isSome(failure)) {
        const e: unknown = failure.value
        if (typeof e === "object" && e !== null && "_tag" in e && e._tag === "ShowHelp") {
          // already presented (help or the parse error); implicit help (no subcommand) is a usage error too
          const errors = (e as { errors?: ReadonlyArray<unknown> }).errors ?? []
          return Effect.succeed(errors.length > 0 || args.length === 0 ? ExitCode.usage : ExitCode.ok)
        }
        const usage = typeof e === "object" && e !== null && "_tag" in e && e._tag === "UsageError"
        return Effect.as(errLine(`${prefix}: ${describe(e)}`), usage ? ExitCode.usage : ExitCode.failure)
      }
      const defect = Cause.squash(cause)
      return Effect.as(
        errLine(`${prefix}: internal error: ${defect instanceof Error ? defect.message : String(defect)}`),
        ExitCode.failure
      )
    }),
    Effect.provide(CliOutput.layerPresenter(presenter)),
    Effect.provide(Logger.layer([stderrLogger])),
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    Effect.provide(NodeServices.layer)
  )
}

/**
 * Runs the command line on `process.argv` as the main program (what `bin.ts` calls): exit code from {@link run},
 * 130 on SIGINT/SIGTERM (after the log is closed), quiet exit when stdout is closed early (`binlog read | head`).
 *
 * @since 0.1.0
 * @category running
 */
export const main = (): void => {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(ExitCode.ok)
    process.stderr.write(`binlog: cannot write to stdout: ${e.message}\n`)
    process.exit(ExitCode.failure)
  })
  NodeRuntime.runMain(run(process.argv.slice(2)), {
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit)) return onExit(typeof exit.value === "number" ? exit.value : ExitCode.ok)
      return onExit(Cause.hasInterruptsOnly(exit.cause) ? ExitCode.interrupted : ExitCode.failure)
    }
  })
}
