// Small helpers of the engine and the runners: read-ahead, batch splitting, retry delays, error text. Internal.
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"

export const messageOf = (cause: Cause.Cause<unknown>): string => {
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

/** Retry delays over a schedule (see {@link retrier}). */
export interface Retrier {
  /** Sleeps for the schedule's next delay; `false` (no sleep) once the schedule has ended. */
  readonly wait: (input: unknown) => Effect.Effect<boolean>
  /** Starts the schedule over. */
  readonly reset: () => void
}

interface RetrierState {
  readonly schedule: Schedule.Schedule<unknown, unknown>
  step: ((input: unknown) => Pull.Pull<unknown, never, unknown>) | undefined
}

// one generator function for every retrier (the engine makes one per poison entry): a generator function made per
// call gets its own map in old space, which keeps what it captures alive through scavenges
const waitWith = Effect.fnUntraced(function*(state: RetrierState, input: unknown) {
  state.step ??= yield* Schedule.toStepWithSleep(state.schedule)
  return yield* state.step(input).pipe(
    Effect.as(true),
    Effect.catchTag("Done", () => Effect.succeed(false))
  )
})

/** A retry delay function over a schedule: sleeps for the next delay; `false` when the schedule ends. */
export const retrier = (schedule: Schedule.Schedule<unknown, unknown>): Retrier => {
  const state: RetrierState = { schedule, step: undefined }
  return {
    wait: (input) => waitWith(state, input),
    reset: () => {
      state.step = undefined
    }
  }
}
