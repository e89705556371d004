// Corruption suite (LevelDB log_test.cc style): every case damages a WAL in one precise way and states what the
// reader, the write-mode open, the streaming reader and Repair must do about it. Outcomes follow the format notes
// (docs/etcd-wal-format.md sections 2-11) and the reader's documented deviations from etcd (src/Reader.ts: anything
// that stops a read before the last segment is an error; hidden non-zero bytes after a zero length word in the last
// segment are an unexpected end, not a silent end).
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as NFS from "node:fs"
import * as Path from "node:path"
import * as Proto from "../src/Proto.ts"
import * as Reader from "../src/Reader.ts"
import type { EntryValue } from "../src/RecordCodec.ts"
import * as Repair from "../src/Repair.ts"
import * as Segment from "../src/Segment.ts"
import * as Wal from "../src/Wal.ts"
import {
  b64,
  copyDir,
  entryFramesOf,
  fileSize,
  fillRange,
  framesOf,
  HandWal,
  readBytes,
  segmentFiles,
  tempDir,
  text,
  truncateFile,
  xorByte
} from "./utils.ts"

const START0: Reader.Start = { index: 0n, term: 0n }

/** A payload of `size` bytes, none of them zero (so zeroed bytes are always visible). */
const payload = (i: number, size = 24): Uint8Array => text(`entry-${i}-`.padEnd(size, "x"))

interface Written {
  readonly index: bigint
  readonly data: Uint8Array | undefined
}

/** Writes `batches` (one `save` with sync each) with the TypeScript writer into a new WAL in `dir`. */
const writeLog = (
  dir: string,
  batches: ReadonlyArray<ReadonlyArray<Uint8Array | undefined>>,
  segmentSizeBytes: number,
  snapshots: ReadonlyArray<{ readonly afterBatch: number; readonly term: bigint }> = []
) =>
  Effect.scoped(Effect.gen(function*() {
    const writer = yield* Wal.create(dir, { segmentSizeBytes })
    const written: Array<Written> = []
    let index = 0n
    for (let b = 0; b < batches.length; b++) {
      const entries = batches[b]!.map((data) => ({ index: ++index, data }))
      yield* writer.save(entries, true)
      written.push(...entries)
      for (const s of snapshots) {
        if (s.afterBatch === b) {
          yield* writer.saveSnapshot({ index, term: s.term, confState: Proto.emptyConfState })
        }
      }
    }
    return written
  }))

/** `count` entries of `size` bytes in batches of `per`. */
const batchesOf = (count: number, per: number, size = 24): Array<Array<Uint8Array>> => {
  const out: Array<Array<Uint8Array>> = []
  for (let i = 1; i <= count; i += per) {
    const batch: Array<Uint8Array> = []
    for (let j = i; j < i + per && j <= count; j++) batch.push(payload(j, size))
    out.push(batch)
  }
  return out
}

/**
 * The standard damaged log: 20 entries of 24 bytes (56-byte frames) in batches of 2 with 512-byte segments. etcd's
 * cut rule puts entries 1-12 in segment 0 and 13-20 in segment 1 (the last one, preallocated to 512 bytes).
 */
const standardLog = (dir: string) =>
  Effect.gen(function*() {
    const written = yield* writeLog(dir, batchesOf(20, 2), 512)
    const segments = segmentFiles(dir)
    assert.deepStrictEqual(segments, [Segment.segmentName(0n, 0n), Segment.segmentName(1n, 13n)])
    assert.deepStrictEqual(
      entryFramesOf(dir, segments[1]!).map((f) => f.entryIndex),
      [13n, 14n, 15n, 16n, 17n, 18n, 19n, 20n]
    )
    return { written, segments }
  })

const view = (entries: ReadonlyArray<{ readonly index: bigint; readonly data: Uint8Array | undefined }>) =>
  entries.map((e) => ({ index: e.index, data: b64(e.data) }))

/** The entry frame with index `index` in segment `name`. */
const frameOf = (dir: string, name: string, index: bigint) => {
  const f = entryFramesOf(dir, name).find((x) => x.entryIndex === index)
  assert.isDefined(f, `entry ${index} in ${name}`)
  return f!
}

/** Offset just after the last non-zero byte of a file: the end of the data a repair would drop. */
const writtenEnd = (path: string): number => {
  const b = readBytes(path)
  let end = b.length
  while (end > 0 && b[end - 1] === 0) end--
  return end
}

