/**
 * A test kit for projections: `given(events).then(rows)`.
 *
 * ```ts
 * const spec = ProjectionSpec.make({
 *   projection: balances,
 *   sink: SqlSink.sqlite({ filename: ":memory:" }),     // or MemorySink.make<Tables>()
 *   rows: (sql) => sql`SELECT account, cents FROM balances_v1 ORDER BY account`,
 *   registry: EventType.registry(Opened, Deposited)      // to encode typed events
 * })
 * yield* spec.given([{ streamId: "a", event: Opened.make({ owner: "ada" }) }]).then([{ account: "a", cents: 0 }])
 * yield* spec.given(events).deliveredTwice.then(rows)     // every entry delivered again: same rows
 * ```
 *
 * Each run uses a fresh sink and applies the events exactly as the runners do — the same per-batch transaction
 * with the checkpoint, the same skip of entries at or below it — without a WAL: entries get indexes 1, 2, … in the
 * order given (typed events are wrapped in envelopes with per-stream versions, timestamps 1 s apart from
 * {@link SPEC_EPOCH_MS}, unless given). `deliveredTwice` re-delivers every batch together with the one before it
 * after forgetting the position the runner had cached, so the sink's stored checkpoint alone must prevent double
 * application (partly overlapping ranges, as after a crash between commit and release).
 *
 * Rows are compared with Node's `assert.deepStrictEqual` after normalizing driver row objects to plain objects;
 * a mismatch fails with {@link ProjectionSpecFailed} carrying the diff.
 *
 * @since 0.1.0
 */
import type * as BinLogger from "@binlog/core/BinLogger"
import * as Envelope from "@binlog/core/Envelope"
import type * as EventType from "@binlog/core/EventType"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as NodeAssert from "node:assert/strict"
import * as Engine from "./internal/engine.ts"
import * as Projection from "./Projection.ts"
import type { CheckpointAhead, DuplicateProjection, ProjectionFailed, SinkError } from "./ProjectionError.ts"
import type * as Sink from "./Sink.ts"

/**
 * Timestamp of the first typed spec event (2025-01-01T00:00:00Z); each later one is 1 s later.
 *
 * @since 0.1.0
 * @category constants
 */
export const SPEC_EPOCH_MS = 1_735_689_600_000

/**
 * Entries per transaction in specs by default (small, so batches and their boundaries are exercised).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_SPEC_BATCH_SIZE = 3

type EncodeResult = Result.Result<EventType.EncodedPayload, EventType.EventEncodeError>

/**
 * An event given to a spec: raw entry bytes, or a typed event for a stream.
 *
 * @since 0.1.0
 * @category models
 */
export type SpecEvent =
  | Uint8Array
  | {
    readonly streamId: string
    readonly event: EventType.Event
    readonly timestamp?: number | undefined
    readonly metadata?: Readonly<Record<string, string>> | undefined
  }

/**
 * The rows were not the expected ones, or the projection did not fail as expected.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProjectionSpecFailed extends Schema.TaggedError<ProjectionSpecFailed>()("ProjectionSpecFailed", {
  projection: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `ProjectionSpec ${this.projection}: ${this.reason}`
  }
}

/**
 * Errors of running a spec's events.
 *
 * @since 0.1.0
 * @category errors
 */
export type RunError = ProjectionFailed | SinkError | CheckpointAhead | DuplicateProjection

/**
 * Events given, ready for an expectation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Given<R> {
  /** More events after the given ones (Emmett's `when`). */
  readonly when: (events: ReadonlyArray<SpecEvent>) => Given<R>
  /** Delivers every batch a second time (overlapping the one before), as after crashes. */
  readonly deliveredTwice: Given<R>
  /** Applies the events and returns the rows. */
  readonly rows: Effect.Effect<unknown, RunError | ProjectionSpecFailed, R | Scope.Scope>
  /** Applies the events and compares the rows with `expected`. */
  readonly then: (expected: unknown) => Effect.Effect<void, RunError | ProjectionSpecFailed, R | Scope.Scope>
  /** Expects the projection to fail; returns the failure. */
  readonly thenFails: Effect.Effect<ProjectionFailed, SinkError | ProjectionSpecFailed, R | Scope.Scope>
}

/**
 * A spec of one projection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Spec<R> {
  readonly given: (events: ReadonlyArray<SpecEvent>) => Given<R>
}

/** Driver rows (null-prototype objects, bigints from some drivers) as plain, comparable values. */
const normalize = (u: unknown): unknown => {
  if (Array.isArray(u)) return u.map(normalize)
  if (u === null || typeof u !== "object" || ArrayBuffer.isView(u) || u instanceof Date) return u
  return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, normalize(v)]))
}

