/**
 * Command handling for a {@link Decider} over the {@link EventStore}: load the stream's state (newest aggregate
 * snapshot + the events after it), decide, append with the loaded version as the exact expectation, and on a
 * version conflict start again under a `Schedule` (the decision is re-made against the newer state). Domain errors
 * from `decide` stay typed and are never retried.
 *
 * - `handle(streamId, command)`: one stream.
 * - `handleMany([{ streamId, command }, ...])`: several streams decided independently and appended atomically
 *   (one WAL batch, each stream with its own expected version), e.g. a transfer between two accounts: all or
 *   nothing, and any domain error rejects the whole request.
 * - **Idempotency**: pass `idempotencyKey` to derive the event ids deterministically from it (`key/stream/n`), so a
 *   client retrying the same request is acknowledged with the original positions instead of deciding again
 *   (within the store's idempotency window).
 * - **Snapshots**: with `snapshots: { store, every }`, a snapshot is saved whenever the stream has grown by
 *   `every` events since the snapshot it was loaded from; `snapshot(streamId)` saves one on demand. A failed save is
 *   logged, never fails the command.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type * as AggregateSnapshots from "./AggregateSnapshots.ts"
import type * as Decider from "./Decider.ts"
import * as EventStore from "./EventStore.ts"
import { WrongExpectedVersion } from "./EventStoreError.ts"
import type * as EventType from "./EventType.ts"
import { useSpanIfTraced } from "./internal/tracing.ts"

/**
 * Retries of a command after version conflicts by default (exponential from 1 ms, jittered).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CONFLICT_RETRIES = 10

/**
 * The default conflict retry schedule: exponential backoff from 1 ms, jittered, at most
 * {@link DEFAULT_CONFLICT_RETRIES} times.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRetry: Schedule.Schedule<unknown, WrongExpectedVersion> = Schedule.max([
  Schedule.jittered(Schedule.exponential("1 millis")),
  Schedule.recurs(DEFAULT_CONFLICT_RETRIES)
])

/**
 * Commands handled successfully.
 *
 * @since 0.1.0
 * @category metrics
 */
export const commandsHandled = Metric.counter("binlog_es_commands_handled_total", { incremental: true })

/**
 * Command attempts repeated after a version conflict.
 *
 * @since 0.1.0
 * @category metrics
 */
export const commandConflicts = Metric.counter("binlog_es_command_conflicts_total", { incremental: true })

/**
 * Options of a command handler.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<C, E extends EventType.Event, S, Err> {
  readonly decider: Decider.Decider<C, E, S, Err>
  /** The registry of the decider's events (unknown types in its streams fail the load). */
  readonly registry: EventType.Registry<E>
  /** Retry schedule on version conflicts (default {@link defaultRetry}). */
  readonly retry?: Schedule.Schedule<unknown, WrongExpectedVersion> | undefined
  readonly snapshots?: {
    readonly store: AggregateSnapshots.AggregateSnapshots<S>
    /** Save when the stream has grown by this many events since the loaded snapshot. */
    readonly every: number
  } | undefined
  /**
   * Keep the last loaded/decided state of up to `capacity` streams in memory (least recently used evicted), so a
   * load folds only the events appended since (usually none). The cached entry is checked against the stream table
   * (same event at the same global index) before use.
   */
  readonly cache?: { readonly capacity: number } | undefined
}

/**
 * A loaded stream state.
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded<S> {
  readonly state: S
  /** The version the state includes (0: no events). */
  readonly streamVersion: bigint
  /** Global index of the stream's last event (0n when none). */
  readonly index: bigint
  /** The version of the snapshot the load started from (0n when none). */
  readonly snapshotVersion: bigint
}

/**
 * The outcome of handling one stream's command.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handled<E, S> {
  readonly streamId: string
  /** The events the command produced (empty: nothing was appended, or an idempotent repeat). */
  readonly events: ReadonlyArray<E>
  /** The stream's state after the command (for an idempotent repeat: its current state). */
  readonly state: S
  readonly streamVersion: bigint
  /** Global index range of the appended events (undefined when none). */
  readonly first: bigint | undefined
  readonly last: bigint | undefined
  /** The events were already stored by an earlier request with the same idempotency key. */
  readonly idempotent: boolean
}

