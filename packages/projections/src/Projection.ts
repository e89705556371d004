/**
 * Projections: a name, a version, handlers, and (when bound) a sink. Runners apply log entries to them in sink
 * transactions and keep their checkpoints.
 *
 * - **Typed** ({@link make}): handlers per event type over the event store's envelopes. For each entry the runner
 *   reads only the envelope's event type (`Envelope.peekEventType`); entries of types the projection has no handler
 *   for are skipped there — no header decode, no payload decode, no Effect. Handled entries are decoded with their
 *   `EventType` (Schema decode plus upcasters from the stored schema version) and passed to the handler with the
 *   envelope header (stream id and version, timestamp, ids, metadata).
 * - **Raw** ({@link raw}): one handler over `LogEntry {index, data}`, for logs that do not hold envelopes.
 * - **Handlers** are Effects that receive the sink's client in `ctx.client` (a `SqlClient` for SQL sinks, a
 *   `MemoryStore` for the memory sink); they run inside the sink transaction that also writes the checkpoint, so
 *   they need not be idempotent: an entry at or below the stored checkpoint is never handed to them again.
 * - **Batches** (optional `batch: { begin, end }`): `begin()` creates a value shared by the handlers of one
 *   transaction (`ctx.batch`); `end(batch, client)` runs once before the checkpoint is written. Use it to turn many
 *   small writes into one bulk statement (PostgreSQL `unnest`, a server-side function), where one round trip per
 *   event would dominate.
 * - **Versions**: the checkpoint is keyed by `(name, version)`. Bump the version when handlers change meaning: the
 *   new version starts from index 0 (put the version in your table names to build it beside the old one).
 *
 * Entry `data` and the envelope's payload view alias the log's read buffers: copy bytes you keep past the handler.
 *
 * @since 0.1.0
 */
import type * as BinLogger from "@binlog/core/BinLogger"
import * as Envelope from "@binlog/core/Envelope"
import * as EventType from "@binlog/core/EventType"
import * as Effect from "effect/Effect"
import { dual, identity } from "effect/Function"
import type { Pipeable } from "effect/Pipeable"
import { pipeArguments } from "effect/Pipeable"
import * as Result from "effect/Result"
import type * as Poison from "./Poison.ts"
import type * as Sink from "./Sink.ts"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: TypeId = "~@binlog/projections/Projection"

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = "~@binlog/projections/Projection"

/**
 * What `prepare` returns for an entry the projection skips.
 *
 * @since 0.1.0
 * @category constants
 */
export const skip: unique symbol = Symbol.for("@binlog/projections/Projection/skip")

/**
 * @since 0.1.0
 * @category models
 */
export type Skip = typeof skip

/**
 * The work of one sink transaction, as runners drive it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Batch<E, R> {
  /** The Effect applying `entry`, given what `prepare` made of it (never called for skipped entries). */
  readonly apply: (entry: BinLogger.LogEntry, prepared: unknown, info?: ApplyInfo) => Effect.Effect<void, E, R>
  /** Runs after the last entry of the transaction, before the checkpoint is written. */
  readonly end: Effect.Effect<void, E, R>
}

/**
 * What the runner tells a handler about the delivery of an entry.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApplyInfo {
  /**
   * `false` while a rebuild replays entries the serving version already applied (at or below its checkpoint):
   * handlers that send mail or call other services should skip those effects then. `true` otherwise.
   */
  readonly sideEffects: boolean
}

/**
 * A projection, independent of any sink: `Client` is what its handlers write with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Projection<in Client, out E = never, out R = never> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly version: number
  /** Creates the projection's tables (runs in its own transaction when a runner starts; must be idempotent). */
  readonly setup: (client: Client) => Effect.Effect<void, E, R>
  /**
   * Prepares an entry, or returns {@link skip}: a pure, synchronous step that needs no sink (for typed
   * projections: reading the envelope's type, then decoding the header and the payload, upcast). It must have no
   * side effects: a re-delivered entry is prepared again. A decoding failure is returned as a value; applying it
   * fails the transaction.
   */
  readonly prepare: (entry: BinLogger.LogEntry) => unknown
  /** Starts the work of one transaction. */
  readonly begin: (client: Client) => Batch<E, R>
  /** The entry's timestamp in ms since the epoch (envelopes), for the lag in seconds; `undefined` if unknown. */
  readonly timestampOf: (entry: BinLogger.LogEntry) => number | undefined
  /** The entry's event type, for error reports (called on failures only). */
  readonly eventTypeOf: (entry: BinLogger.LogEntry) => string | undefined
  /**
   * The entry's stream id (envelopes: the header's), for lanes, per-stream ordering of parked entries and the
   * dead-letter table; `undefined` if the entry has none (lane 0).
   */
  readonly streamOf: (entry: BinLogger.LogEntry) => string | undefined
}

