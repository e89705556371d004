// The single writer of the BinLogger: one fiber takes every queued command, assigns indexes in order, writes each
// group with one write and one fdatasync, publishes the durable index and resumes the callers. Internal:
// BinLogger.make assembles the service from it.
import type * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { EmptyBatch, EntryTooLarge, IndexOverflow, LoggerClosed, WriterStopped } from "../LogError.ts"
import * as Metrics from "../Metrics.ts"
import * as Proto from "../Proto.ts"
import type * as Wal from "../Wal.ts"
import type { WalIoError } from "../WalError.ts"
import { useSpanIfTraced } from "./tracing.ts"

/** A batch's indexes (the same shape as `BinLogger.IndexRange`, declared here so this module sits below it). */
interface IndexRange {
  readonly first: bigint
  readonly last: bigint
}

/** The largest index: 2^64 − 1. */
const MAX_INDEX = (1n << 64n) - 1n

const emptyConfState = Proto.emptyConfState

export type AppendError = IndexOverflow | WriterStopped | LoggerClosed | EntryTooLarge | EmptyBatch

type Command =
  | {
    readonly _tag: "Append"
    /** The batch, or a function computing it from its first index inside the writer. */
    readonly batch:
      | ReadonlyArray<Uint8Array>
      | ((firstIndex: bigint) => Result.Result<ReadonlyArray<Uint8Array>, unknown>)
    /** Called when a batch that `batch(firstIndex)` prepared is rejected after all (size limits, overflow). */
    readonly rejected?: (() => void) | undefined
    readonly bytes: number
    readonly done: AppendDone
  }
  | {
    readonly _tag: "SnapshotRecord"
    readonly index: bigint
    readonly done: Deferred.Deferred<void, WriterStopped | WalIoError>
  }
  | { readonly _tag: "Sync"; readonly done: Deferred.Deferred<void, WriterStopped> | undefined }

type AppendDone = Deferred.Deferred<IndexRange, unknown>

/** What the group committer offers the service. */
export interface GroupCommit {
  readonly log: (batch: ReadonlyArray<Uint8Array>) => Effect.Effect<IndexRange, AppendError>
  readonly logPrepared: <E>(
    prepare: (firstIndex: bigint) => Result.Result<ReadonlyArray<Uint8Array>, E>,
    rejected?: () => void
  ) => Effect.Effect<IndexRange, E | AppendError>
  readonly sync: Effect.Effect<void, WriterStopped | LoggerClosed>
  /** Appends a snapshot record `{index, 0, conf_state {}}` through the writer (fdatasynced). */
  readonly snapshotRecord: (index: bigint) => Effect.Effect<void, WriterStopped | WalIoError | LoggerClosed>
  /** Waits until the durable index is above `index` and returns it. */
  readonly awaitAbove: (index: bigint) => Effect.Effect<bigint>
  readonly awaitIndex: (index: bigint) => Effect.Effect<void>
  /** The durable (visible) index. */
  readonly committed: () => bigint
  /** Why the writer stopped, if it did. */
  readonly stopped: () => WriterStopped | undefined
}

export interface GroupCommitOptions {
  readonly syncEvery: boolean
  readonly syncInterval: Duration.Duration
  readonly maxEntryBytes: number
  /** Called (in the writer fiber) when a group changed the number of live segments (a cut). */
  readonly onSegmentsChanged: () => void
}

/**
 * Starts the writer fiber for the current scope. Closing the scope stops taking work, writes what is queued and
 * waits for the fiber; the WAL writer's own finalizer then syncs and closes.
 */