/**
 * Options of one `handle`/`handleMany` call.
 *
 * @since 0.1.0
 * @category models
 */
export interface HandleOptions extends EventStore.AppendOptions {
  /** Derive event ids from this key so that retrying the same request is idempotent. */
  readonly idempotencyKey?: string | undefined
  /**
   * The version the caller's decision was based on (`handle` only): when the stream is at another version the
   * command fails with `WrongExpectedVersion` at once, without deciding or retrying (client-side optimistic
   * concurrency, e.g. an HTTP `If-Match`).
   */
  readonly expectedVersion?: bigint | undefined
}

/**
 * Errors of command handling besides the decider's own.
 *
 * @since 0.1.0
 * @category errors
 */
export type HandleError = EventStore.AppendError | EventStore.ReadEventError

/**
 * A command handler.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommandHandler<C, E, S, Err> {
  readonly load: (streamId: string) => Effect.Effect<Loaded<S>, EventStore.ReadEventError, EventStore.EventStore>
  readonly handle: (
    streamId: string,
    command: C,
    options?: HandleOptions
  ) => Effect.Effect<Handled<E, S>, Err | HandleError, EventStore.EventStore>
  readonly handleMany: (
    commands: ReadonlyArray<{ readonly streamId: string; readonly command: C }>,
    options?: HandleOptions
  ) => Effect.Effect<ReadonlyArray<Handled<E, S>>, Err | HandleError, EventStore.EventStore>
  /** Saves a snapshot of the stream's current state now (needs `snapshots`). */
  readonly snapshot: (
    streamId: string
  ) => Effect.Effect<
    Loaded<S>,
    EventStore.ReadEventError | AggregateSnapshots.SnapshotEncodeError,
    EventStore.EventStore
  >
}

/** Per-command spans capture no stack trace (capturing costs more than the rest of the span). */
const NO_STACK = { captureStackTrace: false } as const

/** A state-cache slot: the loaded state and when it was last used (a stamp of the handler's clock). */
interface CacheSlot<S> {
  loaded: Loaded<S>
  used: number
}

class DomainError<Err> {
  readonly error: Err
  constructor(error: Err) {
    this.error = error
  }
}

