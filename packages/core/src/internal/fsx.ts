// Low-level file I/O for the WAL as Effects over node:fs callbacks. Internal: not exported from the package.
//
// Why not effect's FileSystem: it has no fdatasync, no positional writes of a prepared buffer without copying, no
// fd access and no way to fsync a directory and a file through one handle type. Each call here is a single libuv
// request; errors become WalIoError naming the operation and the path.
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as NFS from "node:fs"
import { WalIoError } from "../WalError.ts"

const fail = (op: string, path: string, cause: unknown) => Effect.fail(new WalIoError({ op, path, cause }))

/** Opens `path` with numeric or string flags; resolves to the file descriptor. */
export const open = (path: string, flags: number | string, mode = 0o600): Effect.Effect<number, WalIoError> =>
  Effect.callback((resume) => {
    NFS.open(path, flags, mode, (err, fd) => resume(err ? fail("open", path, err) : Effect.succeed(fd)))
  })

/** Closes a descriptor. Errors are returned (a failed close of a written file can hide a lost write). */
export const close = (fd: number, path: string): Effect.Effect<void, WalIoError> =>
  Effect.callback((resume) => {
    NFS.close(fd, (err) => resume(err ? fail("close", path, err) : Effect.void))
  })

/** Closes a descriptor, ignoring errors (for finalizers of read-only handles). */
export const closeQuietly = (fd: number): Effect.Effect<void> =>
  Effect.callback((resume) => {
    NFS.close(fd, () => resume(Effect.void))
  })

const writeOnce = (fd: number, path: string, buf: Uint8Array, offset: number, length: number, position: number) =>
  Effect.callback<number, WalIoError>((resume) => {
    NFS.write(fd, buf, offset, length, position, (err, n) => resume(err ? fail("write", path, err) : Effect.succeed(n)))
  })

/** Writes all of `buf` at file position `position`, looping over short writes. */
export const writeAll = (
  fd: number,
  path: string,
  buf: Uint8Array,
  position: number
): Effect.Effect<void, WalIoError> =>
  Effect.flatMap(writeOnce(fd, path, buf, 0, buf.length, position), (n) =>
    n === buf.length
      ? Effect.void
      : n <= 0
      ? fail("write", path, new Error(`short write: ${n} of ${buf.length} bytes`))
      : writeAll(fd, path, buf.subarray(n), position + n))

/** Reads up to `length` bytes at `position` into `buf[offset..]`; resolves to the number of bytes read. */
export const read = (
  fd: number,
  path: string,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number
): Effect.Effect<number, WalIoError> =>
  Effect.callback((resume) => {
    NFS.read(fd, buf, offset, length, position, (err, n) => resume(err ? fail("read", path, err) : Effect.succeed(n)))
  })

/**
 * Reads `length` bytes at `position` into a new buffer, looping over short reads; the result is shorter only at the
 * end of the file. A new buffer per call, so views into it stay valid (readers hand out entry views).
 */
export const readChunk = Effect.fnUntraced(function*(
  fd: number,
  path: string,
  position: number,
  length: number
) {
  const buf = new Uint8Array(length)
  let got = 0
  while (got < length) {
    const n = yield* read(fd, path, buf, got, length - got, position + got)
    if (n === 0) break
    got += n
  }
  return got === length ? buf : buf.subarray(0, got)
})

/** fdatasync(2): makes the written data (and the size if it changed) durable. */
export const fdatasync = (fd: number, path: string): Effect.Effect<void, WalIoError> =>
  Effect.callback((resume) => {
    NFS.fdatasync(fd, (err) => resume(err ? fail("fdatasync", path, err) : Effect.void))
  })

/** fsync(2). */
export const fsync = (fd: number, path: string): Effect.Effect<void, WalIoError> =>
  Effect.callback((resume) => {
    NFS.fsync(fd, (err) => resume(err ? fail("fsync", path, err) : Effect.void))
  })

/** ftruncate(2): sets the file size (extending with zeros, sparse). */
export const ftruncate = (fd: number, path: string, length: number): Effect.Effect<void, WalIoError> =>
  Effect.callback((resume) => {
    NFS.ftruncate(fd, length, (err) => resume(err ? fail("ftruncate", path, err) : Effect.void))
  })

/** fstat(2) size in bytes. */
export const fsize = (fd: number, path: string): Effect.Effect<number, WalIoError> =>
  Effect.callback((resume) => {
    NFS.fstat(fd, (err, st) => resume(err ? fail("fstat", path, err) : Effect.succeed(st.size)))
  })

