// Live interop with etcd's own wal/snap packages through the Go harness (tools/etcdwal): logs written by the
// TypeScript writer are read by etcd (read-only and write-mode opens), logs written by etcd are read by the
// TypeScript reader, and each side continues the other's log. Without the harness binary the suite is skipped with
// a loud warning; under CI (process.env.CI) a missing harness is a failure.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { spawnSync } from "node:child_process"
import * as NFS from "node:fs"
import * as Path from "node:path"
import * as Proto from "../src/Proto.ts"
import * as Reader from "../src/Reader.ts"
import * as Snap from "../src/Snap.ts"
import * as Wal from "../src/Wal.ts"
import { b64, HARNESS, harnessAvailable, segmentFiles, tempDir } from "./utils.ts"

const available = harnessAvailable()
const MISSING = `etcd interop tests SKIPPED: the harness binary ${HARNESS} is missing ` +
  `(build it with tools/etcdwal/build.sh). Files are NOT checked against etcd's reader/writer in this run.`
if (!available) console.warn(`\n${"!".repeat(100)}\n${MISSING}\n${"!".repeat(100)}\n`)
const interop = available ? it.effect : it.effect.skip

/** An entry as compared across the two implementations: exact index, base64 payload (nil and empty look alike). */
interface Row {
  readonly index: bigint
  readonly data: string
}

const rows = (entries: ReadonlyArray<{ readonly index: bigint; readonly data: Uint8Array | undefined }>): Array<Row> =>
  entries.map((e) => ({ index: e.index, data: b64(e.data) }))

const runHarness = (args: ReadonlyArray<string>, input?: string) => {
  const r = spawnSync(HARNESS, [...args], {
    input: input ?? "",
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024
  })
  if (r.error !== undefined) throw r.error
  if (r.status !== 0) {
    assert.fail(`etcdwal ${args.join(" ")} exited with ${r.status}: ${r.stderr}`)
  }
  return { stdout: r.stdout, stderr: r.stderr }
}

const lastJsonLine = (s: string): Record<string, unknown> => {
  const lines = s.split("\n").filter((l) => l.trim().startsWith("{"))
  assert.isAbove(lines.length, 0, `no JSON in ${s}`)
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>
}

/** etcd's OpenForRead + ReadAll (and, with `checkWritable`, a write-mode open of a copy that must agree). */
const etcdRead = (
  walDir: string,
  from: { readonly from: number } | { readonly snapDir: string },
  checkWritable = true
) => {
  const args = ["read", "--quiet", "--wal", walDir]
  if ("from" in from) args.push("--from", String(from.from))
  else args.push("--snap", from.snapDir)
  if (checkWritable) args.push("--check-writable")
  const { stderr, stdout } = runHarness(args)
  const entries: Array<Row> = stdout.split("\n").filter((l) => l.trim() !== "").map((l) => {
    const o = JSON.parse(l) as { index: number; term: number; type: number; data: string }
    assert.strictEqual(o.term, 0)
    assert.strictEqual(o.type, 0)
    assert.isTrue(Number.isSafeInteger(o.index))
    return { index: BigInt(o.index), data: o.data }
  })
  const summary = lastJsonLine(stderr)
  if (checkWritable) assert.strictEqual(summary.write_mode_open, "ok")
  return { entries, summary }
}

/** etcd's writer, go-binlogger style: one Save + Sync per `batch` lines; `snapshot` snapshots at the last index. */
const etcdWrite = (
  walDir: string,
  snapDir: string,
  datas: ReadonlyArray<Uint8Array>,
  options: { readonly batch: number; readonly snapshot?: boolean; readonly segmentSize?: number | undefined }
) => {
  const args = ["write", "--quiet", "--wal", walDir, "--snap", snapDir, "--batch", String(options.batch)]
  if (options.snapshot === true) args.push("--snapshot")
  if (options.segmentSize !== undefined) args.push("--segment-size", String(options.segmentSize))
  const input = datas.map((d) => b64(d)).join("\n") + (datas.length > 0 ? "\n" : "")
  return lastJsonLine(runHarness(args, input).stdout)
}

/** Deterministic payloads of varied sizes: empty, small text, binary 0x00-0xff runs, and a few big ones. */
const payloads = (from: number, count: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let i = from; i < from + count; i++) {
    const size = i % 7 === 0 ? 0 : i % 11 === 0 ? 1500 + i : (i * 37) % 300
    const b = new Uint8Array(size)
    for (let k = 0; k < size; k++) b[k] = (i * 31 + k * 7) & 0xff
    out.push(b)
  }
  return out
}

/** Splits `datas` into batches of sizes cycling through `sizes`. */
const chunk = <A>(datas: ReadonlyArray<A>, sizes: ReadonlyArray<number>): Array<Array<A>> => {
  const out: Array<Array<A>> = []
  let i = 0
  let k = 0
  while (i < datas.length) {
    const n = sizes[k++ % sizes.length]!
    out.push(datas.slice(i, i + n))
    i += n
  }
  return out
}

