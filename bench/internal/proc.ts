/**
 * Child processes for the benchmarks: every measured program (the etcd harness and our own children) runs in its
 * own process so heaps, page-cache warmth and RSS do not leak between measurements. A child prints one JSON object
 * on stdout; its peak RSS is taken with `/usr/bin/time -f %M` when available (the same tool for both sides).
 *
 * @since 0.1.0
 */
import * as ChildProcess from "node:child_process"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"

/** GNU time, for peak RSS of a child (`%M`, KiB). */
export const GNU_TIME = "/usr/bin/time"

/** Longest a single measured child may run. */
export const CHILD_TIMEOUT_MS = 5 * 60 * 1000

/**
 * The result of a child: its JSON line, and its peak RSS in MB (from GNU time, or undefined without it).
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildResult {
  readonly json: Record<string, unknown>
  readonly maxRssMb: number | undefined
}

const hasGnuTime = (): boolean => NFS.existsSync(GNU_TIME)

/**
 * Runs `command args`, waits for it and parses the last line of stdout that is a JSON object.
 *
 * @since 0.1.0
 * @category running
 */
export const runJson = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly measureRss?: boolean } = {}
): Promise<ChildResult> =>
  new Promise((resolve, reject) => {
    const rssFile = options.measureRss && hasGnuTime()
      ? Path.join(OS.tmpdir(), `bench-rss-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`)
      : undefined
    const [cmd, argv] = rssFile === undefined
      ? [command, [...args]]
      : [GNU_TIME, ["-f", "%M", "-o", rssFile, command, ...args]]
    const child = ChildProcess.spawn(cmd, argv, {
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: CHILD_TIMEOUT_MS
    })
    let out = ""
    let err = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d))
    child.on("error", reject)
    child.on("close", (code, signal) => {
      let maxRssMb: number | undefined
      if (rssFile !== undefined) {
        const text = NFS.existsSync(rssFile) ? NFS.readFileSync(rssFile, "utf8") : ""
        NFS.rmSync(rssFile, { force: true })
        const kb = Number(text.trim().split("\n").pop())
        if (Number.isFinite(kb) && kb > 0) maxRssMb = kb / 1024
      }
      if (code !== 0) {
        reject(
          new Error(
            `${command} ${args.join(" ")} exited with ${code ?? signal}: ${
              (err || out).trim().split("\n").slice(-5).join(" | ")
            }`
          )
        )
        return
      }
      const line = out.trim().split("\n").reverse().find((l) => l.startsWith("{"))
      if (line === undefined) {
        reject(new Error(`${command} printed no JSON: ${out.slice(-500)}`))
        return
      }
      resolve({ json: JSON.parse(line) as Record<string, unknown>, maxRssMb })
    })
  })

/**
 * A numeric field of a child's JSON, or an error naming it.
 *
 * @since 0.1.0
 * @category running
 */
export const num = (json: Record<string, unknown>, key: string): number => {
  const v = json[key]
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`missing numeric field ${key} in ${JSON.stringify(json)}`)
  }
  return v
}

/**
 * The Node 24 binary running this script (children must use the same one, never the system `node`).
 *
 * @since 0.1.0
 * @category running
 */
export const nodeBinary = (): string => process.execPath
