// The machinery both runners share: per-projection state (checkpoint, status, waiters), the transaction that
// applies one batch of entries to one projection, lag and metrics. Internal: not exported from the package.
import type * as BinLogger from "@binlog/core/BinLogger"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { identity } from "effect/Function"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Lanes from "../Lanes.ts"
import type * as Poison from "../Poison.ts"
import * as Projection from "../Projection.ts"
import {
  CheckpointAhead,
  DuplicateProjection,
  LanesRescaleRefused,
  ProjectionFailed,
  ProjectionHalted,
  ProjectionNotFound,
  ProjectionStopped,
  type SinkError
} from "../ProjectionError.ts"
import * as ProjectionMetrics from "../ProjectionMetrics.ts"
import * as Runner from "../Runner.ts"
import type * as Sink from "../Sink.ts"
import { messageOf, retrier } from "./helpers.ts"
import * as Maintenance from "./maintenance.ts"

export { messageOf, READ_AHEAD_CHUNKS, type Retrier, retrier, splitBatches } from "./helpers.ts"

/** The state of one projection (or one lane of it) inside a runner. Mutated only between yields. */
export interface Slot<E, R> {
  /** The checkpoint name: the projection's name, or its lane's (`<name>#lane<i>/<n>`). */
  readonly name: string
  /** The projection's name (what the runner API takes). */
  readonly group: string
  readonly version: number
  readonly key: Sink.CheckpointKey
  /** The projection, with the client type its sink provides (`Projection.bind` checked that they match). */
  readonly projection: Projection.Projection<unknown, E, R>
  readonly sink: Sink.Sink<unknown>
  readonly metrics: ProjectionMetrics.ProjectionMetrics
  readonly poisonMetrics: ReturnType<typeof ProjectionMetrics.poisonForProjection>
  readonly lane: number
  readonly lanes: number
  readonly policy: Poison.Policy | undefined
  /** Checkpoint of the serving version while this slot rebuilds another one (handlers' `sideEffects`). */
  readonly shadow: Sink.CheckpointKey | undefined
  /** Parked entries per stream (per-stream ordering blocks the streams in it). */
  readonly blocked: Map<string, number>
  parkedCount: number
  halted: Sink.Halted | undefined
  position: bigint
  timestamp: number | undefined
  state: Runner.State
  failures: number
  lastError: string | undefined
  stopped: ProjectionStopped | ProjectionHalted | undefined
  /** Completed (and replaced) whenever `position` moves or the projection stops. */
  signal: Deferred.Deferred<void>
}

/** What one committed batch did. */
export interface BatchResult {
  readonly applied: number
  readonly skipped: number
  readonly redelivered: number
}

/** The log as the engine uses it (`read` for replays and lane rescaling; specs run without it). */
export interface EngineLog {
  readonly currentIndex: Effect.Effect<bigint>
  readonly read?: BinLogger.BinLogger["Service"]["read"] | undefined
}

/** Options the runners do not expose. */
export interface Internal {
  /** The serving version's checkpoint key while a projection rebuilds (see `Rebuild`). */
  readonly shadowOf?: ((name: string) => Sink.CheckpointKey | undefined) | undefined
}

export interface ApplyOptions {
  readonly onCommit?: ((position: bigint) => Effect.Effect<void>) | undefined
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
    options?: ApplyOptions
  ) => Effect.Effect<BatchResult, ProjectionFailed | SinkError, R>
  /**
   * {@link applyBatch} under the slot's poison policy: a failing batch is bisected down to the failing entry, which
   * is retried, then parked or halts the projection. Without a policy, exactly `applyBatch`. Does nothing once the
   * slot has stopped.
   */
  readonly applyRange: (
    slot: Slot<E, R>,
    batch: ReadonlyArray<BinLogger.LogEntry>,
    options?: ApplyOptions
  ) => Effect.Effect<void, ProjectionFailed | SinkError, R>
  /** Records a failed attempt (metrics, status, log). */
  readonly recordFailure: (slot: Slot<E, R>, cause: Cause.Cause<unknown>) => Effect.Effect<void>
  /** Marks a projection as healthy again after a commit following failures. */
  readonly recordSuccess: (slot: Slot<E, R>) => void
  /** Stops a projection for good; waiters fail with `ProjectionStopped`. */
  readonly stop: (slot: Slot<E, R>, reason: string) => Effect.Effect<void>
  /** Refreshes the lag gauges of one, or every running, projection (after the durable index moved). */
  readonly refreshLag: (slot?: Slot<E, R>) => Effect.Effect<void>
  /** Clears the halted/stopped state of a projection's slots (persisted); returns the slots to restart. */
  readonly resume: (name: string) => Effect.Effect<ReadonlyArray<Slot<E, R>>, ProjectionNotFound | SinkError>
  /** Resolves when some projection is resumed. */
  readonly awaitResumed: Effect.Effect<void>
}

