/**
 * `node packages/examples/src/pipeline/main.ts`: the typed pipeline (WAL → Schema decode and upcast → projector →
 * SQLite read model, and a query that waits for its own write) on a temporary directory, removed afterwards.
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as FS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { program } from "./program.ts"

const root = FS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-pipeline-"))
program(root).pipe(
  Effect.ensuring(Effect.sync(() => FS.rmSync(root, { recursive: true, force: true }))),
  NodeRuntime.runMain
)