export const make = (
  writer: Wal.WalWriter,
  options: GroupCommitOptions
): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { maxEntryBytes, onSegmentsChanged, syncEvery, syncInterval } = options
    let committed = writer.lastIndex()
    let written = committed
    let durable = committed
    let stopped: WriterStopped | undefined
    let closing = false
    let signal = Deferred.makeUnsafe<void>()
    yield* Metric.update(Metrics.durableIndex, committed)
    yield* Metric.update(Metrics.segmentsLive, writer.segments().length)

    const publish = (index: bigint) => {
      committed = index
      const old = signal
      signal = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(old, Effect.void)
    }

    const queue = yield* Queue.unbounded<Command, Cause.Done>()
    let segmentsSeen = writer.segments().length
    // One group is written at a time: by the writer fiber, or (when it has nothing to do) by a caller itself.
    let busy = false
    /** Commands in the last group written: 1 means a lone caller, whose next group may be written inline. */
    let lastGroupCommands = 1
    let idle = Deferred.makeUnsafe<void>()
    const setIdle = Effect.sync(() => {
      busy = false
      const old = idle
      idle = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(old, Effect.void)
    })
    const awaitIdle = Effect.gen(function*() {
      while (busy) yield* Deferred.await(idle)
    })

    // --- the writer fiber ---
    const stop = (reason: string, cause: unknown) => {
      stopped ??= new WriterStopped({ reason, cause })
      return stopped
    }

    // Per-group steps are `Effect.fnUntraced` generators, made once: a generator function made per call gets its own
    // map in V8's old generation, which kept every group's commands alive through young-generation GCs (promoted
    // ~7 MB per scavenge at 64 clients; ARCHITECTURE.md, "Performance rules").
    const writeGroup = Effect.fnUntraced(function*(group: ReadonlyArray<Extract<Command, { _tag: "Append" }>>) {
      lastGroupCommands = group.length
      // the accepted batches as they are (no object or bigint per entry: see WalWriter.saveBatches)
      const batches: Array<ReadonlyArray<Uint8Array>> = []
      let count = 0
      const first = written + 1n
      const ranges: Array<IndexRange | undefined> = []
      let next = written
      let bytes = 0
      for (const cmd of group) {
        if (stopped) {
          ranges.push(undefined)
          continue
        }
        let batch: ReadonlyArray<Uint8Array>
        let batchBytes = cmd.bytes
        if (typeof cmd.batch === "function") {
          const prepared = next === MAX_INDEX
            ? Result.fail(new IndexOverflow({ lastIndex: next.toString(), entries: 1 }))
            : cmd.batch(next + 1n)
          if (Result.isFailure(prepared)) {
            Deferred.doneUnsafe(cmd.done, Effect.fail(prepared.failure))
            ranges.push(undefined)
            continue
          }
          batch = prepared.success
          const invalid = validate(batch)
          if (typeof invalid !== "number") {
            cmd.rejected?.()
            Deferred.doneUnsafe(cmd.done, Effect.fail(invalid))
            ranges.push(undefined)
            continue
          }
          batchBytes = invalid
        } else {
          batch = cmd.batch
        }
        if (next + BigInt(batch.length) > MAX_INDEX) {
          cmd.rejected?.()
          Deferred.doneUnsafe(
            cmd.done,
            Effect.fail(new IndexOverflow({ lastIndex: next.toString(), entries: batch.length }))
          )
          ranges.push(undefined)
          continue
        }
        const batchFirst = next + 1n
        batches.push(batch)
        count += batch.length
        next += BigInt(batch.length)
        bytes += batchBytes
        ranges.push({ first: batchFirst, last: next })
      }
      if (stopped) {
        for (const cmd of group) Deferred.doneUnsafe(cmd.done, Effect.fail(stopped))
        return
      }
      if (count === 0) return
      const exit = yield* writer.saveBatches(first, batches, syncEvery, next).pipe(
        Effect.trackDuration(Metrics.commitLatency),
        Effect.uninterruptible,
        Effect.exit
      )
      if (Exit.isFailure(exit)) {
        const err = stop("write or fdatasync failed", exit.cause)
        for (const cmd of group) Deferred.doneUnsafe(cmd.done, Effect.fail(err))
        return
      }
      written = next
      if (syncEvery) durable = next
      publish(next)
      group.forEach((cmd, i) => {
        const r = ranges[i]
        if (r) Deferred.doneUnsafe(cmd.done, Effect.succeed(r))
      })
      yield* Metric.update(Metrics.entriesAppended, count)
      yield* Metric.update(Metrics.bytesAppended, bytes)
      yield* Metric.update(Metrics.groupSize, count)
      yield* Metric.update(Metrics.durableIndex, next)
      const live = writer.segments().length
      if (live !== segmentsSeen) {
        segmentsSeen = live
        yield* Metric.update(Metrics.segmentsLive, live)
        onSegmentsChanged()
      }
    })

    const process = Effect.fnUntraced(function*(cmds: ReadonlyArray<Command>) {
      let group: Array<Extract<Command, { _tag: "Append" }>> = []
      for (const cmd of cmds) {
        if (cmd._tag === "Append") {
          group.push(cmd)
          continue
        }
        if (group.length > 0) yield* writeGroup(group)
        group = []
        if (stopped) {
          const err = stopped
          if (cmd._tag === "Sync") {
            if (cmd.done) Deferred.doneUnsafe(cmd.done, Effect.fail(err))
          } else Deferred.doneUnsafe(cmd.done, Effect.fail(err))
          continue
        }
        if (cmd._tag === "Sync") {
          if (written === durable) {
            if (cmd.done) Deferred.doneUnsafe(cmd.done, Effect.void)
            continue
          }
          const target = written
          const exit = yield* writer.sync.pipe(
            Effect.trackDuration(Metrics.fsyncLatency),
            Effect.uninterruptible,
            Effect.exit
          )
          if (Exit.isFailure(exit)) {
            const err = stop("fdatasync failed", exit.cause)
            if (cmd.done) Deferred.doneUnsafe(cmd.done, Effect.fail(err))
            continue
          }
          durable = target
          if (cmd.done) Deferred.doneUnsafe(cmd.done, Effect.void)
        } else {
          const done: Deferred.Deferred<void, WriterStopped | WalIoError> = cmd.done
          const exit = yield* writer.saveSnapshot({ index: cmd.index, term: 0n, confState: emptyConfState }).pipe(
            Effect.uninterruptible,
            Effect.exit
          )
          if (Exit.isFailure(exit)) {
            const err = stop("writing a snapshot record failed", exit.cause)
            Deferred.doneUnsafe(done, Effect.fail(err))
            continue
          }
          durable = written
          Deferred.doneUnsafe(done, Effect.void)
        }
      }
      if (group.length > 0) yield* writeGroup(group)
    })

    const loop = Effect.gen(function*() {
      while (true) {
        const cmds: Array<Command> = yield* Queue.takeAll(queue)
        if (busy) {
          // a caller is writing its own group: wait for it, then take what arrived meanwhile too (one group)
          yield* awaitIdle
          for (const more of yield* Queue.clear(queue)) cmds.push(more)
        }
        busy = true
        yield* Effect.ensuring(process(cmds), setIdle)
      }
    }).pipe(Effect.catchTag("Done", () => Effect.void))

    const loopFiber = yield* Effect.forkScoped(loop)
    if (!syncEvery) {
      yield* Effect.forkScoped(
        Effect.repeat(
          Effect.sync(() => {
            if (written !== durable && !closing) Queue.offerUnsafe(queue, { _tag: "Sync", done: undefined })
          }),
          Schedule.spaced(syncInterval)
        )
      )
    }
    // closing: stop taking new work, write what is queued, then the writer's finalizer syncs and closes
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closing = true
        yield* Queue.end(queue)
        yield* Fiber.await(loopFiber)
        yield* awaitIdle
      })
    )

    // Commands carry their Deferred with the widest error type; each `enqueue` caller knows the real one.
    const enqueue = <A, E, D>(
      make: (done: D) => Command
    ): Effect.Effect<A, E | WriterStopped | LoggerClosed> => Effect.suspend(() => enqueueNow<A, E, D>(make))

    /** {@link enqueue} run now (inside an Effect that is already lazy). */
    const enqueueNow = <A, E, D>(make: (done: D) => Command): Effect.Effect<A, E | WriterStopped | LoggerClosed> => {
      if (stopped) return Effect.fail(stopped)
      if (closing) return Effect.fail(new LoggerClosed())
      const done = Deferred.makeUnsafe<A, E>()
      const cmd = make(done as unknown as D)
      if (cmd._tag === "Append" && !busy && lastGroupCommands <= 1 && Queue.sizeUnsafe(queue) === 0) {
        // A lone caller (nothing being written or waiting, and the last group had one command): write this group
        // here, in the caller's fiber, instead of handing it to the writer fiber and back (two fiber switches,
        // ~15 µs per call: bench/wal.ts). Commands offered meanwhile wait for it in the writer fiber (awaitIdle).
        // With concurrent callers groups have many commands, and the writer fiber gathers them as before.
        busy = true
        return Effect.andThen(
          Effect.uninterruptible(Effect.ensuring(writeGroup([cmd]), setIdle)),
          Deferred.await(done)
        )
      }
      if (!Queue.offerUnsafe(queue, cmd)) return Effect.fail(new LoggerClosed())
      return Deferred.await(done)
    }

    /** The batch's payload bytes, or the error that rejects it. */
    const validate = (batch: ReadonlyArray<Uint8Array>): number | EmptyBatch | EntryTooLarge => {
      if (batch.length === 0) return new EmptyBatch()
      let bytes = 0
      for (let i = 0; i < batch.length; i++) {
        const n = batch[i]!.length
        if (n > maxEntryBytes) return new EntryTooLarge({ position: i, bytes: n, limitBytes: maxEntryBytes })
        bytes += n
      }
      return bytes
    }

    // One span per call, made with `useSpan`: a child of the caller's span that does not become the parent of what
    // runs inside (nothing of interest does). `Effect.fn`/`withSpan` also capture a stack trace per call and switch
    // the fiber's context twice, which cost ~2 µs of CPU per entry with 64 concurrent single-entry callers
    // (6.6–8.2 → 5.7 µs per entry, bench/wal.ts; with no span at all it is 4.8 µs). Without a tracing backend there
    // is no span at all (internal/tracing.ts).
    const log = (batch: ReadonlyArray<Uint8Array>): Effect.Effect<IndexRange, AppendError> =>
      useSpanIfTraced("BinLogger.log", undefined, () => {
        const bytes = validate(batch)
        if (typeof bytes !== "number") return Effect.fail(bytes)
        return enqueueNow<IndexRange, AppendError, AppendDone>((done) => ({ _tag: "Append", batch, bytes, done }))
      })

    // on the per-command hot path of the event store: a span made like `log`'s (see above)
    const logPrepared = <E>(
      prepare: (firstIndex: bigint) => Result.Result<ReadonlyArray<Uint8Array>, E>,
      rejected?: () => void
    ) =>
      useSpanIfTraced("BinLogger.logPrepared", undefined, () =>
        enqueueNow<IndexRange, E | AppendError, AppendDone>((done) => ({
          _tag: "Append",
          batch: prepare as (firstIndex: bigint) => Result.Result<ReadonlyArray<Uint8Array>, unknown>,
          rejected,
          bytes: 0,
          done
        })))

    const sync = enqueue<void, WriterStopped, Deferred.Deferred<void, WriterStopped>>((done) => ({
      _tag: "Sync",
      done
    }))
      .pipe(
        Effect.withSpan("BinLogger.sync")
      )

    const awaitAbove = Effect.fnUntraced(function*(index: bigint) {
      while (committed <= index) {
        yield* Deferred.await(signal)
      }
      return committed
    })

    const awaitIndex = Effect.fnUntraced(function*(index: bigint) {
      while (committed < index) {
        yield* Deferred.await(signal)
      }
    })

    const snapshotRecord = (index: bigint) =>
      enqueue<void, WriterStopped | WalIoError, Deferred.Deferred<void, WriterStopped | WalIoError>>((done) => ({
        _tag: "SnapshotRecord",
        index,
        done
      }))

    return {
      log,
      logPrepared,
      sync,
      snapshotRecord,
      awaitAbove,
      awaitIndex,
      committed: () =>
        committed,
      stopped: () =>
        stopped
    }
  })
