// Shared by the crash tests: what an entry at an index must contain, and the check of a directory against the
// ranges a killed writer had acknowledged.
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as BinLogger from "../../src/BinLogger.ts"

/** The bytes the crash-test writers store at `index` (sizes vary with the index, 24 to ~1,100 bytes). */
export const entryData = (index: bigint): Uint8Array => {
  const pad = Number(index % 97n) * 11
  return new TextEncoder().encode(`entry ${index} ${"#".repeat(pad)}`)
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

export interface CheckResult {
  readonly firstIndex: bigint
  readonly currentIndex: bigint
  readonly snapshotIndex: bigint
  readonly checkedAcknowledged: number
}

/**
 * Opens the directory with the BinLogger (running recovery), then checks: entries are dense from the first retained
 * index, each holds `entryData(index)` (nothing reordered, duplicated or corrupted), and every acknowledged range at
 * or above the first retained index is present.
 */
export const check = (walDir: string, snapDir: string, acknowledged: ReadonlyArray<readonly [bigint, bigint]>) =>
  Effect.scoped(
    Effect.gen(function*() {
      const log = yield* BinLogger.BinLogger
      const status = yield* log.status
      const first = status.firstIndex
      const current = status.currentIndex
      let expected = first
      let bad: string | undefined
      if (current >= first) {
        yield* Stream.runForEach(log.read(first), (e) =>
          Effect.sync(() => {
            if (bad) return
            if (e.index !== expected) bad = `index ${e.index} where ${expected} was expected`
            else if (!same(e.data, entryData(e.index))) bad = `entry ${e.index} holds the wrong bytes`
            expected++
          }))
      }
      if (bad) return yield* Effect.die(new Error(`crash check: ${bad}`))
      let checked = 0
      for (const [f, l] of acknowledged) {
        if (l < first) continue
        if (l > current) return yield* Effect.die(new Error(`acknowledged range ${f}-${l} lost (current ${current})`))
        checked++
      }
      return {
        firstIndex: first,
        currentIndex: current,
        snapshotIndex: status.snapshotIndex,
        checkedAcknowledged: checked
      }
    }).pipe(
      Effect.provide(Layer.fresh(BinLogger.layer({ walDir, snapDir, segmentSizeBytes: 65536, keepSnapshots: 3 })))
    )
  )
