/**
 * The writer lock of a WAL directory: one writer per directory, across processes and within one process.
 *
 * Node has no `fcntl`/`flock`, so the lock is a file, `<wal>/.binlog.lock`, created with `O_EXCL` and holding the
 * owner's pid and process start time. A lock whose owner is gone (no such pid, or a pid reused by a process that
 * started at another time) is stale and taken over atomically (write a temp file, rename it over the lock, read it
 * back to see who won). Within one process a registry of held directories refuses a second writer even though the
 * pid is the same. A SIGKILLed writer therefore never blocks the next start.
 *
 * Limits: this does not exclude a concurrent etcd or go-binlogger process, which lock segments with OFD `fcntl`
 * locks (see the format notes, section 9); never run both writers on one directory at once. On network file
 * systems without reliable `O_EXCL`/`rename`, the lock is advisory at best.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as NFS from "node:fs"
import * as Path from "node:path"
import * as Fsx from "./internal/fsx.ts"
import { LOCK_FILE_NAME } from "./Segment.ts"
import { WalLocked } from "./WalError.ts"
import type { WalIoError } from "./WalError.ts"

const held = new Set<string>()

const startTimeOf = (pid: number): string => {
  try {
    const stat = NFS.readFileSync(`/proc/${pid}/stat`, "utf8")
    // field 22 (starttime) comes after the parenthesised command name, which may contain spaces
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return rest[19] ?? "?"
  } catch {
    return "?"
  }
}

const alive = (pid: number, startTime: string): boolean => {
  try {
    process.kill(pid, 0)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
  const now = startTimeOf(pid)
  return now === "?" || startTime === "?" || now === startTime
}

const me = (): string => `${process.pid} ${startTimeOf(process.pid)}\n`

const parseOwner = (text: string): { pid: number; startTime: string } | undefined => {
  const [pid, startTime] = text.trim().split(" ")
  const n = Number(pid)
  return Number.isInteger(n) && n > 0 ? { pid: n, startTime: startTime ?? "?" } : undefined
}

/**
 * Takes the writer lock of `dir` for the current scope. Fails with {@link WalLocked} when a live writer holds it.
 *
 * @since 0.1.0
 * @category locking
 */
export const acquire = (dir: string) =>
  Effect.acquireRelease(
    tryAcquire(Path.resolve(dir)),
    (key) =>
      Effect.sync(() => {
        held.delete(key)
        try {
          const text = NFS.readFileSync(Path.join(key, LOCK_FILE_NAME), "utf8")
          if (text === me()) NFS.unlinkSync(Path.join(key, LOCK_FILE_NAME))
        } catch {
          // already gone
        }
      })
  )

const tryAcquire = (key: string): Effect.Effect<string, WalLocked | WalIoError> =>
  Effect.gen(function*() {
    if (held.has(key)) return yield* new WalLocked({ dir: key, holder: `this process (pid ${process.pid})` })
    const lockPath = Path.join(key, LOCK_FILE_NAME)
    const mine = me()
    const created = yield* Effect.result(Fsx.open(lockPath, "wx", 0o600))
    if (created._tag === "Success") {
      yield* Fsx.writeAll(created.success, lockPath, new TextEncoder().encode(mine), 0)
      yield* Fsx.fsync(created.success, lockPath)
      yield* Fsx.close(created.success, lockPath)
    } else {
      const existing = yield* Effect.result(Fsx.readFile(lockPath))
      const owner = existing._tag === "Success" ? parseOwner(new TextDecoder().decode(existing.success)) : undefined
      if (owner && alive(owner.pid, owner.startTime) && owner.pid !== process.pid) {
        return yield* new WalLocked({ dir: key, holder: `pid ${owner.pid}` })
      }
      // stale (or our own pid from an earlier, unreleased scope): take it over atomically
      yield* Fsx.writeFileAtomic(key, lockPath, new TextEncoder().encode(mine))
      const check = new TextDecoder().decode(yield* Fsx.readFile(lockPath))
      if (check !== mine) {
        const winner = parseOwner(check)
        return yield* new WalLocked({ dir: key, holder: winner ? `pid ${winner.pid}` : "another process" })
      }
    }
    held.add(key)
    return key
  })