/** Compares the fields named in `expected` (the error's tag, file, offset, reason ...). */
const assertFields = (actual: object, expected: Record<string, unknown>): void => {
  const got: Record<string, unknown> = {}
  for (const k of Object.keys(expected)) got[k] = (actual as Record<string, unknown>)[k]
  assert.deepStrictEqual(got, expected)
}

/**
 * Runs the streaming reader from `from`, keeping what it emitted before it ended or failed. `chunkBytes: 8` makes
 * every read return a single frame, so each pull holds one record.
 */
const streamFrom = (dir: string, from: bigint, chunkBytes?: number) =>
  Effect.gen(function*() {
    const got: Array<EntryValue> = []
    const result = yield* Effect.result(
      Stream.runForEach(Reader.entries(dir, from, { chunkBytes }), (e) => Effect.sync(() => void got.push(e)))
    )
    return { got, result }
  })

const readErr = (dir: string, start: Reader.Start, mode: "read" | "write") =>
  Effect.flip(Reader.readAll(dir, start, { mode }))

/** A write-mode open that is expected to fail; its own scope so a held lock does not outlive it. */
const openErr = (dir: string, start: Reader.Start = START0) => Effect.flip(Effect.scoped(Wal.openForWrite(dir, start)))

/** Appends entries with a write-mode open at `start` (its own scope). */
const appendAt = (dir: string, start: Reader.Start, datas: ReadonlyArray<Uint8Array>) =>
  Effect.scoped(Effect.gen(function*() {
    const { read, writer } = yield* Wal.openForWrite(dir, start, { segmentSizeBytes: 512 })
    let index = writer.lastIndex()
    yield* writer.save(datas.map((data) => ({ index: ++index, data })), true)
    return read
  }))

describe("Corruption: CRC", () => {
  it.effect(
    "a flipped data byte in the last segment is a CrcMismatch naming the segment and the record offset, in both modes; nothing before it is lost",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const { segments, written } = yield* standardLog(dir)
        const last = segments[1]!
        const path = Path.join(dir, last)
        const f = frameOf(dir, last, 15n)
        xorByte(path, f.recordEnd - 1, 0x01) // last payload byte: "x" -> "y"
        const damaged = readBytes(path)
        const expected = { _tag: "CrcMismatch", file: last, offset: f.offset, actual: f.crc }

        const readMode = yield* readErr(dir, START0, "read")
        assertFields(readMode, expected)
        assert.notStrictEqual((readMode as { expected?: number }).expected, f.crc)
        assertFields(yield* readErr(dir, START0, "write"), expected)
        assertFields(yield* openErr(dir), expected)

        // the entries before the damage are intact and still readable
        const { got, result } = yield* streamFrom(dir, 1n)
        assert.deepStrictEqual(view(got), view(written.slice(0, 14)))
        assert.strictEqual(result._tag, "Failure")
        if (result._tag === "Failure") assertFields(result.failure, expected)

        // a CRC mismatch is not a torn write: Repair refuses and touches nothing; the failed opens changed nothing
        assertFields(yield* Effect.flip(Repair.repair(dir)), expected)
        assert.deepStrictEqual(readBytes(path), damaged)
        assert.isFalse(NFS.existsSync(`${path}.broken`))
      })
  )

  it.effect(
    "a flipped data byte in a non-last segment is a CrcMismatch naming that segment, in both modes (never a short log)",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const { segments, written } = yield* standardLog(dir)
        const first = segments[0]!
        const f = frameOf(dir, first, 5n)
        xorByte(Path.join(dir, first), f.recordEnd - 1, 0x01)
        const expected = { _tag: "CrcMismatch", file: first, offset: f.offset, actual: f.crc }
        assertFields(yield* readErr(dir, START0, "read"), expected)
        assertFields(yield* readErr(dir, START0, "write"), expected)
        const { got, result } = yield* streamFrom(dir, 1n)
        assert.deepStrictEqual(view(got), view(written.slice(0, 4)))
        assert.strictEqual(result._tag, "Failure")
        if (result._tag === "Failure") assertFields(result.failure, expected)
      })
  )

  it.effect(
    "a non-last segment cut inside a record is an UnexpectedEof with lastSegment false, an error in read mode too (etcd stops quietly)",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const { segments } = yield* standardLog(dir)
        const first = segments[0]!
        const f = frameOf(dir, first, 12n)
        truncateFile(Path.join(dir, first), f.offset + 20)
        const expected = {
          _tag: "UnexpectedEof",
          file: first,
          offset: f.offset,
          reason: "record-past-end-of-file",
          lastSegment: false
        }
        assertFields(yield* readErr(dir, START0, "read"), expected)
        assertFields(yield* readErr(dir, START0, "write"), expected)
        const { got, result } = yield* streamFrom(dir, 1n)
        assert.strictEqual(got.length, 11)
        assert.strictEqual(result._tag, "Failure")
        if (result._tag === "Failure") assertFields(result.failure, expected)
      })
  )

  it.effect(
    "a non-last segment cut at a frame boundary is a CrcRecordMismatch at the next segment's crc record",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const { segments } = yield* standardLog(dir)
        const [first, second] = [segments[0]!, segments[1]!]
        const f11 = frameOf(dir, first, 11n)
        const f10 = frameOf(dir, first, 10n)
        const crcRecord = framesOf(dir, second)[0]!
        truncateFile(Path.join(dir, first), f11.offset) // entries 11 and 12 vanish whole
        const expected = {
          _tag: "CrcRecordMismatch",
          file: second,
          offset: 0,
          expected: f10.crc,
          actual: crcRecord.crc
        }
        assertFields(yield* readErr(dir, START0, "read"), expected)
        assertFields(yield* readErr(dir, START0, "write"), expected)
      })
  )
})

