import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NFS from "node:fs"
import * as Path from "node:path"
import * as Reader from "../src/Reader.ts"
import * as Repair from "../src/Repair.ts"
import * as Snap from "../src/Snap.ts"
import * as Wal from "../src/Wal.ts"
import { b64, copyDir, FIXTURES, readBytes, readExpected, readInputLines, tempDir, withoutZeroTail } from "./utils.ts"

const fx = (...p: Array<string>) => Path.join(FIXTURES, ...p)

const entriesAsExpected = (
  entries: ReadonlyArray<{ index: bigint; term: bigint; type: number; data?: Uint8Array | undefined }>
) => entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: b64(e.data) }))

const newestSnapIndex = (dir: string) =>
  Effect.map(Snap.loadNewest(dir), (r) => ({ index: r.loaded!.snapshot.index, term: r.loaded!.snapshot.term }))

describe("etcd fixtures: reading", () => {
  for (const name of ["basic", "torn-tail"]) {
    it.effect(`${name}: read mode from index 0 gives exactly expected.jsonl`, () =>
      Effect.gen(function*() {
        const r = yield* Reader.readAll(fx(name, "wal"), { index: 0n, term: 0n }, { mode: "read" })
        assert.deepStrictEqual(entriesAsExpected(r.entries), readExpected(fx(name, "expected.jsonl")))
      }))
  }

  for (const name of ["snapshotted", "multi-segment"]) {
    it.effect(`${name}: read from the newest .snap (hex name) gives expected.jsonl`, () =>
      Effect.gen(function*() {
        const start = yield* newestSnapIndex(fx(name, "snap"))
        const r = yield* Reader.readAll(fx(name, "wal"), start, { mode: "read" })
        assert.deepStrictEqual(entriesAsExpected(r.entries), readExpected(fx(name, "expected.jsonl")))
        assert.strictEqual(r.end._tag, "Eof")
      }))
    it.effect(`${name}: read from index 0 gives expected-from-0.jsonl`, () =>
      Effect.gen(function*() {
        const r = yield* Reader.readAll(fx(name, "wal"), { index: 0n, term: 0n }, { mode: "read" })
        assert.deepStrictEqual(entriesAsExpected(r.entries), readExpected(fx(name, "expected-from-0.jsonl")))
      }))
    it.effect(`${name}: the streaming reader from index 1 gives expected-from-0.jsonl`, () =>
      Effect.gen(function*() {
        const { Stream } = yield* Effect.promise(() => import("effect"))
        const all = yield* Stream.runCollect(Reader.entries(fx(name, "wal"), 1n))
        assert.deepStrictEqual(entriesAsExpected(all), readExpected(fx(name, "expected-from-0.jsonl")))
      }))
  }

  it.effect("torn-tail: read mode drops the torn record and reports it with its offset and dropped bytes", () =>
    Effect.gen(function*() {
      const r = yield* Reader.readAll(fx("torn-tail", "wal"), { index: 0n, term: 0n }, { mode: "read" })
      assert.strictEqual(r.entries.length, 4)
      assert.strictEqual(r.end._tag, "TornTail")
      if (r.end._tag === "TornTail") {
        assert.strictEqual(r.end.error.offset, 248)
        assert.strictEqual(r.end.error.reason, "torn-write")
        assert.isTrue(r.end.error.droppedBytes > 0 && r.end.error.droppedBytes <= 976 - 248)
      }
    }))

  it.effect("torn-tail: write mode refuses to open (unexpected EOF)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      copyDir(fx("torn-tail", "wal"), dir)
      const err = yield* Effect.flip(Wal.openForWrite(dir, { index: 0n, term: 0n }))
      assert.strictEqual(err._tag, "UnexpectedEof")
    }))

  it.effect("torn-tail: repair produces exactly torn-tail/repaired/", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      copyDir(fx("torn-tail", "wal"), dir)
      const result = yield* Repair.repair(dir)
      assert.strictEqual(result._tag, "Repaired")
      const seg = "0000000000000000-0000000000000000.wal"
      assert.deepStrictEqual(readBytes(Path.join(dir, seg)), readBytes(fx("torn-tail", "repaired", seg)))
      assert.deepStrictEqual(
        readBytes(Path.join(dir, `${seg}.broken`)),
        readBytes(fx("torn-tail", "repaired", `${seg}.broken`))
      )
      const r = yield* Reader.readAll(dir, { index: 0n, term: 0n }, { mode: "write" })
      assert.deepStrictEqual(entriesAsExpected(r.entries), readExpected(fx("torn-tail", "repaired-expected.jsonl")))
    }))
})

