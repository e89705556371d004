/**
 * `.snap` files: etcd's snapshotter format, as go-binlogger writes them.
 *
 * A file is an encoded `snappb.Snapshot{crc, data}` where `data` is an encoded `raftpb.Snapshot` and `crc` its
 * CRC-32C (not chained). Names are `%016x-%016x.snap` of (term, index) in **hex** — go-binlogger parses them as
 * decimal, a bug this module does not repeat.
 *
 * Differences from etcd, all in the direction of not losing data: {@link save} writes a temporary file, fsyncs
 * it, renames it into place and fsyncs the directory (etcd writes in place with no rename and no directory fsync,
 * so a crash can leave a truncated `.snap`); the bytes are the same.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Crc32c from "./Crc32c.ts"
import * as Fsx from "./internal/fsx.ts"
import * as Proto from "./Proto.ts"
import { SnapCorrupt } from "./WalError.ts"
import type { WalIoError } from "./WalError.ts"

/**
 * A parsed snap file name.
 *
 * @since 0.1.0
 * @category models
 */
export interface SnapName {
  readonly name: string
  readonly term: bigint
  readonly index: bigint
}

/**
 * A loaded snapshot and the file it came from.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadedSnap {
  readonly name: string
  readonly snapshot: Proto.RaftSnapshotValue
}

const HEX16 = /^[0-9a-f]{16}$/

/**
 * The file name of a snapshot at (term, index): `%016x-%016x.snap`, lower-case hex.
 *
 * @since 0.1.0
 * @category naming
 */
export const snapName = (term: bigint, index: bigint): string =>
  `${term.toString(16).padStart(16, "0")}-${index.toString(16).padStart(16, "0")}.snap`

/**
 * Parses a snap file name as hex (term, index); `undefined` if it is not `%016x-%016x.snap`.
 *
 * @since 0.1.0
 * @category naming
 */
export const parseSnapName = (name: string): SnapName | undefined => {
  if (name.length !== 38 || !name.endsWith(".snap") || name[16] !== "-") return undefined
  const t = name.slice(0, 16)
  const i = name.slice(17, 33)
  if (!HEX16.test(t) || !HEX16.test(i)) return undefined
  return { name, term: BigInt(`0x${t}`), index: BigInt(`0x${i}`) }
}

/**
 * Encodes a snapshot as the bytes of a `.snap` file.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (snapshot: Proto.RaftSnapshotValue): Uint8Array => {
  const data = Proto.encodeRaftSnapshot(snapshot)
  return Proto.encodeSnapFile(Crc32c.checksum(data), data)
}

/**
 * Decodes `.snap` file bytes with etcd's checks: not empty, valid protobuf, non-empty data, crc ≠ 0 (etcd treats a
 * zero crc as "empty snapshot"), crc matches, valid `raftpb.Snapshot`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (file: string, bytes: Uint8Array): Effect.Effect<Proto.RaftSnapshotValue, SnapCorrupt> =>
  Effect.suspend(() => {
    if (bytes.length === 0) return Effect.fail(new SnapCorrupt({ file, reason: "empty snapshot file" }))
    let outer: { readonly crc: number; readonly data: Uint8Array | undefined }
    try {
      outer = Proto.decodeSnapFile(bytes)
    } catch (e) {
      return Effect.fail(new SnapCorrupt({ file, reason: `undecodable snappb.Snapshot: ${String(e)}` }))
    }
    if (outer.data === undefined || outer.data.length === 0 || outer.crc === 0) {
      return Effect.fail(new SnapCorrupt({ file, reason: "empty snapshot (no data or zero crc)" }))
    }
    const crc = Crc32c.checksum(outer.data)
    if (crc !== outer.crc) {
      return Effect.fail(new SnapCorrupt({ file, reason: `crc mismatch: stored ${outer.crc}, computed ${crc}` }))
    }
    try {
      return Effect.succeed(Proto.decodeRaftSnapshot(outer.data))
    } catch (e) {
      return Effect.fail(new SnapCorrupt({ file, reason: `undecodable raftpb.Snapshot: ${String(e)}` }))
    }
  })

/**
 * Reads and decodes one `.snap` file.
 *
 * @since 0.1.0
 * @category reading
 */
export const read = (path: string): Effect.Effect<Proto.RaftSnapshotValue, SnapCorrupt | WalIoError> =>
  Effect.flatMap(Fsx.readFile(path), (bytes) => decode(path, bytes))

/**
 * Saves a snapshot as `<dir>/<snapName(term, index)>`, durably (temp file, fsync, rename, directory fsync).
 * Like etcd, a snapshot at index 0 is not written. Returns the file name (or undefined when skipped).
 *
 * @since 0.1.0
 * @category writing
 */
export const save = (dir: string, snapshot: Proto.RaftSnapshotValue): Effect.Effect<string | undefined, WalIoError> =>
  Effect.gen(function*() {
    if (snapshot.index === 0n) return undefined
    const name = snapName(snapshot.term, snapshot.index)
    yield* Fsx.writeFileAtomic(dir, `${dir}/${name}`, encode(snapshot), 0o644)
    return name
  })

/**
 * The `.snap` names of a snap directory, newest first (sorted descending as strings, as etcd's loader does; with
 * fixed-width hex names that is highest term, then highest index). `.broken`, `.snap.db`, `db` and foreign files
 * are left out. A missing directory has no snapshots.
 *
 * @since 0.1.0
 * @category reading
 */
export const list = (dir: string): Effect.Effect<ReadonlyArray<SnapName>, WalIoError> =>
  Effect.gen(function*() {
    if (!(yield* Fsx.exists(dir))) return []
    const names = yield* Fsx.readdir(dir)
    const out: Array<SnapName> = []
    for (const n of names) {
      const p = parseSnapName(n)
      if (p) out.push(p)
    }
    return out.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0))
  })

/**
 * Outcome of {@link loadNewest}: the newest acceptable snapshot (if any) and what was skipped on the way.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadResult {
  readonly loaded: LoadedSnap | undefined
  readonly skipped: ReadonlyArray<{ readonly name: string; readonly reason: string }>
}

/**
 * Loads the newest valid snapshot for which `accept` holds (etcd's `Load` / `LoadNewestAvailable`). A file that
 * fails to decode is renamed to `<name>.broken`, as etcd does, and skipped; a file whose name disagrees with its
 * metadata, or that `accept` rejects, is skipped and left in place. Nothing is deleted.
 *
 * @since 0.1.0
 * @category reading
 */
export const loadNewest = (
  dir: string,
  accept: (s: Proto.RaftSnapshotValue) => boolean = () => true
): Effect.Effect<LoadResult, WalIoError> =>
  Effect.gen(function*() {
    const skipped: Array<{ name: string; reason: string }> = []
    for (const n of yield* list(dir)) {
      const path = `${dir}/${n.name}`
      const result = yield* Effect.result(read(path))
      if (result._tag === "Failure") {
        if (result.failure._tag === "WalIoError") return yield* result.failure
        skipped.push({ name: n.name, reason: result.failure.reason })
        yield* Fsx.rename(path, `${path}.broken`)
        continue
      }
      const s = result.success
      if (s.index !== n.index || s.term !== n.term) {
        skipped.push({ name: n.name, reason: `name disagrees with metadata (term ${s.term}, index ${s.index})` })
        continue
      }
      if (!accept(s)) {
        skipped.push({ name: n.name, reason: "no matching WAL snapshot record" })
        continue
      }
      return { loaded: { name: n.name, snapshot: s }, skipped }
    }
    return { loaded: undefined, skipped }
  })
