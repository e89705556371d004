// `binlog append`: one entry per line of standard input, through the BinLogger service.
//
// Lines are grouped as they arrive: each read of stdin hands over everything that is buffered (all the lines
// written since the previous write to the log), and those lines go to `BinLogger.log` as one batch (split at
// MAX_APPEND_BATCH_ENTRIES / MAX_APPEND_BATCH_BYTES). After a batch is durable its range is printed as
// `<first> <last>`; with a sync interval, ranges are printed after the `sync` that made them durable, which runs
// every interval. Nothing is printed for a batch before it is durable. Internal.
import type * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as BinLogger from "../../BinLogger.ts"
import { InvalidInput } from "./errors.ts"
import { out, withProgress } from "./output.ts"

/** Most entries given to one `BinLogger.log` call; larger groups of lines are split. */
export const MAX_APPEND_BATCH_ENTRIES = 10_000

/** Most payload bytes given to one `BinLogger.log` call; larger groups of lines are split. */
export const MAX_APPEND_BATCH_BYTES = 16 * 1024 * 1024

const NEWLINE = 0x0a
const CR = 0x0d
const EMPTY = new Uint8Array(0)
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Options of {@link append}. */
export interface AppendOptions {
  readonly base64: boolean
  /** > 0: ranges are printed after the periodic `sync` that makes them durable. */
  readonly syncIntervalMs: number
  readonly maxEntryBytes: number
}

const concat = (head: Uint8Array, chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  let size = head.length
  for (const c of chunks) size += c.length
  if (head.length === 0 && chunks.length === 1) return chunks[0]!
  const buf = new Uint8Array(size)
  buf.set(head, 0)
  let pos = head.length
  for (const c of chunks) {
    buf.set(c, pos)
    pos += c.length
  }
  return buf
}

/** Decodes one line: its bytes, or the reason it is not a valid entry. */
const decodeLine = (line: Uint8Array, base64: boolean, maxEntryBytes: number): Uint8Array | string => {
  if (!base64) {
    return line.length > maxEntryBytes ? `${line.length} bytes, more than the ${maxEntryBytes}-byte entry limit` : line
  }
  const end = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length
  const text = Buffer.from(line.buffer, line.byteOffset, end).toString("latin1")
  if (text.length % 4 !== 0 || !BASE64.test(text)) return "not standard base64 (A-Z a-z 0-9 + /, padded with =)"
  const bytes = Buffer.from(text, "base64")
  if (bytes.length > maxEntryBytes) return `${bytes.length} bytes, more than the ${maxEntryBytes}-byte entry limit`
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)
}

/**
 * Appends the lines of `stdin` until it ends, printing each durable batch's range. Needs the BinLogger.
 */
export const append = <E>(
  stdin: Stream.Stream<Uint8Array, E>,
  options: AppendOptions
): Effect.Effect<void, E | BinLogger.LogError | InvalidInput, BinLogger.BinLogger | Scope.Scope> =>
  Effect.gen(function*() {
    const log = yield* BinLogger.BinLogger
    const deferred = options.syncIntervalMs > 0
    // a base64 line is at most 4/3 of the entry limit (plus padding and a CR)
    const maxLineBytes = options.base64 ? Math.ceil(options.maxEntryBytes / 3) * 4 + 1 : options.maxEntryBytes
    let carry: Uint8Array = EMPTY
    let nextLine = 1
    let appended = 0
    let lastIndex = 0n
    const unprinted: Array<BinLogger.IndexRange> = []

    const print = (ranges: ReadonlyArray<BinLogger.IndexRange>) =>
      out(ranges.map((r) => `${r.first} ${r.last}\n`).join(""))

    // everything logged before this `sync` call is durable when it returns; one flush at a time keeps the
    // printed ranges in order
    const flushLock = yield* Semaphore.make(1)
    const flush = flushLock.withPermits(1)(Effect.gen(function*() {
      if (unprinted.length === 0) return
      const ranges = unprinted.splice(0)
      yield* log.sync
      yield* print(ranges)
    }))

    const submit = (entries: ReadonlyArray<Uint8Array>) =>
      Effect.gen(function*() {
        let i = 0
        while (i < entries.length) {
          let bytes = 0
          let j = i
          while (j < entries.length && j - i < MAX_APPEND_BATCH_ENTRIES) {
            if (j > i && bytes + entries[j]!.length > MAX_APPEND_BATCH_BYTES) break
            bytes += entries[j]!.length
            j++
          }
          const range = yield* log.log(entries.slice(i, j))
          appended += j - i
          lastIndex = range.last
          if (deferred) unprinted.push(range)
          else yield* print([range])
          i = j
        }
      })

    /** Turns complete lines into entries and appends them; a bad line stops after the lines before it. */
    const appendLines = (lines: ReadonlyArray<Uint8Array>) =>
      Effect.gen(function*() {
        const entries: Array<Uint8Array> = []
        for (const line of lines) {
          const decoded = decodeLine(line, options.base64, options.maxEntryBytes)
          if (typeof decoded === "string") {
            if (entries.length > 0) yield* submit(entries)
            return yield* new InvalidInput({ line: nextLine, reason: decoded })
          }
          entries.push(decoded)
          nextLine++
        }
        if (entries.length > 0) yield* submit(entries)
      })

    const onChunks = (chunks: Arr.NonEmptyReadonlyArray<Uint8Array>) =>
      Effect.gen(function*() {
        const buf = concat(carry, chunks)
        const lines: Array<Uint8Array> = []
        let start = 0
        for (let i = buf.indexOf(NEWLINE); i >= 0; i = buf.indexOf(NEWLINE, start)) {
          lines.push(buf.subarray(start, i))
          start = i + 1
        }
        // copy the partial line, so it does not keep the whole read buffer alive
        carry = start === buf.length ? EMPTY : buf.slice(start)
        yield* appendLines(lines)
        if (carry.length > maxLineBytes) {
          return yield* new InvalidInput({
            line: nextLine,
            reason:
              `longer than ${maxLineBytes} bytes without a newline (the entry limit is ${options.maxEntryBytes} bytes)`
          })
        }
      })

    if (deferred) {
      yield* Effect.forkScoped(Effect.repeat(flush, Schedule.spaced(options.syncIntervalMs)))
    }
    yield* Stream.runForEachArray(stdin, onChunks).pipe(
      withProgress("binlog append", () => `${appended} entries, last index ${lastIndex}`, { streamsToStdout: true })
    )
    // a last line without a newline is still a line
    if (carry.length > 0) yield* appendLines([carry])
    yield* flush
  })
