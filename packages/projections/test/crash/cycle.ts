// Kill-and-restart cycles for the projection crash test (used by the vitest suite and by torture.ts), and the
// final check: after a clean drain, each read model equals the pure fold of the whole log, every event once.
import * as Path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { fileURLToPath } from "node:url"
import { type Child, spawnWorker } from "../utils/child.ts"
import { type BalanceRow, foldBalances } from "../utils/fixtures.ts"
import { eventsUpTo } from "./domain.ts"

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url))

/** The read models the worker maintains, by table. */
export const TABLES = { by_cursor: "balances_cursor", by_snapshot: "balances_snapshot" } as const

export interface CycleReport {
  readonly cycles: number
  /** Highest index a killed child reported as appended. */
  readonly appended: bigint
  /** Kills that landed while the child was still starting up (before it printed "ready"). */
  readonly earlyKills: number
}

const xorshift = (seed: number) => {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 0x1_0000_0000
  }
}

const spawn = (root: string, seed: number, mode: "run" | "drain"): Child =>
  spawnWorker(WORKER, [root, String(seed), mode])

const lastAppended = (lines: ReadonlyArray<string>): bigint => {
  let last = 0n
  for (const line of lines) {
    const m = /^appended (\d+)$/.exec(line)
    if (m) last = BigInt(m[1]!)
  }
  return last
}

/**
 * Runs the worker `cycles` times on `root`, killing it with SIGKILL at a random moment each time: mostly 20–600 ms
 * after it is ready (appending and projecting), sometimes while it is still starting (recovery, setup, catch-up).
 */
export const runCycles = async (root: string, cycles: number, seed: number): Promise<CycleReport> => {
  const random = xorshift(seed)
  let appended = 0n
  let earlyKills = 0
  for (let c = 0; c < cycles; c++) {
    const child = spawn(root, seed, "run")
    const early = random() < 0.15
    if (early) {
      earlyKills++
      await new Promise((r) => setTimeout(r, Math.floor(random() * 300)))
    } else {
      const ready = await child.waitFor(/^ready \d+$/)
      if (!ready) throw new Error(`worker exited before it was ready: ${child.stderr()}`)
      await new Promise((r) => setTimeout(r, 20 + Math.floor(random() * 580)))
    }
    child.kill()
    const code = await child.exited
    if (code !== null) throw new Error(`worker exited with ${code} before the kill: ${child.stderr()}`)
    const last = lastAppended(child.lines)
    if (last > appended) appended = last
  }
  return { cycles, appended, earlyKills }
}

export interface CheckResult {
  /** The log's durable index after the drain: every read model must hold events 1..this. */
  readonly drainedIndex: bigint
  readonly rows: Readonly<Record<keyof typeof TABLES, ReadonlyArray<BalanceRow>>>
  readonly expected: ReadonlyArray<BalanceRow>
  readonly checkpoints: Readonly<Record<string, bigint>>
}

/** Runs the worker once more in drain mode, then reads both read models and the checkpoints. */
export const drainAndRead = async (root: string, seed: number): Promise<CheckResult> => {
  const child = spawn(root, seed, "drain")
  const code = await child.exited
  const drained = child.lines.map((l) => /^drained (\d+)$/.exec(l)).find((m) => m !== null)
  if (code !== 0 || drained === undefined) {
    throw new Error(`drain failed (exit ${code}): ${child.stderr()}\n${child.lines.join("\n")}`)
  }
  const drainedIndex = BigInt(drained[1]!)
  const db = new DatabaseSync(Path.join(root, "read-model.db"), { readOnly: true })
  try {
    const read = (table: string): Array<BalanceRow> =>
      (db.prepare(
        `SELECT account, cents, events, last_index FROM ${table} ORDER BY account`
      ).all() as Array<{ account: string; cents: number; events: number; last_index: number }>).map((r) => ({
        account: r.account,
        cents: r.cents,
        events: r.events,
        lastIndex: r.last_index
      }))
    const checkpoints: Record<string, bigint> = {}
    for (
      const row of db.prepare(
        "SELECT projection, CAST(position AS TEXT) AS position FROM binlog_projection_checkpoints"
      ).all()
    ) {
      checkpoints[String(row["projection"])] = BigInt(String(row["position"]))
    }
    return {
      drainedIndex,
      rows: { by_cursor: read(TABLES.by_cursor), by_snapshot: read(TABLES.by_snapshot) },
      expected: foldBalances(eventsUpTo(seed, drainedIndex)),
      checkpoints
    }
  } finally {
    db.close()
  }
}