const EMPTY: BatchResult = { applied: 0, skipped: 0, redelivered: 0 }

const isProjectionFailed = (e: unknown): e is ProjectionFailed =>
  typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === "ProjectionFailed"

const errorText = (e: ProjectionFailed): string => {
  const c = e.cause
  return c instanceof Error ? `${c.name}: ${c.message}` : String(c)
}

/** One `applyBatch` call: what its transaction, its error mapping and its commit share. */
interface BatchRun<E, R> {
  readonly slot: Slot<E, R>
  readonly batch: ReadonlyArray<BinLogger.LogEntry>
  readonly last: BinLogger.LogEntry
  /** The entry being handled when a failure happens; undefined while the sink itself is working. */
  failedAt: BinLogger.LogEntry | undefined
  timestamp: number | undefined
  /** Streams newly blocked by per-stream ordering in this transaction (merged into the slot on commit). */
  parkedNow: Array<string | undefined>
}

/**
 * Validates options, runs every projection's setup, registers and reads checkpoints (one per lane), loads the
 * halted state and the parked entries, and changes lane layouts when asked to. Fails fast on configuration errors:
 * duplicate names, setup failures, a checkpoint beyond the log, a lane change that is not safe.
 */
export const make = Effect.fnUntraced(function*<E, R>(
  options: Runner.Options<E, R>,
  log: EngineLog,
  internal: Internal = {}
): Effect.fn.Return<
  Engine<E, R>,
  DuplicateProjection | ProjectionFailed | SinkError | CheckpointAhead | LanesRescaleRefused | BinLogger.ReadError,
  R
> {
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
  // replays run from the runner's API, outside the effect that built it: they get the services it had
  const services = yield* Effect.context<R>()
  const durable = yield* log.currentIndex
  const slots: Array<Slot<E, R>> = []
  let resumed = Deferred.makeUnsafe<void>()

  const newSlot = (
    bound: Projection.Bound<E, R>,
    lane: number,
    lanes: number,
    stored: Sink.Checkpoint
  ): Slot<E, R> => {
    const projection = bound.projection as Projection.Projection<unknown, E, R>
    const name = Lanes.laneName(projection.name, lane, lanes)
    return {
      name,
      group: projection.name,
      version: projection.version,
      key: { projection: name, version: projection.version },
      projection,
      sink: bound.sink,
      metrics: ProjectionMetrics.forProjection(name, projection.version),
      poisonMetrics: ProjectionMetrics.poisonForProjection(name, projection.version),
      lane,
      lanes,
      policy: bound.poison,
      shadow: internal.shadowOf?.(projection.name),
      blocked: new Map(),
      parkedCount: 0,
      halted: undefined,
      position: stored.position,
      timestamp: stored.timestamp,
      state: "running",
      failures: 0,
      lastError: undefined,
      stopped: undefined,
      signal: Deferred.makeUnsafe<void>()
    }
  }

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
    return { projection: slot.group, position: slot.position, durableIndex, entries, seconds }
  }

  // what runs per batch or call below is an `Effect.fnUntraced`, made once: a generator function created per call
  // gets its own map in old space, which keeps what it captures (batches, slots) alive through scavenges
  const updateLag = Effect.fnUntraced(function*(slot: Slot<E, R>, durableIndex: bigint) {
    const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const lag = lagOf(slot, durableIndex, now)
    yield* Metric.update(slot.metrics.lagEntries, Number(lag.entries))
    if (lag.seconds !== undefined) yield* Metric.update(slot.metrics.lagSeconds, lag.seconds)
  })

  const refreshLag = Effect.fnUntraced(function*(only?: Slot<E, R>) {
    const durableIndex = yield* log.currentIndex
    for (const slot of only === undefined ? slots : [only]) {
      if (slot.stopped === undefined) yield* updateLag(slot, durableIndex)
    }
  })

  /** The transaction of one batch: applies the entries past the stored checkpoint and writes the new one. */
  const applyEntries = Effect.fnUntraced(function*(run: BatchRun<E, R>, shadowAt: bigint | undefined) {
    const { batch, last, slot } = run
    const stored = yield* slot.sink.readCheckpoint(slot.key)
    if (last.index <= stored.position) {
      run.timestamp = stored.timestamp
      return { applied: 0, skipped: 0, redelivered: batch.length, position: stored.position }
    }
    const work = slot.projection.begin(slot.sink.client)
    let applied = 0
    let skipped = 0
    let redelivered = 0
    const prepare = slot.projection.prepare
    const laned = slot.lanes > 1
    const blocking = slot.policy?.perStreamOrdering === true
    const parkedNow = run.parkedNow
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!
      if (entry.index <= stored.position) {
        redelivered++
        continue
      }
      if (laned && Lanes.laneOf(slot.projection.streamOf(entry), slot.lanes) !== slot.lane) {
        skipped++
        continue
      }
      const p = prepare(entry)
      if (p === Projection.skip) {
        skipped++
        continue
      }
      if (blocking && (slot.blocked.size > 0 || parkedNow.length > 0)) {
        const stream = slot.projection.streamOf(entry)
        if (stream !== undefined && (slot.blocked.has(stream) || parkedNow.includes(stream))) {
          run.failedAt = undefined
          yield* slot.sink.park(slot.key, {
            index: entry.index,
            eventType: slot.projection.eventTypeOf(entry),
            streamId: stream,
            reason: "blocked",
            error: `an earlier entry of stream ${stream} is parked`,
            attempts: 0,
            parkedAtMs: Date.now()
          })
          parkedNow.push(stream)
          continue
        }
      }
      run.failedAt = entry
      yield* work.apply(entry, p, { sideEffects: shadowAt === undefined || entry.index > shadowAt })
      applied++
    }
    run.failedAt = last
    yield* work.end
    run.failedAt = undefined
    run.timestamp = slot.projection.timestampOf(last) ?? (applied > 0 ? undefined : stored.timestamp)
    yield* slot.sink.writeCheckpoint(slot.key, { position: last.index, timestamp: run.timestamp })
    return { applied, skipped, redelivered, position: last.index }
  })

  const transact = Effect.fnUntraced(function*(run: BatchRun<E, R>) {
    const slot = run.slot
    run.parkedNow = []
    // the serving version's position, read before the transaction takes its locks (it only grows)
    const shadowAt = slot.shadow === undefined
      ? undefined
      : (yield* slot.sink.readCheckpoint(slot.shadow)).position
    return yield* slot.sink.transaction(applyEntries(run, shadowAt))
  })

  const transaction = (run: BatchRun<E, R>) =>
    transact(run).pipe(
      traceHandlers ? identity : Effect.withTracerEnabled(false),
      Effect.mapError((cause): ProjectionFailed | SinkError => {
        const failedAt = run.failedAt
        if (failedAt === undefined) return cause as SinkError
        return new ProjectionFailed({
          projection: run.slot.name,
          version: run.slot.version,
          index: failedAt.index.toString(),
          eventType: run.slot.projection.eventTypeOf(failedAt),
          cause
        })
      })
    )

  /** Runs the transaction of `run`, then updates the slot's state and metrics and wakes its waiters. */
  const commit = Effect.fnUntraced(function*(run: BatchRun<E, R>, onCommit: ApplyOptions["onCommit"]) {
    const { batch, slot } = run
    const [elapsed, result] = yield* Effect.timed(transaction(run))
    // committed: update state and metrics first, then wake waiters (so they observe the metrics too)
    const advanced = result.position > slot.position
    if (advanced) {
      slot.position = result.position
      slot.timestamp = run.timestamp
    }
    if (run.parkedNow.length > 0) yield* noteParked(slot, run.parkedNow)
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
  })

  const applyBatch = (
    slot: Slot<E, R>,
    batch: ReadonlyArray<BinLogger.LogEntry>,
    options: ApplyOptions = {}
  ): Effect.Effect<BatchResult, ProjectionFailed | SinkError, R> => {
    const first = batch[0]
    const last = batch[batch.length - 1]
    if (first === undefined || last === undefined) return Effect.succeed(EMPTY)
    if (last.index <= slot.position) {
      // already committed (a re-delivered range): no transaction at all
      return Effect.as(Metric.update(slot.metrics.eventsRedelivered, batch.length), EMPTY)
    }
    const run: BatchRun<E, R> = { slot, batch, last, failedAt: undefined, timestamp: undefined, parkedNow: [] }
    return commit(run, options.onCommit).pipe(
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

  /** Counts newly parked entries (per stream, for per-stream ordering) after their transaction committed. */
  const noteParked = Effect.fnUntraced(function*(slot: Slot<E, R>, streams: ReadonlyArray<string | undefined>) {
    for (const stream of streams) {
      if (stream !== undefined) slot.blocked.set(stream, (slot.blocked.get(stream) ?? 0) + 1)
    }
    slot.parkedCount += streams.length
    yield* Metric.update(slot.poisonMetrics.eventsParked, streams.length)
    yield* Metric.update(slot.poisonMetrics.parkedEntries, slot.parkedCount)
  })

  /** The transaction of {@link park}: false if the checkpoint is already past `entry`. */
  const parkEntry = Effect.fnUntraced(function*(
    slot: Slot<E, R>,
    entry: BinLogger.LogEntry,
    stream: string | undefined,
    timestamp: number | undefined,
    error: string
  ) {
    const stored = yield* slot.sink.readCheckpoint(slot.key)
    if (entry.index <= stored.position) return false
    yield* slot.sink.park(slot.key, {
      index: entry.index,
      eventType: slot.projection.eventTypeOf(entry),
      streamId: stream,
      reason: "failed",
      error,
      attempts: 0,
      parkedAtMs: Date.now()
    })
    yield* slot.sink.writeCheckpoint(slot.key, { position: entry.index, timestamp: timestamp ?? stored.timestamp })
    return true
  })

  /** Parks `entry` (reason "failed") and moves the checkpoint past it, in one transaction. */
  const park = Effect.fnUntraced(function*(
    slot: Slot<E, R>,
    entry: BinLogger.LogEntry,
    error: string,
    options: ApplyOptions
  ) {
    const stream = slot.projection.streamOf(entry)
    const timestamp = slot.projection.timestampOf(entry)
    const moved = yield* slot.sink.transaction(parkEntry(slot, entry, stream, timestamp, error))
    if (!moved) return
    slot.position = entry.index
    if (timestamp !== undefined) slot.timestamp = timestamp
    yield* noteParked(slot, [stream])
    yield* Metric.update(slot.metrics.position, Number(slot.position))
    yield* Effect.logWarning(`projection ${slot.name} v${slot.version} parked entry ${entry.index}: ${error}`)
    if (options.onCommit !== undefined) yield* options.onCommit(slot.position)
    wake(slot)
  })

  /** Halts the projection on `entry`: the halted state is committed to the sink, then the slot stops. */
  const halt = Effect.fnUntraced(function*(slot: Slot<E, R>, entry: BinLogger.LogEntry, error: string) {
    const halted: Sink.Halted = { index: entry.index, error, haltedAtMs: Date.now() }
    yield* slot.sink.transaction(slot.sink.writeHalted(slot.key, Option.some(halted)))
    yield* markHalted(slot, halted)
  })

  const markHalted = Effect.fnUntraced(function*(slot: Slot<E, R>, halted: Sink.Halted) {
    slot.halted = halted
    slot.stopped = new ProjectionHalted({
      projection: slot.name,
      version: slot.version,
      index: halted.index.toString(),
      error: halted.error
    })
    slot.state = "halted"
    slot.lastError = halted.error
    yield* Metric.update(slot.poisonMetrics.halted, 1)
    wake(slot)
    yield* Effect.logError(slot.stopped.message).pipe(
      Effect.annotateLogs({ projection: slot.name, position: slot.position.toString() })
    )
  })

  /** The poison entry: retry it alone on the policy's schedule, then park it or halt. */
  const poison = Effect.fnUntraced(function*(
    slot: Slot<E, R>,
    policy: Poison.Policy,
    entry: BinLogger.LogEntry,
    failure: ProjectionFailed,
    options: ApplyOptions
  ): Effect.fn.Return<void, ProjectionFailed | SinkError, R> {
    let last = failure
    slot.failures++
    slot.lastError = last.message
    yield* Metric.update(slot.metrics.failures, 1)
    if (policy.retry !== undefined) {
      const retry = retrier(policy.retry)
      while (yield* retry.wait(last)) {
        const exit = yield* Effect.exit(applyBatch(slot, [entry], options))
        if (Exit.isSuccess(exit)) return
        const error = Cause.findErrorOption(exit.cause)
        if (Option.isNone(error) || !isProjectionFailed(error.value)) return yield* Effect.failCause(exit.cause)
        last = error.value
        slot.failures++
        slot.lastError = last.message
        yield* Metric.update(slot.metrics.failures, 1)
      }
    }
    if (policy.then === "park") yield* park(slot, entry, errorText(last), options)
    else yield* halt(slot, entry, errorText(last))
  })

  /** {@link applyRange} under a poison policy. */
  const applyGuarded = Effect.fnUntraced(function*(
    slot: Slot<E, R>,
    policy: Poison.Policy,
    batch: ReadonlyArray<BinLogger.LogEntry>,
    options: ApplyOptions
  ): Effect.fn.Return<void, ProjectionFailed | SinkError, R> {
    const exit = yield* Effect.exit(applyBatch(slot, batch, options))
    if (Exit.isSuccess(exit)) return
    const error = Cause.findErrorOption(exit.cause)
    if (Option.isNone(error) || !isProjectionFailed(error.value)) return yield* Effect.failCause(exit.cause)
    if (batch.length === 1) return yield* poison(slot, policy, batch[0]!, error.value, options)
    // bisect: the halves commit on their own, down to the failing entry
    const mid = batch.length >> 1
    yield* applyRange(slot, batch.slice(0, mid), options)
    yield* applyRange(slot, batch.slice(mid), options)
  })

  const applyRange = (
    slot: Slot<E, R>,
    batch: ReadonlyArray<BinLogger.LogEntry>,
    options: ApplyOptions = {}
  ): Effect.Effect<void, ProjectionFailed | SinkError, R> =>
    Effect.suspend(() => {
      const policy = slot.policy
      if (slot.stopped !== undefined) return Effect.void
      if (policy === undefined) return Effect.asVoid(applyBatch(slot, batch, options))
      return applyGuarded(slot, policy, batch, options)
    })

  const recordFailure = Effect.fnUntraced(function*(slot: Slot<E, R>, cause: Cause.Cause<unknown>) {
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

  const stop = Effect.fnUntraced(function*(slot: Slot<E, R>, reason: string) {
    if (slot.stopped !== undefined) return
    slot.stopped = new ProjectionStopped({ projection: slot.name, reason })
    slot.state = "stopped"
    slot.lastError = reason
    wake(slot)
    yield* Effect.logError(`projection ${slot.name} v${slot.version} stopped: ${reason}`).pipe(
      Effect.annotateLogs({ projection: slot.name, position: slot.position.toString() })
    )
  })

  for (const bound of options.projections) {
    const projection = bound.projection as Projection.Projection<unknown, E, R>
    const sink = bound.sink
    const lanes = bound.lanes ?? 1
    yield* sink.transaction(projection.setup(sink.client)).pipe(
      Effect.mapError((cause) =>
        cause instanceof ProjectionFailed || (cause as { _tag?: unknown })._tag === "SinkError"
          ? cause as ProjectionFailed | SinkError
          : new ProjectionFailed({ projection: projection.name, version: projection.version, index: "0", cause })
      )
    )
    yield* Maintenance.rescale(bound, lanes, { log, batchSize, newSlot, applyBatch })
    for (let lane = 0; lane < lanes; lane++) {
      const key = { projection: Lanes.laneName(projection.name, lane, lanes), version: projection.version }
      const stored = yield* sink.register(key)
      if (stored.position > durable) {
        return yield* new CheckpointAhead({
          projection: key.projection,
          version: projection.version,
          checkpoint: stored.position.toString(),
          currentIndex: durable.toString()
        })
      }
      const slot = newSlot(bound, lane, lanes, stored)
      const parked = yield* sink.parked(key)
      if (parked.length > 0) yield* noteParked(slot, parked.map((p) => p.streamId))
      const halted = yield* sink.readHalted(key)
      if (Option.isSome(halted)) yield* markHalted(slot, halted.value)
      slots.push(slot)
      yield* Metric.update(slot.metrics.position, Number(stored.position))
    }
  }
  const byName = new Map<string, Array<Slot<E, R>>>()
  for (const slot of slots) {
    const group = byName.get(slot.group)
    if (group === undefined) byName.set(slot.group, [slot])
    else group.push(slot)
  }
  const names = [...byName.keys()]

  const find = (name: string) =>
    Effect.suspend(() => {
      const group = byName.get(name)
      return group === undefined
        ? Effect.fail(new ProjectionNotFound({ projection: name, known: names }))
        : Effect.succeed(group)
    })

  /** The slot of a group that is furthest behind (its position is the projection's). */
  const lowest = (group: ReadonlyArray<Slot<E, R>>) =>
    group.reduce((low, s) => (s.position < low.position ? s : low), group[0]!)

  const awaitGroup = Effect.fnUntraced(function*(group: ReadonlyArray<Slot<E, R>>, index: bigint) {
    for (const slot of group) {
      while (slot.position < index) {
        if (slot.stopped !== undefined) return yield* slot.stopped
        yield* Deferred.await(slot.signal)
      }
    }
  })

  const awaitPosition = (projection: string, index: bigint) =>
    Effect.flatMap(find(projection), (group) => awaitGroup(group, index))

  const resumeGroup = Effect.fnUntraced(function*(group: ReadonlyArray<Slot<E, R>>) {
    const restarted: Array<Slot<E, R>> = []
    for (const slot of group) {
      if (slot.stopped === undefined) continue
      if (slot.halted !== undefined) yield* slot.sink.transaction(slot.sink.writeHalted(slot.key, Option.none()))
      slot.halted = undefined
      slot.stopped = undefined
      slot.state = "running"
      slot.lastError = undefined
      yield* Metric.update(slot.poisonMetrics.halted, 0)
      yield* Effect.logInfo(`projection ${slot.name} v${slot.version} resumed at ${slot.position}`)
      restarted.push(slot)
    }
    const old = resumed
    resumed = Deferred.makeUnsafe<void>()
    Deferred.doneUnsafe(old, Effect.void)
    return restarted
  })

  const resume = (name: string) => Effect.flatMap(find(name), resumeGroup)

  const readEntry = Effect.fnUntraced(function*(index: bigint) {
    const read = log.read
    if (read === undefined) return yield* Effect.die(new Error("replaying parked entries needs the log"))
    const entries = yield* Stream.runCollect(read(index, { to: index }))
    const entry = entries[0]
    if (entry === undefined) return yield* Effect.die(new Error(`the log has no entry ${index}`))
    return entry
  })

  const replayGroup = Effect.fnUntraced(function*(group: ReadonlyArray<Slot<E, R>>, index: bigint | undefined) {
    const replayed: Array<bigint> = []
    const failed: Array<{ readonly index: bigint; readonly error: string }> = []
    for (const slot of group) {
      const r = yield* Maintenance.replaySlot(slot, index, readEntry)
      replayed.push(...r.replayed)
      failed.push(...r.failed)
    }
    replayed.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    return { replayed, failed }
  })

  const replayParked = (name: string, index?: bigint) =>
    Effect.flatMap(find(name), (group) =>
      replayGroup(group, index).pipe(
        Effect.provideContext(services),
        Effect.withSpan("Runner.replayParked", { attributes: { projection: name } })
      ))

  const lagOfGroup = Effect.fnUntraced(function*(group: ReadonlyArray<Slot<E, R>>) {
    const durableIndex = yield* log.currentIndex
    const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    return lagOf(lowest(group), durableIndex, now)
  })

  const runner: Runner.Runner = {
    projections: names,
    awaitPosition: (projection, index) =>
      awaitPosition(projection, index).pipe(
        Effect.withSpan("Runner.awaitPosition", { attributes: { projection, index: index.toString() } })
      ),
    position: (projection) => Effect.map(find(projection), (group) => lowest(group).position),
    lag: (projection) => Effect.flatMap(find(projection), lagOfGroup),
    status: Effect.sync(() =>
      slots.map((s) => ({
        projection: s.name,
        version: s.version,
        sink: s.sink.kind,
        state: s.state,
        position: s.position,
        failures: s.failures,
        lastError: s.lastError,
        parked: s.parkedCount
      }))
    ),
    drain: Effect.gen(function*() {
      const target = yield* log.currentIndex
      for (const name of names) {
        yield* awaitPosition(name, target).pipe(
          Effect.catchTag("ProjectionNotFound", () => Effect.die("unreachable: own slot not found"))
        )
      }
    }).pipe(Effect.withSpan("Runner.drain")),
    parked: (projection) =>
      Effect.flatMap(find(projection), (group) =>
        Effect.map(
          Effect.forEach(group, (slot) => slot.sink.parked(slot.key)),
          (lists) => lists.flat().sort((a, b) => (a.index < b.index ? -1 : a.index > b.index ? 1 : 0))
        )),
    replayParked,
    resume: (projection) => Effect.asVoid(resume(projection))
  }

  return {
    slots,
    batchSize,
    retry: options.retry ?? Runner.defaultRetry,
    runner,
    applyBatch,
    applyRange,
    recordFailure,
    recordSuccess,
    stop,
    refreshLag,
    resume,
    awaitResumed: Effect.suspend(() => Deferred.await(resumed))
  }
})