/** fsyncs a directory (open read-only + fsync), making renames and creations in it durable (Linux). */
export const fsyncDir = (dir: string): Effect.Effect<void, WalIoError> =>
  Effect.acquireUseRelease(open(dir, "r"), (fd) => fsync(fd, dir), (fd) => closeQuietly(fd))

/** Lists a directory's names, sorted as byte strings. */
export const readdir = (dir: string): Effect.Effect<Array<string>, WalIoError> =>
  Effect.callback((resume) => {
    NFS.readdir(dir, (err, names) => resume(err ? fail("readdir", dir, err) : Effect.succeed(names.sort())))
  })

/** Whether a path exists. */
export const exists = (path: string): Effect.Effect<boolean> =>
  Effect.callback((resume) => {
    NFS.access(path, (err) => resume(Effect.succeed(!err)))
  })

/** mkdir -p with a mode. */
export const mkdirp = (dir: string, mode = 0o700): Effect.Effect<void, WalIoError> =>
  Effect.callback((resume) => {
    NFS.mkdir(dir, { recursive: true, mode }, (err) => resume(err ? fail("mkdir", dir, err) : Effect.void))
  })

/** rename(2). */
export const rename = (from: string, to: string): Effect.Effect<void, WalIoError> =>
  Effect.callback((resume) => {
    NFS.rename(from, to, (err) => resume(err ? fail("rename", `${from} -> ${to}`, err) : Effect.void))
  })

/** unlink(2); a missing file is not an error. */
export const unlink = (path: string): Effect.Effect<void, WalIoError> =>
  Effect.callback((resume) => {
    NFS.unlink(path, (err) => resume(err && err.code !== "ENOENT" ? fail("unlink", path, err) : Effect.void))
  })

/** Reads a whole (small) file. */
export const readFile = (path: string): Effect.Effect<Uint8Array, WalIoError> =>
  Effect.callback((resume) => {
    NFS.readFile(path, (err, data) => resume(err ? fail("readFile", path, err) : Effect.succeed(data)))
  })

/** Copies a file (used for `.broken` copies and archives), then fsyncs the copy. */
export const copyFileDurably = Effect.fnUntraced(function*(from: string, to: string, mode = 0o600) {
  const data = yield* readFile(from)
  yield* writeFileDurably(to, data, mode)
})

/** Writes a whole file in place (create/truncate), fsyncs it and closes it. */
export const writeFileDurably = (path: string, data: Uint8Array, mode = 0o600): Effect.Effect<void, WalIoError> =>
  Effect.acquireUseRelease(
    open(path, NFS.constants.O_WRONLY | NFS.constants.O_CREAT | NFS.constants.O_TRUNC, mode),
    (fd) => Effect.andThen(writeAll(fd, path, data, 0), fsync(fd, path)),
    (fd) => closeQuietly(fd)
  )

/** Writes a file atomically: `<path>.tmp`, fsync, rename over `path`, fsync the directory. */
export const writeFileAtomic = Effect.fnUntraced(function*(
  dir: string,
  path: string,
  data: Uint8Array,
  mode = 0o600
) {
  const tmp = `${path}.tmp`
  yield* writeFileDurably(tmp, data, mode)
  yield* rename(tmp, path)
  yield* fsyncDir(dir)
})

/** stat(2) size in bytes, 0 when the file is gone. */
export const statSize = (path: string): Effect.Effect<number> =>
  Effect.callback((resume) => {
    NFS.stat(path, (err, st) => resume(Effect.succeed(err ? 0 : st.size)))
  })

/**
 * Preallocates `length` bytes of `path` (open as `fd`) with real blocks, as etcd does with fallocate(2): Node has no
 * fallocate, so util-linux's `fallocate` command does it; where that is missing or the file system refuses, the
 * file is extended with ftruncate (a sparse zero tail: the same bytes, what etcd itself falls back to). Allocated
 * blocks make each later durable write cheaper (no block allocation in the fdatasync). Meant for background
 * preparation (one process spawn).
 */
export const preallocate = (fd: number, path: string, length: number): Effect.Effect<void, WalIoError> =>
  Effect.flatMap(
    Effect.callback<boolean>((resume) => {
      ChildProcess.execFile("fallocate", ["-l", String(length), path], (err) => resume(Effect.succeed(!err)))
    }),
    (allocated) =>
      Effect.flatMap(
        fsize(fd, path),
        (size) => (allocated && size >= length ? Effect.void : ftruncate(fd, path, length))
      )
  )
