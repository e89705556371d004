// `npm run torture -- --cycles N`: many SIGKILL cycles of the BinLogger crash test, then the full check.
// (The CLI, event-store and projection crash tests have their own torture scripts beside their tests; this runs them
// too when they exist.)
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { cyclesArg } from "./args.ts"
import { runCycles } from "./cycle.ts"
import { check } from "./verify.ts"

const cycles = cyclesArg("npm run torture --", 100)
const root = NFS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-torture-"))
const walDir = Path.join(root, "wal")
const snapDir = Path.join(root, "snap")
const report = await runCycles(walDir, snapDir, cycles, Date.now() % 100000)
const result = await Effect.runPromise(check(walDir, snapDir, report.acknowledged))
process.stdout.write(
  `BinLogger: ${cycles} SIGKILL cycles, ${report.printedLines} acknowledged batches; ` +
    `log holds ${result.firstIndex}..${result.currentIndex} (snapshot ${result.snapshotIndex}), ` +
    `${result.checkedAcknowledged} acknowledged ranges verified\n`
)
NFS.rmSync(root, { recursive: true, force: true })

for (const script of ["./torture-cli.ts", "./torture-eventstore.ts", "../../../projections/test/crash/torture.ts"]) {
  const path = fileURLToPath(new URL(script, import.meta.url))
  if (!NFS.existsSync(path)) continue
  const r = ChildProcess.spawnSync(process.execPath, [path, "--cycles", String(cycles)], { stdio: "inherit" })
  if (r.status !== 0) process.exit(r.status ?? 1)
}