/**
 * A projection bound to the sink it writes to: what runners take.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bound<out E = never, out R = never> {
  /** The projection (its client type is erased: `bind` checked it against the sink's). */
  readonly projection: Projection<never, E, R>
  readonly sink: Sink.Sink<unknown>
  /** What to do with an entry the projection fails on (`Poison`); default: retry the range on the runner's schedule. */
  readonly poison?: Poison.Policy | undefined
  /** Lanes the projection runs in (`Lanes`); default 1. */
  readonly lanes?: number | undefined
}

/**
 * Per-transaction hooks (see the module header).
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchHooks<Client, B, E, R> {
  readonly begin: () => B
  readonly end: (batch: B, client: Client) => Effect.Effect<void, E, R>
}

/**
 * What a raw handler receives besides the entry.
 *
 * @since 0.1.0
 * @category models
 */
export interface EntryContext<Client, B = void> {
  readonly client: Client
  readonly index: bigint
  /** The value `batch.begin()` made for this transaction (`undefined` without batch hooks). */
  readonly batch: B
  /** See {@link ApplyInfo.sideEffects}: `false` while a rebuild replays what the serving version already saw. */
  readonly sideEffects: boolean
}

/**
 * What a typed handler receives besides the event payload.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventContext<Client, B = void> extends EntryContext<Client, B> {
  /** The envelope header: stream id and version, event id, timestamp, correlation/causation ids, metadata. */
  readonly envelope: Envelope.DecodedHeader
}

/**
 * The payload type of an event type.
 *
 * @since 0.1.0
 * @category models
 */
export type PayloadOf<T> = T extends EventType.EventType<infer _N, infer A> ? A : never

/**
 * Handlers of a typed projection, by event type (the keys of `events`).
 *
 * @since 0.1.0
 * @category models
 */
export type Handlers<Events extends Record<string, EventType.Any>, Client, B> = {
  readonly [K in keyof Events]?: (
    data: PayloadOf<Events[K]>,
    ctx: EventContext<Client, B>
  ) => Effect.Effect<void, unknown, unknown>
}

type AnyFn = (...args: ReadonlyArray<never>) => Effect.Effect<unknown, unknown, unknown>

/**
 * The union of the error types of a handler record.
 *
 * @since 0.1.0
 * @category models
 */
export type HandlersError<H> = {
  readonly [K in keyof H]-?: H[K] extends AnyFn ? Effect.Error<ReturnType<H[K]>> : never
}[
  keyof H
]

/**
 * The union of the requirements of a handler record.
 *
 * @since 0.1.0
 * @category models
 */
export type HandlersServices<H> = {
  readonly [K in keyof H]-?: H[K] extends AnyFn ? Effect.Services<ReturnType<H[K]>> : never
}[keyof H]

/**
 * What a typed projection does with an entry that is not an envelope: fail (default) or skip it.
 *
 * @since 0.1.0
 * @category models
 */
export type InvalidPolicy = "fail" | "skip"

const proto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const noSetup = () => Effect.void

/**
 * Builds a projection from its parts (what {@link make} and {@link raw} produce; for custom decoders).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromParts = <Client, E, R>(parts: {
  readonly name: string
  readonly version: number
  readonly setup?: ((client: Client) => Effect.Effect<void, E, R>) | undefined
  /** Default: every entry is prepared as itself (nothing skipped). */
  readonly prepare?: ((entry: BinLogger.LogEntry) => unknown) | undefined
  readonly begin: (client: Client) => Batch<E, R>
  readonly timestampOf?: ((entry: BinLogger.LogEntry) => number | undefined) | undefined
  readonly eventTypeOf?: ((entry: BinLogger.LogEntry) => string | undefined) | undefined
  /** Default: the envelope header's stream id, if the entry is an envelope. */
  readonly streamOf?: ((entry: BinLogger.LogEntry) => string | undefined) | undefined
}): Projection<Client, E, R> => {
  if (parts.name.length === 0) throw new RangeError("Projection: the name is empty")
  if (!Number.isSafeInteger(parts.version) || parts.version < 0) {
    throw new RangeError(`Projection ${parts.name}: bad version ${parts.version}`)
  }
  const self = Object.create(proto)
  self.name = parts.name
  self.version = parts.version
  self.setup = parts.setup ?? noSetup
  self.prepare = parts.prepare ?? identity
  self.begin = parts.begin
  self.timestampOf = parts.timestampOf ?? (() => undefined)
  self.eventTypeOf = parts.eventTypeOf ?? (() => undefined)
  self.streamOf = parts.streamOf ?? envelopeStream
  return self
}

