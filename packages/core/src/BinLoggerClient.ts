/**
 * A small Promise API over the {@link BinLogger} service, for callers that do not use Effect, with go-binlogger's
 * shape: `start`, `log`, `createSnapshot` → `release`, `close`. It runs the Effect service in a `ManagedRuntime`;
 * every method rejects with the service's typed error (an `Error` subclass with `_tag`), so
 * `err._tag === "IndexOverflow"` replaces Go's `errors.Is(err, ErrIndexOverflow)`.
 *
 * go-binlogger's `Must*` variants (panic on error) are `Effect.orDie` in Effect code; here, an unhandled rejection.
 *
 * Limits: `createSnapshot` loads the leased range into an array (at most `MAX_ARRAY_RANGE_ENTRIES` entries); for
 * bigger ranges use the Effect API's `entries` stream.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as BinLogger from "./BinLogger.ts"

/**
 * A leased snapshot range, loaded as an array.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly prevIndex: bigint
  readonly currentIndex: bigint
  readonly entries: ReadonlyArray<BinLogger.LogEntry>
  /** `true` (default): processed, make it durable. `false`: hand the range out again next time. */
  readonly release: (success?: boolean) => Promise<void>
}

/**
 * The Promise client.
 *
 * @since 0.1.0
 * @category models
 */
export interface BinLoggerClient {
  /** Appends a batch atomically; resolves with its index range when durable. */
  readonly log: (batch: ReadonlyArray<Uint8Array>) => Promise<BinLogger.IndexRange>
  /** Leases the entries since the last released snapshot; `undefined` when nothing is new. */
  readonly createSnapshot: () => Promise<Snapshot | undefined>
  /** Forces an fdatasync. */
  readonly sync: () => Promise<void>
  /** The highest durable index. */
  readonly currentIndex: () => Promise<bigint>
  /** Syncs, closes the files and releases the directory lock. */
  readonly close: () => Promise<void>
}

/**
 * Starts (creates or recovers) a log and returns its client. Rejects with the start error (e.g. `WalLocked`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (options: BinLogger.Options): Promise<BinLoggerClient> => {
  const runtime = ManagedRuntime.make(BinLogger.layer(options))
  const run = <A, E>(effect: Effect.Effect<A, E, BinLogger.BinLogger>) => runtime.runPromise(effect)
  return run(BinLogger.BinLogger.use((log) => Effect.succeed(log))).then(
    (log): BinLoggerClient => ({
      log: (batch) => run(log.log(batch)),
      createSnapshot: () =>
        run(Effect.gen(function*() {
          const lease = yield* log.createSnapshot
          if (Option.isNone(lease)) return undefined
          const l = lease.value
          const entries = yield* Effect.onError(l.entriesArray, () => l.release(false).pipe(Effect.ignore))
          return {
            prevIndex: l.prevIndex,
            currentIndex: l.currentIndex,
            entries,
            release: (success = true) => run(l.release(success))
          }
        })),
      sync: () => run(log.sync),
      currentIndex: () => run(log.currentIndex),
      close: () => runtime.dispose()
    }),
    (error: unknown) => runtime.dispose().then(() => Promise.reject(error))
  )
}
