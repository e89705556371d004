// `binlog verify` and `binlog stat`: read-only reports on a WAL directory (and its snapshot directory), built on
// `Reader.scanSegments` (frames, CRC chain, crc records, record types over every segment), `Reader.readAll` in read
// mode (entries, metadata, snapshot records, commit markers from the start snapshot), `Snap.read` and
// `Retention.plan`. Internal.
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { DatabaseSync } from "node:sqlite"
import * as Reader from "../../Reader.ts"
import * as Retention from "../../Retention.ts"
import * as Segment from "../../Segment.ts"
import * as Snap from "../../Snap.ts"
import { WalNotFound } from "../../WalError.ts"
import type { SnapCorrupt, WalReadError } from "../../WalError.ts"
import { VerifyFailed } from "./errors.ts"
import { formatBytes, json, out, table, withProgress } from "./output.ts"
import * as View from "./view.ts"

/** Output format of the reports. */
export type Format = "text" | "json"

interface Row {
  readonly label: string
  readonly text: string
}

const snapInfo = (snapDir: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isNone(snapDir)) return []
    const names = yield* Snap.list(snapDir.value)
    const sizes = yield* View.sizes(snapDir.value, names.map((n) => n.name))
    return names.map((n, i) => ({ ...n, bytes: sizes[i] ?? 0 }))
  })

const ignoredText = (ignored: ReadonlyArray<Segment.Ignored>): string =>
  ignored.filter((i) => i.kind !== "lock").map((i) => `${i.name} (${i.kind})`).join(", ")

const entriesText = (view: View.LogView): string => {
  const scan = view.scan
  const first = view.start.index + 1n
  return scan.entryCount === 0
    ? `none after index ${view.start.index}`
    : `${first}..${scan.lastIndex} (${scan.entryCount} after index ${view.start.index})`
}

const startText = (view: View.LogView): string =>
  view.startSnap === undefined
    ? "the initial record {index 0, term 0}"
    : `snapshot ${view.start.index} (${view.startSnap})`

const uncommittedOf = (view: View.LogView): bigint =>
  view.scan.lastIndex > view.committed ? view.scan.lastIndex - view.committed : 0n

/**
 * `binlog verify`: reads everything and prints what it checked; fails with the first typed error (file, offset,
 * reason) or with {@link VerifyFailed} for corrupt `.snap` files.
 */