describe("Corruption: torn tails of the last segment", () => {
  it.effect(
    "a length word truncated 1-7 bytes in at the end of the last segment is UnexpectedEof truncated-length-word: read mode returns the entries before it with a TornTail end, write mode fails, Repair fixes it",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const pristine = Path.join(root, "pristine")
        const { segments, written } = yield* standardLog(pristine)
        const last = segments[1]!
        const f20 = frameOf(pristine, last, 20n)
        for (let k = 1; k <= 7; k++) {
          const dir = Path.join(root, `cut-${k}`)
          copyDir(pristine, dir)
          const path = Path.join(dir, last)
          truncateFile(path, f20.offset + k)
          const damaged = readBytes(path)
          const expected = {
            _tag: "UnexpectedEof",
            file: last,
            offset: f20.offset,
            reason: "truncated-length-word",
            lastSegment: true,
            droppedBytes: 1 // only the length word's low byte (recBytes < 256) is non-zero in its first 7 bytes
          }

          const r = yield* Reader.readAll(dir, START0, { mode: "read" })
          assert.deepStrictEqual(view(r.entries), view(written.slice(0, 19)), `k=${k}`)
          assert.strictEqual(r.end._tag, "TornTail")
          if (r.end._tag === "TornTail") assertFields(r.end.error, expected)
          assert.strictEqual(r.tail.offset, f20.offset)
          assert.strictEqual(r.tail.segment.name, last)

          assertFields(yield* readErr(dir, START0, "write"), expected)
          assertFields(yield* openErr(dir), expected)

          const repaired = yield* Repair.repair(dir)
          assert.strictEqual(repaired._tag, "Repaired")
          if (repaired._tag === "Repaired") {
            assertFields(repaired.torn, expected)
            assert.strictEqual(repaired.segment, last)
            assert.strictEqual(repaired.brokenCopy, `${last}.broken`)
          }
          assert.strictEqual(fileSize(path), f20.offset)
          assert.deepStrictEqual(readBytes(`${path}.broken`), damaged)

          // after the repair the log opens for writing and continues at index 20
          const read = yield* appendAt(dir, START0, [text("again 20")])
          assert.strictEqual(read.entryCount, 19)
          assert.strictEqual(read.lastIndex, 19n)
          const after = yield* Reader.readAll(dir, START0, { mode: "write" })
          assert.deepStrictEqual(
            view(after.entries),
            view([...written.slice(0, 19), { index: 20n, data: text("again 20") }])
          )
          assert.strictEqual(after.end._tag, "Eof")
        }
      })
  )

  it.effect(
    "a last segment cut inside a record is UnexpectedEof record-past-end-of-file: read mode returns the entries before it with a TornTail end, write mode fails, Repair fixes it",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const pristine = Path.join(root, "pristine")
        const { segments, written } = yield* standardLog(pristine)
        const last = segments[1]!
        const f20 = frameOf(pristine, last, 20n)
        assert.isTrue(f20.padBytes > 1 && f20.recBytes > 28)
        // right after the length word, inside the record, after its last byte, inside the padding
        for (const cut of [8, 9, 28, 8 + f20.recBytes, 8 + f20.recBytes + f20.padBytes - 1]) {
          const dir = Path.join(root, `cut-${cut}`)
          copyDir(pristine, dir)
          const path = Path.join(dir, last)
          truncateFile(path, f20.offset + cut)
          const damaged = readBytes(path)
          const expected = {
            _tag: "UnexpectedEof",
            file: last,
            offset: f20.offset,
            reason: "record-past-end-of-file",
            lastSegment: true,
            droppedBytes: writtenEnd(path) - f20.offset
          }
          assert.isTrue(expected.droppedBytes > 0)

          const r = yield* Reader.readAll(dir, START0, { mode: "read" })
          assert.deepStrictEqual(view(r.entries), view(written.slice(0, 19)), `cut=${cut}`)
          assert.strictEqual(r.end._tag, "TornTail")
          if (r.end._tag === "TornTail") assertFields(r.end.error, expected)
          assert.strictEqual(r.tail.offset, f20.offset)

          assertFields(yield* readErr(dir, START0, "write"), expected)
          assertFields(yield* openErr(dir), expected)
          const { got, result } = yield* streamFrom(dir, 1n)
          assert.strictEqual(got.length, 19)
          assert.strictEqual(result._tag, "Failure")
          if (result._tag === "Failure") assertFields(result.failure, expected)

          const repaired = yield* Repair.repair(dir)
          assert.strictEqual(repaired._tag, "Repaired")
          if (repaired._tag === "Repaired") assertFields(repaired.torn, expected)
          assert.strictEqual(fileSize(path), f20.offset)
          assert.deepStrictEqual(readBytes(`${path}.broken`), damaged)
          const after = yield* Reader.readAll(dir, START0, { mode: "write" })
          assert.deepStrictEqual(view(after.entries), view(written.slice(0, 19)))
          assert.strictEqual(after.end._tag, "Eof")
        }
      })
  )

  it.effect(
    "a zero length word inside the last segment with valid records after it is a torn tail reporting the hidden bytes, not a silent end; Repair keeps them in .broken",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const { segments, written } = yield* standardLog(dir)
        const last = segments[1]!
        const path = Path.join(dir, last)
        const f16 = frameOf(dir, last, 16n)
        const f20 = frameOf(dir, last, 20n)
        fillRange(path, f16.offset, f16.offset + 8, 0)
        const damaged = readBytes(path)
        const expected = {
          _tag: "UnexpectedEof",
          file: last,
          offset: f16.offset,
          reason: "torn-write",
          lastSegment: true,
          droppedBytes: f20.recordEnd - f16.offset // the hidden records 16 (its body) to 20
        }

        const r = yield* Reader.readAll(dir, START0, { mode: "read" })
        assert.deepStrictEqual(view(r.entries), view(written.slice(0, 15)))
        assert.strictEqual(r.end._tag, "TornTail")
        if (r.end._tag === "TornTail") assertFields(r.end.error, expected)

        // etcd's write-mode open would succeed here and zero records 16-20 for good; ours refuses
        assertFields(yield* readErr(dir, START0, "write"), expected)
        assertFields(yield* openErr(dir), expected)
        assert.deepStrictEqual(readBytes(path), damaged)

        const { got, result } = yield* streamFrom(dir, 1n)
        assert.deepStrictEqual(view(got), view(written.slice(0, 15)))
        assert.strictEqual(result._tag, "Failure")
        if (result._tag === "Failure") assertFields(result.failure, expected)

        const repaired = yield* Repair.repair(dir)
        assert.strictEqual(repaired._tag, "Repaired")
        if (repaired._tag === "Repaired") assertFields(repaired.torn, expected)
        assert.strictEqual(fileSize(path), f16.offset)
        assert.deepStrictEqual(readBytes(`${path}.broken`), damaged)
      })
  )

  it.effect(
    "a zeroed 512-byte sector of the last record of the last segment is a torn write (TornTail in read mode, UnexpectedEof in write mode); the same zeroing in a non-last segment is a CrcMismatch",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const pristine = Path.join(root, "pristine")
        // 700-byte entries, one per save, 2 KiB segments: entries 1-4 in segment 0, 5-6 in segment 1
        const written = yield* writeLog(pristine, batchesOf(6, 1, 700), 2048)
        const segments = segmentFiles(pristine)
        assert.deepStrictEqual(segments, [Segment.segmentName(0n, 0n), Segment.segmentName(1n, 5n)])
        const [first, last] = [segments[0]!, segments[1]!]
        assert.deepStrictEqual(entryFramesOf(pristine, last).map((f) => f.entryIndex), [5n, 6n])

        // the last sector the record reaches, cut to the record's bytes
        const lastSectorPiece = (f: { recordStart: number; end: number }) => {
          const sector = Math.floor((f.end - 1) / 512) * 512
          assert.isTrue(sector > f.recordStart, "the record spans two sectors")
          return [sector, Math.min(sector + 512, f.end)] as const
        }

        // last segment: the whole sector (the record's tail and the zero tail after it) never reached the disk
        {
          const dir = Path.join(root, "last")
          copyDir(pristine, dir)
          const f6 = frameOf(dir, last, 6n)
          const [from] = lastSectorPiece(f6)
          fillRange(Path.join(dir, last), from, from + 512, 0)
          const expected = {
            _tag: "UnexpectedEof",
            file: last,
            offset: f6.offset,
            reason: "torn-write",
            lastSegment: true,
            droppedBytes: from - f6.offset
          }
          const r = yield* Reader.readAll(dir, START0, { mode: "read" })
          assert.deepStrictEqual(view(r.entries), view(written.slice(0, 5)))
          assert.strictEqual(r.end._tag, "TornTail")
          if (r.end._tag === "TornTail") assertFields(r.end.error, expected)
          assertFields(yield* readErr(dir, START0, "write"), expected)
          assertFields(yield* openErr(dir), expected)
          const repaired = yield* Repair.repair(dir)
          assert.strictEqual(repaired._tag, "Repaired")
          assert.strictEqual(fileSize(Path.join(dir, last)), f6.offset)
        }

        // non-last segment: the same damage to the last record of segment 0 is corruption, not a torn tail
        {
          const dir = Path.join(root, "non-last")
          copyDir(pristine, dir)
          const f4 = frameOf(dir, first, 4n)
          assert.strictEqual(f4.end, fileSize(Path.join(dir, first)), "entry 4 ends segment 0")
          const [from, to] = lastSectorPiece(f4)
          fillRange(Path.join(dir, first), from, to, 0)
          const expected = { _tag: "CrcMismatch", file: first, offset: f4.offset, actual: f4.crc }
          assertFields(yield* readErr(dir, START0, "read"), expected)
          assertFields(yield* readErr(dir, START0, "write"), expected)
          const { got, result } = yield* streamFrom(dir, 1n)
          assert.deepStrictEqual(view(got), view(written.slice(0, 3)))
          assert.strictEqual(result._tag, "Failure")
          if (result._tag === "Failure") assertFields(result.failure, expected)
          // Repair only looks at the last segment, which is clean
          const repaired = yield* Repair.repair(dir)
          assert.strictEqual(repaired._tag, "Clean")
          assertFields(yield* openErr(dir), expected)
        }
      })
  )

  it.effect(
    "after a write-mode open fails on a torn tail, Repair and a second open work in the same scope",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const { segments, written } = yield* standardLog(dir)
        const last = segments[1]!
        truncateFile(Path.join(dir, last), frameOf(dir, last, 20n).offset + 3)
        // the documented recovery: open, on UnexpectedEof repair, open again; all in the caller's scope
        const err = yield* Effect.flip(Wal.openForWrite(dir, START0))
        assert.strictEqual(err._tag, "UnexpectedEof")
        const repaired = yield* Repair.repair(dir)
        assert.strictEqual(repaired._tag, "Repaired")
        const { read } = yield* Wal.openForWrite(dir, START0)
        assert.strictEqual(read.entryCount, written.length - 1)
      })
  )
})