const envelopeTimestamp = (entry: BinLogger.LogEntry): number | undefined => {
  const h = Envelope.decodeHeader(entry.data)
  return Result.isSuccess(h) && h.success.timestamp > 0 ? h.success.timestamp : undefined
}

const envelopeStream = (entry: BinLogger.LogEntry): string | undefined => {
  const h = Envelope.decodeHeader(entry.data)
  return Result.isSuccess(h) ? h.success.streamId : undefined
}

const envelopeType = (entry: BinLogger.LogEntry): string | undefined => {
  const t = Envelope.peekEventType(entry.data)
  return Result.isSuccess(t) ? t.success : undefined
}

const endHooks = <Client, B, E, R>(hooks: BatchHooks<Client, B, E, R> | undefined, client: Client) => {
  if (hooks === undefined) return { batch: undefined as B, end: Effect.void }
  const batch = hooks.begin()
  return { batch, end: Effect.suspend(() => hooks.end(batch, client)) }
}

/**
 * A typed projection over event store envelopes: `events` names the event types it reads (keys must equal the
 * types' names), `handlers` gives a handler per type it handles. Entries of other types are skipped after reading
 * only their type.
 *
 * ```ts
 * const balances = Projection.make<SqlClient.SqlClient>()({
 *   name: "balances", version: 1,
 *   setup: (sql) => sql`CREATE TABLE IF NOT EXISTS balances_v1 (account TEXT PRIMARY KEY, cents BIGINT NOT NULL)`,
 *   events: { Deposited, Withdrawn },
 *   handlers: {
 *     Deposited: (e, { client: sql, envelope }) => sql`INSERT INTO balances_v1 VALUES (${envelope.streamId}, ${e.cents})
 *       ON CONFLICT (account) DO UPDATE SET cents = balances_v1.cents + excluded.cents`
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Client>() =>
<
  const Events extends Record<string, EventType.Any>,
  H extends Handlers<Events, Client, B>,
  B = void,
  SE = never,
  SR = never,
  BE = never,
  BR = never
>(options: {
  readonly name: string
  readonly version: number
  readonly events: Events
  readonly handlers: H
  readonly setup?: ((client: Client) => Effect.Effect<void, SE, SR>) | undefined
  readonly batch?: BatchHooks<Client, B, BE, BR> | undefined
  /** Entries that are not envelopes: `"fail"` (default) or `"skip"`. */
  readonly onInvalid?: InvalidPolicy | undefined
}): Projection<
  Client,
  HandlersError<H> | SE | BE | Envelope.DecodeError | EventType.EventDecodeError,
  HandlersServices<H> | SR | BR