export const verify = (walDir: string, snapDir: Option.Option<string>, format: Format) =>
  Effect.gen(function*() {
    const rows: Array<Row> = []
    const warnings: Array<string> = []
    const problems: Array<string> = []
    const facts: Record<string, unknown> = { walDir, snapDir: Option.getOrUndefined(snapDir) }
    let phase = "listing"

    const checks: Effect.Effect<void, WalReadError | SnapCorrupt | VerifyFailed> = Effect.gen(function*() {
      const listing = yield* Segment.list(walDir)
      const first = listing.segments[0]
      if (first === undefined) return yield* new WalNotFound({ dir: walDir, reason: "no WAL segment files" })
      const segments = yield* Segment.selectFrom(walDir, listing.segments, first.index)
      const sizes = yield* View.sizes(walDir, segments.map((s) => s.name))
      const bytes = sizes.reduce((a, b) => a + b, 0)
      facts.segments = segments.map((s, i) => ({ name: s.name, seq: s.seq, firstIndex: s.index, bytes: sizes[i] }))
      rows.push({
        label: "segments",
        text: `${segments.length} (${first.name} .. ${segments[segments.length - 1]!.name}), ${formatBytes(bytes)}, ` +
          `sequence numbers consecutive`
      })
      const ignored = ignoredText(listing.ignored)
      if (ignored !== "") rows.push({ label: "ignored", text: ignored })
      facts.ignored = listing.ignored

      phase = `frames and CRC chain of ${segments.length} segments (${formatBytes(bytes)})`
      const scan = yield* Reader.scanSegments(walDir, segments)
      facts.records = scan.records
      rows.push({ label: "frames", text: `${scan.records} records: lengths, CRC chain, crc records and types OK` })

      phase = "entries, metadata and snapshot records"
      const viewed = yield* Effect.result(View.open(walDir, snapDir))
      if (viewed._tag === "Failure") {
        const e = viewed.failure
        if (e._tag === "WalNotFound" && Option.isNone(snapDir) && first.index > 0n) {
          warnings.push(`entries not checked: the first segments were purged; pass --snap to start at the snapshot`)
        } else {
          return yield* e
        }
      } else {
        const view = viewed.success
        for (const s of view.skippedSnaps) {
          if (s.corrupt) problems.push(`${s.name}: ${s.reason}`)
          else {
            warnings.push(
              `${s.name} has no WAL snapshot record (a crash between the .snap and its record; the log opens at an older start)`
            )
          }
        }
        rows.push({ label: "start", text: startText(view) })
        rows.push({ label: "entries", text: `${entriesText(view)}; indexes dense, metadata consistent` })
        const uncommitted = uncommittedOf(view)
        rows.push({
          label: "committed",
          text: !view.hasMarkers
            ? `${view.committed} (no commit markers: every complete entry)`
            : uncommitted > 0n
            ? `${view.committed} (the last commit marker announces ${view.scan.hardState.commit}: that group never finished)`
            : `${view.committed} (commit markers)`
        })
        if (uncommitted > 0n) {
          warnings.push(
            `${uncommitted} entries of an unfinished group commit after index ${view.committed}: the next writer ` +
              `start drops them`
          )
        }
        rows.push({
          label: "wal snapshots",
          text: view.scan.snapshots.map((s) => `${s.index}${s.term === 0n ? "" : `/term ${s.term}`}`).join(", ") ||
            "none"
        })
        facts.start = { index: view.start.index, term: view.start.term, snap: view.startSnap }
        facts.lastIndex = view.scan.lastIndex
        facts.entryCount = view.scan.entryCount
        facts.committed = view.committed
        facts.uncommitted = uncommitted
        facts.hardState = view.scan.hardState
        facts.snapshotRecords = view.scan.snapshots.map((s) => ({ index: s.index, term: s.term }))
      }

      phase = ".snap files"
      if (Option.isSome(snapDir)) {
        const snaps = yield* snapInfo(snapDir)
        let good = 0
        for (const s of snaps) {
          const r = yield* Effect.result(Snap.read(`${snapDir.value}/${s.name}`))
          if (r._tag === "Failure") {
            if (r.failure._tag === "WalIoError") return yield* r.failure
            if (!problems.some((p) => p.startsWith(s.name))) problems.push(`${s.name}: ${r.failure.reason}`)
          } else good++
        }
        rows.push({ label: "snap files", text: `${snaps.length} (${good} readable)` })
        facts.snapFiles = snaps.map((s) => s.name)
      }
      if (problems.length > 0) return yield* new VerifyFailed({ problems })
    })

    const result = yield* Effect.result(checks.pipe(withProgress("binlog verify", () => phase)))
    const failure = result._tag === "Failure" ? result.failure : undefined
    if (format === "json") {
      yield* out(
        json({
          ok: failure === undefined,
          ...facts,
          warnings,
          ...(failure ? { error: { ...errorFields(failure), message: failure.message } } : {})
        }) + "\n"
      )
    } else {
      const lines = rows.map((r) => ({ label: r.label, text: r.text }))
      for (const w of warnings) lines.push({ label: "warning", text: w })
      lines.push({ label: "result", text: failure === undefined ? "OK" : `FAILED (${failure._tag})` })
      yield* out(lines.map((l) => `${l.label.padEnd(14)}${l.text}\n`).join(""))
    }
    if (failure !== undefined) return yield* failure
  })

const errorFields = (e: { readonly _tag: string }): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(e)) if (k !== "cause") out[k] = v
  out.tag = e._tag
  return out
}

