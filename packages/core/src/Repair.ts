/**
 * Repair of a torn tail, with etcd's rule: only the **last** segment is ever repaired; it is decoded alone from its
 * start; a clean end means there is nothing to do; an unexpected end (torn write, short record, truncated length
 * word, or non-zero bytes after a zero length word) makes a full copy `<segment>.broken` (mode 0600, replacing an
 * older one), truncates the segment at the start of the bad record and fsyncs it. Any other error (CRC mismatch
 * that is not torn, undecodable record) is not repairable here and is returned as it is.
 *
 * Everything after the first bad record is discarded from the segment; only the `.broken` copy keeps it. The
 * segment is no longer preallocated afterwards (etcd's repair behaves the same).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as NFS from "node:fs"
import * as FileLock from "./FileLock.ts"
import * as Fsx from "./internal/fsx.ts"
import * as Reader from "./Reader.ts"
import * as Segment from "./Segment.ts"
import { WalNotFound } from "./WalError.ts"
import type { UnexpectedEof, WalLocked, WalReadError } from "./WalError.ts"

/**
 * What {@link repair} did.
 *
 * @since 0.1.0
 * @category models
 */
export type RepairResult =
  | { readonly _tag: "Clean"; readonly segment: string }
  | {
    readonly _tag: "Repaired"
    readonly segment: string
    /** The torn record: where the segment was truncated and how many written bytes were dropped. */
    readonly torn: UnexpectedEof
    readonly brokenCopy: string
  }

/**
 * Repairs the last segment of the WAL in `dir` (taking the writer lock while it works).
 *
 * @since 0.1.0
 * @category repair
 */
export const repair = (dir: string): Effect.Effect<RepairResult, WalReadError | WalLocked> =>
  Effect.scoped(Effect.gen(function*() {
    yield* FileLock.acquire(dir)
    return yield* repairUnlocked(dir)
  }))

/**
 * {@link repair} for a caller that already holds the directory lock.
 *
 * @since 0.1.0
 * @category repair
 */
export const repairUnlocked = (dir: string): Effect.Effect<RepairResult, WalReadError> =>
  Effect.gen(function*() {
    const listing = yield* Segment.list(dir)
    const last = listing.segments[listing.segments.length - 1]
    if (last === undefined) return yield* new WalNotFound({ dir, reason: "no WAL segment files" })
    const torn = yield* scanLast(dir, last)
    if (torn === undefined) return { _tag: "Clean", segment: last.name } as const
    const path = `${dir}/${last.name}`
    const broken = `${path}.broken`
    yield* Fsx.copyFileDurably(path, broken, 0o600)
    const fd = yield* Fsx.open(path, NFS.constants.O_RDWR, 0o600)
    yield* Effect.ensuring(
      Effect.andThen(Fsx.ftruncate(fd, path, torn.offset), Fsx.fsync(fd, path)),
      Fsx.closeQuietly(fd)
    )
    yield* Fsx.fsyncDir(dir)
    return { _tag: "Repaired", segment: last.name, torn, brokenCopy: `${last.name}.broken` } as const
  })

/** Decodes the last segment alone; returns the unexpected end if there is one. */
const scanLast = (dir: string, last: Segment.SegmentName): Effect.Effect<UnexpectedEof | undefined, WalReadError> =>
  Reader.scanSegments(dir, [last]).pipe(
    Effect.map(() => undefined),
    Effect.catchTag("UnexpectedEof", (e) => Effect.succeed(e))
  )