describe("Corruption: records", () => {
  it.effect("a record of unknown type 9 with a correct CRC is UnknownRecordType naming the file and offset", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const hand = new HandWal().entry(1n, text("one")).entry(2n, text("two")).record(9, text("mystery"))
        .entry(3n, text("three"))
      const [seg] = hand.write(dir)
      const frames = framesOf(dir, seg!)
      const odd = frames.find((f) => f.type === 9n)
      assert.isDefined(odd)
      const expected = { _tag: "UnknownRecordType", file: seg, offset: odd!.offset, recordType: "9" }
      assertFields(yield* readErr(dir, START0, "read"), expected)
      assertFields(yield* readErr(dir, START0, "write"), expected)
      const { got, result } = yield* streamFrom(dir, 1n, 8)
      assert.deepStrictEqual(got.map((e) => e.index), [1n, 2n])
      assert.strictEqual(result._tag, "Failure")
      if (result._tag === "Failure") assertFields(result.failure, expected)
      // not a torn tail: Repair refuses
      assertFields(yield* Effect.flip(Repair.repair(dir)), expected)
    }))

  it.effect(
    "a later segment whose metadata record differs from the first one is ConflictingMetadata naming that segment",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const hand = new HandWal(text("m1")).entry(1n, text("a")).entry(2n, text("b"))
          .cut(3n, { metadata: text("m2") }).entry(3n, text("c"))
        const [, second] = hand.write(dir)
        // crc record frame (16 bytes), then the metadata record
        const expected = { _tag: "ConflictingMetadata", file: second, offset: 16 }
        assert.strictEqual(framesOf(dir, second!)[1]!.offset, 16)
        assertFields(yield* readErr(dir, START0, "read"), expected)
        assertFields(yield* readErr(dir, START0, "write"), expected)
      })
  )

  it.effect("absent and empty metadata count as equal (no conflict)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      new HandWal(undefined).entry(1n, text("a")).cut(2n, { metadata: new Uint8Array(0) }).entry(2n, text("b"))
        .write(dir)
      const r = yield* Reader.readAll(dir, START0, { mode: "read" })
      assert.deepStrictEqual(r.entries.map((e) => e.index), [1n, 2n])
      assert.strictEqual(r.end._tag, "Eof")
    }))

  it.effect(
    "a segment that does not start with its crc record fails the first CRC check when a read starts there (and reads fine from an earlier segment)",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const build = (crcRecord: boolean) => {
          const hand = new HandWal().entry(1n, text("a")).entry(2n, text("b")).entry(3n, text("c"))
          const crcAfter3 = hand.crc
          hand.cut(4n, { crcRecord }).entry(4n, text("d")).entry(5n, text("e")).snapshot(5n).entry(6n, text("f"))
          return { hand, crcAfter3 }
        }
        // control: with the crc record the read from the snapshot at 5 works
        const good = Path.join(root, "good")
        build(true).hand.write(good)
        const ok = yield* Reader.readAll(good, { index: 5n, term: 0n }, { mode: "read" })
        assert.deepStrictEqual(ok.entries.map((e) => e.index), [6n])

        const bad = Path.join(root, "bad")
        const { crcAfter3, hand } = build(false)
        const [, second] = hand.write(bad)
        // the metadata record (no data) carries the running CRC; a read starting here has running CRC 0
        const expected = { _tag: "CrcMismatch", file: second, offset: 0, expected: 0, actual: crcAfter3 }
        assertFields(yield* readErr(bad, { index: 5n, term: 0n }, "read"), expected)
        assertFields(yield* readErr(bad, { index: 5n, term: 0n }, "write"), expected)
        const from0 = yield* Reader.readAll(bad, START0, { mode: "read" })
        assert.deepStrictEqual(from0.entries.map((e) => e.index), [1n, 2n, 3n, 4n, 5n, 6n])
      })
  )

  it.effect("entries 1, 2, 4 are an IndexGap at entry 4 (expected 3) in readAll and in the stream", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const [seg] = new HandWal().entry(1n, text("a")).entry(2n, text("b")).entry(4n, text("d")).write(dir)
      const f4 = frameOf(dir, seg!, 4n)
      const expected = { _tag: "IndexGap", file: seg, offset: f4.offset, expected: "3", actual: "4" }
      assertFields(yield* readErr(dir, START0, "read"), expected)
      assertFields(yield* readErr(dir, START0, "write"), expected)
      const { got, result } = yield* streamFrom(dir, 1n, 8)
      assert.deepStrictEqual(got.map((e) => e.index), [1n, 2n])
      assert.strictEqual(result._tag, "Failure")
      if (result._tag === "Failure") assertFields(result.failure, expected)
    }))

  it.effect(
    "entries 1, 2, 3, 2' are a raft overwrite: readAll returns 1 and the later 2 in both modes, the stream fails with EntryOverwrite",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const [seg] = new HandWal().entry(1n, text("a")).entry(2n, text("b")).entry(3n, text("c"))
          .entry(2n, text("B"))
          .write(dir)
        const overwrite = entryFramesOf(dir, seg!)[3]!
        for (const mode of ["read", "write"] as const) {
          const r = yield* Reader.readAll(dir, START0, { mode })
          assert.deepStrictEqual(
            view(r.entries),
            view([{ index: 1n, data: text("a") }, { index: 2n, data: text("B") }])
          )
          assert.strictEqual(r.entryCount, 2)
          assert.strictEqual(r.lastIndex, 2n)
        }
        const opened = yield* Effect.scoped(Effect.map(Wal.openForWrite(dir, START0), (o) => o.writer.lastIndex()))
        assert.strictEqual(opened, 2n)
        const { got, result } = yield* streamFrom(dir, 1n, 8)
        assert.deepStrictEqual(got.map((e) => e.index), [1n, 2n, 3n])
        assert.strictEqual(result._tag, "Failure")
        if (result._tag === "Failure") {
          assertFields(result.failure, {
            _tag: "EntryOverwrite",
            file: seg,
            offset: overwrite.offset,
            expected: "4",
            actual: "2"
          })
        }
      })
  )

  it.effect(
    "reading from an index with no snapshot record is SnapshotNotFound (both modes); the right index with another term is SnapshotMismatch",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeLog(dir, batchesOf(8, 4), 64_000, [{ afterBatch: 0, term: 0n }])
        const [seg] = segmentFiles(dir)
        const snap4 = framesOf(dir, seg!).filter((f) => f.type === 5n)[1]!
        // control: the snapshot record {4, 0} exists
        const ok = yield* Reader.readAll(dir, { index: 4n, term: 0n }, { mode: "read" })
        assert.deepStrictEqual(ok.entries.map((e) => e.index), [5n, 6n, 7n, 8n])

        const notFound = { _tag: "SnapshotNotFound", dir, index: "5", term: "0" }
        assertFields(yield* readErr(dir, { index: 5n, term: 0n }, "read"), notFound)
        // stricter than etcd, whose write mode loses this error
        assertFields(yield* readErr(dir, { index: 5n, term: 0n }, "write"), notFound)
        assertFields(yield* openErr(dir, { index: 5n, term: 0n }), notFound)

        const mismatch = {
          _tag: "SnapshotMismatch",
          file: seg,
          offset: snap4.offset,
          index: "4",
          expectedTerm: "1",
          actualTerm: "0"
        }
        assertFields(yield* readErr(dir, { index: 4n, term: 1n }, "read"), mismatch)
        assertFields(yield* readErr(dir, { index: 4n, term: 1n }, "write"), mismatch)
      })
  )
})