const writerOptions = (segmentSize: number | undefined) =>
  segmentSize === undefined ? {} : { segmentSizeBytes: segmentSize }

/** The TypeScript side of go-binlogger's calls: open (or create), save batches, optionally snapshot at the end. */
const tsWrite = (
  walDir: string,
  snapDir: string,
  datas: ReadonlyArray<Uint8Array>,
  options: { readonly batches: ReadonlyArray<number>; readonly snapshot?: boolean; readonly segmentSize?: number }
) =>
  Effect.scoped(Effect.gen(function*() {
    let writer: Wal.WalWriter
    if (NFS.existsSync(walDir) && segmentFiles(walDir).length > 0) {
      const start = yield* newestStart(snapDir)
      writer = (yield* Wal.openForWrite(walDir, start, writerOptions(options.segmentSize))).writer
    } else {
      writer = yield* Wal.create(walDir, writerOptions(options.segmentSize))
    }
    let index = writer.lastIndex()
    for (const batch of chunk(datas, options.batches)) {
      yield* writer.save(batch.map((data) => ({ index: ++index, data })), true)
    }
    if (options.snapshot === true) {
      NFS.mkdirSync(snapDir, { recursive: true })
      const name = yield* Snap.save(snapDir, { index, term: 0n, confState: Proto.emptyConfState })
      assert.strictEqual(name, Snap.snapName(0n, index))
      yield* writer.saveSnapshot({ index, term: 0n, confState: Proto.emptyConfState })
    }
    return index
  }))

/** The start of a read at the newest .snap (or {0, 0}). */
const newestStart = (snapDir: string) =>
  Effect.map(Snap.loadNewest(snapDir), (r) =>
    r.loaded === undefined
      ? { index: 0n, term: 0n }
      : { index: r.loaded.snapshot.index, term: r.loaded.snapshot.term })

/** What the TypeScript reader returns from 0 and from the newest snap (both modes, and the stream from 1). */
const tsRead = (walDir: string, snapDir: string) =>
  Effect.gen(function*() {
    const all = yield* Reader.readAll(walDir, { index: 0n, term: 0n }, { mode: "read" })
    assert.strictEqual(all.end._tag, "Eof")
    const allWrite = yield* Reader.readAll(walDir, { index: 0n, term: 0n }, { mode: "write" })
    assert.deepStrictEqual(rows(allWrite.entries), rows(all.entries))
    const streamed = yield* Stream.runCollect(Reader.entries(walDir, 1n))
    assert.deepStrictEqual(rows(streamed), rows(all.entries))
    const start = yield* newestStart(snapDir)
    const fromSnap = yield* Reader.readAll(walDir, start, { mode: "read" })
    assert.strictEqual(fromSnap.end._tag, "Eof")
    return { all: rows(all.entries), fromSnap: rows(fromSnap.entries), start }
  })

const expectedRows = (datas: ReadonlyArray<Uint8Array>, firstIndex = 1n): Array<Row> =>
  datas.map((d, i) => ({ index: firstIndex + BigInt(i), data: b64(d) }))

const SEGMENT_SIZES: ReadonlyArray<{ readonly label: string; readonly size: number | undefined }> = [
  { label: "1 KiB segments", size: 1024 },
  { label: "default 64,000,000-byte segments", size: undefined }
]

