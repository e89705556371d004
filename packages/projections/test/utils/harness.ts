// Helpers shared by the poison, lanes and rebuild suites: a log around a test body, polling for states without an
// event, and expected folds with some entries left out.
import * as BinLogger from "@binlog/core/BinLogger"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { type BankEvent, logLayer } from "./fixtures.ts"

export const fastRetry = Schedule.spaced("10 millis")

/** Runs `f` with a log on `root`; `f`'s own scope (runners) closes before the log does. */
export const withLog = <A, E>(
  root: string,
  f: (log: BinLogger.BinLogger["Service"]) => Effect.Effect<A, E, Scope.Scope | BinLogger.BinLogger>,
  options: Partial<BinLogger.Options> = {}
) =>
  Effect.gen(function*() {
    const log = yield* BinLogger.BinLogger
    return yield* Effect.scoped(f(log))
  }).pipe(Effect.provide(logLayer(root, options)))

/** Polls a condition every few ms (for states that have no event to wait on). */
export const eventually = (check: Effect.Effect<boolean, unknown>) =>
  Effect.gen(function*() {
    while (!(yield* Effect.orDie(check))) yield* Effect.sleep("5 millis")
  })

/** The events with the ones at `indexes` (1-based log indexes) replaced by notes, which the fold ignores. */
export const without = (events: ReadonlyArray<BankEvent>, drop: (index: number, e: BankEvent) => boolean) =>
  events.map((e, i): BankEvent => (drop(i + 1, e) ? { type: "Noted", account: e.account, text: "left out" } : e))
