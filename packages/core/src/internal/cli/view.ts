// A read-only look at a WAL directory for the `binlog` command line: where to start reading (the newest `.snap`
// that has its WAL snapshot record, as BinLogger's start picks it, or the initial {0, 0} record), etcd's read-mode
// `ReadAll` from there (`Reader.readAll`, entries counted, not kept) and the committed index that follows from the
// commit markers. Nothing here takes the writer lock, repairs, renames or writes anything. Internal.
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Reader from "../../Reader.ts"
import * as Segment from "../../Segment.ts"
import * as Snap from "../../Snap.ts"
import { WalNotFound } from "../../WalError.ts"
import type { SnapCorrupt, WalIoError, WalReadError } from "../../WalError.ts"
import * as Fsx from "../fsx.ts"

/** A `.snap` file that was not used as the start, and why. */
export interface SkippedSnap {
  readonly name: string
  readonly reason: string
  /** The file itself is unreadable or corrupt (as opposed to merely having no WAL snapshot record). */
  readonly corrupt: boolean
}

/** What a read-only scan of a WAL directory found. */
export interface LogView {
  readonly walDir: string
  readonly start: Reader.Start
  /** The `.snap` file the read starts at (undefined: the initial {0, 0} record). */
  readonly startSnap: string | undefined
  readonly skippedSnaps: ReadonlyArray<SkippedSnap>
  readonly scan: Reader.ReadAllResult
  /** Highest index covered by a commit marker (every complete entry when the log has no markers). */
  readonly committed: bigint
  /** Whether the log has binlog commit markers (raft HardState records). */
  readonly hasMarkers: boolean
}

/**
 * The committed index of a read-mode scan. binlog writes a commit marker (a HardState record whose `commit` is the
 * group's last index) before each group: when the log stops short of the last marker's `commit`, that group never
 * finished (the next writer start cuts it off, marker included) and only the entries before the marker count;
 * otherwise every complete entry does (also entries appended after a complete group by a writer without markers,
 * such as go-binlogger, which recovery keeps).
 */
export const committedOf = (scan: Reader.ReadAllResult): bigint => {
  const m = scan.lastMarker
  if (m === undefined || scan.lastIndex >= m.commit) return scan.lastIndex
  return m.lastIndexBefore
}

/**
 * Who holds the writer lock right now: the lock file's content ("" when there is none). A writer that starts
 * (after a crash, with a recovery that may cut an unfinished group and write over it) always changes it first.
 */
export const lockIdentity = (walDir: string): Effect.Effect<string> =>
  Fsx.readFile(`${walDir}/${Segment.LOCK_FILE_NAME}`).pipe(
    Effect.map((bytes) => new TextDecoder().decode(bytes)),
    Effect.orElseSucceed(() => "")
  )

const isStartMissing = (e: WalReadError): boolean => e._tag === "SnapshotNotFound" || e._tag === "WalNotFound"

/**
 * Scans `walDir` read-only from the newest usable snapshot of `snapDir` (if given) or from the initial record.
 * A `.snap` file that is corrupt or has no WAL snapshot record is skipped (and reported), as BinLogger's start does,
 * but never renamed or deleted.
 */
export const open = Effect.fnUntraced(function*(
  walDir: string,
  snapDir: Option.Option<string>
): Effect.fn.Return<LogView, WalReadError | SnapCorrupt> {
  const skippedSnaps: Array<SkippedSnap> = []
  if (Option.isSome(snapDir)) {
    for (const s of yield* Snap.list(snapDir.value)) {
      const loaded = yield* Effect.result(Snap.read(`${snapDir.value}/${s.name}`))
      if (loaded._tag === "Failure") {
        if (loaded.failure._tag === "WalIoError") return yield* loaded.failure
        skippedSnaps.push({ name: s.name, reason: loaded.failure.reason, corrupt: true })
        continue
      }
      if (loaded.success.index !== s.index || loaded.success.term !== s.term) {
        skippedSnaps.push({
          name: s.name,
          reason: `its name disagrees with its metadata (term ${loaded.success.term}, index ${loaded.success.index})`,
          corrupt: true
        })
        continue
      }
      const start = { index: s.index, term: s.term }
      const scan = yield* Effect.result(Reader.readAll(walDir, start, { mode: "read", collect: false }))
      if (scan._tag === "Failure") {
        if (!isStartMissing(scan.failure)) return yield* scan.failure
        skippedSnaps.push({ name: s.name, reason: "no matching WAL snapshot record", corrupt: false })
        continue
      }
      return view(walDir, start, s.name, skippedSnaps, scan.success)
    }
  }
  const start = { index: 0n, term: 0n }
  const scan = yield* Reader.readAll(walDir, start, { mode: "read", collect: false }).pipe(
    Effect.mapError((e) =>
      isStartMissing(e) && Option.isNone(snapDir)
        ? withHint(e, "the log's first segments were purged: pass --snap with its snapshot directory")
        : e
    )
  )
  return view(walDir, start, undefined, skippedSnaps, scan)
})

const withHint = (e: WalReadError, hint: string): WalReadError =>
  e._tag === "WalNotFound" ? new WalNotFound({ dir: e.dir, reason: `${e.reason} (${hint})` }) : e

const view = (
  walDir: string,
  start: Reader.Start,
  startSnap: string | undefined,
  skippedSnaps: ReadonlyArray<SkippedSnap>,
  scan: Reader.ReadAllResult
): LogView => ({
  walDir,
  start,
  startSnap,
  skippedSnaps,
  scan,
  committed: committedOf(scan),
  hasMarkers: scan.lastMarker !== undefined
})

/** Sizes of the files of a directory listing (0 for a file that vanished). */
export const sizes = (dir: string, names: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<number>> =>
  Effect.forEach(names, (n) => Fsx.statSize(`${dir}/${n}`))

/** Fails with the I/O error when `dir` cannot be listed (missing, not a directory, no permission). */
export const checkDir = (dir: string): Effect.Effect<void, WalIoError> => Effect.asVoid(Fsx.readdir(dir))
