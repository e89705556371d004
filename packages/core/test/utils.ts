// Shared test helpers: fixture paths, temp directories, byte surgery (LevelDB log_test style).
import * as Effect from "effect/Effect"
import * as NFS from "node:fs"
import * as FSP from "node:fs/promises"
import * as OS from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/** `../shared/fixtures/etcd-wal` beside the repository, used in place. */
export const FIXTURES = fileURLToPath(new URL("../../../../shared/fixtures/etcd-wal/", import.meta.url))

/** `../shared/tools/etcdwal/bin/etcdwal`, built by `.ci/run` (or by hand with its build.sh). */
export const HARNESS = fileURLToPath(new URL("../../../../shared/tools/etcdwal/bin/etcdwal", import.meta.url))

export const harnessAvailable = (): boolean => NFS.existsSync(HARNESS)

export interface ExpectedEntry {
  readonly index: bigint
  readonly term: bigint
  readonly type: number
  readonly data: string
}

export const readExpected = (path: string): Array<ExpectedEntry> =>
  NFS.readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      // indexes are exact u64: parse them from the text, not through JSON numbers
      const o = JSON.parse(l) as { term: number; type: number; data: string }
      const index = /"index":(\d+)/.exec(l)![1]!
      return { index: BigInt(index), term: BigInt(o.term), type: o.type, data: o.data }
    })

export const readInputLines = (path: string): Array<Uint8Array> =>
  NFS.readFileSync(path, "utf8")
    .split("\n")
    .slice(0, -1)
    .map((l) => new Uint8Array(Buffer.from(l, "base64")))

export const b64 = (bytes: Uint8Array | undefined): string => Buffer.from(bytes ?? new Uint8Array(0)).toString("base64")

/** A temporary directory removed when the test's scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.promise(() => FSP.mkdtemp(Path.join(OS.tmpdir(), "binlog-test-"))),
  (dir) => Effect.promise(() => FSP.rm(dir, { recursive: true, force: true }))
)

/** Copies a directory's regular files into `to` (created). */
export const copyDir = (from: string, to: string): void => {
  NFS.mkdirSync(to, { recursive: true })
  for (const name of NFS.readdirSync(from)) {
    const src = Path.join(from, name)
    if (NFS.statSync(src).isFile()) NFS.copyFileSync(src, Path.join(to, name))
  }
}

/** Segment bytes up to the end of the data, checking that everything after `dataEnd` is zero. */
export const withoutZeroTail = (bytes: Uint8Array): Uint8Array => {
  let end = bytes.length
  while (end > 0 && bytes[end - 1] === 0) end--
  // records end 8-byte aligned; padding may itself be zero, so round up
  end = Math.min(bytes.length, Math.ceil(end / 8) * 8)
  return bytes.subarray(0, end)
}

export const readBytes = (path: string): Uint8Array => new Uint8Array(NFS.readFileSync(path))

/** Byte surgery on a file. */
export const setByte = (path: string, offset: number, value: number): void => {
  const b = readBytes(path)
  b[offset] = value
  NFS.writeFileSync(path, b)
}
export const xorByte = (path: string, offset: number, mask = 0xff): void => {
  const b = readBytes(path)
  b[offset] = b[offset]! ^ mask
  NFS.writeFileSync(path, b)
}
export const truncateFile = (path: string, size: number): void => NFS.truncateSync(path, size)
export const fileSize = (path: string): number => NFS.statSync(path).size

export const text = (s: string): Uint8Array => new TextEncoder().encode(s)