describe("Interop with etcd's wal package (tools/etcdwal harness)", () => {
  if (!available && process.env.CI !== undefined) {
    it("the etcd harness is available (required under CI)", () => {
      assert.fail(`CI requires the etcd interop harness, refusing to skip. ${MISSING}`)
    })
  }

  for (const { label, size } of SEGMENT_SIZES) {
    interop(
      `files written by the TypeScript writer (${label}, batches, a snapshot) are read by etcd identically`,
      () =>
        Effect.gen(function*() {
          const root = yield* tempDir
          const walDir = Path.join(root, "wal")
          const snapDir = Path.join(root, "snap")
          const first = payloads(1, 40)
          const second = payloads(41, 12)
          const snapIndex = yield* tsWrite(walDir, snapDir, first, {
            batches: [1, 3, 2, 5],
            snapshot: true,
            ...(size === undefined ? {} : { segmentSize: size })
          })
          assert.strictEqual(snapIndex, 40n)
          yield* tsWrite(walDir, snapDir, second, {
            batches: [2, 1],
            ...(size === undefined ? {} : { segmentSize: size })
          })
          if (size !== undefined) assert.isAbove(segmentFiles(walDir).length, 3, "the log spans several segments")

          const all = [...first, ...second]
          const from0 = etcdRead(walDir, { from: 0 })
          assert.deepStrictEqual(from0.entries, expectedRows(all))
          const fromSnap = etcdRead(walDir, { snapDir })
          assert.deepStrictEqual(fromSnap.entries, expectedRows(second, 41n))
          assert.deepStrictEqual(fromSnap.summary.start, { index: 40, term: 0 })
          assert.strictEqual(fromSnap.summary.start_snap, Snap.snapName(0n, 40n))
          // and etcd agrees on a read that starts at the snapshot record by index
          assert.deepStrictEqual(etcdRead(walDir, { from: 40 }).entries, expectedRows(second, 41n))
        })
    )

    interop(
      `files written by etcd (${label}, --batch, --snapshot) are read by the TypeScript reader identically`,
      () =>
        Effect.gen(function*() {
          const root = yield* tempDir
          const walDir = Path.join(root, "wal")
          const snapDir = Path.join(root, "snap")
          const a = payloads(1, 20)
          const b = payloads(21, 9)
          const c = payloads(30, 14)
          const r1 = etcdWrite(walDir, snapDir, a, { batch: 3, segmentSize: size })
          assert.strictEqual(r1.created, true)
          const r2 = etcdWrite(walDir, snapDir, b, { batch: 2, snapshot: true, segmentSize: size })
          assert.strictEqual(r2.snapshot, Snap.snapName(0n, 29n))
          etcdWrite(walDir, snapDir, c, { batch: 4, segmentSize: size })
          if (size !== undefined) assert.isAbove(segmentFiles(walDir).length, 3, "the log spans several segments")

          const ts = yield* tsRead(walDir, snapDir)
          assert.deepStrictEqual(ts.start, { index: 29n, term: 0n })
          assert.deepStrictEqual(ts.all, expectedRows([...a, ...b, ...c]))
          assert.deepStrictEqual(ts.fromSnap, expectedRows(c, 30n))
          // and the .snap file etcd wrote decodes to the same snapshot
          const snap = yield* Snap.read(Path.join(snapDir, Snap.snapName(0n, 29n)))
          assert.deepStrictEqual([snap.index, snap.term, snap.data], [29n, 0n, undefined])
        })
    )
  }

  interop(
    "a log created by TypeScript and continued by etcd, then by TypeScript and etcd again (1 KiB segments): both readers agree at every step",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const walDir = Path.join(root, "wal")
        const snapDir = Path.join(root, "snap")
        const steps = [payloads(1, 15), payloads(16, 10), payloads(26, 11), payloads(37, 8)]
        yield* tsWrite(walDir, snapDir, steps[0]!, { batches: [2, 3], snapshot: true, segmentSize: 1024 })
        etcdWrite(walDir, snapDir, steps[1]!, { batch: 3, snapshot: true, segmentSize: 1024 })
        const agree = (count: number, snapIndex: bigint) =>
          Effect.gen(function*() {
            const all = steps.slice(0, count).flat()
            const ts = yield* tsRead(walDir, snapDir)
            assert.deepStrictEqual(ts.all, expectedRows(all))
            assert.strictEqual(ts.start.index, snapIndex)
            assert.deepStrictEqual(ts.fromSnap, expectedRows(all.slice(Number(snapIndex)), snapIndex + 1n))
            assert.deepStrictEqual(etcdRead(walDir, { from: 0 }).entries, ts.all)
            assert.deepStrictEqual(etcdRead(walDir, { snapDir }).entries, ts.fromSnap)
          })
        yield* agree(2, 25n)
        yield* tsWrite(walDir, snapDir, steps[2]!, { batches: [1, 4], segmentSize: 1024 })
        yield* agree(3, 25n)
        etcdWrite(walDir, snapDir, steps[3]!, { batch: 2, segmentSize: 1024 })
        yield* agree(4, 25n)
      })
  )

  interop(
    "a log created by etcd and continued by TypeScript (opened at the newest .snap), then by etcd: both readers agree",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const walDir = Path.join(root, "wal")
        const snapDir = Path.join(root, "snap")
        const a = payloads(1, 12)
        const b = payloads(13, 9)
        const c = payloads(22, 7)
        etcdWrite(walDir, snapDir, a, { batch: 4, snapshot: true })
        const last = yield* tsWrite(walDir, snapDir, b, { batches: [2, 1], snapshot: true })
        assert.strictEqual(last, 21n)
        assert.deepStrictEqual(NFS.readdirSync(snapDir).sort(), [Snap.snapName(0n, 12n), Snap.snapName(0n, 21n)])
        etcdWrite(walDir, snapDir, c, { batch: 3 })

        const all = [...a, ...b, ...c]
        const ts = yield* tsRead(walDir, snapDir)
        assert.deepStrictEqual(ts.all, expectedRows(all))
        assert.deepStrictEqual(ts.fromSnap, expectedRows(c, 22n))
        assert.deepStrictEqual(etcdRead(walDir, { from: 0 }).entries, ts.all)
        assert.deepStrictEqual(etcdRead(walDir, { snapDir }).entries, ts.fromSnap)
        assert.deepStrictEqual(etcdRead(walDir, { from: 12 }).entries, expectedRows([...b, ...c], 13n))
      })
  )
})
