/**
 * A test kit for deciders: `given(events).when(command).then(events | error)`.
 *
 * ```ts
 * const spec = DeciderSpec.make(account)
 * spec.given([Opened.make({ owner: "ada" })]).when({ _tag: "Deposit", amount: 5 }).then([Deposited.make({ amount: 5 })])
 * spec.given([]).when({ _tag: "Withdraw", amount: 5 }).then(new AccountNotOpen({ ... }))
 * ```
 *
 * - {@link make}: pure and synchronous — folds `given`, runs `decide`, compares; throws a {@link SpecFailure} (an
 *   `AssertionError`) whose message shows a line diff of the expected and actual values (`-` expected, `+` actual).
 * - {@link withEventStore}: the same sentences as Effects against a real event store on a temporary WAL: `given`
 *   events are appended, the command goes through a {@link CommandHandler} (load, decide, append with expected
 *   version), and the new events are read back from the log — so encoding, upcasting and version handling are part
 *   of the test. The temporary directory is removed afterwards.
 *
 * Values are compared structurally after normalisation: errors by `_tag` and their own fields, bigints and bytes
 * by value, object keys in sorted order, keys whose value is `undefined` as absent.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import * as CommandHandler from "./CommandHandler.ts"
import * as Decider from "./Decider.ts"
import * as EventStore from "./EventStore.ts"
import type * as EventType from "./EventType.ts"

/**
 * A failed expectation; its message holds a readable diff.
 *
 * @since 0.1.0
 * @category errors
 */
export class SpecFailure extends Error {
  override readonly name = "AssertionError"
  readonly expected: string
  readonly actual: string
  constructor(title: string, expected: string, actual: string) {
    super(`${title}\n${diff(expected, actual)}`)
    this.expected = expected
    this.actual = actual
  }
}

const normalize = (v: unknown, seen: Set<unknown>): unknown => {
  if (typeof v === "bigint") return `${v}n`
  if (v === undefined) return "<undefined>"
  if (typeof v === "function") return `<function ${v.name}>`
  if (typeof v !== "object" || v === null) return v
  if (seen.has(v)) return "<cycle>"
  seen.add(v)
  try {
    if (v instanceof Uint8Array) return `<bytes ${Buffer.from(v).toString("hex")}>`
    if (Array.isArray(v)) return v.map((x) => normalize(x, seen))
    if (v instanceof Date) return `<date ${v.toISOString()}>`
    const out: Record<string, unknown> = {}
    const keys = Object.keys(v).sort()
    if ("_tag" in v && !keys.includes("_tag")) out["_tag"] = normalize((v as { _tag: unknown })._tag, seen)
    for (const k of keys) {
      const x = (v as Record<string, unknown>)[k]
      // an optional key set to undefined equals an absent one (JSON and Schema optional keys conflate them)
      if (x !== undefined) out[k] = normalize(x, seen)
    }
    return out
  } finally {
    seen.delete(v)
  }
}

/**
 * Renders a value as stable, indented text (what the diffs compare).
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (v: unknown): string => JSON.stringify(normalize(v, new Set()), null, 2) ?? "undefined"

/**
 * A line diff of two texts: unchanged lines indented, `- ` expected only, `+ ` actual only.
 *
 * @since 0.1.0
 * @category rendering
 */
