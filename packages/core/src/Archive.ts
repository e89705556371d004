/**
 * Segment archiving: before purge may delete a sealed segment, a copy of it (and of the `.snap` files) goes to an
 * archive directory, verified, so rebuilds can still read the whole log (`BinLogger.read` reads archived segments,
 * then live ones).
 *
 * Each sealed segment is copied to `<archive>/<name>.tmp`, fsynced, verified by decoding every record of the copy
 * with the CRC chain continued from the previous archived segment (its leading crc record must carry the chain's
 * value, so the archive is self-verifying end to end), renamed into place, and the directory is fsynced. `.snap`
 * files are copied to `<archive>/snap/`. The archiver holds retention at the first segment it has not archived yet,
 * so purge never deletes an unarchived segment. Archiving never modifies the live directory.
 *
 * Limits: the archive is a local directory (mount object storage if you need it elsewhere); segments are copied
 * whole (each up to the segment size, 64 MB by default) — copy time is bounded by disk bandwidth.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Fsx from "./internal/fsx.ts"
import * as Reader from "./Reader.ts"
import * as Segment from "./Segment.ts"
import * as Snap from "./Snap.ts"
import type { WalReadError } from "./WalError.ts"

/**
 * What the archive holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface ArchiveState {
  /** Sequence number of the newest archived segment, or -1 when the archive is empty. */
  readonly lastSeq: bigint
  /** Running CRC at the end of the newest archived segment (the chain the next one must continue). */
  readonly crc: number
}

/**
 * Reads the state of an archive directory (created if missing), verifying its newest segment.
 *
 * @since 0.1.0
 * @category archiving
 */
export const state = (archiveDir: string): Effect.Effect<ArchiveState, WalReadError> =>
  Effect.gen(function*() {
    yield* Fsx.mkdirp(archiveDir, 0o700)
    const segments = (yield* Segment.list(archiveDir)).segments
    const last = segments[segments.length - 1]
    if (last === undefined) return { lastSeq: -1n, crc: 0 }
    const scan = yield* Reader.scanSegments(archiveDir, [last])
    return { lastSeq: last.seq, crc: scan.tail.crc }
  })

/**
 * Archives, in order, the sealed segments of `walDir` (`sealed`, oldest first) that come after `from.lastSeq`,
 * and copies the `.snap` files of `snapDir`. Returns the new state. A segment whose sequence does not follow the
 * archive's last one, or whose copy fails verification, stops archiving with the typed error (nothing is renamed
 * into place).
 *
 * @since 0.1.0
 * @category archiving
 */
export const archive = (
  walDir: string,
  snapDir: string,
  archiveDir: string,
  sealed: ReadonlyArray<Segment.SegmentName>,
  from: ArchiveState
): Effect.Effect<ArchiveState, WalReadError> =>
  Effect.gen(function*() {
    let current = from
    for (const segment of sealed) {
      if (segment.seq <= current.lastSeq) continue
      const tmpName = `${segment.name}.tmp`
      yield* Fsx.copyFileDurably(`${walDir}/${segment.name}`, `${archiveDir}/${tmpName}`, 0o600)
      // verify the copy: every record, the chain continued from the archive (0 = first archived: not checked)
      const verifyDir = `${archiveDir}/.verify`
      yield* Fsx.mkdirp(verifyDir, 0o700)
      yield* Fsx.rename(`${archiveDir}/${tmpName}`, `${verifyDir}/${segment.name}`)
      const scan = yield* Effect.onError(
        Reader.scanSegments(verifyDir, [segment], { crc: current.lastSeq >= 0n ? current.crc : undefined }),
        () => Effect.ignore(Fsx.unlink(`${verifyDir}/${segment.name}`))
      )
      yield* Fsx.rename(`${verifyDir}/${segment.name}`, `${archiveDir}/${segment.name}`)
      yield* Fsx.fsyncDir(archiveDir)
      current = { lastSeq: segment.seq, crc: scan.tail.crc }
    }
    const snapArchive = `${archiveDir}/snap`
    yield* Fsx.mkdirp(snapArchive, 0o700)
    const have = new Set((yield* Snap.list(snapArchive)).map((s) => s.name))
    for (const s of yield* Snap.list(snapDir)) {
      if (!have.has(s.name)) yield* Fsx.copyFileDurably(`${snapDir}/${s.name}`, `${snapArchive}/${s.name}`, 0o644)
    }
    return current
  })
