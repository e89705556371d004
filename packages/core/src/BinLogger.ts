/**
 * The crash-safe binary log: go-binlogger's API as an Effect service over etcd's WAL format, with its bugs fixed.
 *
 * - **Start** (building the layer): creates the WAL, or recovers it: the newest `.snap` (hex name) that has its WAL
 *   snapshot record is the start point (a `.snap` without one falls back to the one before, with a warning); a torn
 *   tail is repaired as etcd does (`.broken` copy, truncation), an unfinished group commit (its marker announces
 *   entries that never reached the disk) is cut off, both logged and counted in `binlog_repair_dropped_bytes_total`; corruption before the tail is
 *   a typed error naming file and offset. A second writer on the directory gets `WalLocked`.
 * - **log(batch)**: appends atomically and returns the batch's index range. Concurrent callers are group-committed
 *   by one writer fiber: one write and one fdatasync for everything waiting; each caller resumes when its entries
 *   are durable. Every group starts with a commit marker announcing its last index (a raft `HardState{commit}`
 *   record, which etcd and go-binlogger read and ignore), so a group torn by a crash is dropped whole on the next
 *   start: a batch is all or nothing. Entries another writer (go-binlogger) appends after a complete group are kept.
 * - **Visibility**: an index is never returned, snapshotted, read or reported as current before it is durable
 *   under the sync policy. With `syncInterval` 0 that means fdatasynced. With `syncInterval` > 0, `log` returns once
 *   the bytes are handed to the OS and a background fiber fdatasyncs every interval: a machine crash (not a process
 *   crash) can lose the entries of the last interval — that is the loss window you trade for speed. `sync` forces an
 *   fdatasync.
 * - **Failures**: a failed write or fdatasync stops the writer (`WriterStopped`) instead of carrying on; indexes are
 *   assigned only when a group is written, so a failure leaves no gap.
 * - **Snapshots as leases**: `createSnapshot` hands out `(prevIndex, currentIndex]` as a lease. Only
 *   `release(true)` makes it durable (the `.snap` file, then the WAL snapshot record `{index, 0, conf_state {}}`,
 *   exactly go-binlogger's bytes) and lets segments go; `release(false)`, or a crash before release, hands the same
 *   range (extended) to the next `createSnapshot`. Appends never wait for a lease. One lease at a time: a second
 *   `createSnapshot` while one is outstanding fails at once with `SnapshotLeaseBusy`. When nothing is new it returns
 *   `Option.none()`.
 * - **Purge**: after a successful release, segments wholly below the lowest of the release point and every
 *   retention hold are deleted (etcd's `ReleaseLockTo` rule), and `.snap` files beyond `keepSnapshots`. Reads in
 *   progress hold what they still need; other packages place named holds with `retain`.
 *
 * go-binlogger's `Must*` variants are `Effect.orDie` over these methods.
 *
 * @since 0.1.0
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as Archive from "./Archive.ts"
import * as Crc32c from "./Crc32c.ts"
import * as Fsx from "./internal/fsx.ts"
import * as GroupCommit from "./internal/groupCommit.ts"
import { recover } from "./internal/recovery.ts"
import {
  EmptyBatch,
  EntryTooLarge,
  IndexOverflow,
  IndexUnavailable,
  LoggerClosed,
  RangeTooLarge,
  SnapshotLeaseBusy,
  WriterStopped
} from "./LogError.ts"
import { RecoveryFailed } from "./LogError.ts"
import * as Metrics from "./Metrics.ts"
import * as Proto from "./Proto.ts"
import * as Reader from "./Reader.ts"
import * as Retention from "./Retention.ts"
import * as Segment from "./Segment.ts"
import * as Snap from "./Snap.ts"
import type { WalIoError, WalLocked, WalReadError } from "./WalError.ts"

/**
 * Largest entry accepted by default: 8 MiB. etcd 3.4's reader rejects records of 10 MiB or more, so larger
 * entries would make the log unreadable for older tools.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_ENTRY_BYTES = 8 * 1024 * 1024

/**
 * `.snap` files kept by purge by default (etcd's `max-snapshots`).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_KEEP_SNAPSHOTS = 5

/**
 * Most entries `SnapshotLease.entriesArray` loads at once; larger ranges must be streamed.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ARRAY_RANGE_ENTRIES = 1_000_000

/**
 * The largest index: 2^64 − 1.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_INDEX = (1n << 64n) - 1n

/**
 * Options of the log.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** WAL directory (created with mode 0700 if missing). */
  readonly walDir: string
  /** Snapshot directory for `.snap` files (created if missing; go-binlogger requires it to exist). */
  readonly snapDir: string
  /** 0 (default): durable before `log` returns. > 0: fdatasync in the background at this interval. */
  readonly syncInterval?: Duration.Input | undefined
  /** Segment cut threshold (default 64,000,000 bytes). */
  readonly segmentSizeBytes?: number | undefined
  /** Largest entry accepted (default {@link DEFAULT_MAX_ENTRY_BYTES}). */
  readonly maxEntryBytes?: number | undefined
  /** Delete segments and old `.snap` files after a successful release (default true). */
  readonly purge?: boolean | undefined
  /** `.snap` files to keep (default {@link DEFAULT_KEEP_SNAPSHOTS}). */
  readonly keepSnapshots?: number | undefined
  /**
   * Archive directory: sealed segments (and `.snap` files) are copied there, verified, before purge may delete
   * them, and `read` reads archived segments transparently (see `Archive`). Off by default.
   */
  readonly archiveDir?: string | undefined
  /**
   * With `syncInterval` 0, write segments with `O_DIRECT` where possible (default true; see
   * `Wal.WriterOptions.direct`): about 15% less time per durable write of large groups. Set false when live readers
   * in this process must read the newest entries from the page cache rather than the device.
   */
  readonly directIo?: boolean | undefined
}

