// `node packages/projections/test/crash/torture.ts --cycles N` (wired into `npm run torture`): N SIGKILL cycles of
// the projection crash test, then the full check. Exits non-zero on any mismatch.
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { isDeepStrictEqual } from "node:util"
import { drainAndRead, runCycles } from "./cycle.ts"

const args = process.argv.slice(2)
const at = args.indexOf("--cycles")
const cycles = at >= 0 ? Number(args[at + 1]) : 100
if (!Number.isInteger(cycles) || cycles < 1) {
  process.stderr.write("usage: torture.ts --cycles N\n")
  process.exit(2)
}
const seed = Date.now() % 1_000_000
const root = NFS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-proj-torture-"))
const report = await runCycles(root, cycles, seed)
const result = await drainAndRead(root, seed)
const problems: Array<string> = []
for (const [name, rows] of Object.entries(result.rows)) {
  if (!isDeepStrictEqual(rows, result.expected)) {
    problems.push(`${name}: read model differs from the fold of events 1..${result.drainedIndex}`)
  }
  if (result.checkpoints[name] !== result.drainedIndex) {
    problems.push(`${name}: checkpoint ${result.checkpoints[name]} instead of ${result.drainedIndex}`)
  }
}
if (result.drainedIndex < report.appended) {
  problems.push(`log index ${result.drainedIndex} is below an acknowledged append (${report.appended})`)
}
if (problems.length > 0) {
  process.stderr.write(`projections torture FAILED (seed ${seed}, data kept in ${root}):\n  ${problems.join("\n  ")}\n`)
  process.exit(1)
}
process.stdout.write(
  `projections: ${cycles} SIGKILL cycles (${report.earlyKills} during start-up), ${result.drainedIndex} events; ` +
    `cursor and snapshot read models equal the fold of the whole log (${result.expected.length} accounts)\n`
)
NFS.rmSync(root, { recursive: true, force: true })
