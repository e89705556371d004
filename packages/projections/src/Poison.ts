/**
 * Poison events: what a runner does with an entry its projection keeps failing on.
 *
 * Without a policy a failed transaction is rolled back and the whole range is retried on the runner's `retry`
 * schedule (a bug in a handler then holds the projection back until it is fixed). With a policy
 * ({@link withPolicy}), a failed range is **bisected**: its halves are applied in their own transactions, down to
 * the single failing entry, so everything before it commits (checkpoint included) and only that entry is left.
 * Then, in order:
 *
 * 1. **retry**: the entry alone is applied again on the policy's `retry` `Schedule` (default: no retry); a success
 *    continues as if nothing happened;
 * 2. then **park** — one transaction writes a dead-letter row (index, event type, stream id, error) and the
 *    checkpoint that moves past the entry, and the projection goes on — or **stop** — the projection halts: the
 *    halted state is written to the sink (`binlog_projection_halted`), so it stays halted across restarts until
 *    `runner.resume(name)`; waiters fail with `ProjectionHalted`. A halted projection keeps its retention hold (cursor
 *    runner) or holds snapshot releases back (snapshot runner), so the log keeps what it will need.
 *
 * **Per-stream ordering** (`perStreamOrdering: true`): once an entry of a stream is parked, every later entry of that
 * stream the projection would apply is parked too (reason `"blocked"`), until the parked ones are replayed, so no
 * read model sees a stream out of order. Streams come from `Projection.streamOf` (the envelope's stream id).
 *
 * **Replay**: parked entries are never copied; `runner.replayParked(name, index?)` reads each from the log by index
 * (archived segments included), applies it in a transaction that deletes its dead-letter row, and reports the ones
 * that failed again (their rows stay, `attempts` counts). With per-stream ordering, an entry is replayed only after
 * the earlier parked entries of its stream. Skipping is never silent: parked entries are counted
 * (`binlog_projection_events_parked_total`, gauge `binlog_projection_parked_entries`) and listed in the table.
 *
 * Only failures of the projection (handlers, decoding, batch flush) are poison; sink failures (connection lost,
 * lock timeout) keep the runner's retry-the-range behaviour.
 *
 * @since 0.1.0
 */
import { dual } from "effect/Function"
import type * as Schedule from "effect/Schedule"
import type * as Projection from "./Projection.ts"

/**
 * What happens after the retries of a poison entry: park it and go on, or halt the projection.
 *
 * @since 0.1.0
 * @category models
 */
export type Then = "park" | "stop"

/**
 * A poison-event policy.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  /** Delays between attempts on the single failing entry (default: none); when it ends, `then` applies. */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  readonly then: Then
  /** Park later entries of a stream that has a parked entry (default `false`). */
  readonly perStreamOrdering?: boolean | undefined
}

/**
 * Park failing entries (after `retry`, if given).
 *
 * @since 0.1.0
 * @category constructors
 */
export const park = (
  options: { readonly retry?: Schedule.Schedule<unknown, unknown>; readonly perStreamOrdering?: boolean } = {}
): Policy => ({ ...options, then: "park" })

/**
 * Halt the projection on a failing entry (after `retry`, if given), persistently.
 *
 * @since 0.1.0
 * @category constructors
 */
export const stop = (options: { readonly retry?: Schedule.Schedule<unknown, unknown> } = {}): Policy => ({
  ...options,
  then: "stop"
})

/**
 * Sets the poison policy of a bound projection.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withPolicy: {
  (policy: Policy): <E, R>(self: Projection.Bound<E, R>) => Projection.Bound<E, R>
  <E, R>(self: Projection.Bound<E, R>, policy: Policy): Projection.Bound<E, R>
} = dual(2, <E, R>(self: Projection.Bound<E, R>, policy: Policy): Projection.Bound<E, R> => ({
  ...self,
  poison: policy
}))

/**
 * The outcome of replaying parked entries.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayResult {
  /** Indexes replayed and removed from the dead-letter table. */
  readonly replayed: ReadonlyArray<bigint>
  /** Entries that failed again (still parked), or were refused (an earlier parked entry of the stream). */
  readonly failed: ReadonlyArray<{ readonly index: bigint; readonly error: string }>
}
