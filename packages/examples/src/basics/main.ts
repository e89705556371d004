/**
 * `npm run example:basics`: the log's basics against a temporary directory (removed afterwards).
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as FS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { program } from "./program.ts"

const root = FS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-basics-"))
program(Path.join(root, "wal"), Path.join(root, "snap")).pipe(
  Effect.ensuring(Effect.sync(() => FS.rmSync(root, { recursive: true, force: true }))),
  NodeRuntime.runMain
)
