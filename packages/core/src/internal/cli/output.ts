// Output of the `binlog` command line: data on stdout, one-line messages and TTY-only progress on stderr, JSON
// with exact 64-bit integers (as decimal strings), byte sizes and tables. Internal.
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

export { json, table } from "../../CliFormat.ts"

/** How often a progress line is redrawn (stderr, only when it is a terminal). */
export const PROGRESS_INTERVAL_MS = 200

/**
 * Writes to stdout. Node writes synchronously to files and pipes (on Linux) and terminals, so once this returns
 * the text is out of the process: a killed `binlog append` never loses a line it has printed.
 */
export const out = (text: string): Effect.Effect<void> =>
  Effect.sync(() => {
    if (text.length > 0) process.stdout.write(text)
  })

/** Writes a line to stderr. */
export const errLine = (text: string): Effect.Effect<void> =>
  Effect.sync(() => {
    process.stderr.write(text.endsWith("\n") ? text : `${text}\n`)
  })

/**
 * Whether progress may be drawn: stderr is a terminal, and (for commands that stream data to stdout) stdout is not
 * the same terminal, where the progress line would be mixed with the data.
 */
export const progressEnabled = (streamsToStdout: boolean): boolean =>
  process.stderr.isTTY === true && !(streamsToStdout && process.stdout.isTTY === true)

/**
 * Runs `self` with a progress line on stderr (redrawn every {@link PROGRESS_INTERVAL_MS}, erased at the end) when
 * {@link progressEnabled}; otherwise runs it unchanged.
 */
export const withProgress = (
  label: string,
  show: () => string,
  options: { readonly streamsToStdout?: boolean } = {}
) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  if (!progressEnabled(options.streamsToStdout ?? false)) return self
  return Effect.scoped(Effect.gen(function*() {
    const started = Date.now()
    // registered first, so it runs after the drawing fiber is interrupted
    yield* Effect.addFinalizer(() => Effect.sync(() => process.stderr.write("\r\x1b[K")))
    const draw = Effect.sync(() => {
      const secs = ((Date.now() - started) / 1000).toFixed(1)
      const detail = show()
      process.stderr.write(`\r\x1b[K${label}${detail === "" ? "" : `: ${detail}`} (${secs}s)`)
    })
    yield* Effect.forkScoped(
      Effect.repeat(Effect.andThen(Effect.sleep(PROGRESS_INTERVAL_MS), draw), Schedule.forever)
    )
    return yield* self
  }))
}

/** Bytes as a short human size (1,024-based). */
export const formatBytes = (n: number): string => {
  if (n < 1024) return `${n} B`
  const units = ["KiB", "MiB", "GiB", "TiB"]
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

/** Standard base64 of some bytes (empty for none). */
export const base64 = (bytes: Uint8Array | undefined): string =>
  bytes === undefined || bytes.length === 0
    ? ""
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("base64")

/** 32-bit value as 8 lower-case hex digits. */
export const hex32 = (n: number): string => (n >>> 0).toString(16).padStart(8, "0")
