// Spans on hot paths, made only when something can see them. Internal.
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Tracer from "effect/Tracer"

/**
 * `Effect.useSpan(name, options, f)` when a tracing backend is installed; just `f()` under Effect's default
 * `nativeTracer`, which exports nothing (Effect documents comparing the active tracer against `nativeTracer` to skip
 * work only a backend could observe). Making a span nobody sees costs ~0.6 µs of CPU and ~1 KB of garbage per call:
 * on the event store's per-command path, two of them were a fifth of its CPU (bench/eventstore.ts).
 *
 * The span is a child of the caller's span and not the parent of what `f` runs (see `useSpan`). `f` gets the
 * calling fiber (runs lazily, inside it), which spares callers a `withFiber` or `suspend` of their own.
 */
export const useSpanIfTraced = <A, E, R>(
  name: string,
  options: Tracer.SpanOptionsNoTrace | undefined,
  f: (fiber: Fiber.Fiber<unknown, unknown>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) =>
    fiber.getRef(Tracer.Tracer) === Tracer.nativeTracer
      ? f(fiber)
      : Effect.useSpan(name, options ?? {}, () => f(fiber))
  )

/**
 * `Effect.withSpan(name, options, { captureStackTrace: false })` (the span is the parent of what `self` runs) when
 * a tracing backend is installed; `self` unchanged under Effect's default `nativeTracer`, where `withSpan`'s two
 * fiber-context switches per call buy nothing (see {@link useSpanIfTraced}).
 */
export const withSpanIfTraced =
  (name: string, options?: Tracer.SpanOptionsNoTrace | undefined) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withFiber((fiber) =>
      fiber.getRef(Tracer.Tracer) === Tracer.nativeTracer
        ? self
        : Effect.withSpan(self, name, { ...options, captureStackTrace: false })
    )
