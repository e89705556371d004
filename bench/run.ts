/**
 * `npm run bench` (not part of the tests): our numbers against the peers', on this machine, in this run.
 *
 * Runs the row modules in order — `bench/wal.ts` (our WAL vs etcd's through the etcdwal harness), `bench/codec.ts`
 * (hand codec vs protobufjs), then the optional `bench/eventstore.ts` and `bench/projections.ts` when present —
 * prints a table and writes `bench/results/latest.json` (an array of rows `{ name, unit, ours, peer, peerName,
 * ratio, target, met, ... }`, ratio always "higher is better") and `bench/results/latest-machine.json`.
 *
 * Each module runs in a child process of its own (`run.ts --module NAME --tmp DIR`), so that one module's heap and
 * JIT state do not shift the next one's figures. A module that throws (or whose import fails, or whose process dies)
 * becomes an error row; the other rows are kept. The files are always
 * written; the process exits with 1 only when a row is an error (a missed target is reported, not an error).
 *
 * Flags: `--quick` (smaller N, one round: a smoke run, not figures to quote), `--only wal,codec,...` (a subset of
 * modules). Env: `BENCH_TMPDIR` (temp root; default `os.tmpdir()` unless tmpfs), `ETCDWAL` (harness path).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as NFS from "node:fs"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { machineInfo, makeTmpRoot } from "./internal/machine.ts"
import type { BenchContext, Row } from "./internal/types.ts"
import { errorRow } from "./internal/types.ts"
import { harnessPath } from "./wal.ts"

const benchDir = Path.dirname(fileURLToPath(import.meta.url))
const repoRoot = Path.resolve(benchDir, "..")
const resultsDir = Path.join(benchDir, "results")

/** Row modules in run order; `optional` ones are skipped (with a notice) when their file does not exist. */
const MODULES: ReadonlyArray<{ readonly name: string; readonly file: string; readonly optional: boolean }> = [
  { name: "wal", file: "wal.ts", optional: false },
  { name: "codec", file: "codec.ts", optional: false },
  { name: "eventstore", file: "eventstore.ts", optional: true },
  { name: "projections", file: "projections.ts", optional: true },
  { name: "operations", file: "operations.ts", optional: true }
]

const argv = process.argv.slice(2)
const quick = argv.includes("--quick")
const onlyAt = argv.indexOf("--only")
const only = onlyAt >= 0 ? new Set((argv[onlyAt + 1] ?? "").split(",")) : undefined
/** Set (with the module's name) on the child process that runs one module. */
const CHILD_FLAG = "--module"
const childAt = argv.indexOf(CHILD_FLAG)

const log = (line: string) => process.stderr.write(`${line}\n`)

type RowFunction = (ctx: BenchContext) => unknown

/** The module's row function: `run`, else the default export, else `rows`/`bench`, else its only function. */
const findRowFunction = (mod: Record<string, unknown>): RowFunction | undefined => {
  for (const key of ["run", "default", "rows", "bench"]) {
    const f = mod[key]
    if (typeof f === "function") return f as RowFunction
  }
  const fns = Object.values(mod).filter((v) => typeof v === "function")
  return fns.length === 1 ? (fns[0] as RowFunction) : undefined
}

/** Accepts rows as an array, a Promise of one or an Effect of one. */
const settle = async (value: unknown): Promise<unknown> => {
  if (Effect.isEffect(value)) return Effect.runPromise(Effect.scoped(value as Effect.Effect<unknown, unknown>))
  return await value
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null

const numOrNull = (u: unknown): number | null => (typeof u === "number" && Number.isFinite(u) ? u : null)

/** Fills in what a foreign module may have left out (ratio from ours/peer is not guessed: null stays null). */
const normalize = (u: unknown, module: string): Row => {
  if (!isRecord(u) || typeof u["name"] !== "string") return errorRow(`${module}: malformed row`, "", JSON.stringify(u))
  const target = numOrNull(u["target"])
  const ratio = numOrNull(u["ratio"])
  const met = typeof u["met"] === "boolean" ? u["met"] : target !== null && ratio !== null ? ratio >= target : null
  return {
    ...u,
    name: u["name"],
    unit: typeof u["unit"] === "string" ? u["unit"] : "",
    ours: numOrNull(u["ours"]),
    peer: numOrNull(u["peer"]),
    peerName: typeof u["peerName"] === "string" ? u["peerName"] : "",
    ratio,
    target,
    met
  }
}

/**
 * Runs one module in this process and returns its raw rows (whatever it returned). Used by the child process that
 * {@link runModule} starts.
 */
const runModuleHere = async (m: { readonly name: string; readonly file: string }, ctx: BenchContext) => {
  const mod = (await import(pathToFileURL(Path.join(benchDir, m.file)).href)) as Record<string, unknown>
  const f = findRowFunction(mod)
  if (f === undefined) throw new Error(`bench/${m.file} exports no row function (expected run(ctx))`)
  const result = await settle(f(ctx))
  if (!Array.isArray(result)) throw new Error(`bench/${m.file}: row function returned ${typeof result}, not an array`)
  return result as ReadonlyArray<unknown>
}

/**
 * Runs one module in a child process of its own (same Node, same flags), so that no module's heap, JIT state or
 * pending GC work shifts the figures of the modules after it: the event-store row measured ~9% lower when it ran
 * after the WAL rows in one process. The child writes its rows to a file; its log lines go to our stderr.
 */
const runModule = async (
  m: { readonly name: string; readonly file: string; readonly optional: boolean },
  ctx: BenchContext
): Promise<ReadonlyArray<Row>> => {
  const path = Path.join(benchDir, m.file)
  if (!NFS.existsSync(path)) {
    if (m.optional) {
      log(`(${m.name}: bench/${m.file} not present, skipped)`)
      return []
    }
    return [errorRow(`${m.name}: module missing`, "", `bench/${m.file} not found`)]
  }
  const started = performance.now()
  log(`== ${m.name} (bench/${m.file}, own process)`)
  const rowsFile = Path.join(ctx.tmpRoot, `${m.name}.rows.json`)
  const args = [...process.execArgv, fileURLToPath(import.meta.url), CHILD_FLAG, m.name, "--tmp", ctx.tmpRoot]
  if (ctx.quick) args.push("--quick")
  const status = await new Promise<number | null>((resolve) => {
    const child = ChildProcess.spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] })
    child.on("error", () => resolve(null))
    child.on("exit", (code) => resolve(code))
  })
  if (!NFS.existsSync(rowsFile)) {
    const why = `child process exited with ${status === null ? "an error" : `code ${status}`} and wrote no rows`
    log(`!!!!! ${m.name} failed: ${why}`)
    return [errorRow(`${m.name}: module failed`, "", why)]
  }
  const result = JSON.parse(NFS.readFileSync(rowsFile, "utf8")) as ReadonlyArray<unknown>
  log(`== ${m.name}: ${result.length} rows in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return result.map((r) => normalize(r, m.name))
}

/** The child side of {@link runModule}: `run.ts --module NAME --tmp DIR [--quick]`. */
const childMain = async (name: string) => {
  const m = MODULES.find((x) => x.name === name)
  const tmpAt = argv.indexOf("--tmp")
  const tmpRoot = tmpAt >= 0 ? argv[tmpAt + 1] : undefined
  if (m === undefined || tmpRoot === undefined) throw new Error(`bench child: unknown module ${name} or no --tmp`)
  const ctx: BenchContext = { quick, tmpRoot, repoRoot, log }
  let rows: ReadonlyArray<unknown>
  try {
    rows = await runModuleHere(m, ctx)
  } catch (e) {
    log(`!!!!! ${m.name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    rows = [errorRow(`${m.name}: module failed`, "", e)]
  }
  NFS.writeFileSync(Path.join(tmpRoot, `${m.name}.rows.json`), JSON.stringify(rows))
}