/**
 * An entry of the log. `data` is a view over a read buffer (see `Reader`): copy it to keep it long.
 *
 * @since 0.1.0
 * @category models
 */
export interface LogEntry {
  readonly index: bigint
  readonly data: Uint8Array
}

/**
 * The indexes given to one batch: `first` to `last`, inclusive.
 *
 * @since 0.1.0
 * @category models
 */
export interface IndexRange {
  readonly first: bigint
  readonly last: bigint
}

/**
 * Errors of `log`.
 *
 * @since 0.1.0
 * @category errors
 */
export type LogError = EmptyBatch | EntryTooLarge | IndexOverflow | WriterStopped | LoggerClosed

/**
 * Errors of reads.
 *
 * @since 0.1.0
 * @category errors
 */
export type ReadError = WalReadError | IndexUnavailable

/**
 * Errors of `release(true)`.
 *
 * @since 0.1.0
 * @category errors
 */
export type ReleaseError = WalIoError | WriterStopped | LoggerClosed

/**
 * A snapshot lease over `(prevIndex, currentIndex]`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SnapshotLease {
  readonly prevIndex: bigint
  readonly currentIndex: bigint
  /** The entries of the range, read with bounded memory. */
  readonly entries: Stream.Stream<LogEntry, ReadError>
  /** The entries as an array, for small ranges (at most {@link MAX_ARRAY_RANGE_ENTRIES}). */
  readonly entriesArray: Effect.Effect<ReadonlyArray<LogEntry>, ReadError | RangeTooLarge>
  /**
   * `true`: make the snapshot durable and let segments go. `false`: give the range back. Calling it again is a
   * no-op.
   */
  readonly release: (success: boolean) => Effect.Effect<void, ReleaseError>
}

/**
 * A named retention hold: segments holding entries from `index` on are not purged while it lives.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetentionHold {
  readonly name: string
  readonly index: Effect.Effect<bigint>
  /** Moves the hold (normally forward, as its holder's checkpoint advances). */
  readonly set: (index: bigint) => Effect.Effect<void>
}

