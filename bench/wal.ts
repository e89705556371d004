/**
 * Our WAL against etcd's (through the etcdwal harness, which drives etcd's own `wal` package the way go-binlogger
 * does), on the same machine, the same filesystem, in the same run (issue 5):
 *
 * 1. **64 concurrent callers × 1 entry of 256 B, `syncInterval` 0**: peer `etcdwal bench --batch 1 --writers 64`
 *    (go-binlogger's `Log`: one mutex around Save + Sync, so every call pays its own fdatasync); ours: 64 fibers
 *    calling `BinLogger.log([256 B])` in a loop (group commit: one write + one fdatasync per group). Targets:
 *    ≥ 20× the peer's entries/s, p99 latency below the peer's.
 * 2. **batches of 1,000 × 256 B, one caller**: peer `etcdwal bench --batch 1000`; ours `BinLogger.log` of
 *    1000-entry batches. Target ≥ 1.0×.
 * 3. **reading 1,000,000 × 256 B from index 0**: the peer writes the log (`etcdwal bench --keep`) and reads it with
 *    etcd's `ReadAll` (`etcdwal readbench`, which holds every entry in memory); ours streams the same directory
 *    with `BinLogger.read(1n)` in a child process (`bench/internal/read-child.ts`). Target ≥ 1.0×, and our peak
 *    RSS under 200 MB (both peak RSS figures come from GNU time).
 *
 * Every measurement runs in a fresh process; rounds alternate peer/ours and the median round is reported (the
 * machine's fdatasync latency drifts, so a single round can mislead). N differs between the sides of row 1 only:
 * the peer does ~6k entries/s there, so the same N would take minutes.
 *
 * @since 0.1.0
 */
import * as NFS from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { nodeBinary, num, runJson } from "./internal/proc.ts"
import type { BenchContext, Row } from "./internal/types.ts"
import { costRow, errorRow, median, rateRow } from "./internal/types.ts"

const ENTRY_BYTES = 256
const WRITERS = 64
const BATCH = 1000
const READ_ENTRIES = 1_000_000
/** Peak RSS allowed for our streaming read (issue 5). */
export const READ_RSS_LIMIT_MB = 200

const PEER = "etcd 3.4 wal (go-binlogger's calls)"

interface Sizes {
  readonly rounds: number
  readonly concurrentPeerN: number
  readonly concurrentOursN: number
  readonly concurrentWarmup: number
  readonly batchN: number
  readonly batchWarmup: number
  readonly readN: number
}

const FULL: Sizes = {
  rounds: 5,
  concurrentPeerN: 20_000,
  concurrentOursN: 300_000,
  concurrentWarmup: 20_000,
  batchN: 1_000_000,
  batchWarmup: 100_000,
  readN: READ_ENTRIES
}

const QUICK: Sizes = {
  rounds: 1,
  concurrentPeerN: 5_000,
  concurrentOursN: 50_000,
  concurrentWarmup: 5_000,
  batchN: 200_000,
  batchWarmup: 20_000,
  readN: 200_000
}

const here = Path.dirname(fileURLToPath(import.meta.url))

/**
 * The etcdwal harness: `$ETCDWAL`, or `../shared/tools/etcdwal/bin/etcdwal` beside the repository.
 *
 * @since 0.1.0
 * @category harness
 */
export const harnessPath = (repoRoot: string): string =>
  process.env["ETCDWAL"] ?? Path.resolve(repoRoot, "../shared/tools/etcdwal/bin/etcdwal")

const child = (name: string) => Path.join(here, "internal", name)

let dirCounter = 0
const freshDir = (ctx: BenchContext, what: string): string => {
  const dir = Path.join(ctx.tmpRoot, `${what}-${process.pid}-${dirCounter++}`)
  NFS.rmSync(dir, { recursive: true, force: true })
  return dir
}
const remove = (dir: string) => NFS.rmSync(dir, { recursive: true, force: true })

/** Runs `f` with a fresh directory under the temp root, removed afterwards. */
const withDir = async <A>(ctx: BenchContext, what: string, f: (dir: string) => Promise<A>): Promise<A> => {
  const dir = freshDir(ctx, what)
  try {
    return await f(dir)
  } finally {
    remove(dir)
  }
}