const fmt = (x: number | null, unit: string): string => {
  if (x === null) return "—"
  if (unit === "ms" || unit === "MB" || Math.abs(x) < 100) return x.toFixed(x < 10 ? 2 : 1)
  return Math.round(x).toLocaleString("en-US")
}

const printTable = (rows: ReadonlyArray<Row>) => {
  const header = ["measurement", "unit", "ours", "peer", "ratio", "target", "met"]
  const body = rows.map((r) => [
    r.error === undefined ? r.name : `${r.name} — ERROR: ${r.error}`,
    r.unit,
    fmt(r.ours, r.unit),
    fmt(r.peer, r.unit),
    r.ratio === null ? "—" : `${r.ratio.toFixed(2)}×`,
    r.target === null ? (r.met === null ? "" : "abs.") : `≥ ${r.target}×`,
    r.met === null ? (r.error === undefined ? "" : "FAIL") : r.met ? "yes" : "NO"
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i >= 2 && i <= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ")
  console.log(line(header))
  console.log(widths.map((w) => "-".repeat(w)).join("  "))
  for (const b of body) console.log(line(b))
  const peers = [...new Set(rows.map((r) => r.peerName).filter((p) => p !== ""))]
  if (peers.length > 0) console.log(`\npeers: ${peers.join("; ")}`)
}

const main = async () => {
  const tmpRoot = makeTmpRoot(repoRoot)
  const machine: Record<string, unknown> = { ...machineInfo(tmpRoot, harnessPath(repoRoot)), quick, args: argv }
  log(`binlog bench${quick ? " (--quick)" : ""}: temp dir ${tmpRoot} (${String(machine["tmpFilesystem"])})`)
  const ctx: BenchContext = { quick, tmpRoot, repoRoot, log }
  const rows: Array<Row> = []
  const started = performance.now()
  try {
    for (const m of MODULES) {
      if (only !== undefined && !only.has(m.name)) continue
      rows.push(...(await runModule(m, ctx)))
    }
  } finally {
    NFS.rmSync(tmpRoot, { recursive: true, force: true })
  }
  const seconds = (performance.now() - started) / 1000
  NFS.mkdirSync(resultsDir, { recursive: true })
  NFS.writeFileSync(Path.join(resultsDir, "latest.json"), `${JSON.stringify(rows, null, 2)}\n`)
  NFS.writeFileSync(
    Path.join(resultsDir, "latest-machine.json"),
    `${JSON.stringify({ ...machine, seconds }, null, 2)}\n`
  )
  console.log("")
  printTable(rows)
  console.log(
    `\nmachine: ${String(machine["cpuModel"])}, ${String(machine["logicalCores"])} cores, ${
      String(machine["kernel"])
    }, ${String(machine["tmpFilesystem"])} (${tmpRoot}), Node ${process.version}; ${seconds.toFixed(0)} s`
  )
  console.log(`written: bench/results/latest.json, bench/results/latest-machine.json`)
  if (quick) console.log("--quick: a smoke run (small N, one round); its ratios are not the figures to quote")
  const missed = rows.filter((r) => r.met === false)
  const errors = rows.filter((r) => r.error !== undefined)
  if (missed.length > 0) {
    console.log(`\n${missed.length} row(s) missed their target: ${missed.map((r) => r.name).join("; ")}`)
  }
  if (errors.length > 0) {
    console.log(`\n${errors.length} row(s) failed: ${errors.map((r) => r.name).join("; ")}`)
    process.exitCode = 1
  }
}
;(childAt >= 0 ? childMain(argv[childAt + 1] ?? "") : main()).catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
