// Crash test of `binlog append` (the real command line, in child processes): feed it lines continuously, SIGKILL
// it at random moments, restart it, and check afterwards that every range it printed is in the log with the right
// bytes, nothing duplicated or reordered. Used by test/CliCrash.test.ts, and runnable on its own:
//
//   node_modules/.bin/node packages/core/test/crash/torture-cli.ts --cycles N
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ChildProcess from "node:child_process"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as BinLogger from "../../src/BinLogger.ts"
import { cyclesArg } from "./args.ts"

/** Node 24 of the repository (the system node may be older) and the command line's entry point. */
export const NODE = fileURLToPath(new URL("../../../../node_modules/.bin/node", import.meta.url))
export const BIN = fileURLToPath(new URL("../../src/bin.ts", import.meta.url))

/** Segment size used by the crash runs, small so that kills also land in segment cuts. */
export const CRASH_SEGMENT_BYTES = 16 * 1024

/** The text of input line `k` (1-based, counted over all cycles): self-describing, 8 to ~70 bytes. */
export const lineText = (k: number): string => `line ${k} ${"x".repeat(k % 61)}`

const encoder = new TextEncoder()

export interface Ack {
  readonly cycle: number
  readonly first: bigint
  readonly last: bigint
}

export interface CycleStart {
  /** First input line fed to this cycle's child. */
  readonly firstLine: number
  readonly base64: boolean
  readonly syncIntervalMs: number
}

