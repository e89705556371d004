// `npm run torture` part: many SIGKILL cycles of the event store's crash test (transfers between streams, delta
// checkpoints, restart), each followed by the full check.
//   node_modules/.bin/node packages/core/test/crash/torture-eventstore.ts --cycles N
import * as Effect from "effect/Effect"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { cyclesArg } from "./args.ts"
import { runTransferCycles } from "./transfers.ts"

const cycles = cyclesArg("torture-eventstore.ts", 100)
const root = NFS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-torture-es-"))
const seed = Date.now() % 100000
const report = await Effect.runPromise(runTransferCycles(root, cycles, seed))
process.stdout.write(
  `event store: ${report.cycles} SIGKILL cycles (seed ${seed}), ${report.acknowledged} acknowledged transfers; ` +
    `${report.transfers} transfers in the log, none half written, stream versions dense\n`
)
NFS.rmSync(root, { recursive: true, force: true })
