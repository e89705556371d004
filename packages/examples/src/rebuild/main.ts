/**
 * `node packages/examples/src/rebuild/main.ts`: the rebuild example (see `program.ts`) on a temporary directory,
 * removed afterwards; prints what happened.
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as FS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { program } from "./program.ts"

const root = FS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-rebuild-"))
program(root).pipe(
  Effect.tap((o) =>
    Effect.log(
      `served after cutover equals the fold of all ${o.last} events: ${
        JSON.stringify(o.served) === JSON.stringify(o.expected)
      }`
    )
  ),
  Effect.ensuring(Effect.sync(() => FS.rmSync(root, { recursive: true, force: true }))),
  NodeRuntime.runMain
)
