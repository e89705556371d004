// The rebuild progress line of the projection commands (the commands themselves are tested by spawning the
// example's binary: packages/examples/test/rebuild-cli.test.ts).
import { assert, describe, it } from "@effect/vitest"
import * as ProjectionsCli from "../src/ProjectionsCli.ts"

describe("ProjectionsCli.progressLine", () => {
  it("shows the bar, the percentage, the counts, the rate since start and the ETA from that rate", () => {
    // 500 entries done of 1,000, 400 of them in 2 s since a start at 100: 200/s, 500 left → 3 s
    const line = ProjectionsCli.progressLine(500n, 1_000n, 2_000, 100n)
    assert.strictEqual(line, `[${"#".repeat(15)}${".".repeat(15)}] 50.0% 500/1000 entries, 200/s, ETA 3s`)
  })

  it("says the ETA is unknown before anything moved, and 0 s when done", () => {
    assert.match(ProjectionsCli.progressLine(0n, 10n, 1_000, 0n), /ETA \?$/)
    assert.match(ProjectionsCli.progressLine(10n, 10n, 1_000, 0n), /100\.0% 10\/10 entries, 10\/s, ETA 0s$/)
  })
})