> => {
  type Err = HandlersError<H> | SE | BE | Envelope.DecodeError | EventType.EventDecodeError
  type Req = HandlersServices<H> | SR | BR
  interface Route {
    readonly type: EventType.Any
    readonly handler: (data: unknown, ctx: EventContext<Client, B>) => Effect.Effect<void, Err, Req>
  }
  const routes = new Map<string, Route>()
  for (const key of Object.keys(options.handlers)) {
    const handler = (options.handlers as Record<string, Route["handler"] | undefined>)[key]
    if (handler === undefined) continue
    const type = options.events[key]
    if (type === undefined) throw new RangeError(`Projection ${options.name}: handler ${key} has no event type`)
    if (type.name !== key) {
      throw new RangeError(`Projection ${options.name}: events.${key} is the event type ${type.name}`)
    }
    routes.set(key, { type, handler })
  }
  const skipInvalid = options.onInvalid === "skip"
  /** A decoded event ready for its handler. */
  interface Decoded {
    readonly route: Route
    readonly header: Envelope.DecodedHeader
    readonly data: unknown
  }
  /** A decode failure, raised when the entry is applied. */
  class Undecodable {
    readonly error: Envelope.DecodeError | EventType.EventDecodeError
    constructor(error: Envelope.DecodeError | EventType.EventDecodeError) {
      this.error = error
    }
  }
  const prepare = (entry: BinLogger.LogEntry): Decoded | Undecodable | Skip => {
    const peeked = Envelope.peekEventType(entry.data)
    if (Result.isFailure(peeked)) return skipInvalid ? skip : new Undecodable(peeked.failure)
    const route = routes.get(peeked.success)
    if (route === undefined) return skip
    const header = Envelope.decodeHeader(entry.data)
    if (Result.isFailure(header)) return skipInvalid ? skip : new Undecodable(header.failure)
    const h = header.success
    const data = route.type.decodePayload(h.schemaVersion, h.payloadEncoding, h.payload)
    if (Result.isFailure(data)) {
      return new Undecodable(
        new EventType.EventDecodeError({
          eventType: h.eventType,
          schemaVersion: h.schemaVersion,
          index: entry.index.toString(),
          reason: data.failure
        })
      )
    }
    return { route, header: h, data: data.success }
  }
  return fromParts<Client, Err, Req>({
    name: options.name,
    version: options.version,
    setup: options.setup,
    timestampOf: envelopeTimestamp,
    eventTypeOf: envelopeType,
    prepare,
    begin: (client) => {
      const { batch, end } = endHooks(options.batch, client)
      const apply = (entry: BinLogger.LogEntry, prepared: unknown, info?: ApplyInfo): Effect.Effect<void, Err, Req> => {
        if (prepared instanceof Undecodable) return Effect.fail(prepared.error)
        const { data, header, route } = prepared as Decoded
        const sideEffects = info?.sideEffects ?? true
        return route.handler(data, { client, index: entry.index, envelope: header, batch, sideEffects })
      }
      return { apply, end }
    }
  })
}

/**
 * A projection over raw entries (`LogEntry {index, data}`): `apply` runs for every entry unless `filter` (a cheap,
 * pure, synchronous test, run ahead of the transaction) says to skip it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const raw = <Client>() =>
<E, R, B = void, SE = never, SR = never, BE = never, BR = never>(options: {
  readonly name: string
  readonly version: number
  readonly apply: (entry: BinLogger.LogEntry, ctx: EntryContext<Client, B>) => Effect.Effect<void, E, R>
  readonly filter?: ((entry: BinLogger.LogEntry) => boolean) | undefined
  readonly setup?: ((client: Client) => Effect.Effect<void, SE, SR>) | undefined
  readonly batch?: BatchHooks<Client, B, BE, BR> | undefined
  /** The entry's timestamp (ms since the epoch), if the entries carry one. */
  readonly timestamp?: ((entry: BinLogger.LogEntry) => number | undefined) | undefined
  /** The entry's stream id (lanes, per-stream ordering), if the entries have one. */
  readonly stream?: ((entry: BinLogger.LogEntry) => string | undefined) | undefined
}): Projection<Client, E | SE | BE, R | SR | BR> =>
  fromParts<Client, E | SE | BE, R | SR | BR>({
    name: options.name,
    version: options.version,
    setup: options.setup,
    timestampOf: options.timestamp,
    streamOf: options.stream ?? (() => undefined),
    prepare: options.filter === undefined ? identity : (entry) => (options.filter!(entry) ? entry : skip),
    begin: (client) => {
      const { batch, end } = endHooks(options.batch, client)
      const apply = (entry: BinLogger.LogEntry, _prepared: unknown, info?: ApplyInfo) =>
        options.apply(entry, { client, index: entry.index, batch, sideEffects: info?.sideEffects ?? true })
      return { apply, end }
    }
  })

/**
 * Binds a projection to the sink it writes to; the sink's client type must be the projection's.
 *
 * @since 0.1.0
 * @category combinators
 */
export const bind: {
  <Client>(sink: Sink.Sink<Client>): <E, R>(self: Projection<Client, E, R>) => Bound<E, R>
  <Client, E, R>(self: Projection<Client, E, R>, sink: Sink.Sink<Client>): Bound<E, R>
} = dual(2, <Client, E, R>(self: Projection<Client, E, R>, sink: Sink.Sink<Client>): Bound<E, R> => ({
  projection: self,
  sink
}))

/**
 * Whether a value is a projection.
 *
 * @since 0.1.0
 * @category guards
 */
export const isProjection = (u: unknown): u is Projection<never, unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u
