/**
 * Deciders: an aggregate's behaviour as three pure functions (the "functional event sourcing" decider).
 *
 * - `decide(command, state)` returns the events the command produces, or a typed domain error
 *   (`Result.fail`), never throwing;
 * - `evolve(state, event)` applies one event;
 * - `initialState()` is the state of a stream with no events.
 *
 * A decider knows nothing of storage: {@link CommandHandler} loads its state from the event store (snapshot +
 * tail), calls `decide`, and appends with the expected version; {@link DeciderSpec} tests it with
 * given/when/then. Deciders must be deterministic: a command handler may call `decide` again after a version
 * conflict, against the newer state.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"

/**
 * A decider over commands `C`, events `E`, state `S` and domain errors `Err`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Decider<C, E, S, Err = never> {
  readonly decide: (command: C, state: S) => Result.Result<ReadonlyArray<E>, Err>
  readonly evolve: (state: S, event: E) => S
  readonly initialState: () => S
}

/**
 * Builds a decider (an identity function that fixes the type parameters).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <C, E, S, Err = never>(decider: Decider<C, E, S, Err>): Decider<C, E, S, Err> => decider

/**
 * Folds events into a state (from the initial state, or from `state`).
 *
 * @since 0.1.0
 * @category folding
 */
export const fold = <C, E, S, Err>(
  decider: Decider<C, E, S, Err>,
  events: Iterable<E>,
  state: S = decider.initialState()
): S => {
  let s = state
  for (const e of events) s = decider.evolve(s, e)
  return s
}

/**
 * Runs one command against the state folded from `history`: the new events and the resulting state, or the
 * domain error. Pure: what tests and in-memory handlers use.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <C, E, S, Err>(
  decider: Decider<C, E, S, Err>,
  history: Iterable<E>,
  command: C
): Result.Result<{ readonly events: ReadonlyArray<E>; readonly state: S }, Err> => {
  const state = fold(decider, history)
  return Result.map(decider.decide(command, state), (events) => ({ events, state: fold(decider, events, state) }))
}

/**
 * Shorthand for a successful decision.
 *
 * @since 0.1.0
 * @category constructors
 */
export const accept = <E>(...events: ReadonlyArray<E>): Result.Result<ReadonlyArray<E>, never> => Result.succeed(events)

/**
 * Shorthand for a decision that produces no events (an idempotent no-op command).
 *
 * @since 0.1.0
 * @category constructors
 */
export const ignore: Result.Result<ReadonlyArray<never>, never> = Result.succeed([])

/**
 * Shorthand for a rejected command.
 *
 * @since 0.1.0
 * @category constructors
 */
export const reject = <Err>(error: Err): Result.Result<never, Err> => Result.fail(error)
