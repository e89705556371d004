/**
 * Retention: which segments a purge may delete, and who keeps the others alive.
 *
 * The rule is etcd's `ReleaseLockTo(index)`: keep the last segment whose name index is below `index` (it may hold
 * entries from `index` on) and everything after it. The index used is the lowest of the last released snapshot
 * and every retention hold (a reader, a projection's checkpoint, a rebuild, an archiver: each says "I still need
 * entries from index N on"). The last segment is never deleted.
 *
 * @since 0.1.0
 */
import type * as Segment from "./Segment.ts"

/**
 * A named retention hold: its holder still needs the entries from `index` on.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hold {
  readonly id: number
  readonly name: string
  readonly index: bigint
}

/**
 * The live holds of one log.
 *
 * @since 0.1.0
 * @category models
 */
export class HoldRegistry {
  private readonly holds = new Map<number, Hold>()
  private nextId = 1

  /** Adds a hold and returns its id. */
  add(name: string, index: bigint): number {
    const id = this.nextId++
    this.holds.set(id, { id, name, index })
    return id
  }

  /** Moves a hold (forward or back). */
  set(id: number, index: bigint): void {
    const h = this.holds.get(id)
    if (h) this.holds.set(id, { ...h, index })
  }

  remove(id: number): void {
    this.holds.delete(id)
  }

  get(id: number): Hold | undefined {
    return this.holds.get(id)
  }

  list(): ReadonlyArray<Hold> {
    return [...this.holds.values()].sort((a, b) => (a.index < b.index ? -1 : a.index > b.index ? 1 : a.id - b.id))
  }

  /** The lowest hold, if any. */
  lowest(): Hold | undefined {
    return this.list()[0]
  }
}

/**
 * Index of the first segment to keep for a reader that needs entries from `index` on (etcd's `ReleaseLockTo`).
 *
 * @since 0.1.0
 * @category retention
 */
export const keepFrom = (segments: ReadonlyArray<Segment.SegmentName>, index: bigint): number => {
  let found = segments.findIndex((s) => s.index >= index)
  if (found < 0) found = segments.length
  return Math.max(0, Math.min(found - 1, segments.length - 1))
}

/**
 * Why a segment is kept.
 *
 * @since 0.1.0
 * @category models
 */
export type KeptBy =
  | { readonly _tag: "Releasable" }
  | { readonly _tag: "Snapshot"; readonly index: bigint }
  | { readonly _tag: "Hold"; readonly name: string; readonly index: bigint }

/**
 * A purge plan: the segments to delete and, for every segment, what keeps it (or that it may go).
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  readonly remove: ReadonlyArray<Segment.SegmentName>
  readonly keptBy: ReadonlyArray<{ readonly segment: Segment.SegmentName; readonly keptBy: KeptBy }>
}

/**
 * Plans a purge of `segments` (oldest first) after the snapshot released at `snapshotIndex`, honouring `holds`.
 *
 * @since 0.1.0
 * @category retention
 */
export const plan = (
  segments: ReadonlyArray<Segment.SegmentName>,
  snapshotIndex: bigint,
  holds: ReadonlyArray<Hold>
): Plan => {
  const bySnapshot = keepFrom(segments, snapshotIndex)
  let limit = bySnapshot
  const lowestFirst = [...holds].sort((a, b) => (a.index < b.index ? -1 : a.index > b.index ? 1 : 0))
  const holdLimits = lowestFirst.map((h) => ({ hold: h, from: keepFrom(segments, h.index) }))
  for (const h of holdLimits) limit = Math.min(limit, h.from)
  const keptBy = segments.map((segment, i) => {
    if (i >= bySnapshot) return { segment, keptBy: { _tag: "Snapshot", index: snapshotIndex } as KeptBy }
    const holder = holdLimits.find((h) => i >= h.from)
    if (holder) return { segment, keptBy: { _tag: "Hold", name: holder.hold.name, index: holder.hold.index } as KeptBy }
    return { segment, keptBy: { _tag: "Releasable" } as KeptBy }
  })
  return { remove: segments.slice(0, limit), keptBy }
}

/**
 * The `.snap` files to delete to keep the newest `keep` (names newest first, as `Snap.list` returns them), never
 * deleting `current` (the snapshot the log opens at).
 *
 * @since 0.1.0
 * @category retention
 */
export const snapsToDelete = (
  namesNewestFirst: ReadonlyArray<string>,
  keep: number,
  current: string | undefined
): ReadonlyArray<string> => namesNewestFirst.slice(Math.max(1, keep)).filter((n) => n !== current)
