/**
 * Where the benchmarks ran: CPU, cores, memory, kernel, Node version and the filesystem of the temp directory,
 * written next to the results (`bench/results/latest-machine.json`). Also picks the temp root: fsync cost must be
 * real, so a tmpfs `os.tmpdir()` is refused in favour of a directory inside the repository.
 *
 * @since 0.1.0
 */
import * as ChildProcess from "node:child_process"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"

const TMPFS_MAGIC = 0x01021994
const RAMFS_MAGIC = 0x858458f6

/** Common `statfs` magic numbers, for when `df` is missing. */
const FS_NAMES: ReadonlyMap<number, string> = new Map([
  [0xef53, "ext2/3/4"],
  [0x58465342, "xfs"],
  [0x9123683e, "btrfs"],
  [TMPFS_MAGIC, "tmpfs"],
  [RAMFS_MAGIC, "ramfs"],
  [0x794c7630, "overlayfs"],
  [0x2fc12fc1, "zfs"],
  [0x6969, "nfs"]
])

/**
 * The filesystem type and device of `dir`, from `df -T` (falling back to `statfs`).
 *
 * @since 0.1.0
 * @category machine
 */
export const filesystemOf = (
  dir: string
): { readonly type: string; readonly device: string; readonly tmpfs: boolean } => {
  const magic = NFS.statfsSync(dir).type
  const tmpfs = magic === TMPFS_MAGIC || magic === RAMFS_MAGIC
  const out = ChildProcess.spawnSync("df", ["-T", dir], { encoding: "utf8" })
  const line = out.status === 0 ? out.stdout.trim().split("\n")[1] : undefined
  const cols = line?.split(/\s+/)
  if (cols !== undefined && cols.length >= 2) {
    return { type: cols[1]!, device: cols[0]!, tmpfs: tmpfs || cols[1] === "tmpfs" }
  }
  return { type: FS_NAMES.get(magic) ?? `0x${magic.toString(16)}`, device: "?", tmpfs }
}

/**
 * The temp root for this run: `$BENCH_TMPDIR`, else `os.tmpdir()` unless it is tmpfs/ramfs, else
 * `bench/results/tmp` in the repository (git-ignored). A fresh subdirectory is created under it.
 *
 * @since 0.1.0
 * @category machine
 */
export const makeTmpRoot = (repoRoot: string): string => {
  const fromEnv = process.env["BENCH_TMPDIR"]
  let base = fromEnv ?? OS.tmpdir()
  if (fromEnv === undefined && filesystemOf(base).tmpfs) base = Path.join(repoRoot, "bench", "results", "tmp")
  NFS.mkdirSync(base, { recursive: true })
  return NFS.mkdtempSync(Path.join(base, "binlog-bench-"))
}

/**
 * Machine facts for the results file.
 *
 * @since 0.1.0
 * @category machine
 */
export const machineInfo = (tmpRoot: string, etcdwal: string): Record<string, unknown> => {
  const cpus = OS.cpus()
  const fs = filesystemOf(tmpRoot)
  const goVersion = NFS.existsSync(etcdwal)
    ? ChildProcess.spawnSync("go", ["version", etcdwal], { encoding: "utf8" }).stdout?.trim()
    : undefined
  return {
    date: new Date().toISOString(),
    cpuModel: cpus[0]?.model ?? "unknown",
    logicalCores: OS.availableParallelism(),
    memoryGiB: Math.round((OS.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${OS.type()} ${OS.release()}`,
    arch: process.arch,
    node: process.version,
    tmpDir: tmpRoot,
    tmpFilesystem: fs.type,
    tmpDevice: fs.device,
    etcdwal,
    etcdwalBuild: goVersion || undefined
  }
}