/**
 * A segment as reported by `status`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SegmentStatus {
  readonly name: string
  readonly seq: bigint
  readonly firstIndex: bigint
  readonly bytes: number
  readonly keptBy: Retention.KeptBy
}

/**
 * What `status` reports.
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  readonly walDir: string
  readonly snapDir: string
  /** Highest durable (visible) index. */
  readonly currentIndex: bigint
  /** Index of the last released snapshot (0 if none). */
  readonly snapshotIndex: bigint
  /** Lowest index still readable (first segment's start, at least 1). */
  readonly firstIndex: bigint
  readonly segments: ReadonlyArray<SegmentStatus>
  readonly snapshots: ReadonlyArray<string>
  readonly holds: ReadonlyArray<Retention.Hold>
  readonly lease: { readonly prevIndex: bigint; readonly currentIndex: bigint } | undefined
  readonly stopped: string | undefined
  /** The archive, when configured: its directory and the newest archived segment's sequence (-1: none). */
  readonly archive: { readonly dir: string; readonly lastSeq: bigint } | undefined
  /** How segments are written (`Wal.WalWriter.writeMode`) and which code computes CRC-32C (`Crc32c.implementation`). */
  readonly io: {
    readonly writeMode: "direct" | "dsync" | "buffered"
    readonly crc32c: string
    /** Segments begun since start in a zero-filled file (asked for while durable writes are small). */
    readonly zeroFilledSegments: number
  }
}

/**
 * The log service.
 *
 * @since 0.1.0
 * @category services
 */
export class BinLogger extends Context.Service<BinLogger, {
  /** Appends a batch atomically; resolves with its index range once durable under the sync policy. */
  readonly log: (batch: ReadonlyArray<Uint8Array>) => Effect.Effect<IndexRange, LogError>
  /**
   * Appends a batch computed **inside the single writer**, at the moment its indexes are assigned: `prepare`
   * receives the first index the batch would get and returns the entries, or a failure that rejects the request
   * without writing anything. Calls are made in index order, one at a time, so `prepare` can check and update
   * in-memory state (an event store's stream versions) without races; it must be fast, synchronous and must not
   * throw. Groups are committed together, so state updated by `prepare` describes entries that are written but
   * maybe not yet durable; if the write fails the logger stops (`WriterStopped`) and nothing later is accepted.
   * If the prepared batch is rejected after `prepare` succeeded (an entry over the size limit, an empty batch, an
   * index past 2^64 − 1), `rejected` is called, in the writer, before anything else is prepared: undo there what
   * `prepare` recorded.
   */
  readonly logPrepared: <E>(
    prepare: (firstIndex: bigint) => Result.Result<ReadonlyArray<Uint8Array>, E>,
    rejected?: () => void
  ) => Effect.Effect<IndexRange, E | LogError>
  /** Forces an fdatasync of everything written (a no-op cost with `syncInterval` 0). */
  readonly sync: Effect.Effect<void, WriterStopped | LoggerClosed>
  /** Leases `(prevIndex, currentIndex]`, or `None` when nothing is new since the last release. */
  readonly createSnapshot: Effect.Effect<Option.Option<SnapshotLease>, SnapshotLeaseBusy>
  /** Leases a snapshot, runs `f` on it and releases according to `f`'s exit (success → durable). */
  readonly withSnapshot: <A, E, R>(
    f: (lease: SnapshotLease) => Effect.Effect<A, E, R>
  ) => Effect.Effect<Option.Option<A>, E | SnapshotLeaseBusy | ReleaseError, R>
  /**
   * Entries from `from` (≥ 1) to `to` (default: the current index) as a bounded-memory stream; with `follow`, it
   * continues with new entries as they become durable and never ends by itself. A read of entries this logger wrote
   * begins at a seek point at most 256 entries before `from` (`Wal.WalWriter.seekPoint`; a lease of the last 100
   * entries of a full 64 MB segment read in ~1–2 ms instead of ~50 ms); older entries are decoded from the start of
   * their segment.
   */
  readonly read: (
    from: bigint,
    options?: { readonly to?: bigint | undefined; readonly follow?: boolean | undefined }
  ) => Stream.Stream<LogEntry, ReadError>
  /** Resolves once `index` is durable (at once if it already is). */
  readonly awaitIndex: (index: bigint) => Effect.Effect<void>
  /** The highest durable index. */
  readonly currentIndex: Effect.Effect<bigint>
  /** The largest entry `log` accepts, in bytes (`Options.maxEntryBytes`). */
  readonly maxEntryBytes: number
  /** The index of the last released snapshot. */
  readonly snapshotIndex: Effect.Effect<bigint>
  /** Places a named retention hold for the current scope. */
  readonly retain: (name: string, index: bigint) => Effect.Effect<RetentionHold, never, Scope.Scope>
  /** Segments, snapshots, holds and what keeps each segment alive. */
  readonly status: Effect.Effect<Status, WalIoError>
  /** Runs a purge now (normally done after each successful release). */
  readonly purge: Effect.Effect<ReadonlyArray<string>, WalIoError>
}>()("@binlog/core/BinLogger") {}

