// The machinery both runners share: per-projection state (checkpoint, status, waiters), the transaction that
// applies one batch of entries to one projection, lag and metrics. Internal: not exported from the package.
import type * as BinLogger from "@binlog/core/BinLogger"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Metric from "effect/Metric"
import type * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"
import * as Projection from "../Projection.ts"
import {
  CheckpointAhead,
  DuplicateProjection,
  ProjectionFailed,
  ProjectionNotFound,
  ProjectionStopped,
  type SinkError
} from "../ProjectionError.ts"
import * as ProjectionMetrics from "../ProjectionMetrics.ts"
import * as Runner from "../Runner.ts"
import type * as Sink from "../Sink.ts"

/** The state of one projection inside a runner. Mutated only between yields (one fiber step at a time). */
export interface Slot<E, R> {
  readonly name: string
  readonly version: number
  readonly key: Sink.CheckpointKey
  /** The projection, with the client type its sink provides (`Projection.bind` checked that they match). */
  readonly projection: Projection.Projection<unknown, E, R>
  readonly sink: Sink.Sink<unknown>
  readonly metrics: ProjectionMetrics.ProjectionMetrics
  position: bigint
  timestamp: number | undefined
  state: Runner.State
  failures: number
  lastError: string | undefined
  stopped: ProjectionStopped | undefined
  /** Completed (and replaced) whenever `position` moves or the projection stops. */
  signal: Deferred.Deferred<void>
}

/** What one committed batch did. */
export interface BatchResult {
  readonly applied: number
  readonly skipped: number
  readonly redelivered: number
}

export interface Engine<E, R> {
  readonly slots: ReadonlyArray<Slot<E, R>>
  readonly batchSize: number
  readonly retry: Schedule.Schedule<unknown, unknown>
  readonly runner: Runner.Runner
  /**
   * Applies `batch` to the projection in one sink transaction with its checkpoint. `onCommit` runs after a commit
   * that moved the checkpoint, before waiters are woken.
   */
  readonly applyBatch: (
    slot: Slot<E, R>,
    batch: ReadonlyArray<BinLogger.LogEntry>,
    options?: { readonly onCommit?: ((position: bigint) => Effect.Effect<void>) | undefined }
  ) => Effect.Effect<BatchResult, ProjectionFailed | SinkError, R>
  /** Records a failed attempt (metrics, status, log). */
  readonly recordFailure: (slot: Slot<E, R>, cause: Cause.Cause<unknown>) => Effect.Effect<void>
  /** Marks a projection as healthy again after a commit following failures. */
  readonly recordSuccess: (slot: Slot<E, R>) => void
  /** Stops a projection for good; waiters fail with `ProjectionStopped`. */
  readonly stop: (slot: Slot<E, R>, reason: string) => Effect.Effect<void>
  /** Refreshes the lag gauges of one, or every running, projection (after the durable index moved). */
  readonly refreshLag: (slot?: Slot<E, R>) => Effect.Effect<void>
}

const EMPTY: BatchResult = { applied: 0, skipped: 0, redelivered: 0 }

const messageOf = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.squash(cause)
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
}

/**
 * Read chunks the runners read ahead while applying the current one (each is one read call of the log, at most
 * `Reader.READ_CHUNK_BYTES`): the next read overlaps with the sink's work instead of following it.
 */
export const READ_AHEAD_CHUNKS = 2

/** Splits a read chunk into transaction batches (never merges: a live tail commits what has arrived). */
export const splitBatches = <A>(chunk: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  if (chunk.length <= size) return [chunk]
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < chunk.length; i += size) out.push(chunk.slice(i, i + size))
  return out
}

/** A retry delay function over a schedule: sleeps for the next delay; fails with `Done` when the schedule ends. */
export const retrier = (schedule: Schedule.Schedule<unknown, unknown>) => {
  let step: ((input: unknown) => Pull.Pull<unknown, never, unknown>) | undefined
  return {
    wait: (input: unknown): Effect.Effect<boolean> =>
      Effect.gen(function*() {
        step ??= yield* Schedule.toStepWithSleep(schedule)
        return yield* step(input).pipe(
          Effect.as(true),
          Effect.catchTag("Done", () => Effect.succeed(false))
        )
      }),
    reset: () => {
      step = undefined
    }
  }
}

/**
 * Validates options, runs every projection's setup, registers and reads checkpoints. Fails fast on configuration
 * errors: duplicate names, setup failures, a checkpoint beyond the log.
 */
