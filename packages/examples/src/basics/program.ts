/**
 * The log in five steps: write a few entries, lease a snapshot of them and release it, write more, close, reopen
 * and read everything back. Returns what it saw so the test can check it.
 *
 * @since 0.1.0
 */
import { BinLogger } from "@binlog/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

const text = (s: string) => new TextEncoder().encode(s)
const show = (b: Uint8Array) => new TextDecoder().decode(b)

/**
 * What the basics program observed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Observed {
  readonly firstBatch: BinLogger.IndexRange
  readonly snapshot: { readonly prevIndex: bigint; readonly currentIndex: bigint; readonly entries: Array<string> }
  readonly afterReopen: Array<{ readonly index: bigint; readonly data: string }>
  readonly snapshotIndexAfterReopen: bigint
}

/**
 * Runs the basics against `walDir`/`snapDir`, printing each step with `Effect.log`.
 *
 * @since 0.1.0
 * @category programs
 */
export const program = (walDir: string, snapDir: string): Effect.Effect<Observed, unknown> =>
  Effect.gen(function*() {
    const layer = () => Layer.fresh(BinLogger.layer({ walDir, snapDir }))
    const first = yield* Effect.scoped(
      Effect.gen(function*() {
        const log = yield* BinLogger.BinLogger
        const firstBatch = yield* log.log([text("open account 17"), text("deposit 100"), text("withdraw 30")])
        yield* Effect.log(`logged entries ${firstBatch.first}..${firstBatch.last}`)
        const lease = Option.getOrThrow(yield* log.createSnapshot)
        const entries = (yield* lease.entriesArray).map((e) => show(e.data))
        yield* Effect.log(`snapshot lease (${lease.prevIndex}, ${lease.currentIndex}]: ${entries.join(" | ")}`)
        yield* lease.release(true)
        const more = yield* log.log([text("deposit 5")])
        yield* Effect.log(`logged entry ${more.first} after the snapshot; closing`)
        return {
          firstBatch,
          snapshot: { prevIndex: lease.prevIndex, currentIndex: lease.currentIndex, entries }
        }
      }).pipe(Effect.provide(layer()))
    )
    const reopened = yield* Effect.scoped(
      Effect.gen(function*() {
        const log = yield* BinLogger.BinLogger
        const snapshotIndex = yield* log.snapshotIndex
        const all = yield* Stream.runCollect(log.read(1n))
        yield* Effect.log(`reopened at snapshot ${snapshotIndex}; the log holds:`)
        for (const e of all) yield* Effect.log(`  ${e.index}: ${show(e.data)}`)
        return { snapshotIndex, all: all.map((e) => ({ index: e.index, data: show(e.data) })) }
      }).pipe(Effect.provide(layer()))
    )
    return { ...first, afterReopen: reopened.all, snapshotIndexAfterReopen: reopened.snapshotIndex }
  })