/**
 * Builds a command handler.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <C, E extends EventType.Event, S, Err>(
  options: Options<C, E, S, Err>
): CommandHandler<C, E, S, Err> => {
  const { decider, registry } = options
  const retry = options.retry ?? defaultRetry

  const capacity = options.cache?.capacity ?? 0
  // LRU by use stamps: a hit rewrites its slot (no map operation per command); once the map holds 10% more than
  // `capacity`, it is rebuilt with the `capacity` most recently used slots (amortised O(log n) per insert)
  let cache = new Map<string, CacheSlot<S>>()
  let clock = 0
  const cachedOf = (streamId: string): Loaded<S> | undefined => cache.get(streamId)?.loaded
  const remember = (streamId: string, loaded: Loaded<S>) => {
    if (capacity <= 0) return
    const slot = cache.get(streamId)
    if (slot !== undefined) {
      slot.loaded = loaded
      slot.used = ++clock
      return
    }
    cache.set(streamId, { loaded, used: ++clock })
    if (cache.size > capacity + Math.ceil(capacity / 10)) {
      cache = new Map([...cache].sort((a, b) => b[1].used - a[1].used).slice(0, capacity))
    }
  }

  const load = (streamId: string): Effect.Effect<Loaded<S>, EventStore.ReadEventError, EventStore.EventStore> =>
    EventStore.EventStore.use((store) => loadWith(store, streamId)).pipe(
      Effect.withSpan("CommandHandler.load", { attributes: { streamId } }, NO_STACK)
    )

  /** Load without a span of its own; a current cache entry costs one look-up (and is marked recently used). */
  const loadWith = (
    store: EventStore.EventStore["Service"],
    streamId: string
  ): Effect.Effect<Loaded<S>, EventStore.ReadEventError, EventStore.EventStore> => {
    const cached = cachedOf(streamId)
    if (cached === undefined) return loadFrom(store, streamId, undefined)
    if (!store.isHeadUnsafe(streamId, cached.streamVersion, cached.index)) return loadFrom(store, streamId, cached)
    remember(streamId, cached)
    return Effect.succeed(cached)
  }

  /** Marks a cached state as recently used (when nothing newer is remembered for the stream). */
  const touch = (streamId: string, loaded: Loaded<S>) => {
    const slot = cache.get(streamId)
    if (slot !== undefined && slot.loaded === loaded) slot.used = ++clock
  }

  const loadFrom = Effect.fnUntraced(function*(
    store: EventStore.EventStore["Service"],
    streamId: string,
    cached: Loaded<S> | undefined
  ) {
    let start: Loaded<S> = { state: decider.initialState(), streamVersion: 0n, index: 0n, snapshotVersion: 0n }
    if (cached !== undefined) {
      // still the same history? (the cached last event is where the table says it is)
      const at = cached.streamVersion === 0n ? Option.some(0n) : yield* store.indexOf(streamId, cached.streamVersion)
      if (Option.isSome(at) && at.value === cached.index) start = cached
      else cache.delete(streamId)
    }
    if (start === cached) {
      // fold the tail below
    } else if (options.snapshots !== undefined) {
      const snap = yield* options.snapshots.store.load(streamId)
      if (Option.isSome(snap)) {
        // trust it only if the log still has that event at that position (not a snapshot of a lost tail)
        const at = yield* store.indexOf(streamId, snap.value.streamVersion)
        if (Option.isSome(at) && at.value === snap.value.index) {
          start = {
            state: snap.value.state,
            streamVersion: snap.value.streamVersion,
            index: snap.value.index,
            snapshotVersion: snap.value.streamVersion
          }
        } else {
          yield* Effect.logWarning(`CommandHandler: the snapshot of ${streamId} does not match the log; ignored`)
        }
      }
    }
    const loaded = yield* EventStore.readStream(registry, streamId, { from: start.streamVersion + 1n }).pipe(
      Stream.runFold(() => start, (acc, e): Loaded<S> => ({
        state: decider.evolve(acc.state, e.event),
        streamVersion: e.streamVersion,
        index: e.index,
        snapshotVersion: acc.snapshotVersion
      }))
    )
    remember(streamId, loaded)
    return loaded
  })

  /** Saves a snapshot when due; returns whether one was saved. */
  const maybeSnapshot = (streamId: string, loaded: Loaded<S>): Effect.Effect<boolean> =>
    Effect.suspend(() => {
      const snaps = options.snapshots
      if (snaps === undefined || loaded.streamVersion === 0n) return Effect.succeed(false)
      if (loaded.streamVersion - loaded.snapshotVersion < BigInt(snaps.every)) return Effect.succeed(false)
      return snaps.store.save(streamId, {
        state: loaded.state,
        streamVersion: loaded.streamVersion,
        index: loaded.index
      }).pipe(
        Effect.as(true),
        Effect.catch((e) =>
          Effect.as(Effect.logWarning(`CommandHandler: saving the snapshot of ${streamId} failed: ${e.message}`), false)
        )
      )
    })

  const inputs = (streamId: string, events: ReadonlyArray<E>, key: string | undefined) =>
    events.map((event, n): EventStore.EventInput<E> => ({
      event,
      eventId: key === undefined ? undefined : `${key}/${streamId}/${n}`
    }))

  /**
   * When the events of an earlier request with this idempotency key are stored (all streams), the request's result:
   * the original positions and the streams' current states. Checked before deciding, so a retry is acknowledged even
   * when deciding again would now fail.
   */
  const alreadyHandled = Effect.fnUntraced(function*(
    store: EventStore.EventStore["Service"],
    commands: ReadonlyArray<{ readonly streamId: string; readonly command: C }>,
    key: string
  ) {
    const found: Array<{ first: bigint; last: bigint; streamVersion: bigint }> = []
    for (const c of commands) {
      let n = 0
      let hit = yield* store.findEventId(`${key}/${c.streamId}/${n}`)
      if (Option.isNone(hit)) return undefined
      const first = hit.value.index
      let last = hit
      while (Option.isSome(hit)) {
        last = hit
        hit = yield* store.findEventId(`${key}/${c.streamId}/${++n}`)
      }
      found.push({ first, last: last.value.index, streamVersion: last.value.streamVersion })
    }
    const first = found.reduce((m, f) => (f.first < m ? f.first : m), found[0]!.first)
    const last = found.reduce((m, f) => (f.last > m ? f.last : m), found[0]!.last)
    const out: Array<Handled<E, S>> = []
    for (let i = 0; i < commands.length; i++) {
      const loaded = yield* load(commands[i]!.streamId)
      out.push({
        streamId: commands[i]!.streamId,
        events: [],
        state: loaded.state,
        streamVersion: found[i]!.streamVersion,
        first,
        last,
        idempotent: true
      })
    }
    return out
  })

  /**
   * One attempt for one stream without an idempotency key (the common case), with no generator: a generator function
   * created per call costs ~1 µs of CPU by itself. Same steps and results as {@link attemptMany}.
   */
  const attemptOne = (
    store: EventStore.EventStore["Service"],
    streamId: string,
    command: C,
    opts: HandleOptions | undefined
  ): Effect.Effect<Handled<E, S>, DomainError<Err> | HandleError, EventStore.EventStore> => {
    // a current cache entry goes straight on (no Effect to load it); the entry is touched once: by `remember` after
    // the append, or by `touch` when nothing is appended
    const cached = cachedOf(streamId)
    if (cached !== undefined && store.isHeadUnsafe(streamId, cached.streamVersion, cached.index)) {
      return decideAndAppend(store, streamId, command, opts, cached)
    }
    // missing or stale (the check above): fold from the cached state when it is still the stream's history
    return Effect.flatMap(
      loadFrom(store, streamId, cached),
      (before) => decideAndAppend(store, streamId, command, opts, before)
    )
  }

  /** The rest of {@link attemptOne} once the stream's state is loaded. */
  const decideAndAppend = (
    store: EventStore.EventStore["Service"],
    streamId: string,
    command: C,
    opts: HandleOptions | undefined,
    before: Loaded<S>
  ): Effect.Effect<Handled<E, S>, DomainError<Err> | HandleError, EventStore.EventStore> => {
    const expected = opts?.expectedVersion
    if (expected !== undefined && before.streamVersion !== expected) {
      touch(streamId, before)
      return Effect.fail(
        new WrongExpectedVersion({ streamId, expected: expected.toString(), actual: before.streamVersion })
      )
    }
    const decided = decider.decide(command, before.state)
    if (Result.isFailure(decided)) {
      touch(streamId, before)
      return Effect.fail(new DomainError(decided.failure))
    }
    const events = decided.success
    if (events.length === 0) {
      touch(streamId, before)
      return Effect.succeed<Handled<E, S>>({
        streamId,
        events,
        state: before.state,
        streamVersion: before.streamVersion,
        first: undefined,
        last: undefined,
        idempotent: false
      })
    }
    const encoded = EventStore.encodeEvents(registry, events, opts)
    if (Result.isFailure(encoded)) return Effect.fail(encoded.failure)
    const append: EventStore.StreamAppend<EventStore.EncodedEvent> = {
      streamId,
      expectedVersion: EventStore.ExpectedVersion.exact(before.streamVersion),
      events: encoded.success
    }
    const handled = (result: EventStore.AppendManyResult): Handled<E, S> => {
      let state = before.state
      for (const e of events) state = decider.evolve(state, e)
      return {
        streamId,
        events,
        state,
        streamVersion: result.streams[0]!.streamVersion,
        first: result.first,
        last: result.last,
        idempotent: result.idempotent
      }
    }
    const loadedAfter = (h: Handled<E, S>, result: EventStore.AppendManyResult): Loaded<S> => ({
      state: h.state,
      streamVersion: h.streamVersion,
      index: result.last,
      snapshotVersion: before.snapshotVersion
    })
    if (options.snapshots === undefined) {
      return Effect.map(store.appendEncoded([append]), (result) => {
        const h = handled(result)
        if (h.idempotent) touch(streamId, before)
        else remember(streamId, loadedAfter(h, result))
        return h
      })
    }
    return Effect.flatMap(store.appendEncoded([append]), (result) => {
      const h = handled(result)
      if (h.idempotent) {
        touch(streamId, before)
        return Effect.succeed(h)
      }
      const after = loadedAfter(h, result)
      return Effect.map(maybeSnapshot(streamId, after), (saved) => {
        remember(streamId, saved ? { ...after, snapshotVersion: after.streamVersion } : after)
        return h
      })
    })
  }

  const attemptMany = Effect.fnUntraced(function*(
    commands: ReadonlyArray<{ readonly streamId: string; readonly command: C }>,
    opts: HandleOptions | undefined
  ) {
    const store = yield* EventStore.EventStore
    const key = opts?.idempotencyKey
    if (key !== undefined) {
      const done = yield* alreadyHandled(store, commands, key)
      if (done !== undefined) return done
    }
    const loaded = commands.length === 1
      ? [yield* loadWith(store, commands[0]!.streamId)]
      : yield* Effect.forEach(commands, (c) => loadWith(store, c.streamId), { concurrency: "unbounded" })
    const expected = opts?.expectedVersion
    if (expected !== undefined && commands.length === 1 && loaded[0]!.streamVersion !== expected) {
      return yield* new WrongExpectedVersion({
        streamId: commands[0]!.streamId,
        expected: expected.toString(),
        actual: loaded[0]!.streamVersion
      })
    }
    const decided: Array<ReadonlyArray<E>> = []
    for (let i = 0; i < commands.length; i++) {
      const r = decider.decide(commands[i]!.command, loaded[i]!.state)
      if (Result.isFailure(r)) return yield* Effect.fail(new DomainError(r.failure))
      decided.push(r.success)
    }
    const appends = commands
      .map((c, i) => ({
        streamId: c.streamId,
        expectedVersion: EventStore.ExpectedVersion.exact(loaded[i]!.streamVersion),
        events: inputs(c.streamId, decided[i]!, opts?.idempotencyKey)
      }))
      .filter((a) => a.events.length > 0)
    let result: EventStore.AppendManyResult | undefined
    if (appends.length > 0) {
      const encoded = EventStore.encodeAppends(registry, appends, opts)
      if (Result.isFailure(encoded)) return yield* Effect.fail(encoded.failure)
      result = yield* store.appendEncoded(encoded.success)
    }
    if (result?.idempotent === true && key !== undefined) {
      // a concurrent duplicate of this request won the race: report its result
      const done = yield* alreadyHandled(store, commands, key)
      if (done !== undefined) return done
    }
    const out: Array<Handled<E, S>> = []
    for (let i = 0; i < commands.length; i++) {
      const c = commands[i]!
      const events = decided[i]!
      const before = loaded[i]!
      const r = result?.streams.find((s) => s.streamId === c.streamId)
      let state = before.state
      for (const e of events) state = decider.evolve(state, e)
      const streamVersion = r?.streamVersion ?? before.streamVersion
      if (r !== undefined && !result!.idempotent) {
        // the global index of this stream's last new event (appends to several streams interleave nothing, but
        // each stream's events are a sub-range of the batch)
        const index = commands.length === 1
          ? result!.last
          : Option.getOrElse(yield* store.indexOf(c.streamId, r.streamVersion), () => result!.last)
        const after: Loaded<S> = { state, streamVersion, index, snapshotVersion: before.snapshotVersion }
        const saved = options.snapshots === undefined ? false : yield* maybeSnapshot(c.streamId, after)
        remember(c.streamId, saved ? { ...after, snapshotVersion: streamVersion } : after)
      }
      out.push({
        streamId: c.streamId,
        events,
        state,
        streamVersion,
        first: r === undefined ? undefined : result!.first,
        last: r === undefined ? undefined : result!.last,
        idempotent: result?.idempotent ?? false
      })
    }
    return out
  })

  type AttemptError = DomainError<Err> | HandleError

  const unwrap = (e: AttemptError): Err | HandleError => e instanceof DomainError ? e.error : e

  const retryable = (e: AttemptError, opts: HandleOptions | undefined) =>
    !(e instanceof DomainError) && e._tag === "WrongExpectedVersion" && opts?.expectedVersion === undefined

  /**
   * Runs `attempt` under the retry schedule: the happy path is one attempt and one catch; the retry machinery is
   * built only after a conflict. Counts the command (in the caller's context) once it succeeded.
   */
  const withRetry = <A>(
    context: Context.Context<EventStore.EventStore>,
    opts: HandleOptions | undefined,
    attempt: () => Effect.Effect<A, AttemptError, EventStore.EventStore>
  ): Effect.Effect<A, Err | HandleError, EventStore.EventStore> =>
    Effect.matchEffect(attempt(), {
      onFailure: (e) => {
        if (!retryable(e, opts)) return Effect.fail(unwrap(e))
        let first = true
        // re-raise the first conflict so the schedule decides the first delay too
        const again = Effect.suspend(() => {
          if (!first) return attempt()
          first = false
          return Effect.fail(e)
        }).pipe(Effect.tapError((e) => retryable(e, opts) ? Metric.update(commandConflicts, 1) : Effect.void))
        return Effect.retry(again, {
          schedule: retry as Schedule.Schedule<unknown, AttemptError>,
          while: (e) => retryable(e, opts)
        }).pipe(
          Effect.mapError(unwrap),
          Effect.tap(() => Metric.update(commandsHandled, 1))
        )
      },
      onSuccess: (a) => {
        commandsHandled.updateUnsafe(1, context)
        return Effect.succeed(a)
      }
    })

  // One span per call, made with `useSpan`: a child of the caller's span that does not become the parent of what
  // runs inside (the log's `BinLogger.logPrepared` span is its sibling). `withSpan`, or providing the span as the
  // parent, changes the fiber's context twice per call, and each change rebuilds the fiber's context cache: ~1.2 µs
  // of CPU per command (bench/eventstore.ts), as much as the rest of the handler's own work. No stack trace, and
  // no span at all without a tracing backend (internal/tracing.ts).
  const spanned = <A, Err2>(
    streams: string,
    body: (
      context: Context.Context<EventStore.EventStore>,
      store: EventStore.EventStore["Service"]
    ) => Effect.Effect<A, Err2, EventStore.EventStore>
  ): Effect.Effect<A, Err2, EventStore.EventStore> =>
    useSpanIfTraced(
      "CommandHandler.handle",
      { attributes: { streams } },
      (fiber) => {
        const context = fiber.context as Context.Context<EventStore.EventStore>
        return body(context, Context.get(context, EventStore.EventStore))
      }
    )

  const handleMany = (
    commands: ReadonlyArray<{ readonly streamId: string; readonly command: C }>,
    opts?: HandleOptions
  ): Effect.Effect<ReadonlyArray<Handled<E, S>>, Err | HandleError, EventStore.EventStore> =>
    spanned(
      commands.length === 1 ? commands[0]!.streamId : commands.map((c) => c.streamId).join(","),
      (context) => withRetry(context, opts, () => attemptMany(commands, opts))
    )

  const handle = (
    streamId: string,
    command: C,
    opts?: HandleOptions
  ): Effect.Effect<Handled<E, S>, Err | HandleError, EventStore.EventStore> => {
    if (opts?.idempotencyKey !== undefined) {
      return Effect.map(handleMany([{ streamId, command }], opts), (rs) => rs[0]!)
    }
    return spanned(
      streamId,
      (context, store) => withRetry(context, opts, () => attemptOne(store, streamId, command, opts))
    )
  }

  const snapshot = Effect.fnUntraced(function*(streamId: string) {
    const loaded = yield* load(streamId)
    const snaps = options.snapshots
    if (snaps !== undefined && loaded.streamVersion > 0n) {
      yield* snaps.store.save(streamId, {
        state: loaded.state,
        streamVersion: loaded.streamVersion,
        index: loaded.index
      })
        .pipe(
          Effect.catchTag("WalIoError", (e) => Effect.logWarning(`CommandHandler: snapshot failed: ${e.message}`))
        )
      if (cache.has(streamId)) remember(streamId, { ...loaded, snapshotVersion: loaded.streamVersion })
    }
    return loaded
  }, (effect, streamId) => Effect.withSpan(effect, "CommandHandler.snapshot", { attributes: { streamId } }))

  return { load, handle, handleMany, snapshot }
}
