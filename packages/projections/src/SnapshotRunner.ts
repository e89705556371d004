/**
 * The snapshot runner: applies the log to its projections through the log's **snapshot leases**, so the log can
 * let go of what every projection has committed.
 *
 * Loop: lease `(prev, current]` with `createSnapshot`; apply the range to every projection registered here, each in
 * its own sink transactions of at most `batchSize` entries (the checkpoint commits with the read-model changes);
 * `release(true)` only when **all** of them committed through `current` — that makes the snapshot durable and lets
 * purge delete the segments below it. If any projection fails, the others still get the whole range (they are not
 * held back), the lease is released with `false` so the range comes back, and after the `retry` delay the loop
 * leases again; entries a projection already committed are skipped by its checkpoint. A crash at any point
 * re-delivers the range the same way. When nothing is new the runner waits on `awaitIndex` for the next durable
 * entry (no polling).
 *
 * Reading: the runner keeps one live read (`read(from, { follow: true })`) open across leases and takes each
 * lease's entries from it, so a lease near the end of a large segment does not re-scan the segment. The read goes
 * back (reopens) only when a projection must re-apply entries after a failure. Memory stays bounded: one read
 * chunk plus one transaction batch.
 *
 * Start: every projection's setup runs and its checkpoint is read; a projection whose checkpoint is below the last
 * released snapshot is caught up from the log first, if the log still has those entries (otherwise it stops with
 * `CheckpointGap`). A projection that stops for good no longer holds releases back.
 *
 * Projections, and the lanes of a projection (`Lanes.withLanes`), apply each batch concurrently, each in its own
 * transactions. A projection halted by its poison policy holds releases back until it is resumed.
 *
 * One snapshot runner per log: the log hands out one lease at a time (`SnapshotLeaseBusy` makes this runner wait
 * and retry). For projections that start later or lag far behind, use a `CursorRunner`: it keeps its own cursor and
 * a retention hold instead of leases.
 *
 * @since 0.1.0
 */
import * as BinLogger from "@binlog/core/BinLogger"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Engine from "./internal/engine.ts"
import { CheckpointGap } from "./ProjectionError.ts"
import type * as Runner from "./Runner.ts"

/**
 * The snapshot runner's API: the common runner API plus what it released.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service extends Runner.Runner {
  /** The last index this runner released as a durable snapshot (the log's snapshot index when it started). */
  readonly released: Effect.Effect<bigint>
  /** Resolves once this runner has released a snapshot at or beyond `index`. */
  readonly awaitReleased: (index: bigint) => Effect.Effect<void>
}

/**
 * The snapshot runner service.
 *
 * @since 0.1.0
 * @category services
 */
export class SnapshotRunner extends Context.Service<SnapshotRunner, Service>()("@binlog/projections/SnapshotRunner") {}

/**
 * Errors of starting a runner.
 *
 * @since 0.1.0
 * @category errors
 */
export type StartError = Runner.StartError

type Slot<E, R> = Engine.Slot<E, R>

interface Source {
  readonly scope: Scope.Closeable
  readonly pull: Pull.Pull<ReadonlyArray<BinLogger.LogEntry>, BinLogger.ReadError>
  /** Index of the next entry the read will hand out. */
  next: bigint
  /** Entries read beyond the last lease's end. */
  buffer: ReadonlyArray<BinLogger.LogEntry>
}