/**
 * Builds a spec. `sink` is acquired afresh for every run; `rows` reads the read model with the sink's client.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Client, E, R, RE = never, RR = never>(options: {
  readonly projection: Projection.Projection<Client, E, R>
  readonly sink: Effect.Effect<Sink.Sink<Client>, SinkError, Scope.Scope>
  readonly rows: (client: Client) => Effect.Effect<unknown, RE, RR>
  /** Encodes typed events (required when typed events are given): an `EventType.registry(...)`. */
  readonly registry?: { readonly encode: (event: never) => EncodeResult } | undefined
  readonly batchSize?: number | undefined
}): Spec<R | RR> => {
  const name = options.projection.name
  const batchSize = options.batchSize ?? DEFAULT_SPEC_BATCH_SIZE
  const fail = (reason: string) => new ProjectionSpecFailed({ projection: name, reason })

  const encode = (events: ReadonlyArray<SpecEvent>) =>
    Effect.suspend(() => {
      const versions = new Map<string, number>()
      const out: Array<BinLogger.LogEntry> = []
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!
        const index = BigInt(i + 1)
        if (e instanceof Uint8Array) {
          out.push({ index, data: e })
          continue
        }
        if (options.registry === undefined) return Effect.fail(fail("typed events need a `registry` to encode them"))
        // the registry's event type is checked by its own `encode`: an event it does not know fails there
        const payload = (options.registry.encode as (event: EventType.Event) => EncodeResult)(e.event)
        if (Result.isFailure(payload)) return Effect.fail(fail(payload.failure.message))
        const version = (versions.get(e.streamId) ?? 0) + 1
        versions.set(e.streamId, version)
        out.push({
          index,
          data: Envelope.encode(Envelope.make({
            ...payload.success,
            streamId: e.streamId,
            streamVersion: BigInt(version),
            eventId: `${e.streamId}/${version}`,
            timestamp: e.timestamp ?? SPEC_EPOCH_MS + i * 1000,
            metadata: e.metadata
          }))
        })
      }
      return Effect.succeed(out)
    })

  const run = (events: ReadonlyArray<SpecEvent>, twice: boolean) =>
    Effect.gen(function*() {
      const entries = yield* encode(events)
      const sink = yield* options.sink
      const currentIndex = Effect.succeed(BigInt(entries.length))
      const engine = yield* Engine.make({ projections: [Projection.bind(options.projection, sink)], batchSize }, {
        currentIndex
      }).pipe(
        // no lanes and no log to read in a spec: these cannot happen
        Effect.catch((e) =>
          e._tag === "CheckpointAhead" || e._tag === "DuplicateProjection" || e._tag === "ProjectionFailed" ||
            e._tag === "SinkError"
            ? Effect.fail(e)
            : Effect.die(e)
        )
      )
      const slot = engine.slots[0]!
      const batches: Array<ReadonlyArray<BinLogger.LogEntry>> = []
      for (let i = 0; i < entries.length; i += batchSize) batches.push(entries.slice(i, i + batchSize))
      for (let i = 0; i < batches.length; i++) {
        yield* engine.applyBatch(slot, batches[i]!)
        if (twice) {
          // forget the cached position: only the stored checkpoint stands between these entries and a second apply
          slot.position = 0n
          yield* engine.applyBatch(slot, [...(batches[i - 1] ?? []), ...batches[i]!])
        }
      }
      return normalize(yield* Effect.mapError(options.rows(sink.client), (e) => fail(`reading rows failed: ${e}`)))
    })

  const given = (events: ReadonlyArray<SpecEvent>, twice: boolean): Given<R | RR> => {
    const rows = run(events, twice)
    return {
      when: (more) => given([...events, ...more], twice),
      get deliveredTwice() {
        return given(events, true)
      },
      rows,
      then: (expected) =>
        Effect.flatMap(rows, (actual) =>
          Effect.try({
            try: () => NodeAssert.deepStrictEqual(actual, normalize(expected)),
            catch: (e) => fail(e instanceof Error ? e.message : String(e))
          })),
      thenFails: rows.pipe(
        Effect.flatMap((actual) =>
          Effect.fail(fail(`expected the projection to fail, but it produced ${JSON.stringify(actual, bigints)}`))
        ),
        Effect.catchTag("ProjectionFailed", (e) => Effect.succeed(e)),
        Effect.catchTag(["CheckpointAhead", "DuplicateProjection"], (e) => Effect.fail(fail(e.message)))
      )
    }
  }

  return { given: (events) => given(events, false) }
}

const bigints = (_: string, v: unknown) => typeof v === "bigint" ? v.toString() : v