const concurrentRows = async (ctx: BenchContext, etcd: string, s: Sizes): Promise<Array<Row>> => {
  const peer: Array<Record<string, unknown>> = []
  const ours: Array<Record<string, unknown>> = []
  for (let r = 0; r < s.rounds; r++) {
    ctx.log(`  64 writers × 1 entry, round ${r + 1}/${s.rounds}: etcd (n=${s.concurrentPeerN})`)
    peer.push(
      (await withDir(ctx, "etcd-64w", (dir) =>
        runJson(etcd, [
          "bench",
          "--wal",
          dir,
          "--n",
          String(s.concurrentPeerN),
          "--size",
          String(ENTRY_BYTES),
          "--batch",
          "1",
          "--writers",
          String(WRITERS)
        ]))).json
    )
    ctx.log(`  64 writers × 1 entry, round ${r + 1}/${s.rounds}: ours (n=${s.concurrentOursN})`)
    ours.push(
      (await withDir(ctx, "ours-64w", (dir) =>
        runJson(nodeBinary(), [
          child("write-child.ts"),
          "--dir",
          dir,
          "--n",
          String(s.concurrentOursN),
          "--size",
          String(ENTRY_BYTES),
          "--batch",
          "1",
          "--writers",
          String(WRITERS),
          "--warmup",
          String(s.concurrentWarmup)
        ]))).json
    )
  }
  const m = (xs: Array<Record<string, unknown>>, key: string) => median(xs.map((x) => num(x, key)))
  const details = { rounds: s.rounds, peerN: s.concurrentPeerN, oursN: s.concurrentOursN, peer, ours }
  return [
    rateRow({
      name: "log: 64 concurrent callers × 1 entry of 256 B, syncInterval 0",
      unit: "entries/s",
      ours: m(ours, "entries_per_sec"),
      peer: m(peer, "entries_per_sec"),
      peerName: PEER,
      target: 20,
      note: "median of rounds; ours group-commits, the peer fdatasyncs per call under one mutex",
      details
    }),
    costRow({
      name: "log: 64 concurrent callers × 1 entry of 256 B, p99 latency per call",
      unit: "ms",
      ours: m(ours, "log_ms_p99"),
      peer: m(peer, "log_ms_p99"),
      peerName: PEER,
      target: 1,
      note: "ratio = peer ÷ ours; the target is ours strictly below the peer's"
    }, true),
    costRow({
      name: "log: 64 concurrent callers × 1 entry of 256 B, p50 latency per call",
      unit: "ms",
      ours: m(ours, "log_ms_p50"),
      peer: m(peer, "log_ms_p50"),
      peerName: PEER,
      target: null,
      note: "informational"
    })
  ]
}

const batchRows = async (ctx: BenchContext, etcd: string, s: Sizes): Promise<Array<Row>> => {
  const peer: Array<Record<string, unknown>> = []
  const ours: Array<Record<string, unknown>> = []
  for (let r = 0; r < s.rounds; r++) {
    ctx.log(`  batches of ${BATCH}, round ${r + 1}/${s.rounds}: etcd (n=${s.batchN})`)
    peer.push(
      (await withDir(ctx, "etcd-batch", (dir) =>
        runJson(etcd, [
          "bench",
          "--wal",
          dir,
          "--n",
          String(s.batchN),
          "--size",
          String(ENTRY_BYTES),
          "--batch",
          String(BATCH)
        ]))).json
    )
    ctx.log(`  batches of ${BATCH}, round ${r + 1}/${s.rounds}: ours (n=${s.batchN})`)
    ours.push(
      (await withDir(ctx, "ours-batch", (dir) =>
        runJson(nodeBinary(), [
          child("write-child.ts"),
          "--dir",
          dir,
          "--n",
          String(s.batchN),
          "--size",
          String(ENTRY_BYTES),
          "--batch",
          String(BATCH),
          "--writers",
          "1",
          "--warmup",
          String(s.batchWarmup)
        ]))).json
    )
  }
  return [
    rateRow({
      name: `log: batches of ${BATCH.toLocaleString("en-US")} × 256 B, one caller, syncInterval 0`,
      unit: "entries/s",
      ours: median(ours.map((x) => num(x, "entries_per_sec"))),
      peer: median(peer.map((x) => num(x, "entries_per_sec"))),
      peerName: PEER,
      target: 1,
      note: "median of rounds; both fdatasync once per batch",
      details: { rounds: s.rounds, n: s.batchN, peer, ours }
    })
  ]
}