describe("Corruption: what the stream hands out before an error", () => {
  it.effect(
    "the stream emits the entries before an IndexGap, EntryOverwrite or UnknownRecordType whatever the chunk size",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const cases = [
          { name: "gap", hand: new HandWal().entry(1n, text("a")).entry(2n, text("b")).entry(4n, text("d")) },
          {
            name: "overwrite",
            hand: new HandWal().entry(1n, text("a")).entry(2n, text("b")).entry(2n, text("B"))
          },
          {
            name: "unknown",
            hand: new HandWal().entry(1n, text("a")).entry(2n, text("b")).record(9, text("?"))
          }
        ]
        for (const c of cases) {
          const dir = Path.join(root, c.name)
          c.hand.write(dir)
          // one record per pull: the prefix is handed out
          const small = yield* streamFrom(dir, 1n, 8)
          assert.deepStrictEqual(small.got.map((e) => e.index), [1n, 2n], `${c.name}, one record per pull`)
          // default 1 MiB chunks: the same log must give the same prefix before the same error
          const big = yield* streamFrom(dir, 1n)
          assert.strictEqual(big.result._tag, "Failure")
          assert.deepStrictEqual(big.got.map((e) => e.index), [1n, 2n], `${c.name}, 1 MiB chunks`)
        }
      })
  )
})

