// `binlog dump`: every frame of every segment, in order, with the CRC chain carried across segments. A frame whose
// CRC fails or whose record does not decode is listed with `crcOk: false` / an `error` and the dump goes on after it
// (re-synchronising the chain on its stored CRC); an unexpected end stops that segment. Internal.
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Proto from "../../Proto.ts"
import * as RecordCodec from "../../RecordCodec.ts"
import * as Segment from "../../Segment.ts"
import { WalNotFound } from "../../WalError.ts"
import type { WalIoError } from "../../WalError.ts"
import { BadFrames } from "./errors.ts"
import { openCursor } from "./frames.ts"
import type { Frame } from "./frames.ts"
import { base64, hex32, json, out, withProgress } from "./output.ts"

/** Lines buffered before one write to stdout. */
export const DUMP_LINES_PER_WRITE = 1000

/** Options of {@link dump}. */
export interface DumpOptions {
  readonly format: "json" | "table"
  /** Include each record's data (base64). */
  readonly data: boolean
}

const TYPE_NAMES: Record<string, string> = { "1": "metadata", "2": "entry", "3": "state", "4": "crc", "5": "snapshot" }

/** The decoded payload of a record, or why it does not decode. */
const decodePayload = (frame: Frame): { readonly detail: Record<string, unknown>; readonly problem?: string } => {
  const data = frame.data ?? new Uint8Array(0)
  try {
    switch (TYPE_NAMES[frame.type.toString()]) {
      case "entry": {
        const e = RecordCodec.decodeEntry(data)
        return { detail: { entry: { index: e.index, term: e.term, type: e.type, dataBytes: e.data?.length ?? 0 } } }
      }
      case "snapshot": {
        const s = Proto.decodeWalSnapshot(data)
        return { detail: { snapshot: { index: s.index, term: s.term } } }
      }
      case "state": {
        const h = Proto.decodeHardState(data)
        return { detail: { hardState: { term: h.term, vote: h.vote, commit: h.commit } } }
      }
      case undefined:
        return { detail: {}, problem: `unknown record type ${frame.type}` }
      default:
        return { detail: {} }
    }
  } catch (e) {
    return { detail: {}, problem: `undecodable ${TYPE_NAMES[frame.type.toString()]}: ${String(e)}` }
  }
}

const detailText = (detail: Record<string, unknown>): string => {
  const d = detail as {
    entry?: { index: bigint; term: bigint; type: number; dataBytes: number }
    snapshot?: { index: bigint; term: bigint }
    hardState?: { term: bigint; vote: bigint; commit: bigint }
  }
  if (d.entry) return `index=${d.entry.index} term=${d.entry.term} type=${d.entry.type} bytes=${d.entry.dataBytes}`
  if (d.snapshot) return `snapshot index=${d.snapshot.index} term=${d.snapshot.term}`
  if (d.hardState) return `commit=${d.hardState.commit} term=${d.hardState.term} vote=${d.hardState.vote}`
  return ""
}

const TABLE_HEADER =
  `${"FILE".padEnd(37)}  ${"OFFSET".padStart(10)}  ${"LENGTH WORD".padEnd(16)}  ${"TYPE".padEnd(8)}  ` +
  `CRC       OK   ${"DATA".padStart(8)}  DETAIL\n`

/**
 * Lists every frame of the WAL in `walDir` on stdout. Fails with {@link BadFrames} after listing everything if any
 * frame was bad.
 */
