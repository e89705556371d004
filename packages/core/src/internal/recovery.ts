// Start-up of the BinLogger: create the WAL, or find where to open it and repair what a crash left behind.
// Internal: BinLogger.make is the public entry point.
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as FileLock from "../FileLock.ts"
import { RecoveryFailed } from "../LogError.ts"
import * as Metrics from "../Metrics.ts"
import * as Repair from "../Repair.ts"
import * as Segment from "../Segment.ts"
import * as Snap from "../Snap.ts"
import * as Wal from "../Wal.ts"
import type { WalIoError, WalLocked, WalReadError } from "../WalError.ts"
import * as Fsx from "./fsx.ts"

export interface RecoverOptions {
  readonly walDir: string
  readonly snapDir: string
  readonly segmentSizeBytes: number
  /** Open the segments with O_DSYNC (see `Wal.WriterOptions.dsync`). */
  readonly dsync: boolean
  /** With dsync, O_DIRECT where possible (see `Wal.WriterOptions.direct`). */
  readonly direct: boolean
}

export interface Recovered {
  readonly writer: Wal.WalWriter
  /** Index of the snapshot the log was opened at (0 for a new log or when opened at the initial record). */
  readonly snapshotIndex: bigint
  readonly snapshotName: string | undefined
}

interface Candidate {
  readonly index: bigint
  readonly term: bigint
  readonly name: string | undefined
}

/**
 * Opens the log for appending: takes the lock, creates the WAL if there is none, else tries the `.snap` files
 * newest first (each must have its WAL snapshot record), then the initial `{0, 0}` record. A torn tail is repaired
 * once; an unfinished group commit is cut off. Everything dropped is logged and counted.
 */
export const recover = (
  options: RecoverOptions
): Effect.Effect<Recovered, RecoveryFailed | WalLocked | WalIoError, Scope.Scope> =>
  Effect.gen(function*() {
    const { direct, dsync, segmentSizeBytes, snapDir, walDir } = options
    yield* Fsx.mkdirp(walDir, 0o700)
    yield* Fsx.mkdirp(snapDir, 0o700)
    yield* FileLock.acquire(walDir)
    if (!(yield* Segment.exists(walDir))) {
      const writer = yield* Wal.create(walDir, { segmentSizeBytes, lock: false, dsync, direct }).pipe(
        Effect.catchTag("WalExists", (e) => Effect.die(e))
      )
      yield* Effect.logDebug(`binlog: created a new WAL in ${walDir}`)
      return { writer, snapshotIndex: 0n, snapshotName: undefined }
    }

    // `<name>.snap.tmp`: a Snap.save that a crash interrupted before its rename; never a snapshot. Left in place, it
    // would sort after the .snap files, where go-binlogger's Start looks for the newest one.
    for (const name of yield* Fsx.readdir(snapDir)) {
      if (!name.endsWith(".snap.tmp")) continue
      yield* Effect.logWarning(`binlog: removing ${name}, an unfinished snapshot file`)
      yield* Fsx.unlink(`${snapDir}/${name}`)
    }

    const candidates: Array<Candidate> = []
    for (const s of yield* Snap.list(snapDir)) {
      const read = yield* Effect.result(Snap.read(`${snapDir}/${s.name}`))
      if (read._tag === "Failure") {
        if (read.failure._tag === "WalIoError") return yield* read.failure
        yield* Effect.logWarning(`binlog: ${s.name} is unusable (${read.failure.reason}); renamed to .broken`)
        yield* Fsx.rename(`${snapDir}/${s.name}`, `${snapDir}/${s.name}.broken`)
        continue
      }
      if (read.success.index !== s.index || read.success.term !== s.term) {
        yield* Effect.logWarning(`binlog: ${s.name} disagrees with its metadata; skipped`)
        continue
      }
      candidates.push({ index: s.index, term: s.term, name: s.name })
    }
    candidates.push({ index: 0n, term: 0n, name: undefined })

    let repaired = false
    const failures: Array<string> = []
    /** .snap files newer than the start point found whose WAL snapshot record was never written. */
    const orphans: Array<string> = []
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]!
      const attempt = yield* Effect.result(
        Wal.openForWrite(walDir, { index: c.index, term: c.term }, {
          segmentSizeBytes,
          lock: false,
          dropUncommitted: true,
          dsync,
          direct
        })
      )
      if (attempt._tag === "Success") {
        const { dropped, writer } = attempt.success
        if (dropped.entries > 0n) {
          yield* Effect.logWarning(
            `binlog: dropped ${dropped.entries} entries (${dropped.bytes} bytes) of a group commit that never finished`
          )
          yield* Metric.update(Metrics.repairBytesDropped, dropped.bytes)
        }
        if (failures.length > 0) yield* Effect.logWarning(`binlog: fell back past: ${failures.join("; ")}`)
        yield* setAsideOrphans(snapDir, orphans)
        return { writer, snapshotIndex: c.index, snapshotName: c.name }
      }
      const err: WalReadError = attempt.failure as WalReadError
      if (err._tag === "UnexpectedEof" && err.lastSegment && !repaired) {
        const result = yield* Repair.repairUnlocked(walDir).pipe(
          Effect.mapError((cause) => new RecoveryFailed({ walDir, reason: `repair failed: ${cause.message}`, cause }))
        )
        repaired = true
        if (result._tag === "Repaired") {
          yield* Effect.logWarning(
            `binlog: repaired a torn tail in ${result.segment} at offset ${result.torn.offset}: ` +
              `${result.torn.droppedBytes} bytes dropped (${result.torn.reason}); copy kept as ${result.brokenCopy}`
          )
          yield* Metric.update(Metrics.repairBytesDropped, result.torn.droppedBytes)
        }
        i--
        continue
      }
      if (err._tag === "SnapshotNotFound" || err._tag === "WalNotFound") {
        failures.push(`${c.name ?? "initial record {0,0}"}: ${err.message}`)
        if (c.name !== undefined) {
          yield* Effect.logWarning(`binlog: ${c.name} has no WAL snapshot record; falling back to an older start point`)
          if (err._tag === "SnapshotNotFound") orphans.push(c.name)
        }
        continue
      }
      if (err._tag === "WalIoError") return yield* err
      return yield* new RecoveryFailed({ walDir, reason: err.message, cause: err })
    }
    return yield* new RecoveryFailed({
      walDir,
      reason: `no start point found (${failures.join("; ")})`,
      cause: undefined
    })
  })

/**
 * Renames `.snap` files without a WAL snapshot record (a crash between the .snap file and its WAL record, etcd's
 * order) to `.<name>.orphan`: they stay on disk for inspection, but no longer end in `.snap` and sort before the
 * snapshots, so etcd's `Load` and go-binlogger's `Start` (which take the newest `.snap`) open the same start point
 * as binlog instead of failing with `snapshot not found`.
 */
const setAsideOrphans = (snapDir: string, names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    for (const name of names) {
      yield* Effect.logWarning(`binlog: ${name} has no WAL snapshot record; renamed to .${name}.orphan`)
      yield* Fsx.rename(`${snapDir}/${name}`, `${snapDir}/.${name}.orphan`)
    }
    if (names.length > 0) yield* Fsx.fsyncDir(snapDir)
  })
