// Crash test: a child process appends to the log and runs both runners into one SQLite file; it is SIGKILLed at
// random moments and restarted, again and again. At the end (after one clean drain) each read model must equal the
// pure fold of the whole log: every account's sum, event count and last index, so an event applied twice or
// never shows up. More cycles: `node packages/projections/test/crash/torture.ts --cycles N`.
import { assert, describe, it } from "@effect/vitest"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { drainAndRead, runCycles } from "./crash/cycle.ts"

const CYCLES = 12

describe("crash safety", () => {
  it(
    `after ${CYCLES} SIGKILLs at random moments, each read model is the fold of the whole log, every event once`,
    async () => {
      const root = NFS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-proj-crash-"))
      try {
        const seed = 20_250_101
        const report = await runCycles(root, CYCLES, seed)
        const result = await drainAndRead(root, seed)
        assert.isAtLeast(Number(result.drainedIndex), Number(report.appended))
        assert.isAbove(Number(result.drainedIndex), 0)
        assert.deepStrictEqual(result.rows.by_cursor, result.expected)
        assert.deepStrictEqual(result.rows.by_snapshot, result.expected)
        assert.deepStrictEqual(result.checkpoints, { by_cursor: result.drainedIndex, by_snapshot: result.drainedIndex })
        console.log(
          `crash test: ${report.cycles} kills (${report.earlyKills} during start-up), ${result.drainedIndex} events, ` +
            `${result.expected.length} accounts, both read models exact`
        )
      } finally {
        NFS.rmSync(root, { recursive: true, force: true })
      }
    },
    60_000
  )
})