export const diff = (expected: string, actual: string): string => {
  const a = expected.split("\n")
  const b = actual.split("\n")
  // LCS table (texts here are small)
  const lcs: Array<Array<number>> = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0))
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!)
    }
  }
  const out: Array<string> = ["  (- expected, + actual)"]
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`)
      i++
      j++
    } else if (j < b.length && (i === a.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      out.push(`+ ${b[j]}`)
      j++
    } else {
      out.push(`- ${a[i]}`)
      i++
    }
  }
  return out.join("\n")
}

const check = (title: string, expected: unknown, actual: unknown): void => {
  const e = render(expected)
  const a = render(actual)
  if (e !== a) throw new SpecFailure(title, e, a)
}

type Outcome<E, Err> = { readonly _tag: "Events"; readonly events: ReadonlyArray<E> } | {
  readonly _tag: "Error"
  readonly error: Err
}

const compare = <E, Err>(outcome: Outcome<E, Err>, expected: ReadonlyArray<E> | Err): void => {
  if (Array.isArray(expected)) {
    if (outcome._tag === "Error") {
      throw new SpecFailure(
        "DeciderSpec: expected events, but the command failed",
        render(expected),
        render(outcome.error)
      )
    }
    check("DeciderSpec: the command produced other events", expected, outcome.events)
  } else {
    if (outcome._tag === "Events") {
      throw new SpecFailure(
        "DeciderSpec: expected an error, but the command produced events",
        render(expected),
        render(outcome.events)
      )
    }
    check("DeciderSpec: the command failed with another error", expected, outcome.error)
  }
}

/**
 * The sentences of a pure spec.
 *
 * @since 0.1.0
 * @category models
 */
export interface Spec<C, E, Err> {
  readonly given: (events: ReadonlyArray<E>) => {
    readonly when: (command: C) => {
      /** Asserts the events the command produces (`[]`: none), or the error it fails with. Throws `SpecFailure`. */
      readonly then: (expected: ReadonlyArray<E> | Err) => void
    }
  }
}

/**
 * A pure, synchronous spec of a decider.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <C, E, S, Err>(decider: Decider.Decider<C, E, S, Err>): Spec<C, E, Err> => ({
  given: (history) => ({
    when: (command) => ({
      then: (expected) => {
        const r = Decider.run(decider, history, command)
        compare<E, Err>(
          Result.isFailure(r) ? { _tag: "Error", error: r.failure } : { _tag: "Events", events: r.success.events },
          expected
        )
      }
    })
  })
})

/**
 * The sentences of an event-store-backed spec (each `then` is an Effect; run it in `it.effect`/`it.live`).
 *
 * @since 0.1.0
 * @category models
 */
export interface EffectSpec<C, E, Err> {
  readonly given: (events: ReadonlyArray<E>) => {
    readonly when: (command: C) => {
      /** Dies with a `SpecFailure` when the outcome differs. */
      readonly then: (expected: ReadonlyArray<E> | Err) => Effect.Effect<void>
    }
  }
}

/**
 * A spec that runs the decider through a {@link CommandHandler} on a real event store over a temporary WAL.
 *
 * @since 0.1.0
 * @category constructors
 */
export const withEventStore = <C, E extends EventType.Event, S, Err>(options: {
  readonly decider: Decider.Decider<C, E, S, Err>
  readonly registry: EventType.Registry<E>
  /** Stream the spec writes to (default `"spec-stream"`). */
  readonly streamId?: string | undefined
}): EffectSpec<C, E, Err> => {
  const streamId = options.streamId ?? "spec-stream"
  const handler = CommandHandler.make({ decider: options.decider, registry: options.registry })
  return {
    given: (history) => ({
      when: (command) => ({
        then: (expected) =>
          Effect.scoped(
            Effect.gen(function*() {
              const root = yield* Effect.acquireRelease(
                Effect.sync(() => NFS.mkdtempSync(Path.join(OS.tmpdir(), "decider-spec-"))),
                (dir) => Effect.sync(() => NFS.rmSync(dir, { recursive: true, force: true }))
              )
              const run = Effect.gen(function*() {
                if (history.length > 0) {
                  yield* EventStore.append(options.registry, streamId, EventStore.ExpectedVersion.noStream, history)
                }
                // the handler's load path (fold from the log), then decide and append as the handler would
                const loaded = yield* handler.load(streamId)
                const decided = options.decider.decide(command, loaded.state)
                const outcome: Outcome<E, Err> = Result.isFailure(decided)
                  ? { _tag: "Error", error: decided.failure }
                  : { _tag: "Events", events: decided.success }
                if (outcome._tag === "Events" && outcome.events.length > 0) {
                  yield* EventStore.append(
                    options.registry,
                    streamId,
                    EventStore.ExpectedVersion.exact(loaded.streamVersion),
                    outcome.events
                  )
                }
                if (outcome._tag === "Events") {
                  // what the log holds, decoded back through the registry
                  const stored = yield* Stream.runCollect(
                    EventStore.readStream(options.registry, streamId, { from: BigInt(history.length + 1) })
                  )
                  check(
                    "DeciderSpec: the stored events differ from the decided ones",
                    outcome.events,
                    stored.map((e) => e.event)
                  )
                }
                compare(outcome, expected)
              })
              yield* run.pipe(
                Effect.provide(Layer.fresh(EventStore.layerWithLog({ root }))),
                Effect.orDie
              )
            })
          )
      })
    })
  }
}
