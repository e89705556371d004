// A worker child process for the crash tests: its stdout lines, a way to wait for a line, its exit, SIGKILL.
import * as ChildProcess from "node:child_process"

export interface Child {
  readonly lines: Array<string>
  readonly stderr: () => string
  /** Resolves true once a stdout line matches `re` (at once if one already did), false if the child exits first. */
  readonly waitFor: (re: RegExp) => Promise<boolean>
  readonly exited: Promise<number | null>
  readonly kill: () => void
}

/** Runs `node <script> ...args` with piped stdout/stderr. */
export const spawnWorker = (script: string, args: ReadonlyArray<string>): Child => {
  const child = ChildProcess.spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] })
  const lines: Array<string> = []
  const waiters: Array<{ re: RegExp; resolve: (ok: boolean) => void }> = []
  let buffered = ""
  let stderr = ""
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8")
    const parts = buffered.split("\n")
    buffered = parts.pop() ?? ""
    for (const line of parts) {
      lines.push(line)
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.re.test(line)) waiters.splice(i, 1)[0]!.resolve(true)
      }
    }
  })
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      for (const w of waiters.splice(0)) w.resolve(false)
      resolve(code)
    })
  )
  return {
    lines,
    stderr: () => stderr,
    waitFor: (re) =>
      lines.some((l) => re.test(l)) ? Promise.resolve(true) : new Promise((resolve) => waiters.push({ re, resolve })),
    exited,
    kill: () => child.kill("SIGKILL")
  }
}