/** Replays go-binlogger's calls: save `lines` in batches, then optionally snapshot at the last index. */
const replay = (
  walDir: string,
  snapDir: string,
  lines: ReadonlyArray<Uint8Array>,
  batch: number,
  snapshot: boolean,
  segmentSizeBytes?: number
) =>
  Effect.scoped(Effect.gen(function*() {
    const exists = NFS.existsSync(walDir) && NFS.readdirSync(walDir).some((n) => n.endsWith(".wal"))
    let writer: Wal.WalWriter
    if (exists) {
      const loaded = yield* Snap.loadNewest(snapDir)
      const start = loaded.loaded
        ? { index: loaded.loaded.snapshot.index, term: loaded.loaded.snapshot.term }
        : { index: 0n, term: 0n }
      writer = (yield* Wal.openForWrite(walDir, start, { segmentSizeBytes })).writer
    } else {
      writer = yield* Wal.create(walDir, { segmentSizeBytes })
    }
    let index = writer.lastIndex()
    for (let i = 0; i < lines.length; i += batch) {
      const entries = lines.slice(i, i + batch).map((data) => ({ index: ++index, data }))
      yield* writer.save(entries, true)
    }
    if (snapshot) {
      NFS.mkdirSync(snapDir, { recursive: true })
      yield* Snap.save(snapDir, {
        index,
        term: 0n,
        confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
      })
      yield* writer.saveSnapshot({
        index,
        term: 0n,
        confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
      })
    }
  }))

const compareDirs = (ours: string, theirs: string) => {
  const names = NFS.readdirSync(theirs).filter((n) => n.endsWith(".wal") || n.endsWith(".snap")).sort()
  const mine = NFS.readdirSync(ours).filter((n) => n.endsWith(".wal") || n.endsWith(".snap")).sort()
  assert.deepStrictEqual(mine, names)
  for (const n of names) {
    const a = readBytes(Path.join(ours, n))
    const b = readBytes(Path.join(theirs, n))
    if (n.endsWith(".snap")) assert.deepStrictEqual(a, b, n)
    else assert.deepStrictEqual(withoutZeroTail(a), withoutZeroTail(b), n)
  }
}

describe("etcd fixtures: writing byte-identical files", () => {
  it.effect("basic: Create; Log 5 entries in batches of 2, 2, 1 gives the same segment", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* replay(`${dir}/wal`, `${dir}/snap`, readInputLines(fx("basic", "input.b64")), 2, false)
      compareDirs(`${dir}/wal`, fx("basic", "wal"))
    }))

  it.effect("snapshotted: Log 1-3, snapshot at 3, reopen at the .snap, Log 4-6 gives the same segment and .snap", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* replay(`${dir}/wal`, `${dir}/snap`, readInputLines(fx("snapshotted", "input-1.b64")), 1, true)
      yield* replay(`${dir}/wal`, `${dir}/snap`, readInputLines(fx("snapshotted", "input-2.b64")), 1, false)
      compareDirs(`${dir}/wal`, fx("snapshotted", "wal"))
      compareDirs(`${dir}/snap`, fx("snapshotted", "snap"))
    }))

  it.effect("multi-segment: 1 KiB segments cut at the same records, with the same names and .snap", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* replay(`${dir}/wal`, `${dir}/snap`, readInputLines(fx("multi-segment", "input-1.b64")), 3, true, 1024)
      yield* replay(`${dir}/wal`, `${dir}/snap`, readInputLines(fx("multi-segment", "input-2.b64")), 3, false, 1024)
      compareDirs(`${dir}/wal`, fx("multi-segment", "wal"))
      compareDirs(`${dir}/snap`, fx("multi-segment", "snap"))
    }))
})
