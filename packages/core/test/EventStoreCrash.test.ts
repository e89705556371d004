import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { runTransferCycles } from "./crash/transfers.ts"
import { tempDir } from "./utils.ts"

const CYCLES = 8

describe("EventStore: crash safety", () => {
  it.live(
    "a child killed with SIGKILL mid-run never leaves half a transfer, and stream versions stay dense",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const report = yield* runTransferCycles(root, CYCLES)
        assert.isAbove(report.transfers, 0)
        assert.isAbove(report.acknowledged, 0)
      }),
    { timeout: 60_000 }
  )
})
