/**
 * A throwaway PostgreSQL server for the benchmarks and the PostgreSQL tests (packages/projections/test/utils):
 * `initdb` into a fresh directory, start it with `pg_ctl` on 127.0.0.1 and a free port (Unix socket in the same
 * directory), hand out a connection string, and stop and delete it afterwards. Defaults are left alone (`fsync=on`, `synchronous_commit=on`), so commits are
 * as durable as ours.
 *
 * Binaries: `$PG_BIN`, else the newest `/usr/lib/postgresql/<major>/bin`, else whatever `initdb` is on `PATH`.
 * Running as root, the cluster is owned by and run as the `postgres` user (`runuser`), as PostgreSQL refuses root.
 *
 * ```ts
 * const pg = startPostgres({ baseDir: os.tmpdir() })   // undefined when no server binaries are installed
 * try { use(pg.url) } finally { pg.stop() }
 * ```
 *
 * @since 0.1.0
 */
import * as ChildProcess from "node:child_process"
import * as NFS from "node:fs"
import * as Net from "node:net"
import * as OS from "node:os"
import * as Path from "node:path"

/**
 * A running throwaway server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Postgres {
  /** `postgresql://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string
  readonly port: number
  readonly dataDir: string
  readonly version: string
  /** Stops the server (fast shutdown) and deletes its directory. Idempotent. */
  readonly stop: () => void
}

/**
 * Where the PostgreSQL server binaries are, or undefined.
 *
 * @since 0.1.0
 * @category discovery
 */
export const findBinaries = (): string | undefined => {
  const fromEnv = process.env["PG_BIN"]
  if (fromEnv !== undefined && NFS.existsSync(Path.join(fromEnv, "initdb"))) return fromEnv
  const root = "/usr/lib/postgresql"
  if (NFS.existsSync(root)) {
    const majors = NFS.readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a))
    for (const m of majors) {
      const bin = Path.join(root, m, "bin")
      if (NFS.existsSync(Path.join(bin, "initdb")) && NFS.existsSync(Path.join(bin, "pg_ctl"))) return bin
    }
  }
  const which = ChildProcess.spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" })
  return which.status === 0 ? Path.dirname(which.stdout.trim()) : undefined
}

/**
 * A TCP port free on 127.0.0.1 right now.
 *
 * @since 0.1.0
 * @category discovery
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0

const reachableByPostgres = (dir: string): boolean =>
  ChildProcess.spawnSync("runuser", ["-u", "postgres", "--", "test", "-x", dir, "-a", "-r", dir]).status === 0

const run = (bin: string, args: ReadonlyArray<string>, asPostgres: boolean) => {
  const r = asPostgres
    ? ChildProcess.spawnSync("runuser", ["-u", "postgres", "--", bin, ...args], { encoding: "utf8" })
    : ChildProcess.spawnSync(bin, args, { encoding: "utf8" })
  if (r.status !== 0) {
    throw new Error(`${Path.basename(bin)} ${args.join(" ")} failed (${r.status}): ${r.stderr || r.stdout || r.error}`)
  }
  return r.stdout
}

/**
 * Starts a throwaway server under `baseDir` (default `os.tmpdir()`), or returns undefined when PostgreSQL is not
 * installed. Throws when it is installed but does not start.
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const startPostgres = async (
  options: { readonly baseDir?: string | undefined; readonly settings?: Readonly<Record<string, string>> } = {}
): Promise<Postgres | undefined> => {
  const bin = findBinaries()
  if (bin === undefined) return undefined
  const asPostgres = isRoot()
  // the postgres user must be able to reach the directory: fall back to the system temp dir when it cannot
  let parent = options.baseDir ?? OS.tmpdir()
  if (asPostgres && !reachableByPostgres(parent)) parent = OS.tmpdir()
  const base = NFS.mkdtempSync(Path.join(parent, "binlog-pg-"))
  const dataDir = Path.join(base, "data")
  NFS.mkdirSync(dataDir, { mode: 0o700 })
  if (asPostgres) {
    const uid = Number(run("id", ["-u", "postgres"], false).trim())
    const gid = Number(run("id", ["-g", "postgres"], false).trim())
    NFS.chownSync(base, uid, gid)
    NFS.chownSync(dataDir, uid, gid)
    NFS.chmodSync(base, 0o755)
  }
  let started = false
  const stop = () => {
    if (started) {
      started = false
      try {
        run(Path.join(bin, "pg_ctl"), ["-D", dataDir, "-m", "fast", "-w", "stop"], asPostgres)
      } catch {
        // already down
      }
    }
    NFS.rmSync(base, { recursive: true, force: true })
  }
  try {
    run(
      Path.join(bin, "initdb"),
      ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
      asPostgres
    )
    const port = await freePort()
    const settings: Record<string, string> = {
      listen_addresses: "127.0.0.1",
      port: String(port),
      unix_socket_directories: base,
      max_connections: "200",
      ...options.settings
    }
    const opts = Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(" ")
    run(
      Path.join(bin, "pg_ctl"),
      ["-D", dataDir, "-o", opts, "-l", Path.join(base, "server.log"), "-w", "-t", "60", "start"],
      asPostgres
    )
    started = true
    const version = run(Path.join(bin, "postgres"), ["--version"], false).trim()
    return { url: `postgresql://postgres@127.0.0.1:${port}/postgres`, port, dataDir, version, stop }
  } catch (e) {
    stop()
    throw e
  }
}