const keptByText = (k: Retention.KeptBy): string => {
  switch (k._tag) {
    case "Releasable":
      return "nothing: the next purge may delete it"
    case "Snapshot":
      return `snapshot ${k.index}`
    case "Hold":
      return `hold ${k.name} at ${k.index}`
  }
}

/**
 * `binlog stat`: segments, indexes, snapshots, sizes and what would keep each segment from a purge.
 */
export const stat = (
  walDir: string,
  snapDir: Option.Option<string>,
  format: Format,
  sinkDb: Option.Option<string> = Option.none()
) =>
  Effect.gen(function*() {
    const listing = yield* Segment.list(walDir)
    if (listing.segments.length === 0) return yield* new WalNotFound({ dir: walDir, reason: "no WAL segment files" })
    const sizes = yield* View.sizes(walDir, listing.segments.map((s) => s.name))
    const view = yield* View.open(walDir, snapDir).pipe(withProgress("binlog stat", () => "reading the log"))
    const snaps = yield* snapInfo(snapDir)
    const lock = (yield* View.lockIdentity(walDir)).trim()
    // with --sqlite: the holds the projections of that sink place while they run (at checkpoint + 1)
    const holds = Option.isSome(sinkDb) ? yield* sinkHolds(sinkDb.value) : []
    const plan = Retention.plan(listing.segments, view.start.index, holds)
    const segBytes = sizes.reduce((a, b) => a + b, 0)
    const snapBytes = snaps.reduce((a, s) => a + s.bytes, 0)
    const firstSeg = listing.segments[0]!
    const firstIndex = firstSeg.index < 1n ? 1n : firstSeg.index
    const recorded = new Set(view.scan.snapshots.map((s) => s.index))
    const segments = plan.keptBy.map(({ keptBy, segment }, i) => ({
      name: segment.name,
      seq: segment.seq,
      firstIndex: segment.index,
      bytes: sizes[i] ?? 0,
      keptBy
    }))
    const snapshots = snaps.map((s) => ({
      name: s.name,
      index: s.index,
      term: s.term,
      bytes: s.bytes,
      walRecord: recorded.has(s.index) ? "present" : s.index < view.start.index ? "before the start" : "missing"
    }))
    const note = (Option.isSome(sinkDb)
      ? `projection holds derived from the checkpoints in ${sinkDb.value} (${holds.length}); other `
      : "") +
      "live retention holds (readers, archiver, snapshot leases) exist only inside a running " +
      "process: see BinLogger.status there"
    if (format === "json") {
      return yield* out(
        json({
          walDir,
          snapDir: Option.getOrUndefined(snapDir),
          lock: lock === "" ? undefined : lock,
          firstIndex,
          lastIndex: view.scan.lastIndex,
          committed: view.committed,
          uncommitted: uncommittedOf(view),
          start: { index: view.start.index, term: view.start.term, snap: view.startSnap },
          tornTail: view.scan.end._tag === "TornTail" ?
            {
              file: view.scan.end.error.file,
              offset: view.scan.end.error.offset,
              droppedBytes: view.scan.end.error.droppedBytes
            } :
            undefined,
          segments,
          snapshots,
          snapshotRecords: view.scan.snapshots.map((s) => ({ index: s.index, term: s.term })),
          ignored: listing.ignored.filter((i) => i.kind !== "lock"),
          bytes: { segments: segBytes, snapshots: snapBytes, total: segBytes + snapBytes },
          retention: {
            snapshotIndex: view.start.index,
            holds: holds.map((h) => ({ name: h.name, index: h.index })),
            releasable: plan.remove.map((s) => s.name),
            note
          }
        }) + "\n"
      )
    }
    const rows: Array<Row> = [
      { label: "wal", text: walDir },
      ...(Option.isSome(snapDir) ? [{ label: "snap", text: snapDir.value }] : []),
      { label: "writer lock", text: lock === "" ? "none" : `held or left by pid ${lock.split(" ")[0]}` },
      { label: "indexes", text: `first ${firstIndex}, last ${view.scan.lastIndex}, committed ${view.committed}` },
      { label: "start", text: startText(view) }
    ]
    const uncommitted = uncommittedOf(view)
    if (uncommitted > 0n) {
      rows.push({
        label: "uncommitted",
        text: `${uncommitted} entries after the last commit marker (dropped at the next start)`
      })
    }
    if (view.scan.end._tag === "TornTail") {
      const e = view.scan.end.error
      rows.push({ label: "torn tail", text: `${e.file} @${e.offset}: ${e.droppedBytes} bytes (${e.reason})` })
    }
    rows.push({
      label: "size",
      text: `${formatBytes(segBytes + snapBytes)} (segments ${formatBytes(segBytes)}, snapshots ${
        formatBytes(snapBytes)
      })`
    })
    rows.push({ label: "segments", text: `${segments.length}` })
    let text = rows.map((r) => `${r.label.padEnd(14)}${r.text}\n`).join("")
    text += table(
      ["  NAME", "FIRST INDEX", "BYTES", "KEPT BY"],
      segments.map((s) => [`  ${s.name}`, s.firstIndex.toString(), String(s.bytes), keptByText(s.keptBy)])
    )
    text += `${"snapshots".padEnd(14)}${snapshots.length} .snap file${
      snapshots.length === 1 ? "" : "s"
    }; WAL records: ${view.scan.snapshots.map((s) => s.index.toString()).join(", ") || "none"}\n`
    if (snapshots.length > 0) {
      text += table(
        ["  NAME", "INDEX", "BYTES", "WAL RECORD"],
        snapshots.map((s) => [`  ${s.name}`, s.index.toString(), String(s.bytes), s.walRecord])
      )
    }
    const ignored = ignoredText(listing.ignored)
    if (ignored !== "") text += `${"ignored".padEnd(14)}${ignored}\n`
    text += `${"retention".padEnd(14)}by the snapshot at ${view.start.index}: ${
      segments.length - plan.remove.length
    } kept, ${plan.remove.length} releasable; ${note}\n`
    yield* out(text)
  })