const EMPTY = new Uint8Array(0)

/** Entries as LogEntries, an absent data field (nil) becoming empty bytes. */
const withData = (
  chunk: NonEmptyReadonlyArray<{ readonly index: bigint; readonly data: Uint8Array | undefined }>
): NonEmptyReadonlyArray<LogEntry> =>
  chunk.map((e): LogEntry => ({ index: e.index, data: e.data ?? EMPTY })) as unknown as NonEmptyReadonlyArray<LogEntry>

const emptyConfState = Proto.emptyConfState

/**
 * Starts (creates or recovers) the log for the lifetime of the current scope. Closing the scope drains the queue,
 * syncs, closes the files and releases the directory lock.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("BinLogger.make")(function*(
  options: Options
): Effect.fn.Return<BinLogger["Service"], RecoveryFailed | WalLocked | WalIoError, Scope.Scope> {
  const syncInterval = Duration.fromInput(options.syncInterval ?? 0).pipe(Option.getOrElse(() => Duration.zero))
  const syncEvery = Duration.isZero(syncInterval)
  const maxEntryBytes = options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES
  const keepSnapshots = options.keepSnapshots ?? DEFAULT_KEEP_SNAPSHOTS
  const purgeEnabled = options.purge ?? true
  const { snapDir, walDir } = options

  const recovered = yield* recover({
    walDir,
    snapDir,
    segmentSizeBytes: options.segmentSizeBytes ?? Segment.DEFAULT_SEGMENT_SIZE_BYTES,
    // durable before `log` returns: let each group's write be its own sync (one thread-pool round trip)
    dsync: syncEvery,
    direct: options.directIo !== false
  })
  const writer = recovered.writer

  // --- state (touched only between yields; JavaScript runs one fiber step at a time) ---
  let snapshotIndex = recovered.snapshotIndex
  let snapshotName = recovered.snapshotName
  let lease: { prevIndex: bigint; currentIndex: bigint } | undefined
  const holds = new Retention.HoldRegistry()
  const purgeLock = yield* Semaphore.make(1)
  const archiveDir = options.archiveDir
  let archiveState: Archive.ArchiveState | undefined = archiveDir === undefined
    ? undefined
    : yield* Archive.state(archiveDir).pipe(
      Effect.mapError((cause) =>
        new RecoveryFailed({ walDir, reason: `archive ${archiveDir} is unusable: ${cause.message}`, cause })
      )
    )
  let archiveWake = Deferred.makeUnsafe<void>()
  /** Index of the first segment not archived yet (what the archive hold keeps). */
  const firstUnarchived = () => {
    const segs = writer.segments()
    const next = segs.find((sg) => archiveState !== undefined && sg.seq > archiveState.lastSeq)
    return (next ?? segs[segs.length - 1]!).index
  }
  const archiveHold = archiveState === undefined ? undefined : holds.add("archive", firstUnarchived())

  const gc = yield* GroupCommit.make(writer, {
    syncEvery,
    syncInterval,
    maxEntryBytes,
    onSegmentsChanged: () => {
      const wake = archiveWake
      archiveWake = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(wake, Effect.void)
    }
  })
  const { awaitAbove, awaitIndex, log, logPrepared, sync } = gc

  const firstIndex = () => {
    const first = writer.segments()[0]
    return first === undefined || first.index < 1n ? 1n : first.index
  }

  const openRead = Effect.fnUntraced(function*(
    from: bigint,
    options: { readonly to?: bigint | undefined; readonly follow?: boolean | undefined }
  ) {
    if (from < 1n) {
      return yield* new IndexUnavailable({
        index: from.toString(),
        firstIndex: firstIndex().toString(),
        reason: "indexes start at 1"
      })
    }
    // register the hold before listing segments, and never while a purge is deleting
    const id = yield* Effect.acquireRelease(
      purgeLock.withPermits(1)(Effect.sync(() => holds.add(`read from ${from}`, from))),
      (id) => Effect.sync(() => holds.remove(id))
    )
    const to = options.follow
      ? gc.committed()
      : options.to === undefined || options.to > gc.committed()
      ? gc.committed()
      : options.to
    if (!options.follow && to < from) return Stream.empty
    return Reader.entries(walDir, from, {
      to,
      follow: options.follow ? awaitAbove : undefined,
      archiveDir,
      // begin near `from` (a group start this writer wrote) instead of decoding its segment from the start
      start: writer.seekPoint(from)
    }).pipe(
      Stream.mapArray((chunk): NonEmptyReadonlyArray<LogEntry> => {
        holds.set(id, chunk[chunk.length - 1]!.index)
        // Decoded entries with a data field already are LogEntries: hand them out as they are. A new object per
        // entry here cost time and, worse, gave V8 a fresh allocation site at the start of every large read that
        // it sometimes pretenured, so all entries of the read went to the old generation (peak RSS 300 MB instead
        // of 150 MB reading 1,000,000 entries in one of five runs, bench/wal.ts).
        for (let i = 0; i < chunk.length; i++) {
          if (chunk[i]!.data === undefined) return withData(chunk)
        }
        return chunk as NonEmptyReadonlyArray<LogEntry>
      }),
      Stream.catchTag(
        "WalNotFound",
        (e) =>
          Stream.fail(
            new IndexUnavailable({ index: from.toString(), firstIndex: firstIndex().toString(), reason: e.reason })
          )
      )
    )
  })

  const read = (
    from: bigint,
    options: { readonly to?: bigint | undefined; readonly follow?: boolean | undefined } = {}
  ): Stream.Stream<LogEntry, ReadError> => Stream.unwrap(openRead(from, options))

  const deleteSnaps = Effect.gen(function*() {
    const names = (yield* Snap.list(snapDir)).map((s) => s.name)
    const doomed = Retention.snapsToDelete(names, keepSnapshots, snapshotName)
    for (const n of doomed) yield* Fsx.unlink(`${snapDir}/${n}`)
    if (doomed.length > 0) yield* Fsx.fsyncDir(snapDir)
  })

  const purge: Effect.Effect<ReadonlyArray<string>, WalIoError> = purgeLock.withPermits(1)(
    Effect.gen(function*() {
      const plan = Retention.plan(writer.segments(), snapshotIndex, holds.list())
      const names = plan.remove.map((s) => s.name)
      for (const n of names) yield* Fsx.unlink(`${walDir}/${n}`)
      if (names.length > 0) {
        yield* Fsx.fsyncDir(walDir)
        writer.forget(names)
        yield* Metric.update(Metrics.segmentsPurged, names.length)
        yield* Metric.update(Metrics.segmentsLive, writer.segments().length)
      }
      yield* deleteSnaps
      return names
    })
  ).pipe(Effect.withSpan("BinLogger.purge"))

  // the archiver: copies sealed segments to the archive as they are cut, then moves its hold and purges
  const archiveLock = yield* Semaphore.make(1)
  const archiveOnce = Effect.gen(function*() {
    if (archiveDir === undefined || archiveState === undefined || archiveHold === undefined) return
    const sealed = writer.segments().slice(0, -1)
    const before = archiveState.lastSeq
    archiveState = yield* Archive.archive(walDir, snapDir, archiveDir, sealed, archiveState)
    holds.set(archiveHold, firstUnarchived())
    if (purgeEnabled && archiveState.lastSeq > before) yield* purge
  }).pipe(
    Effect.catchCause((cause) => Effect.logWarning("binlog: archiving failed; will retry at the next cut", cause)),
    archiveLock.withPermits(1),
    Effect.withSpan("BinLogger.archive")
  )
  if (archiveDir !== undefined) {
    yield* Effect.forkScoped(
      Effect.forever(Effect.andThen(archiveOnce, Effect.suspend(() => Deferred.await(archiveWake))))
    )
  }

  /** One lease's state; {@link releaseLease} is made once (a generator function per lease would be promoted). */
  interface LeaseState {
    released: boolean
    readonly holdId: number
    readonly prevIndex: bigint
    readonly currentIndex: bigint
    readonly startedAt: number
  }

  const releaseLease = Effect.fnUntraced(
    function*(st: LeaseState, success: boolean) {
      if (st.released) return
      st.released = true
      lease = undefined
      holds.remove(st.holdId)
      yield* Metric.update(Metrics.leaseDuration, Duration.millis(Date.now() - st.startedAt))
      if (!success) return
      // etcd's order: the .snap file first, then the WAL record (a crash in between orphans the .snap only)
      const name = yield* Snap.save(snapDir, { index: st.currentIndex, term: 0n, confState: emptyConfState })
      yield* gc.snapshotRecord(st.currentIndex)
      snapshotIndex = st.currentIndex
      snapshotName = name
      yield* archiveOnce
      if (purgeEnabled) yield* purge
    },
    (effect, st, success) =>
      Effect.withSpan(effect, "BinLogger.release", {
        attributes: { success, prevIndex: st.prevIndex, currentIndex: st.currentIndex }
      })
  )

  const makeLease = (prevIndex: bigint, currentIndex: bigint, startedAt: number): SnapshotLease => {
    const st: LeaseState = {
      released: false,
      holdId: holds.add("snapshot lease", prevIndex + 1n),
      prevIndex,
      currentIndex,
      startedAt
    }
    const entries = read(prevIndex + 1n, { to: currentIndex })
    const count = currentIndex - prevIndex
    const entriesArray = count > BigInt(MAX_ARRAY_RANGE_ENTRIES)
      ? Effect.fail(new RangeTooLarge({ entries: count.toString(), limit: MAX_ARRAY_RANGE_ENTRIES }))
      : Stream.runCollect(entries)
    const release = (success: boolean) => releaseLease(st, success)
    return { prevIndex, currentIndex, entries, entriesArray, release }
  }

  const createSnapshot: Effect.Effect<Option.Option<SnapshotLease>, SnapshotLeaseBusy> = Effect.suspend(() => {
    if (lease) {
      return Effect.fail(
        new SnapshotLeaseBusy({ prevIndex: lease.prevIndex.toString(), currentIndex: lease.currentIndex.toString() })
      )
    }
    const currentIndex = gc.committed()
    if (currentIndex <= snapshotIndex) return Effect.succeed(Option.none())
    lease = { prevIndex: snapshotIndex, currentIndex }
    return Effect.succeed(Option.some(makeLease(snapshotIndex, currentIndex, Date.now())))
  }).pipe(Effect.withSpan("BinLogger.createSnapshot"))

  const withSnapshot = <A, E, R>(f: (lease: SnapshotLease) => Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const maybe = yield* createSnapshot
      if (Option.isNone(maybe)) return Option.none<A>()
      const l = maybe.value
      const exit = yield* Effect.exit(f(l))
      yield* l.release(Exit.isSuccess(exit))
      return Option.some(yield* exit)
    })

  const retain = (name: string, index: bigint) =>
    Effect.map(
      Effect.acquireRelease(
        purgeLock.withPermits(1)(Effect.sync(() => holds.add(name, index))),
        (id) => Effect.sync(() => holds.remove(id))
      ),
      (id): RetentionHold => ({
        name,
        index: Effect.sync(() => holds.get(id)?.index ?? index),
        set: (i: bigint) => Effect.sync(() => holds.set(id, i))
      })
    )

  const status: Effect.Effect<Status, WalIoError> = Effect.gen(function*() {
    const plan = Retention.plan(writer.segments(), snapshotIndex, holds.list())
    const segments: Array<SegmentStatus> = []
    for (const { keptBy, segment } of plan.keptBy) {
      const bytes = yield* Fsx.statSize(`${walDir}/${segment.name}`)
      segments.push({ name: segment.name, seq: segment.seq, firstIndex: segment.index, bytes, keptBy })
    }
    return {
      walDir,
      snapDir,
      currentIndex: gc.committed(),
      snapshotIndex,
      firstIndex: firstIndex(),
      segments,
      snapshots: (yield* Snap.list(snapDir)).map((s) => s.name),
      holds: holds.list(),
      lease: lease ? { ...lease } : undefined,
      stopped: gc.stopped()?.message,
      archive: archiveDir === undefined || archiveState === undefined
        ? undefined
        : { dir: archiveDir, lastSeq: archiveState.lastSeq },
      io: {
        writeMode: writer.writeMode,
        crc32c: Crc32c.implementation,
        zeroFilledSegments: writer.zeroFilledSegments()
      }
    }
  })

  return BinLogger.of({
    log,
    logPrepared,
    sync,
    createSnapshot,
    withSnapshot,
    read,
    awaitIndex,
    currentIndex: Effect.sync(() => gc.committed()),
    maxEntryBytes,
    snapshotIndex: Effect.sync(() => snapshotIndex),
    retain,
    status,
    purge
  })
})

