// `binlog read --follow`: following a log that ANOTHER process writes, read-only (no writer lock, no repair).
//
// What may be shown: complete, CRC-valid entries that are not part of an unfinished group (binlog writes a commit
// marker announcing each group's last index before the group; every complete entry counts in a log without
// markers). A `CommitWatcher` decodes the tail of the last segment(s) on every wake-up (fs.watch on the directory,
// or a poll every FOLLOW_POLL_MS) and reports the committed index; entries themselves are read by `Reader.entries`
// with that index as `to`, so the Reader never hands out anything beyond it.
//
// The hazard: a marker and the entries after it belong to a group that may never finish; if its writer dies, the
// next writer cuts them off and writes new entries with the same indexes over them. `Reader.entries` in follow mode
// may already have decoded such bytes (it keeps complete entries beyond `to` for later), so it is only safe while no
// writer restart can happen behind its back. A restart always changes the lock file first (FileLock writes the new
// owner before recovery touches the segment), so:
//
// - follow mode (one long `Reader.entries` stream with `follow`) is entered only when no group is open at the tail
//   (and nothing unreadable follows it), and every new `to` is handed to it only if the lock file is unchanged after the watcher's
//   decode; a changed lock ends the stream (its pending entries are dropped) and we start again from the next index;
// - otherwise (a group being written right now, or a crashed writer's leftovers) entries are read in bounded rounds:
//   a fresh `Reader.entries(next, { to: committed })` per round, which keeps nothing beyond `to`.
//
// The watcher itself only moves its saved position to points where no group is open: a restarted writer cuts an
// unfinished group at its marker (and a torn record where it starts), never before such a point. Internal.
import type * as Arr from "effect/Array"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NFS from "node:fs"
import * as Proto from "../../Proto.ts"
import * as Reader from "../../Reader.ts"
import * as RecordCodec from "../../RecordCodec.ts"
import * as Segment from "../../Segment.ts"
import type { WalIoError, WalReadError } from "../../WalError.ts"
import { openCursor } from "./frames.ts"
import { lockIdentity } from "./view.ts"
import type { LogView } from "./view.ts"

/** Longest wait between two looks at the tail when fs.watch reports nothing (or is unavailable). */
export const FOLLOW_POLL_MS = 250

const ENTRY_TYPE = BigInt(RecordCodec.RecordType.entry)
const STATE_TYPE = BigInt(RecordCodec.RecordType.state)

/** What the watcher saw at the tail. */
export interface TailState {
  readonly committed: bigint
  /** No group is open (announced by a marker but not complete) and nothing unreadable follows the last frame. */
  readonly clean: boolean
}

interface Position {
  readonly segment: Segment.SegmentName
  readonly offset: number
  readonly crc: number
  /** Last entry index before `offset`. */
  readonly lastIndex: bigint
  /** A group announced by a marker before `offset` and not complete there: its last index, and the index before it. */
  readonly open: { readonly commit: bigint; readonly before: bigint } | undefined
}

const decodeEntryIndex = (data: Uint8Array | undefined): bigint | undefined => {
  try {
    return RecordCodec.decodeEntry(data ?? new Uint8Array(0)).index
  } catch {
    return undefined
  }
}

const decodeCommit = (data: Uint8Array | undefined): bigint | undefined => {
  try {
    return Proto.decodeHardState(data ?? new Uint8Array(0)).commit
  } catch {
    return undefined
  }
}

const committedAt = (p: { readonly lastIndex: bigint; readonly open: Position["open"] }): bigint =>
  p.open === undefined ? p.lastIndex : p.open.before

/**
 * Decodes the tail of a WAL directory from a saved position and reports its committed index. Read-only.
 *
 * The saved position only moves to points where no group is open (or to the end of a sealed segment): a restarted
 * writer cuts an unfinished group at its marker, and a torn record where it starts, never before such a point.
 */
export class CommitWatcher {
  private saved: Position

  constructor(view: LogView) {
    const scan = view.scan
    const m = scan.lastMarker
    this.saved = m !== undefined && scan.lastIndex < m.commit
      // an unfinished group at the end: look again from its marker
      ? { segment: m.at.segment, offset: m.at.offset, crc: m.at.crc, lastIndex: m.lastIndexBefore, open: undefined }
      : {
        segment: scan.tail.segment,
        offset: scan.tail.offset,
        crc: scan.tail.crc,
        lastIndex: scan.lastIndex,
        open: undefined
      }
  }

  /** Decodes what was written since the saved position. */
  poll(dir: string): Effect.Effect<TailState, WalIoError> {
    return Effect.gen({ self: this }, function*() {
      const listing = yield* Segment.list(dir)
      let newer = listing.segments.filter((s) => s.seq > this.saved.segment.seq)
      let pos = this.saved
      while (true) {
        const pass = yield* Effect.scoped(decodeSegment(dir, pos, newer.length === 0))
        const following = newer[0]
        if (pass.end === undefined || following === undefined || following.seq !== pos.segment.seq + 1n) {
          this.saved = pass.saved
          return { committed: committedAt(pass.state), clean: pass.clean }
        }
        // a segment with a successor was sealed (truncated at its end and synced) before the successor was renamed
        // into place, and recovery never cuts it: continue in the next one with the CRC carried over
        pos = {
          segment: following,
          offset: 0,
          crc: pass.end.crc,
          lastIndex: pass.state.lastIndex,
          open: pass.state.open
        }
        newer = newer.slice(1)
      }
    })
  }
}