// ---------------------------------------------------------------------------------------------------------------
// `binlog projections list | status | parked --sqlite FILE`: the state tables of a @binlog/projections SQLite sink,
// read by their documented names (core does not depend on @binlog/projections and never writes them).

/** The documented table names of a projections sink. */
export const SINK_TABLES = {
  checkpoints: "binlog_projection_checkpoints",
  parked: "binlog_projection_parked",
  halted: "binlog_projection_halted",
  active: "binlog_projection_active"
} as const

interface SinkCheckpoint {
  readonly projection: string
  readonly version: number
  readonly position: bigint
  readonly updatedAtMs: number
}

interface SinkState {
  readonly checkpoints: ReadonlyArray<SinkCheckpoint>
  readonly parked: ReadonlyArray<{
    readonly projection: string
    readonly version: number
    readonly index: bigint
    readonly eventType: string | null
    readonly streamId: string | null
    readonly reason: string
    readonly attempts: number
    readonly error: string
  }>
  readonly halted: ReadonlyArray<
    { readonly projection: string; readonly version: number; readonly index: bigint; readonly error: string }
  >
  readonly active: ReadonlyArray<
    { readonly projection: string; readonly version: number; readonly previous: number | null }
  >
}

/** The projection name of a checkpoint row (lanes are stored as `<name>#lane<i>/<n>`). */
const baseName = (projection: string) => projection.replace(/#lane\d+\/\d+$/, "")

/** Reads the sink's state tables (absent tables read as empty). */
export const readSink = (file: string) =>
  Effect.try({
    try: (): SinkState => {
      const db = new DatabaseSync(file, { readOnly: true })
      try {
        const tables = new Set(
          (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((
            t
          ) => t.name)
        )
        const all = (table: string, sql: string): Array<Record<string, unknown>> =>
          tables.has(table) ? (db.prepare(sql).all() as Array<Record<string, unknown>>) : []
        const T = SINK_TABLES
        return {
          checkpoints: all(
            T.checkpoints,
            `SELECT projection, version, CAST(position AS TEXT) AS position, updated_at_ms FROM ${T.checkpoints}
              ORDER BY projection, version`
          ).map((r) => ({
            projection: String(r["projection"]),
            version: Number(r["version"]),
            position: BigInt(String(r["position"])),
            updatedAtMs: Number(r["updated_at_ms"])
          })),
          parked: all(
            T.parked,
            `SELECT projection, version, CAST(position AS TEXT) AS position, event_type, stream_id, reason, attempts,
              error FROM ${T.parked} ORDER BY projection, version, position`
          ).map((r) => ({
            projection: String(r["projection"]),
            version: Number(r["version"]),
            index: BigInt(String(r["position"])),
            eventType: r["event_type"] === null ? null : String(r["event_type"]),
            streamId: r["stream_id"] === null ? null : String(r["stream_id"]),
            reason: String(r["reason"]),
            attempts: Number(r["attempts"]),
            error: String(r["error"])
          })),
          halted: all(
            T.halted,
            `SELECT projection, version, CAST(position AS TEXT) AS position, error FROM ${T.halted}`
          )
            .map((r) => ({
              projection: String(r["projection"]),
              version: Number(r["version"]),
              index: BigInt(String(r["position"])),
              error: String(r["error"])
            })),
          active: all(T.active, `SELECT projection, version, previous_version FROM ${T.active}`).map((r) => ({
            projection: String(r["projection"]),
            version: Number(r["version"]),
            previous: r["previous_version"] === null ? null : Number(r["previous_version"])
          }))
        }
      } finally {
        db.close()
      }
    },
    catch: (cause) =>
      new WalNotFound({ dir: file, reason: `not a readable projections database: ${(cause as Error).message}` })
  })

const stateOf = (s: SinkState, c: SinkCheckpoint): string => {
  const halted = s.halted.find((h) => h.projection === c.projection && h.version === c.version)
  if (halted !== undefined) return `halted at ${halted.index}`
  const active = s.active.find((a) => a.projection === baseName(c.projection))
  if (active === undefined) return "running"
  return active.version === c.version ? "active" : active.previous === c.version ? "previous" : "building"
}

const listOf = (s: SinkState, name: Option.Option<string>) =>
  s.checkpoints.filter((c) => Option.isNone(name) || baseName(c.projection) === name.value).map((c) => ({
    projection: c.projection,
    version: c.version,
    position: c.position,
    state: stateOf(s, c),
    parked: s.parked.filter((p) => p.projection === c.projection && p.version === c.version).length,
    updatedAtMs: c.updatedAtMs
  }))

/**
 * The retention holds the projections of a sink place while they run (`projection:<name>:v<version>` at
 * checkpoint + 1; versions being rebuilt as `rebuild <name> v<version>`), for `binlog stat --sqlite`.
 */
export const sinkHolds = (file: string) =>
  Effect.map(readSink(file), (s): Array<Retention.Hold> =>
    s.checkpoints.map((c, id) => {
      const state = stateOf(s, c)
      const name = state === "building"
        ? `rebuild ${baseName(c.projection)} v${c.version}`
        : `projection:${c.projection}:v${c.version}`
      return { id, name, index: c.position + 1n }
    }))

/** `binlog projections list` (`name` given: `status`). */
export const projectionsList = (file: string, name: Option.Option<string>, format: Format) =>
  Effect.gen(function*() {
    const rows = listOf(yield* readSink(file), name)
    if (format === "json") return yield* out(json(rows) + "\n")
    yield* out(table(
      ["PROJECTION", "VERSION", "POSITION", "STATE", "PARKED"],
      rows.map((r) => [r.projection, String(r.version), r.position.toString(), r.state, String(r.parked)])
    ))
  })

/** `binlog projections parked`. */
export const projectionsParked = (file: string, name: Option.Option<string>, format: Format) =>
  Effect.gen(function*() {
    const rows = (yield* readSink(file)).parked.filter((p) =>
      Option.isNone(name) || baseName(p.projection) === name.value
    )
    if (format === "json") return yield* out(json(rows) + "\n")
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