export const make = Effect.fnUntraced(function*<E, R>(
  options: Runner.Options<E, R>,
  log: { readonly currentIndex: Effect.Effect<bigint> }
): Effect.fn.Return<Engine<E, R>, DuplicateProjection | ProjectionFailed | SinkError | CheckpointAhead, R> {
  const batchSize = options.batchSize ?? Runner.DEFAULT_BATCH_SIZE
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > Runner.MAX_BATCH_SIZE) {
    return yield* Effect.die(new RangeError(`batchSize must be 1..${Runner.MAX_BATCH_SIZE}, got ${batchSize}`))
  }
  const seen = new Set<string>()
  for (const { projection } of options.projections) {
    if (seen.has(projection.name)) return yield* new DuplicateProjection({ projection: projection.name })
    seen.add(projection.name)
  }

  const traceHandlers = options.traceHandlers === true
  const durable = yield* log.currentIndex
  const slots: Array<Slot<E, R>> = []
  for (const bound of options.projections) {
    const projection = bound.projection as Projection.Projection<unknown, E, R>
    const sink = bound.sink
    const key = { projection: projection.name, version: projection.version }
    yield* sink.transaction(projection.setup(sink.client)).pipe(
      Effect.mapError((cause) =>
        cause instanceof ProjectionFailed || (cause as { _tag?: unknown })._tag === "SinkError"
          ? cause as ProjectionFailed | SinkError
          : new ProjectionFailed({ projection: projection.name, version: projection.version, index: "0", cause })
      )
    )
    const stored = yield* sink.register(key)
    if (stored.position > durable) {
      return yield* new CheckpointAhead({
        projection: projection.name,
        version: projection.version,
        checkpoint: stored.position.toString(),
        currentIndex: durable.toString()
      })
    }
    const metrics = ProjectionMetrics.forProjection(projection.name, projection.version)
    slots.push({
      name: projection.name,
      version: projection.version,
      key,
      projection,
      sink,
      metrics,
      position: stored.position,
      timestamp: stored.timestamp,
      state: "running",
      failures: 0,
      lastError: undefined,
      stopped: undefined,
      signal: Deferred.makeUnsafe<void>()
    })
    yield* Metric.update(metrics.position, Number(stored.position))
  }
  const byName = new Map(slots.map((s) => [s.name, s]))
  const names = slots.map((s) => s.name)

  const find = (name: string) =>
    Effect.suspend(() => {
      const slot = byName.get(name)
      return slot === undefined
        ? Effect.fail(new ProjectionNotFound({ projection: name, known: names }))
        : Effect.succeed(slot)
    })

  const wake = (slot: Slot<E, R>) => {
    const old = slot.signal
    slot.signal = Deferred.makeUnsafe<void>()
    Deferred.doneUnsafe(old, Effect.void)
  }

  const lagOf = (slot: Slot<E, R>, durableIndex: bigint, nowMs: number): Runner.Lag => {
    const entries = durableIndex > slot.position ? durableIndex - slot.position : 0n
    const seconds = entries === 0n
      ? 0
      : slot.timestamp === undefined
      ? undefined
      : Math.max(0, nowMs - slot.timestamp) / 1000
    return { projection: slot.name, position: slot.position, durableIndex, entries, seconds }
  }

  const updateLag = (slot: Slot<E, R>, durableIndex: bigint) =>
    Effect.gen(function*() {
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      const lag = lagOf(slot, durableIndex, now)
      yield* Metric.update(slot.metrics.lagEntries, Number(lag.entries))
      if (lag.seconds !== undefined) yield* Metric.update(slot.metrics.lagSeconds, lag.seconds)
    })

  const refreshLag = (only?: Slot<E, R>) =>
    Effect.gen(function*() {
      const durableIndex = yield* log.currentIndex
      for (const slot of only === undefined ? slots : [only]) {
        if (slot.stopped === undefined) yield* updateLag(slot, durableIndex)
      }
    })

  const applyBatch = (
    slot: Slot<E, R>,
    batch: ReadonlyArray<BinLogger.LogEntry>,
    options: { readonly onCommit?: ((position: bigint) => Effect.Effect<void>) | undefined } = {}
  ): Effect.Effect<BatchResult, ProjectionFailed | SinkError, R> => {
    const { onCommit } = options
    const first = batch[0]
    const last = batch[batch.length - 1]
    if (first === undefined || last === undefined) return Effect.succeed(EMPTY)
    if (last.index <= slot.position) {
      // already committed (a re-delivered range): no transaction at all
      return Effect.as(Metric.update(slot.metrics.eventsRedelivered, batch.length), EMPTY)
    }
    // the entry being handled when a failure happens; undefined while the sink itself is working
    let failedAt: BinLogger.LogEntry | undefined
    let timestamp: number | undefined
    const body = Effect.gen(function*() {
      const stored = yield* slot.sink.readCheckpoint(slot.key)
      if (last.index <= stored.position) {
        timestamp = stored.timestamp
        return { applied: 0, skipped: 0, redelivered: batch.length, position: stored.position }
      }
      const work = slot.projection.begin(slot.sink.client)
      let applied = 0
      let skipped = 0
      let redelivered = 0
      const prepare = slot.projection.prepare
      for (let i = 0; i < batch.length; i++) {
        const entry = batch[i]!
        if (entry.index <= stored.position) {
          redelivered++
          continue
        }
        const p = prepare(entry)
        if (p === Projection.skip) {
          skipped++
          continue
        }
        failedAt = entry
        yield* work.apply(entry, p)
        applied++
      }
      failedAt = last
      yield* work.end
      failedAt = undefined
      timestamp = slot.projection.timestampOf(last) ?? (applied > 0 ? undefined : stored.timestamp)
      yield* slot.sink.writeCheckpoint(slot.key, { position: last.index, timestamp })
      return { applied, skipped, redelivered, position: last.index }
    }).pipe(
      traceHandlers ? identity : Effect.withTracerEnabled(false),
      Effect.mapError((cause): ProjectionFailed | SinkError => {
        if (failedAt === undefined) return cause as SinkError
        return new ProjectionFailed({
          projection: slot.name,
          version: slot.version,
          index: failedAt.index.toString(),
          eventType: slot.projection.eventTypeOf(failedAt),
          cause
        })
      })
    )
    return Effect.gen(function*() {
      const [elapsed, result] = yield* Effect.timed(slot.sink.transaction(body))
      // committed: update state and metrics first, then wake waiters (so they observe the metrics too)
      const advanced = result.position > slot.position
      if (advanced) {
        slot.position = result.position
        slot.timestamp = timestamp
      }
      yield* Metric.update(slot.metrics.transactionDuration, elapsed)
      yield* Metric.update(slot.metrics.batchEntries, batch.length)
      if (result.applied > 0) yield* Metric.update(slot.metrics.eventsApplied, result.applied)
      if (result.skipped > 0) yield* Metric.update(slot.metrics.eventsSkipped, result.skipped)
      if (result.redelivered > 0) yield* Metric.update(slot.metrics.eventsRedelivered, result.redelivered)
      yield* Metric.update(slot.metrics.position, Number(slot.position))
      yield* updateLag(slot, yield* log.currentIndex)
      yield* Effect.annotateCurrentSpan({
        applied: result.applied,
        skipped: result.skipped,
        redelivered: result.redelivered,
        durationMs: Duration.toMillis(elapsed)
      })
      if (advanced) {
        if (onCommit !== undefined) yield* onCommit(slot.position)
        wake(slot)
      }
      return result
    }).pipe(
      Effect.withSpan("Projection.transaction", {
        attributes: {
          projection: slot.name,
          version: slot.version,
          sink: slot.sink.kind,
          from: first.index.toString(),
          to: last.index.toString(),
          entries: batch.length
        }
      })
    )
  }

  const recordFailure = (slot: Slot<E, R>, cause: Cause.Cause<unknown>) =>
    Effect.gen(function*() {
      slot.failures++
      slot.lastError = messageOf(cause)
      if (slot.stopped === undefined) slot.state = "retrying"
      yield* Metric.update(slot.metrics.failures, 1)
      yield* updateLag(slot, yield* log.currentIndex)
      yield* Effect.logWarning(`projection ${slot.name} v${slot.version} failed; retrying`, cause).pipe(
        Effect.annotateLogs({ projection: slot.name, position: slot.position.toString() })
      )
    })

  const recordSuccess = (slot: Slot<E, R>) => {
    if (slot.stopped === undefined) slot.state = "running"
  }

  const stop = (slot: Slot<E, R>, reason: string) =>
    Effect.gen(function*() {
      if (slot.stopped !== undefined) return
      slot.stopped = new ProjectionStopped({ projection: slot.name, reason })
      slot.state = "stopped"
      slot.lastError = reason
      wake(slot)
      yield* Effect.logError(`projection ${slot.name} v${slot.version} stopped: ${reason}`).pipe(
        Effect.annotateLogs({ projection: slot.name, position: slot.position.toString() })
      )
    })

  const awaitPosition = (projection: string, index: bigint) =>
    Effect.flatMap(find(projection), (slot) =>
      Effect.gen(function*() {
        while (slot.position < index) {
          if (slot.stopped !== undefined) return yield* slot.stopped
          yield* Deferred.await(slot.signal)
        }
      }))

  const runner: Runner.Runner = {
    projections: names,
    awaitPosition: (projection, index) =>
      awaitPosition(projection, index).pipe(
        Effect.withSpan("Runner.awaitPosition", { attributes: { projection, index: index.toString() } })
      ),
    position: (projection) => Effect.map(find(projection), (slot) => slot.position),
    lag: (projection) =>
      Effect.flatMap(find(projection), (slot) =>
        Effect.gen(function*() {
          const durableIndex = yield* log.currentIndex
          const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          return lagOf(slot, durableIndex, now)
        })),
    status: Effect.sync(() =>
      slots.map((s) => ({
        projection: s.name,
        version: s.version,
        sink: s.sink.kind,
        state: s.state,
        position: s.position,
        failures: s.failures,
        lastError: s.lastError
      }))
    ),
    drain: Effect.gen(function*() {
      const target = yield* log.currentIndex
      for (const slot of slots) {
        yield* awaitPosition(slot.name, target).pipe(
          Effect.catchTag("ProjectionNotFound", () => Effect.die("unreachable: own slot not found"))
        )
      }
    }).pipe(Effect.withSpan("Runner.drain"))
  }

  return {
    slots,
    batchSize,
    retry: options.retry ?? Runner.defaultRetry,
    runner,
    applyBatch,
    recordFailure,
    recordSuccess,
    stop,
    refreshLag
  }
})