const readRows = async (ctx: BenchContext, etcd: string, s: Sizes): Promise<Array<Row>> =>
  withDir(ctx, "read", async (dir) => {
    const wal = Path.join(dir, "wal")
    const snap = Path.join(dir, "snap")
    NFS.mkdirSync(dir, { recursive: true })
    ctx.log(`  read: writing ${s.readN.toLocaleString("en-US")} × 256 B with etcd`)
    await runJson(etcd, [
      "bench",
      "--wal",
      wal,
      "--n",
      String(s.readN),
      "--size",
      String(ENTRY_BYTES),
      "--batch",
      String(BATCH),
      "--keep"
    ])
    const peer: Array<Record<string, unknown>> = []
    const ours: Array<Record<string, unknown>> = []
    const peerRss: Array<number> = []
    const oursRss: Array<number> = []
    for (let r = 0; r < s.rounds; r++) {
      ctx.log(`  read, round ${r + 1}/${s.rounds}: etcd readbench`)
      const p = await runJson(etcd, ["readbench", "--wal", wal], { measureRss: true })
      peer.push(p.json)
      if (p.maxRssMb !== undefined) peerRss.push(p.maxRssMb)
      ctx.log(`  read, round ${r + 1}/${s.rounds}: ours (BinLogger.read stream)`)
      const o = await runJson(
        nodeBinary(),
        [child("read-child.ts"), "--wal", wal, "--snap", snap, "--expect", String(s.readN)],
        { measureRss: true }
      )
      ours.push(o.json)
      oursRss.push(o.maxRssMb ?? num(o.json, "max_rss_mb"))
    }
    const oursRssMb = Math.max(...oursRss)
    const rows: Array<Row> = [
      rateRow({
        name: `read: ${s.readN.toLocaleString("en-US")} × 256 B from index 0`,
        unit: "entries/s",
        ours: median(ours.map((x) => num(x, "entries_per_sec"))),
        peer: median(peer.map((x) => num(x, "entries_per_sec"))),
        peerName: "etcd 3.4 wal ReadAll (read mode)",
        target: 1,
        note: "the same directory (written by etcd); ours streams BinLogger.read(1n), the peer loads everything",
        details: { rounds: s.rounds, peer, ours }
      })
    ]
    const rssNote =
      `absolute target: ours under ${READ_RSS_LIMIT_MB} MB (ratio = peer ÷ ours, informational); max over rounds, GNU time`
    rows.push(
      peerRss.length > 0
        ? {
          ...costRow({
            name: `read: ${s.readN.toLocaleString("en-US")} × 256 B, peak RSS of the reading process`,
            unit: "MB",
            ours: oursRssMb,
            peer: Math.max(...peerRss),
            peerName: "etcd 3.4 wal ReadAll (read mode)",
            target: null,
            note: rssNote
          }),
          met: oursRssMb < READ_RSS_LIMIT_MB
        }
        : {
          name: `read: ${s.readN.toLocaleString("en-US")} × 256 B, peak RSS of the reading process`,
          unit: "MB",
          ours: oursRssMb,
          peer: null,
          peerName: "etcd 3.4 wal ReadAll (read mode)",
          ratio: null,
          target: null,
          met: oursRssMb < READ_RSS_LIMIT_MB,
          note: `${rssNote} (no GNU time: peer not measured)`
        }
    )
    return rows
  })

/**
 * Runs the three WAL comparisons and returns their rows (a failing section becomes an error row).
 *
 * @since 0.1.0
 * @category benchmarks
 */
export const run = async (ctx: BenchContext): Promise<ReadonlyArray<Row>> => {
  const etcd = harnessPath(ctx.repoRoot)
  if (!NFS.existsSync(etcd)) {
    const msg = `etcd harness not found at ${etcd} (build it with tools/etcdwal/build.sh or set ETCDWAL)`
    ctx.log(`!!!!! ${msg}`)
    return [errorRow("wal: etcd comparisons", PEER, msg)]
  }
  const sizes = ctx.quick ? QUICK : FULL
  const rows: Array<Row> = []
  const sections: ReadonlyArray<readonly [string, typeof concurrentRows]> = [
    ["log: 64 concurrent callers", concurrentRows],
    ["log: batches of 1,000", batchRows],
    ["read: 1,000,000 entries", readRows]
  ]
  for (const [name, section] of sections) {
    ctx.log(`wal: ${name}`)
    try {
      rows.push(...(await section(ctx, etcd, sizes)))
    } catch (e) {
      ctx.log(`!!!!! wal: ${name} failed: ${e instanceof Error ? e.message : String(e)}`)
      rows.push(errorRow(`wal: ${name}`, PEER, e))
    }
  }
  return rows
}