describe("Corruption: segments and directory", () => {
  it.effect(
    "a missing middle segment (sequence gap) is WalNotFound naming the gap, also right after segment 0 (etcd skips that check)",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const pristine = Path.join(root, "pristine")
        yield* writeLog(pristine, batchesOf(40, 2), 512)
        const segments = segmentFiles(pristine)
        assert.strictEqual(segments.length, 4)
        for (const gone of [2, 1]) {
          const dir = Path.join(root, `without-${gone}`)
          copyDir(pristine, dir)
          NFS.unlinkSync(Path.join(dir, segments[gone]!))
          for (const mode of ["read", "write"] as const) {
            const err = yield* readErr(dir, START0, mode)
            assert.strictEqual(err._tag, "WalNotFound")
            if (err._tag === "WalNotFound") {
              assert.strictEqual(err.dir, dir)
              assert.include(err.reason, "gap")
              assert.include(err.reason, segments[gone - 1]!)
              assert.include(err.reason, segments[gone + 1]!)
            }
          }
          const { got, result } = yield* streamFrom(dir, 1n)
          assert.strictEqual(got.length, 0)
          assert.strictEqual(result._tag, "Failure")
          if (result._tag === "Failure") assert.strictEqual(result.failure._tag, "WalNotFound")
        }
      })
  )

  it.effect("non-zero padding bytes are accepted and give the same entries", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const written = yield* writeLog(dir, [[payload(1, 1)], [payload(2, 5), payload(3, 0)], ...batchesOf(20, 3)], 512)
      let padded = 0
      for (const seg of segmentFiles(dir)) {
        for (const f of framesOf(dir, seg)) {
          if (f.padBytes > 0) {
            fillRange(Path.join(dir, seg), f.recordEnd, f.end, 0xff)
            padded++
          }
        }
      }
      assert.isTrue(padded >= 5, `padded frames: ${padded}`)
      for (const mode of ["read", "write"] as const) {
        const r = yield* Reader.readAll(dir, START0, { mode })
        assert.deepStrictEqual(view(r.entries), view(written))
        assert.strictEqual(r.end._tag, "Eof")
      }
      const { got, result } = yield* streamFrom(dir, 1n)
      assert.strictEqual(result._tag, "Success")
      assert.deepStrictEqual(view(got), view(written))
    }))

  it.effect("length-word bits 59-62 are ignored: the same entries", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const written = yield* writeLog(dir, batchesOf(20, 3, 13), 512)
      for (const seg of segmentFiles(dir)) {
        const path = Path.join(dir, seg)
        const bytes = readBytes(path)
        for (const f of framesOf(dir, seg)) bytes[f.offset + 7] = bytes[f.offset + 7]! | 0x78
        NFS.writeFileSync(path, bytes)
      }
      const r = yield* Reader.readAll(dir, START0, { mode: "read" })
      assert.deepStrictEqual(view(r.entries), view(written))
      assert.strictEqual(r.end._tag, "Eof")
    }))

  it.effect(
    ".tmp, .broken, lock and foreign files in the WAL directory are ignored, listed in `ignored` with their kind, and change nothing",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const written = yield* writeLog(dir, batchesOf(20, 2), 512)
        const segments = segmentFiles(dir)
        const garbage = new Uint8Array(600).fill(0xa5)
        NFS.writeFileSync(Path.join(dir, "0.tmp"), garbage)
        NFS.writeFileSync(Path.join(dir, "1.tmp"), new Uint8Array(0))
        NFS.writeFileSync(Path.join(dir, `${segments[0]}.broken`), garbage)
        NFS.writeFileSync(Path.join(dir, `${Segment.segmentName(2n, 21n)}.tmp`), garbage)
        NFS.writeFileSync(Path.join(dir, "notes.txt"), text("hello"))
        NFS.writeFileSync(Path.join(dir, Segment.LOCK_FILE_NAME), text("4194305 0\n")) // above pid_max: stale
        NFS.mkdirSync(Path.join(dir, "archive"))
        const ignoredFiles: Array<Segment.Ignored> = [
          { name: "0.tmp", kind: "tmp" },
          { name: "1.tmp", kind: "tmp" },
          { name: `${segments[0]}.broken`, kind: "broken" },
          { name: `${Segment.segmentName(2n, 21n)}.tmp`, kind: "tmp" },
          { name: "notes.txt", kind: "foreign" },
          { name: Segment.LOCK_FILE_NAME, kind: "lock" },
          { name: "archive", kind: "foreign" }
        ]
        const expectedIgnored = [...ignoredFiles].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))

        for (const mode of ["read", "write"] as const) {
          const r = yield* Reader.readAll(dir, START0, { mode })
          assert.deepStrictEqual(view(r.entries), view(written))
          assert.strictEqual(r.end._tag, "Eof")
          assert.deepStrictEqual(r.segments.map((s) => s.name), segments)
          assert.deepStrictEqual(r.ignored, expectedIgnored)
        }
        const { got, result } = yield* streamFrom(dir, 1n)
        assert.strictEqual(result._tag, "Success")
        assert.deepStrictEqual(view(got), view(written))
        const read = yield* appendAt(dir, START0, [text("21")])
        assert.strictEqual(read.entryCount, 20)
        const after = yield* Reader.readAll(dir, START0, { mode: "read" })
        assert.deepStrictEqual(view(after.entries), view([...written, { index: 21n, data: text("21") }]))
      })
  )
})