/**
 * The log as a layer: building it starts the log, closing it syncs, closes and unlocks.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<BinLogger, RecoveryFailed | WalLocked | WalIoError> =>
  Layer.effect(BinLogger, make(options))

/**
 * The log as a layer configured from `Config` (environment variables by default): `BINLOG_WAL_DIR`,
 * `BINLOG_SNAP_DIR` (required), `BINLOG_SYNC_INTERVAL` (a duration such as `"5 millis"`, default 0),
 * `BINLOG_SEGMENT_SIZE` (bytes, default 64,000,000), `BINLOG_KEEP_SNAPSHOTS` (default 5), `BINLOG_PURGE`
 * (default true).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<
  BinLogger,
  RecoveryFailed | WalLocked | WalIoError | Config.ConfigError
> = Layer.effect(
  BinLogger,
  Effect.gen(function*() {
    const c = yield* Config.all({
      walDir: Config.String("BINLOG_WAL_DIR"),
      snapDir: Config.String("BINLOG_SNAP_DIR"),
      syncInterval: Config.Duration("BINLOG_SYNC_INTERVAL").pipe(Config.withDefault(Duration.zero)),
      segmentSizeBytes: Config.Int("BINLOG_SEGMENT_SIZE").pipe(Config.withDefault(Segment.DEFAULT_SEGMENT_SIZE_BYTES)),
      keepSnapshots: Config.Int("BINLOG_KEEP_SNAPSHOTS").pipe(Config.withDefault(DEFAULT_KEEP_SNAPSHOTS)),
      purge: Config.Boolean("BINLOG_PURGE").pipe(Config.withDefault(true))
    })
    return yield* make(c)
  })
)