export const dump = (
  walDir: string,
  options: DumpOptions
): Effect.Effect<void, WalIoError | WalNotFound | BadFrames, Scope.Scope> =>
  Effect.gen(function*() {
    const { segments } = yield* Segment.list(walDir)
    if (segments.length === 0) return yield* new WalNotFound({ dir: walDir, reason: "no WAL segment files" })
    let lines: Array<string> = []
    let frames = 0
    let bad = 0
    let current = ""
    const flush = Effect.suspend(() => {
      const text = lines.join("")
      lines = []
      return out(text)
    })
    const emit = (line: string) =>
      Effect.suspend(() => {
        lines.push(line)
        return lines.length >= DUMP_LINES_PER_WRITE ? flush : Effect.void
      })
    const frameLine = (frame: Frame, error: { readonly tag: string; readonly message: string } | undefined) => {
      const payload = frame.crcOk ? decodePayload(frame) : { detail: {} }
      const problem = error ??
        (payload.problem !== undefined ? { tag: "RecordDecodeError", message: payload.problem } : undefined)
      if (problem !== undefined || !frame.crcOk) bad++
      const typeName = TYPE_NAMES[frame.type.toString()] ?? "unknown"
      if (options.format === "table") {
        const note = problem ? `${problem.tag}: ${problem.message}` : detailText(payload.detail)
        return `${frame.file}  ${String(frame.offset).padStart(10)}  ${
          frame.lengthWord.toString(16).padStart(16, "0")
        }  ` +
          `${typeName.padEnd(8)}  ${hex32(frame.crc)}  ${frame.crcOk ? "ok " : "BAD"}  ` +
          `${String(frame.data?.length ?? 0).padStart(8)}  ${note}\n`
      }
      return json({
        file: frame.file,
        offset: frame.offset,
        lengthWord: frame.lengthWord.toString(16).padStart(16, "0"),
        recordBytes: frame.recordBytes,
        padBytes: frame.padBytes,
        type: Number(frame.type),
        typeName,
        crc: hex32(frame.crc),
        crcOk: frame.crcOk,
        dataBytes: frame.data?.length ?? 0,
        ...payload.detail,
        ...(options.data ? { data: base64(frame.data) } : {}),
        ...(problem ? { error: problem.tag, message: problem.message } : {})
      }) + "\n"
    }
    /** The end of a segment, or (with a message) an error that stops it. */
    const endLine = (file: string, offset: number, what: string, message?: string) =>
      options.format === "table"
        ? `${file}  ${String(offset).padStart(10)}  ${"".padEnd(16)}  ${what}${message ? `: ${message}` : ""}\n`
        : json(message === undefined ? { file, offset, end: what } : { file, offset, error: what, message }) + "\n"

    const run = Effect.gen(function*() {
      if (options.format === "table") yield* emit(TABLE_HEADER)
      let crc = 0
      for (let i = 0; i < segments.length; i++) {
        const seg = segments[i]!
        current = seg.name
        if (i > 0 && seg.seq !== segments[i - 1]!.seq + 1n) {
          bad++
          yield* emit(endLine(seg.name, 0, "SegmentGap", `follows ${segments[i - 1]!.name}: sequence numbers skip`))
        }
        crc = yield* Effect.scoped(Effect.gen(function*() {
          const cursor = yield* openCursor(walDir, seg.name, { offset: 0, crc, last: i === segments.length - 1 })
          while (true) {
            const step = yield* cursor.next()
            if (step._tag === "End") {
              yield* emit(endLine(seg.name, step.offset, step.reason))
              return cursor.crc
            }
            if (step._tag === "Bad") {
              if (step.frame === undefined) {
                bad++
                yield* emit(endLine(seg.name, step.error.offset, step.error._tag, step.error.message))
                return cursor.crc
              }
              yield* emit(frameLine(step.frame, { tag: step.error._tag, message: step.error.message }))
              cursor.skip(step.frame)
              frames++
              continue
            }
            frames++
            yield* emit(
              frameLine(
                step.frame,
                step.frame.crcOk
                  ? undefined
                  : { tag: "CrcRecordMismatch", message: "crc record does not continue the chain" }
              )
            )
          }
        }))
      }
      yield* flush
    })
    yield* run.pipe(withProgress("binlog dump", () => `${frames} frames (${current})`, { streamsToStdout: true }))
    if (bad > 0) return yield* new BadFrames({ count: bad })
  })