interface Pass {
  /** Where the next look starts. */
  readonly saved: Position
  /** The state after the last valid frame read. */
  readonly state: { readonly lastIndex: bigint; readonly open: Position["open"] }
  readonly clean: boolean
  /** Set when the segment's end was reached cleanly: the position and running CRC there. */
  readonly end: { readonly offset: number; readonly crc: number } | undefined
}

const decodeSegment = (
  dir: string,
  from: Position,
  last: boolean
): Effect.Effect<Pass, WalIoError, Scope.Scope> =>
  Effect.gen(function*() {
    const cursor = yield* openCursor(dir, from.segment.name, { offset: from.offset, crc: from.crc, last })
    let saved = from
    let lastIndex = from.lastIndex
    let open = from.open
    // a record being written, a crashed writer's torn tail, or damage: wait for it to change
    const stop = (): Pass => ({ saved, state: { lastIndex, open }, clean: false, end: undefined })
    while (true) {
      const step = yield* cursor.next()
      if (step._tag === "End") {
        return {
          saved,
          state: { lastIndex, open },
          clean: open === undefined,
          end: { offset: cursor.offset, crc: cursor.crc }
        }
      }
      if (step._tag === "Bad" || !step.frame.crcOk) return stop()
      const f = step.frame
      if (f.type === ENTRY_TYPE) {
        const index = decodeEntryIndex(f.data)
        if (index === undefined) return stop()
        lastIndex = index
        if (open !== undefined && index >= open.commit) open = undefined
      } else if (f.type === STATE_TYPE) {
        const commit = decodeCommit(f.data)
        if (commit === undefined) return stop()
        // a marker announces its group's last index; a segment header repeats the last one (already complete)
        open = commit > lastIndex ? { commit, before: lastIndex } : undefined
      }
      if (open === undefined) saved = { segment: from.segment, offset: cursor.offset, crc: cursor.crc, lastIndex, open }
    }
  })

/** Options of {@link follow}. */
export interface FollowOptions {
  readonly walDir: string
  readonly from: bigint
  readonly initial: LogView
  readonly emit: (entries: Arr.NonEmptyReadonlyArray<RecordCodec.EntryValue>) => Effect.Effect<void>
}

/**
 * A wake-up for the tail: resolves after fs.watch reports a change in the directory, or after
 * {@link FOLLOW_POLL_MS}.
 */
const makeWakeup = (dir: string): Effect.Effect<Effect.Effect<void>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const latch = yield* Latch.make(false)
    yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const w = NFS.watch(dir, { persistent: false }, () => latch.openUnsafe())
          w.on("error", () => latch.openUnsafe())
          return w
        },
        catch: () => undefined
      }).pipe(Effect.orElseSucceed(() => undefined)),
      (w) => Effect.sync(() => w?.close())
    )
    return Effect.andThen(Effect.timeoutOption(latch.await, FOLLOW_POLL_MS), latch.close)
  })

/**
 * Emits every committed entry from `from` on, then every entry committed later by the writer process, forever.
 */
export const follow = (options: FollowOptions): Effect.Effect<never, WalReadError, Scope.Scope> =>
  Effect.gen(function*() {
    const { walDir } = options
    const wait = yield* makeWakeup(walDir)
    const watcher = new CommitWatcher(options.initial)
    let next = options.from
    const emit = (chunk: Arr.NonEmptyReadonlyArray<RecordCodec.EntryValue>) =>
      Effect.tap(options.emit(chunk), () => Effect.sync(() => (next = chunk[chunk.length - 1]!.index + 1n)))

    /** Reads (next, to] with a fresh stream; a failure caused by a writer restart is reported as `false`. */
    const round = (to: bigint, generation: string) =>
      Reader.entries(walDir, next, { to }).pipe(
        Stream.runForEachArray(emit),
        Effect.as(true),
        Effect.catch((e) => Effect.map(lockIdentity(walDir), (g) => g !== generation ? false : e)),
        Effect.flatMap((r) => (r === true || r === false ? Effect.succeed(r) : Effect.fail(r)))
      )

    /** One long stream while the lock stays the same; ends (succeeds) when it changes. */
    const followMode = (to: bigint, generation: string) =>
      Effect.gen(function*() {
        const changed = yield* Deferred.make<void, WalIoError>()
        const awaitCommit = (reached: bigint): Effect.Effect<bigint> =>
          Effect.gen(function*() {
            while (true) {
              yield* wait
              const seen = yield* Effect.result(watcher.poll(walDir))
              if ((yield* lockIdentity(walDir)) !== generation) {
                Deferred.doneUnsafe(changed, Effect.void)
                return yield* Effect.never
              }
              if (seen._tag === "Failure") {
                Deferred.doneUnsafe(changed, Effect.fail(seen.failure))
                return yield* Effect.never
              }
              if (seen.success.committed > reached) return seen.success.committed
            }
          })
        const stream = Reader.entries(walDir, next, { to, follow: awaitCommit }).pipe(
          Stream.runForEachArray(emit),
          Effect.andThen(Effect.never),
          Effect.catch((e) => Effect.map(lockIdentity(walDir), (g) => (g !== generation ? undefined : e)))
        )
        const failed = yield* Effect.raceFirst(stream, Deferred.await(changed))
        if (failed !== undefined) return yield* failed
      })

    while (true) {
      const generation = yield* lockIdentity(walDir)
      const seen = yield* watcher.poll(walDir)
      if ((yield* lockIdentity(walDir)) !== generation) continue
      if (seen.clean) {
        yield* followMode(seen.committed, generation)
        continue
      }
      if (seen.committed >= next) yield* round(seen.committed, generation)
      yield* wait
    }
  })