export interface CliCycleReport {
  readonly cycles: number
  readonly starts: ReadonlyArray<CycleStart>
  /** Every range printed, in order. */
  readonly acks: ReadonlyArray<Ack>
  readonly linesFed: number
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

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Runs `cycles` children of `binlog append` on the same directories. Each is fed lines continuously (raw or
 * base64, sync interval 0 or a few milliseconds, chosen per cycle) and SIGKILLed 30–350 ms after its first printed
 * range. Fails if a child prints anything but ranges, exits by itself, or prints ranges that are not contiguous.
 */
export const runCliCycles = async (
  walDir: string,
  snapDir: string,
  cycles: number,
  seed = 1
): Promise<CliCycleReport> => {
  const random = xorshift(seed)
  const starts: Array<CycleStart> = []
  const acks: Array<Ack> = []
  let nextLine = 1
  for (let cycle = 0; cycle < cycles; cycle++) {
    const base64 = random() < 0.5
    const syncIntervalMs = random() < 0.3 ? 1 + Math.floor(random() * 5) : 0
    starts.push({ firstLine: nextLine, base64, syncIntervalMs })
    const args = [
      BIN,
      "append",
      "--wal",
      walDir,
      "--snap",
      snapDir,
      "--segment-size",
      String(CRASH_SEGMENT_BYTES),
      "--sync-interval",
      String(syncIntervalMs),
      ...(base64 ? ["--base64"] : [])
    ]
    const child = ChildProcess.spawn(NODE, args, { stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let bad: string | undefined
    let acked: () => void = () => {}
    const firstAck = new Promise<void>((resolve) => (acked = resolve))
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
      const lines = stdout.split("\n")
      stdout = lines.pop() ?? ""
      for (const line of lines) {
        const m = /^(\d+) (\d+)$/.exec(line)
        if (m === null) {
          bad ??= `cycle ${cycle}: unexpected output line ${JSON.stringify(line)}`
          continue
        }
        const ack = { cycle, first: BigInt(m[1]!), last: BigInt(m[2]!) }
        const prev = acks[acks.length - 1]
        if (ack.last < ack.first) bad ??= `cycle ${cycle}: range ${line} is empty`
        if (prev !== undefined && prev.cycle === cycle && ack.first !== prev.last + 1n) {
          bad ??= `cycle ${cycle}: range ${line} does not follow ${prev.first} ${prev.last}`
        }
        acks.push(ack)
        acked()
      }
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.stdin.on("error", () => {}) // EPIPE once the child is killed
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    let running = true
    const feeder = (async () => {
      while (running) {
        const n = 1 + Math.floor(random() * 12)
        let text = ""
        for (let i = 0; i < n; i++) {
          const line = lineText(nextLine++)
          text += (base64 ? Buffer.from(line).toString("base64") : line) + "\n"
        }
        if (!child.stdin.write(text)) {
          // the pipe is full: wait until the child reads, or until it is killed
          await new Promise<void>((resolve) => {
            const done = () => {
              child.stdin.off("drain", done)
              child.stdin.off("close", done)
              resolve()
            }
            child.stdin.on("drain", done)
            child.stdin.on("close", done)
          })
        }
        await delay(random() < 0.2 ? 3 : 0)
      }
    })()
    const early = await Promise.race([firstAck.then(() => false), exited.then(() => true)])
    if (early) {
      running = false
      throw new Error(`binlog append exited before printing a range (cycle ${cycle}): ${stderr}`)
    }
    await delay(30 + Math.floor(random() * 320))
    child.kill("SIGKILL")
    const code = await exited
    running = false
    await feeder
    if (code !== null) throw new Error(`binlog append exited with ${code} before the kill (cycle ${cycle}): ${stderr}`)
    if (bad !== undefined) throw new Error(bad)
  }
  return { cycles, starts, acks, linesFed: nextLine - 1 }
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

export interface CliCheck {
  readonly lastIndex: bigint
  readonly entries: number
  readonly acksChecked: number
}

/**
 * Opens the directory with the BinLogger (running recovery) and checks every entry: it is `lineText(k)` for some k,
 * k strictly increases along the log (nothing duplicated or reordered), and inside every cycle's printed ranges the
 * entry at `first + j` is the cycle's `firstLine + j` (the right bytes at the acknowledged index); every printed
 * range is present.
 */
export const checkCliLog = (walDir: string, snapDir: string, report: CliCycleReport) =>
  Effect.scoped(
    Effect.gen(function*() {
      const log = yield* BinLogger.BinLogger
      const status = yield* log.status
      const current = status.currentIndex
      // expected line at an acknowledged index, per cycle: first index printed by the cycle <-> its first line
      const cycleBase = new Map<number, { readonly index: bigint; readonly line: number }>()
      for (const a of report.acks) {
        if (!cycleBase.has(a.cycle)) cycleBase.set(a.cycle, { index: a.first, line: report.starts[a.cycle]!.firstLine })
      }
      const acked = [...report.acks].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0))
      let ackAt = 0
      let prevLine = 0
      let expected = status.firstIndex
      let entries = 0
      let problem: string | undefined
      if (current >= status.firstIndex) {
        yield* Stream.runForEach(log.read(status.firstIndex), (e) =>
          Effect.sync(() => {
            if (problem !== undefined) return
            entries++
            if (e.index !== expected) problem = `index ${e.index} where ${expected} was expected`
            expected = e.index + 1n
            const text = new TextDecoder().decode(e.data)
            const m = /^line (\d+) /.exec(text)
            const k = m === null ? -1 : Number(m[1])
            if (k < 1 || !same(e.data, encoder.encode(lineText(k)))) {
              problem = `entry ${e.index} holds unexpected bytes ${JSON.stringify(text.slice(0, 80))}`
              return
            }
            if (k <= prevLine) {
              problem = `entry ${e.index} holds line ${k} after line ${prevLine}: duplicated or reordered`
            }
            prevLine = k
            while (ackAt < acked.length && acked[ackAt]!.last < e.index) ackAt++
            const a = acked[ackAt]
            if (a !== undefined && a.first <= e.index && e.index <= a.last) {
              const base = cycleBase.get(a.cycle)!
              const want = base.line + Number(e.index - base.index)
              if (k !== want) problem = `acknowledged entry ${e.index} holds line ${k}, expected line ${want}`
            }
          }))
      }
      if (problem !== undefined) return yield* Effect.die(new Error(`binlog append crash check: ${problem}`))
      for (const a of report.acks) {
        if (a.last > current) {
          return yield* Effect.die(new Error(`printed range ${a.first} ${a.last} lost (the log ends at ${current})`))
        }
      }
      return { lastIndex: current, entries, acksChecked: report.acks.length } satisfies CliCheck
    }).pipe(
      Effect.provide(Layer.fresh(BinLogger.layer({ walDir, snapDir, segmentSizeBytes: CRASH_SEGMENT_BYTES })))
    )
  )

/** Runs the command line to completion; returns its exit code and output. */
export const runBin = (
  args: ReadonlyArray<string>,
  input = ""
): { readonly status: number | null; readonly stdout: string; readonly stderr: string } => {
  const r = ChildProcess.spawnSync(NODE, [BIN, ...args], { input, encoding: "utf8", maxBuffer: 512 * 1024 * 1024 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const isMain = process.argv[1] !== undefined && Path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)

if (isMain) {
  const cycles = cyclesArg("node torture-cli.ts", 50)
  const root = NFS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-torture-cli-"))
  const walDir = Path.join(root, "wal")
  const snapDir = Path.join(root, "snap")
  const seed = Date.now() % 100_000
  const report = await runCliCycles(walDir, snapDir, cycles, seed)
  const result = await Effect.runPromise(checkCliLog(walDir, snapDir, report))
  const verify = runBin(["verify", "--wal", walDir, "--snap", snapDir])
  if (verify.status !== 0) {
    process.stderr.write(`binlog verify failed after recovery (kept ${root}):\n${verify.stdout}${verify.stderr}`)
    process.exit(1)
  }
  process.stdout.write(
    `binlog append: ${cycles} SIGKILL cycles (seed ${seed}), ${report.linesFed} lines fed, ${report.acks.length} ` +
      `ranges printed; the log holds ${result.entries} entries up to ${result.lastIndex}, all printed ranges verified\n`
  )
  NFS.rmSync(root, { recursive: true, force: true })
}