/**
 * Starts the runner for the lifetime of the scope: runs setups, reads checkpoints, then applies the log in the
 * background. Closing the scope stops it (an open transaction rolls back, an open lease is released as failed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("SnapshotRunner.make")(function*<E, R>(
  options: Runner.Options<E, R>
): Effect.fn.Return<Service, StartError, R | BinLogger.BinLogger | Scope.Scope> {
  const log = yield* BinLogger.BinLogger
  const engine = yield* Engine.make(options, log)
  const retry = Engine.retrier(engine.retry)

  let released = yield* log.snapshotIndex
  let releasedSignal = Deferred.makeUnsafe<void>()
  const publishReleased = (index: bigint) => {
    if (index <= released) return
    released = index
    const old = releasedSignal
    releasedSignal = Deferred.makeUnsafe<void>()
    Deferred.doneUnsafe(old, Effect.void)
  }

  // --- the live read the leases take their entries from ---
  let source: Source | undefined
  const closeSource = Effect.suspend(() => {
    const s = source
    source = undefined
    return s === undefined ? Effect.void : Scope.close(s.scope, Exit.void)
  })
  yield* Effect.addFinalizer(() => closeSource)

  // per-lease, per-batch and per-pull work is `Effect.fnUntraced`, made once: a generator function created per call
  // gets its own map in old space, which keeps what it captures (batches, chunks) alive through scavenges
  const openSource = Effect.fnUntraced(function*(from: bigint) {
    yield* closeSource
    const scope = yield* Scope.make()
    const pull = yield* Stream.toPull(
      log.read(from, { follow: true }).pipe(Stream.bufferArray({ capacity: Engine.READ_AHEAD_CHUNKS }))
    ).pipe(Scope.provide(scope))
    source = { scope, pull, next: from, buffer: [] }
  })

  /** One pull of {@link rangeOf}: the next chunk of the live read up to `to`. */
  const pullRange = Effect.fnUntraced(function*(to: bigint) {
    const s = source
    if (s === undefined || s.next > to) return yield* Effect.fail(Cause.Done())
    let chunk = s.buffer
    s.buffer = []
    if (chunk.length === 0) chunk = yield* s.pull
    const last = chunk[chunk.length - 1]!
    if (last.index > to) {
      const cut = chunk.findIndex((e) => e.index > to)
      s.buffer = chunk.slice(cut)
      chunk = chunk.slice(0, cut)
    }
    const end = chunk[chunk.length - 1]
    if (end === undefined) return yield* Effect.die(new Error(`live read is past ${to} at ${s.next}`))
    s.next = end.index + 1n
    return chunk as unknown as readonly [BinLogger.LogEntry, ...Array<BinLogger.LogEntry>]
  })

  /** The entries of `(from − 1, to]` from the live read, leaving what lies beyond `to` for the next lease. */
  const rangeOf = (to: bigint): Stream.Stream<BinLogger.LogEntry, BinLogger.ReadError> =>
    Stream.fromPull(Effect.sync(() => pullRange(to)))

  /** Applies one batch to one projection (lane), unless it has failed in this lease or stopped. */
  const applyToSlot = Effect.fnUntraced(function*(
    slot: Slot<E, R>,
    failed: Set<Slot<E, R>>,
    batch: ReadonlyArray<BinLogger.LogEntry>
  ) {
    if (failed.has(slot) || slot.stopped !== undefined) return
    const exit = yield* Effect.exit(engine.applyRange(slot, batch))
    if (Exit.isSuccess(exit)) {
      engine.recordSuccess(slot)
      return
    }
    if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
    failed.add(slot)
    yield* engine.recordFailure(slot, exit.cause)
  })

  /** Applies one batch to every projection that has not failed in this lease. */
  const applyToAll = (
    active: ReadonlyArray<Slot<E, R>>,
    failed: Set<Slot<E, R>>,
    batch: ReadonlyArray<BinLogger.LogEntry>
  ) =>
    // projections (and lanes) apply the batch concurrently: each in its own transactions
    Effect.forEach(active, (slot) => applyToSlot(slot, failed, batch), { concurrency: "unbounded", discard: true })

  /** Stops the projections that need entries below the log's first retained index. */
  const stopBelow = Effect.fnUntraced(function*(active: ReadonlyArray<Slot<E, R>>, error: BinLogger.ReadError) {
    if (error._tag !== "IndexUnavailable") return false
    const firstIndex = BigInt(error.firstIndex)
    let stopped = false
    for (const slot of active) {
      if (slot.position + 1n >= firstIndex) continue
      const gap = new CheckpointGap({
        projection: slot.name,
        version: slot.version,
        checkpoint: slot.position.toString(),
        reason: `the log starts at index ${firstIndex}`
      })
      yield* engine.stop(slot, gap.message)
      stopped = true
    }
    return stopped
  })

  /** Processes one lease; returns the projections that failed (empty: release as successful). */
  const processLease = Effect.fnUntraced(
    function*(lease: BinLogger.SnapshotLease) {
      const failed = new Set<Slot<E, R>>()
      const active = engine.slots.filter((s) => s.stopped === undefined)
      const to = lease.currentIndex
      let from = to + 1n
      for (const slot of active) if (slot.position + 1n < from) from = slot.position + 1n
      if (from > to) {
        for (const slot of engine.slots) if (slot.halted !== undefined) failed.add(slot)
        return failed
      }
      // the live read continues where the last lease ended, unless a projection must go back (after a failure)
      if (source === undefined || source.next !== from) yield* openSource(from)
      const started = yield* Clock.currentTimeMillis
      const read = yield* rangeOf(to).pipe(
        Stream.runForEachArray((chunk) =>
          Effect.forEach(Engine.splitBatches(chunk, engine.batchSize), (batch) => applyToAll(active, failed, batch), {
            discard: true
          })
        ),
        Effect.result
      )
      if (Result.isFailure(read)) {
        yield* closeSource
        const gap = yield* stopBelow(active, read.failure)
        if (!gap) {
          yield* Effect.logWarning(
            `snapshot runner: reading (${lease.prevIndex}, ${to}] failed; retrying`,
            read.failure
          )
        }
        for (const slot of active) if (slot.stopped === undefined) failed.add(slot)
      }
      // a halted projection holds releases back: the log keeps what it will need when resumed
      for (const slot of engine.slots) if (slot.halted !== undefined) failed.add(slot)
      yield* Effect.annotateCurrentSpan({
        failed: [...failed].map((s) => s.name).join(","),
        durationMs: (yield* Clock.currentTimeMillis) - started
      })
      return failed
    },
    (effect, lease) =>
      Effect.withSpan(effect, "SnapshotRunner.range", {
        attributes: {
          from: (lease.prevIndex + 1n).toString(),
          to: lease.currentIndex.toString(),
          entries: (lease.currentIndex - lease.prevIndex).toString(),
          projections: engine.slots.length
        }
      })
  )

  const releaseLease = (lease: BinLogger.SnapshotLease, exit: Exit.Exit<Set<Slot<E, R>>, unknown>) => {
    const success = Exit.isSuccess(exit) && exit.value.size === 0
    return lease.release(success).pipe(
      Effect.tap(() => Effect.sync(() => success && publishReleased(lease.currentIndex))),
      Effect.catch((error) =>
        Effect.logError(`snapshot runner: releasing (${lease.prevIndex}, ${lease.currentIndex}] failed`, error)
      )
    )
  }

  const step = Effect.gen(function*() {
    const active = engine.slots.filter((s) => s.stopped === undefined)
    if (active.length === 0) return yield* engine.awaitResumed
    const leased = yield* Effect.result(log.createSnapshot)
    if (Result.isFailure(leased)) {
      // another lease holder: wait and try again
      yield* Effect.logDebug("snapshot runner: the log's lease is busy; waiting", leased.failure)
      yield* retry.wait(leased.failure)
      return
    }
    if (Option.isNone(leased.success)) {
      yield* log.awaitIndex((yield* log.snapshotIndex) + 1n)
      yield* engine.refreshLag()
      return
    }
    const lease = leased.success.value
    yield* engine.refreshLag()
    const failed = yield* Effect.acquireUseRelease(Effect.succeed(lease), processLease, releaseLease)
    if (failed.size === 0) {
      retry.reset()
      return
    }
    const again = yield* retry.wait(failed)
    if (!again) {
      for (const slot of failed) yield* engine.stop(slot, `retry schedule ended; last error: ${slot.lastError}`)
      retry.reset()
    }
  })

  yield* Effect.forkScoped(
    Effect.forever(step).pipe(
      Effect.tapCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError("snapshot runner died", cause)
      )
    )
  )

  const awaitReleased = Effect.fnUntraced(function*(index: bigint) {
    while (released < index) yield* Deferred.await(releasedSignal)
  })

  return {
    ...engine.runner,
    released: Effect.sync(() => released),
    awaitReleased
  }
})

/**
 * The runner as a layer (it needs the `BinLogger`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  options: Runner.Options<E, R>
): Layer.Layer<SnapshotRunner, StartError, R | BinLogger.BinLogger> => Layer.effect(SnapshotRunner, make(options))
