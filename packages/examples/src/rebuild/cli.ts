/**
 * `node packages/examples/src/rebuild/cli.ts <root> projections <command>`: the projection administration commands
 * of @binlog/projections (`ProjectionsCli`) mounted for the rebuild example's `stock` projection (versions 1 and 2),
 * over the example's log (`<root>/wal`, archive in `<root>/archive`) and read model (`<root>/read-model.db`).
 *
 * ```
 * cli.ts /tmp/shop projections list
 * cli.ts /tmp/shop projections rebuild stock        # progress bar and ETA on a terminal
 * cli.ts /tmp/shop projections cutover stock
 * cli.ts /tmp/shop projections drop-old stock
 * cli.ts /tmp/shop projections parked
 * cli.ts /tmp/shop projections replay-parked stock --version 1
 * ```
 *
 * @since 0.1.0
 */
import * as BinLogger from "@binlog/core/BinLogger"
import * as Poison from "@binlog/projections/Poison"
import * as ProjectionsCli from "@binlog/projections/ProjectionsCli"
import * as SqlSink from "@binlog/projections/SqlSink"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Command } from "effect/cli"
import * as Effect from "effect/Effect"
import { paths, SEGMENT_SIZE_BYTES } from "./program.ts"
import { dropVersion, NAME, stockLevels, switchView } from "./projection.ts"

/**
 * The admin command of the example for the data under `root`.
 *
 * @since 0.1.0
 * @category commands
 */
export const adminCommand = (root: string) => {
  const p = paths(root)
  return Command.make("stock-admin").pipe(
    Command.withSubcommands([
      ProjectionsCli.command({
        projections: [stockLevels(1), stockLevels(2)],
        sink: SqlSink.sqlite({ filename: p.database }),
        log: BinLogger.layer({
          walDir: p.walDir,
          snapDir: p.snapDir,
          archiveDir: p.archiveDir,
          segmentSizeBytes: SEGMENT_SIZE_BYTES
        }),
        rebuilds: { [NAME]: { cutover: switchView, dropOld: dropVersion } },
        poison: { [NAME]: Poison.park() }
      })
    ])
  )
}

const [root, ...args] = process.argv.slice(2)
if (root === undefined) {
  process.stderr.write("usage: cli.ts <root> projections <command> ...\n")
  process.exit(2)
}
Command.runWith(adminCommand(root), { version: "0.1.0" })(args).pipe(
  Effect.tapCause((cause) => Effect.sync(() => process.stderr.write(`stock-admin: ${cause}\n`))),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
