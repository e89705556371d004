/**
 * Running one row module on its own (`node bench/<module>.ts [--quick]`): a temporary directory, a context whose
 * log goes to stderr, the module's rows printed as JSON lines, the directory removed afterwards.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import type { BenchContext, Row } from "./types.ts"

/**
 * When the module at `moduleUrl` is the script node was started with, runs `run` as described above.
 *
 * @since 0.1.0
 */
export const standalone = <E>(
  moduleUrl: string,
  name: string,
  run: (ctx: BenchContext) => Effect.Effect<ReadonlyArray<Row>, E, Scope.Scope>
): void => {
  if (process.argv[1] === undefined || Path.resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return
  const tmpRoot = NFS.mkdtempSync(Path.join(OS.tmpdir(), `bench-${name}-`))
  const ctx: BenchContext = {
    quick: process.argv.includes("--quick"),
    tmpRoot,
    repoRoot: Path.resolve(Path.dirname(fileURLToPath(moduleUrl)), ".."),
    log: (line) => process.stderr.write(`${line}\n`)
  }
  Effect.runPromise(Effect.scoped(run(ctx))).then(
    (rows) => {
      for (const r of rows) console.log(JSON.stringify(r))
      NFS.rmSync(tmpRoot, { recursive: true, force: true })
    },
    (e: unknown) => {
      console.error(e)
      NFS.rmSync(tmpRoot, { recursive: true, force: true })
      process.exitCode = 1
    }
  )
}
