/**
 * The segment pipeline: keeps the next segment file preallocated while a WAL is open for writing, as etcd's
 * `filePipeline` does, so a cut only writes a header and renames.
 *
 * Files are named `0.tmp` and `1.tmp` alternately inside the WAL directory and preallocated to the segment size with
 * real blocks (`fallocate`, as etcd does; Node exposes no fallocate(2), so util-linux's command runs in the
 * background), or, where that is unavailable, extended with `ftruncate` (a sparse zero tail: etcd's own fallback). Readers ignore `*.tmp`. A file left behind by a crash is removed and recreated on the next start;
 * the pending file is deleted when the scope closes.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as NFS from "node:fs"
import * as Fsx from "./internal/fsx.ts"
import type { WalIoError } from "./WalError.ts"

/**
 * A preallocated file ready to become the next segment.
 *
 * @since 0.1.0
 * @category models
 */
export interface PreparedFile {
  readonly path: string
  readonly fd: number
}

/**
 * The pipeline handle.
 *
 * @since 0.1.0
 * @category models
 */
export interface SegmentPipeline {
  /** Takes the prepared file (waiting for it if needed) and starts preparing the next one. */
  readonly take: Effect.Effect<PreparedFile, WalIoError>
}

/**
 * Starts a pipeline for `dir` preparing files of `sizeBytes`. Scoped: closing the scope stops it and deletes the
 * file it holds.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  dir: string,
  sizeBytes: number,
  options: {
    /** Extra `open` flags for the prepared files (the writer's `O_DSYNC`). */
    readonly flags?: number | undefined
  } = {}
): Effect.Effect<SegmentPipeline, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    let count = 0
    let pending: Deferred.Deferred<PreparedFile, WalIoError> | undefined
    let pendingFiber: Fiber.Fiber<void> | undefined

    const prepare = Effect.gen(function*() {
      const path = `${dir}/${count % 2}.tmp`
      count++
      const deferred = yield* Deferred.make<PreparedFile, WalIoError>()
      pending = deferred
      const work = Effect.gen(function*() {
        yield* Fsx.unlink(path)
        const fd = yield* Fsx.open(
          path,
          NFS.constants.O_RDWR | NFS.constants.O_CREAT | NFS.constants.O_EXCL | (options.flags ?? 0),
          0o600
        )
        yield* Fsx.preallocate(fd, path, sizeBytes)
        return { path, fd }
      })
      // detached, not forked into the scope: closing the scope must not interrupt a preparation (an interrupted
      // one, even before it starts, would never complete its Deferred); the finalizer below waits for it instead.
      // The work is short and bounded: unlink, open, preallocate.
      pendingFiber = yield* Effect.forkDetach(
        Effect.flatMap(Effect.exit(work), (exit) => Deferred.done(deferred, exit)).pipe(Effect.asVoid)
      )
    })

    yield* prepare
    yield* Scope.addFinalizer(
      scope,
      Effect.gen(function*() {
        if (pendingFiber) yield* Fiber.await(pendingFiber)
        if (pending) {
          const exit = yield* Deferred.await(pending).pipe(Effect.exit)
          if (Exit.isSuccess(exit)) {
            yield* Fsx.closeQuietly(exit.value.fd)
            yield* Effect.ignore(Fsx.unlink(exit.value.path))
          }
        }
      })
    )

    const take = Effect.gen(function*() {
      const current = pending!
      pending = undefined
      const file = yield* Deferred.await(current)
      yield* prepare
      return file
    })
    return { take }
  })
