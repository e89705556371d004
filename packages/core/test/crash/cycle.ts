// Kill-and-restart cycles for the BinLogger crash test (used by the vitest suite and by `npm run torture`).
import * as ChildProcess from "node:child_process"
import { fileURLToPath } from "node:url"

const APPENDER = fileURLToPath(new URL("./appender.ts", import.meta.url))

export interface CycleReport {
  readonly cycles: number
  readonly acknowledged: ReadonlyArray<readonly [bigint, bigint]>
  readonly printedLines: number
}

/**
 * Starts the appender `cycles` times on the same directories, each time killing it with SIGKILL after a random
 * delay (50–400 ms after its first acknowledged batch). Returns every range the children printed.
 */
export const runCycles = async (walDir: string, snapDir: string, cycles: number, seed = 1): Promise<CycleReport> => {
  const acknowledged: Array<readonly [bigint, bigint]> = []
  let rnd = seed >>> 0 || 1
  const random = () => {
    rnd ^= rnd << 13
    rnd >>>= 0
    rnd ^= rnd >>> 17
    rnd ^= rnd << 5
    rnd >>>= 0
    return rnd / 0x1_0000_0000
  }
  let printedLines = 0
  for (let c = 0; c < cycles; c++) {
    const child = ChildProcess.spawn(process.execPath, [APPENDER, walDir, snapDir, String(seed * 1000 + c)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let buffered = ""
    let stderr = ""
    let firstAck: () => void = () => {}
    const acked = new Promise<void>((resolve) => (firstAck = resolve))
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8")
      const lines = buffered.split("\n")
      buffered = lines.pop() ?? ""
      for (const line of lines) {
        // the child's log lines (Effect's default logger writes to stdout) are not acknowledgements
        if (!/^\d+ \d+$/.test(line)) continue
        const [f, l] = line.split(" ")
        acknowledged.push([BigInt(f!), BigInt(l!)])
        printedLines++
        firstAck()
      }
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    const early = await Promise.race([acked.then(() => false), exited.then(() => true)])
    if (early) throw new Error(`appender exited before acknowledging anything: ${stderr}`)
    await new Promise((r) => setTimeout(r, 50 + Math.floor(random() * 350)))
    child.kill("SIGKILL")
    const code = await exited
    if (code !== null) throw new Error(`appender exited with ${code} before the kill: ${stderr}`)
  }
  return { cycles, acknowledged, printedLines }
}
