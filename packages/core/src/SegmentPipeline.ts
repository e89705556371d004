/**
 * The segment pipeline: keeps the next segment file preallocated while a WAL is open for writing, as etcd's
 * `filePipeline` does, so a cut only writes a header and renames.
 *
 * Files are named `0.tmp` and `1.tmp` alternately inside the WAL directory and preallocated to the segment size with
 * real blocks (`fallocate`, as etcd does; Node exposes no fallocate(2), so util-linux's command runs in the
 * background), or, where that is unavailable, extended with `ftruncate` (a sparse zero tail: etcd's own fallback). Readers ignore `*.tmp`. A file left behind by a crash is removed and recreated on the next start;
 * the pending file is deleted when the scope closes.
 *
 * Zero-fill (on request, {@link SegmentPipeline.requestZeroFill}): the pending file is then also written with zeros,
 * in {@link ZERO_FILL_CHUNK_BYTES} pieces in the background, each fdatasynced, as PostgreSQL does for new WAL segments
 * (`wal_init_zero`). A preallocated block is "unwritten" until data lands in it, and turning it into a written one
 * makes each durable write of the segment also commit file-system metadata: on ext4 a durable 16 KiB append took
 * ~130 µs into a preallocated file and ~85 µs into a zero-filled one. The price is writing the segment twice, so the
 * writer asks only while its writes are small (latency-bound). A zero-fill still running when the file is taken
 * stops after its current piece and is waited for (the file is then partly zero-filled, as valid as not at all).
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
  /** Whether the whole file was written with zeros (and synced) before it was taken. */
  readonly zeroFilled: boolean
}

/**
 * Bytes written (and fdatasynced) per piece of a zero-fill. Small, so that the writer's durable writes queue behind
 * at most one piece: with 1 MiB pieces synced every 8 MiB, the p99 latency of 64 concurrent single-entry callers went
 * from 0.6 to 2.2–2.5 ms (bench/wal.ts); with 256 KiB pieces each synced it stayed at 0.6 ms. A take waits for at
 * most one piece.
 *
 * @since 0.1.0
 * @category constants
 */
export const ZERO_FILL_CHUNK_BYTES = 256 * 1024

/**
 * The pipeline handle.
 *
 * @since 0.1.0
 * @category models
 */
export interface SegmentPipeline {
  /** Takes the prepared file (waiting for it if needed) and starts preparing the next one. */
  readonly take: Effect.Effect<PreparedFile, WalIoError>
  /**
   * Asks for the pending file and the next ones to be zero-filled in the background (`true`), or for the next ones
   * not to be (`false`: a zero-fill already running goes on). Synchronous and idempotent.
   */
  readonly requestZeroFill: (on: boolean) => void
  /** Whether the pending file has been zero-filled whole (it will be taken with `zeroFilled`). */
  readonly pendingZeroFilled: () => boolean
}

/** A pending file's zero-fill. */
interface Fill {
  /** Set once the file is preallocated (a zero-fill can start). */
  path: string | undefined
  started: boolean
  stop: boolean
  done: boolean
  /** Completed when a started zero-fill has ended. */
  readonly ended: Deferred.Deferred<void>
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
    let zeroFillWanted = false
    let fill: Fill | undefined
    const zeros = new Uint8Array(ZERO_FILL_CHUNK_BYTES)

    /** Writes zeros over the file piece by piece, each synced, until done or stopped. */
    const zeroFill = (path: string, f: Fill) =>
      Effect.acquireUseRelease(
        Fsx.open(path, NFS.constants.O_WRONLY),
        (fd) =>
          Effect.gen(function*() {
            let offset = 0
            while (offset < sizeBytes && !f.stop) {
              const n = Math.min(ZERO_FILL_CHUNK_BYTES, sizeBytes - offset)
              yield* Fsx.writeAll(fd, path, n === zeros.length ? zeros : zeros.subarray(0, n), offset)
              offset += n
              // each piece reaches the disk before the next is written: the writer's durable writes never queue
              // behind a long flush of zeros
              if (!f.stop) yield* Fsx.fdatasync(fd, path)
            }
            // stopped by a take: its last piece may not be synced (zeros not yet on disk read as zeros anyway, and a
            // later direct write to their range makes the kernel flush them first)
            if (f.stop) return
            f.done = true
          }),
        (fd) => Fsx.closeQuietly(fd)
      )

    /** Starts the zero-fill of `f` once (when its file is preallocated and no take has stopped it). */
    const startFill = (f: Fill) => {
      if (f.started || f.stop || f.path === undefined) return
      f.started = true
      // a failed zero-fill only leaves the file less zero-filled: the file stays valid, so errors are dropped
      Effect.runFork(Effect.ensuring(Effect.ignore(zeroFill(f.path, f)), Deferred.done(f.ended, Exit.void)))
    }

    /** Stops `f`'s zero-fill and waits until it has ended; whether it covered the whole file. */
    const stopFill = (f: Fill | undefined) =>
      Effect.suspend(() => {
        if (f === undefined) return Effect.succeed(false)
        f.stop = true
        return f.started ? Effect.map(Deferred.await(f.ended), () => f.done) : Effect.succeed(false)
      })

    const prepare = Effect.gen(function*() {
      const path = `${dir}/${count % 2}.tmp`
      count++
      const deferred = yield* Deferred.make<PreparedFile, WalIoError>()
      pending = deferred
      const f: Fill = { path: undefined, started: false, stop: false, done: false, ended: Deferred.makeUnsafe() }
      fill = f
      const work = Effect.gen(function*() {
        yield* Fsx.unlink(path)
        const fd = yield* Fsx.open(
          path,
          NFS.constants.O_RDWR | NFS.constants.O_CREAT | NFS.constants.O_EXCL | (options.flags ?? 0),
          0o600
        )
        yield* Fsx.preallocate(fd, path, sizeBytes)
        f.path = path
        if (zeroFillWanted) startFill(f)
        return { path, fd, zeroFilled: false }
      })
      // detached, not forked into the scope: closing the scope must not interrupt a preparation (an interrupted
      // one, even before it starts, would never complete its Deferred); the finalizer below waits for it instead.
      // The work is short and bounded: unlink, open, preallocate (a zero-fill runs on its own and is stopped).
      pendingFiber = yield* Effect.forkDetach(
        Effect.flatMap(Effect.exit(work), (exit) => Deferred.done(deferred, exit)).pipe(Effect.asVoid)
      )
    })

    yield* prepare
    yield* Scope.addFinalizer(
      scope,
      Effect.gen(function*() {
        if (pendingFiber) yield* Fiber.await(pendingFiber)
        yield* stopFill(fill)
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
      const f = fill
      pending = undefined
      const file = yield* Deferred.await(current)
      // no zero written after the file is handed over: stop the fill and wait for its last piece
      const zeroFilled = yield* stopFill(f)
      yield* prepare
      return { ...file, zeroFilled }
    })

    const requestZeroFill = (on: boolean) => {
      zeroFillWanted = on
      if (on && fill !== undefined) startFill(fill)
    }
    return { take, requestZeroFill, pendingZeroFilled: () => fill?.done === true }
  })
