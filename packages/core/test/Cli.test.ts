// The `binlog` command line, run as a real child process (node_modules/.bin/node src/bin.ts): output formats, exit
// codes, bad arguments, a torn tail shown by `verify` and fixed by `repair`, and `read --follow` seeing what another
// process appends (across a SIGKILL and restart of that writer too).
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as NFS from "node:fs"
import * as Path from "node:path"
import { FrameEncoder } from "../src/Encoder.ts"
import * as Proto from "../src/Proto.ts"
import * as Reader from "../src/Reader.ts"
import * as RecordCodec from "../src/RecordCodec.ts"
import { BIN, NODE, runBin } from "./crash/torture-cli.ts"
import { copyDir, fillRange, FIXTURES, framesOf, HandWal, readBytes, segmentFiles, tempDir, text } from "./utils.ts"

const bin = (args: ReadonlyArray<string>, input: string | Buffer = "") =>
  Effect.sync(() => {
    const r = ChildProcess.spawnSync(NODE, [BIN, ...args], { input, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 })
    return { status: r.status, stdout: r.stdout, stderr: r.stderr }
  })

const lines = (s: string): Array<string> => s.split("\n").filter((l) => l !== "")

interface EntryLine {
  readonly index: string
  readonly data: string
}

const entries = (stdout: string): Array<EntryLine> => lines(stdout).map((l) => JSON.parse(l) as EntryLine)

const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString("base64")

/** Exactly one line on stderr, with the command's prefix, and no stack trace. */
const assertOneErrorLine = (stderr: string, prefix: string, ...parts: ReadonlyArray<string>) => {
  const ls = lines(stderr)
  assert.strictEqual(ls.length, 1, `expected one stderr line, got:\n${stderr}`)
  assert.isTrue(ls[0]!.startsWith(prefix), ls[0])
  assert.notMatch(stderr, /\n\s+at /, "a stack trace")
  for (const p of parts) assert.include(ls[0]!, p)
}

/** A running child `binlog` process whose output lines are collected. */
class Proc {
  readonly out: Array<string> = []
  err = ""
  private partial = ""
  private waiters: Array<() => void> = []
  readonly exit: Promise<number | null>
  readonly child: ChildProcess.ChildProcessWithoutNullStreams

  constructor(args: ReadonlyArray<string>) {
    this.child = ChildProcess.spawn(NODE, [BIN, ...args], { stdio: ["pipe", "pipe", "pipe"] })
    this.child.stdin.on("error", () => {})
    this.child.stdout.on("data", (chunk: Buffer) => {
      const parts = (this.partial + chunk.toString("utf8")).split("\n")
      this.partial = parts.pop() ?? ""
      this.out.push(...parts)
      for (const w of this.waiters.splice(0)) w()
    })
    this.child.stderr.on("data", (chunk: Buffer) => (this.err += chunk.toString("utf8")))
    this.exit = new Promise((resolve) =>
      this.child.on("exit", (code) => {
        for (const w of this.waiters.splice(0)) w()
        resolve(code)
      })
    )
  }

  write(text: string): void {
    this.child.stdin.write(text)
  }

  /** Resolves once an output line satisfies `pred` (rejects after `ms`, or if the process exits first). */
  waitFor(pred: (line: string) => boolean, ms = 20_000): Promise<void> {
    const started = Date.now()
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.out.some(pred)) return resolve()
        if (this.child.exitCode !== null) return reject(new Error(`exited (${this.child.exitCode}): ${this.err}`))
        if (Date.now() - started > ms) return reject(new Error(`timed out; output so far: ${this.out.slice(-3)}`))
        this.waiters.push(check)
        setTimeout(check, 100)
      }
      check()
    })
  }
}

/** A child process for the test's scope (SIGKILLed at the end if it still runs). */
const spawn = (args: ReadonlyArray<string>): Effect.Effect<Proc, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new Proc(args)),
    (p) => Effect.sync(() => p.child.exitCode === null && p.child.signalCode === null && p.child.kill("SIGKILL"))
  )

const dirs = Effect.map(tempDir, (root) => ({ root, wal: Path.join(root, "wal"), snap: Path.join(root, "snap") }))

const appendArgs = (d: { wal: string; snap: string }, ...more: ReadonlyArray<string>) => [
  "append",
  "--wal",
  d.wal,
  "--snap",
  d.snap,
  ...more
]

describe("binlog append", () => {
  it.live("appends one entry per line (raw bytes, empty lines, a last line without newline) and prints the range", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const input = Buffer.concat([
        Buffer.from("hello\n\n"),
        Buffer.from([0xff, 0x00, 0x80, 0x0a]),
        Buffer.from("last")
      ])
      const r = yield* bin(appendArgs(d), input)
      assert.strictEqual(r.status, 0, r.stderr)
      assert.strictEqual(r.stderr, "")
      // the complete lines were there at the first read: one batch; the last line is complete at the end of input
      assert.deepStrictEqual(lines(r.stdout), ["1 3", "4 4"])
      const read = yield* bin(["read", "--wal", d.wal])
      assert.strictEqual(read.status, 0, read.stderr)
      assert.deepStrictEqual(entries(read.stdout), [
        { index: "1", data: b64("hello") },
        { index: "2", data: "" },
        { index: "3", data: b64(new Uint8Array([0xff, 0x00, 0x80])) },
        { index: "4", data: b64("last") }
      ])
    }))

  it.live("groups lines as they arrive: each group is one batch, printed only once durable", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const p = yield* spawn(appendArgs(d))
      p.write("a\nb\nc\n")
      yield* Effect.promise(() => p.waitFor((l) => l === "1 3"))
      // a partial line is not appended until its newline arrives
      p.write("d\ne")
      yield* Effect.promise(() => p.waitFor((l) => l === "4 4"))
      p.write("\n")
      yield* Effect.promise(() => p.waitFor((l) => l === "5 5"))
      p.child.stdin.end()
      assert.strictEqual(yield* Effect.promise(() => p.exit), 0, p.err)
      assert.deepStrictEqual(p.out, ["1 3", "4 4", "5 5"])
      const read = yield* bin(["read", "--wal", d.wal])
      assert.deepStrictEqual(entries(read.stdout).map((e) => Buffer.from(e.data, "base64").toString()), [
        "a",
        "b",
        "c",
        "d",
        "e"
      ])
    }))

  it.live("--base64 decodes each line; a bad line fails with its line number after the lines before it", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const ok = yield* bin(appendArgs(d, "--base64"), `${b64("x")}\n\n${b64(new Uint8Array([0, 1, 2]))}\n`)
      assert.strictEqual(ok.status, 0, ok.stderr)
      assert.deepStrictEqual(lines(ok.stdout), ["1 3"])
      const bad = yield* bin(appendArgs(d, "--base64"), `${b64("y")}\nnot base64!\n${b64("z")}\n`)
      assert.strictEqual(bad.status, 1)
      assert.deepStrictEqual(lines(bad.stdout), ["4 4"])
      assertOneErrorLine(bad.stderr, "binlog append:", "stdin line 2", "base64")
      const read = yield* bin(["read", "--wal", d.wal])
      assert.deepStrictEqual(entries(read.stdout), [
        { index: "1", data: b64("x") },
        { index: "2", data: "" },
        { index: "3", data: b64(new Uint8Array([0, 1, 2])) },
        { index: "4", data: b64("y") }
      ])
    }))

  it.live("with --sync-interval, ranges are printed (after the sync) and the entries are there", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const input = Array.from({ length: 50 }, (_, i) => `s${i}\n`).join("")
      const r = yield* bin(appendArgs(d, "--sync-interval", "5"), input)
      assert.strictEqual(r.status, 0, r.stderr)
      const ranges = lines(r.stdout).map((l) => l.split(" ").map(Number))
      assert.strictEqual(ranges[0]![0], 1)
      assert.strictEqual(ranges[ranges.length - 1]![1], 50)
      for (let i = 1; i < ranges.length; i++) assert.strictEqual(ranges[i]![0], ranges[i - 1]![1]! + 1)
      const read = yield* bin(["read", "--wal", d.wal])
      assert.strictEqual(entries(read.stdout).length, 50)
    }))

  it.live("a second writer on the same directory fails with WalLocked (one line, exit 1); readers still work", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const p = yield* spawn(appendArgs(d))
      p.write("held\n")
      yield* Effect.promise(() => p.waitFor((l) => l === "1 1"))
      const second = yield* bin(appendArgs(d), "x\n")
      assert.strictEqual(second.status, 1)
      assertOneErrorLine(second.stderr, "binlog append:", "WalLocked", `pid ${p.child.pid}`)
      const repair = yield* bin(["repair", "--wal", d.wal])
      assert.strictEqual(repair.status, 1)
      assertOneErrorLine(repair.stderr, "binlog repair:", "WalLocked")
      const read = yield* bin(["read", "--wal", d.wal])
      assert.strictEqual(read.status, 0, read.stderr)
      assert.deepStrictEqual(entries(read.stdout), [{ index: "1", data: b64("held") }])
      p.child.stdin.end()
      assert.strictEqual(yield* Effect.promise(() => p.exit), 0)
    }))
})

describe("binlog read", () => {
  it.live("prints JSON lines with the index as a decimal string; --from and --to bound the range", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      yield* bin(appendArgs(d), Array.from({ length: 10 }, (_, i) => `e${i + 1}\n`).join(""))
      const all = yield* bin(["read", "--wal", d.wal])
      assert.strictEqual(all.status, 0, all.stderr)
      assert.strictEqual(lines(all.stdout)[0], `{"index":"1","data":"${b64("e1")}"}`)
      const some = yield* bin(["read", "--wal", d.wal, "--from", "4", "--to", "6"])
      assert.deepStrictEqual(entries(some.stdout).map((e) => e.index), ["4", "5", "6"])
      const beyond = yield* bin(["read", "--wal", d.wal, "--from", "11"])
      assert.strictEqual(beyond.status, 0)
      assert.strictEqual(beyond.stdout, "")
    }))

  it.live("--snap starts after the newest snapshot (etcd fixtures, read in place)", () =>
    Effect.gen(function*() {
      for (const name of ["snapshotted", "multi-segment"]) {
        const f = Path.join(FIXTURES, name)
        const r = yield* bin(["read", "--wal", Path.join(f, "wal"), "--snap", Path.join(f, "snap")])
        assert.strictEqual(r.status, 0, r.stderr)
        const expected = lines(NFS.readFileSync(Path.join(f, "expected.jsonl"), "utf8")).map((l) => {
          const o = JSON.parse(l) as { data: string }
          return { index: /"index":(\d+)/.exec(l)![1]!, data: o.data }
        })
        assert.deepStrictEqual(entries(r.stdout), expected)
        const from0 = yield* bin(["read", "--wal", Path.join(f, "wal")])
        const expected0 = lines(NFS.readFileSync(Path.join(f, "expected-from-0.jsonl"), "utf8"))
        assert.strictEqual(entries(from0.stdout).length, expected0.length)
      }
    }))

  it.live("shows only committed entries: a group whose marker announces more entries than were written is hidden", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const wal = Path.join(root, "wal")
      const marker = (commit: bigint) => Proto.encodeHardState({ term: 0n, vote: 0n, commit })
      new HandWal()
        .record(RecordCodec.RecordType.state, marker(2n))
        .entry(1n, text("one"))
        .entry(2n, text("two"))
        .record(RecordCodec.RecordType.state, marker(5n))
        .entry(3n, text("three"))
        .write(wal)
      const before = readBytes(Path.join(wal, segmentFiles(wal)[0]!))
      const r = yield* bin(["read", "--wal", wal])
      assert.strictEqual(r.status, 0, r.stderr)
      assert.deepStrictEqual(entries(r.stdout).map((e) => e.index), ["1", "2"])
      const v = yield* bin(["verify", "--wal", wal])
      assert.strictEqual(v.status, 0, v.stderr)
      assert.include(v.stdout, "1 entries of an unfinished group commit after index 2")
      const s = yield* bin(["stat", "--wal", wal, "--format", "json"])
      const stat = JSON.parse(s.stdout) as { committed: string; lastIndex: string; uncommitted: string }
      assert.deepStrictEqual([stat.lastIndex, stat.committed, stat.uncommitted], ["3", "2", "1"])
      // read-only: nothing was cut or repaired
      assert.deepStrictEqual(readBytes(Path.join(wal, segmentFiles(wal)[0]!)), before)
    }))

  it.live("--follow shows entries another process appends, and --to ends it", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const writer = yield* spawn(appendArgs(d, "--segment-size", "4096"))
      writer.write("f1\nf2\n")
      yield* Effect.promise(() => writer.waitFor((l) => l === "1 2"))
      const reader = yield* spawn(["read", "--wal", d.wal, "--follow", "--to", "300"])
      yield* Effect.promise(() => reader.waitFor((l) => l.includes(`"index":"2"`)))
      for (let i = 3; i <= 300; i += 3) {
        writer.write(`f${i}\nf${i + 1}\nf${i + 2}\n`)
        yield* Effect.sleep("2 millis")
      }
      assert.strictEqual(yield* Effect.promise(() => reader.exit), 0, reader.err)
      assert.deepStrictEqual(
        reader.out.map((l) => JSON.parse(l) as EntryLine).map((e) => Buffer.from(e.data, "base64").toString()),
        Array.from({ length: 300 }, (_, i) => `f${i + 1}`)
      )
      assert.isTrue(segmentFiles(d.wal).length > 1, "the writer cut segments while the reader followed")
      writer.child.stdin.end()
      assert.strictEqual(yield* Effect.promise(() => writer.exit), 0)
    }))

  it.live("--follow across a SIGKILL and restart of the writer shows exactly the entries the log keeps", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      let next = 1
      const feed = (p: Proc, n: number) =>
        Effect.promise(async () => {
          for (let i = 0; i < n; i++) {
            let chunk = ""
            for (let k = 0; k < 7; k++) chunk += `r${next++}-${"y".repeat(next % 40)}\n`
            p.write(chunk)
            await new Promise((r) => setTimeout(r, 1))
          }
        })
      const first = yield* spawn(appendArgs(d, "--segment-size", "8192"))
      first.write("r0\n")
      yield* Effect.promise(() => first.waitFor((l) => l === "1 1"))
      const reader = yield* spawn(["read", "--wal", d.wal, "--follow"])
      yield* feed(first, 60)
      first.child.kill("SIGKILL")
      yield* Effect.promise(() => first.exit)
      const second = yield* spawn(appendArgs(d, "--segment-size", "8192"))
      yield* feed(second, 60)
      second.child.stdin.end()
      assert.strictEqual(yield* Effect.promise(() => second.exit), 0, second.err)
      const final = yield* bin(["read", "--wal", d.wal])
      const kept = lines(final.stdout)
      const last = (JSON.parse(kept[kept.length - 1]!) as EntryLine).index
      yield* Effect.promise(() => reader.waitFor((l) => l.includes(`"index":"${last}"`)))
      reader.child.kill("SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => reader.exit), 130)
      assert.strictEqual(reader.err, "")
      assert.deepStrictEqual(reader.out, kept)
    }))

  it.live("--follow never shows a crashed writer's unfinished group, only what the restarted writer puts there", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      yield* bin(appendArgs(d, "--segment-size", "65536"), "c1\nc2\nc3\n")
      // what a writer SIGKILLed in the middle of a group leaves: a marker announcing 6, entries 4 and 5 (complete,
      // CRC-valid), and its lock file
      const seg = segmentFiles(d.wal)[0]!
      const scan = yield* Reader.readAll(d.wal, { index: 0n, term: 0n }, { mode: "read", collect: false })
      const enc = new FrameEncoder(scan.tail.crc)
      enc.record(RecordCodec.RecordType.state, Proto.encodeHardState({ term: 0n, vote: 0n, commit: 6n }))
      enc.entry(0, 0n, 4n, text("old4"))
      enc.entry(0, 0n, 5n, text("old5"))
      const fd = NFS.openSync(Path.join(d.wal, seg), "r+")
      NFS.writeSync(fd, enc.take(), 0, undefined, scan.tail.offset)
      NFS.closeSync(fd)
      NFS.writeFileSync(Path.join(d.wal, ".binlog.lock"), "999999999 1\n")

      const reader = yield* spawn(["read", "--wal", d.wal, "--follow", "--to", "6"])
      yield* Effect.promise(() => reader.waitFor((l) => l.includes(`"index":"3"`)))
      yield* Effect.sleep("300 millis")
      const restarted = yield* spawn(appendArgs(d, "--segment-size", "65536"))
      restarted.write("new4\nnew5\n")
      yield* Effect.promise(() => restarted.waitFor((l) => l === "4 5"))
      restarted.write("new6\n")
      assert.strictEqual(yield* Effect.promise(() => reader.exit), 0, reader.err)
      assert.deepStrictEqual(
        reader.out.map((l) => Buffer.from((JSON.parse(l) as EntryLine).data, "base64").toString()),
        ["c1", "c2", "c3", "new4", "new5", "new6"]
      )
      restarted.child.stdin.end()
      assert.strictEqual(yield* Effect.promise(() => restarted.exit), 0)
    }))

  it.live("a closed stdout ends read quietly (binlog read | head)", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      yield* bin(appendArgs(d), Array.from({ length: 20_000 }, (_, i) => `p${i}-${"z".repeat(60)}\n`).join(""))
      const p = yield* spawn(["read", "--wal", d.wal])
      yield* Effect.promise(() => p.waitFor(() => true))
      p.child.stdout.destroy()
      assert.strictEqual(yield* Effect.promise(() => p.exit), 0)
      assert.notMatch(p.err, /\n\s+at /)
    }))
})

describe("binlog verify, repair, dump, stat", () => {
  it.live("verify: a clean log exits 0 with a summary (text and JSON)", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      yield* bin(appendArgs(d), "a\nb\nc\n")
      const t = yield* bin(["verify", "--wal", d.wal, "--snap", d.snap])
      assert.strictEqual(t.status, 0, t.stderr)
      assert.strictEqual(t.stderr, "")
      assert.match(t.stdout, /^frames\s+\d+ records/m)
      assert.match(t.stdout, /^entries\s+1\.\.3 /m)
      assert.match(t.stdout, /^result\s+OK$/m)
      const j = yield* bin(["verify", "--wal", d.wal, "--format", "json"])
      const report = JSON.parse(j.stdout) as { ok: boolean; lastIndex: string; committed: string; records: number }
      assert.strictEqual(report.ok, true)
      assert.strictEqual(report.lastIndex, "3")
      assert.strictEqual(report.committed, "3")
    }))

  it.live("a torn tail (last record's last sector zeroed) fails verify with the dropped bytes; repair fixes it", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      yield* bin(appendArgs(d, "--segment-size", "65536"), "one\ntwo\nthree\nfour\n")
      // the last entry alone in its group, big enough to cross a 512-byte sector boundary
      yield* bin(appendArgs(d, "--segment-size", "65536"), `${"L".repeat(700)}\n`)
      const seg = segmentFiles(d.wal)[0]!
      const last = framesOf(d.wal, seg).at(-1)!
      const sector = Math.floor((last.recordEnd - 1) / 512) * 512
      assert.isTrue(sector > last.recordStart, "the last record spans two sectors")
      fillRange(Path.join(d.wal, seg), sector, last.end)
      const dropped = sector - last.offset

      const v = yield* bin(["verify", "--wal", d.wal])
      assert.strictEqual(v.status, 1)
      assertOneErrorLine(
        v.stderr,
        "binlog verify:",
        "UnexpectedEof",
        `@${last.offset}`,
        "torn-write",
        `${dropped} bytes`
      )
      const j = yield* bin(["verify", "--wal", d.wal, "--format", "json"])
      const report = JSON.parse(j.stdout) as {
        ok: boolean
        error: { tag: string; file: string; offset: number; droppedBytes: number }
      }
      assert.strictEqual(report.ok, false)
      assert.deepStrictEqual(
        [report.error.tag, report.error.file, report.error.offset, report.error.droppedBytes],
        ["UnexpectedEof", seg, last.offset, dropped]
      )
      // a read-only reader shows what comes before it, and says so on stderr
      const r = yield* bin(["read", "--wal", d.wal])
      assert.strictEqual(r.status, 0)
      assert.deepStrictEqual(entries(r.stdout).map((e) => e.index), ["1", "2", "3", "4"])
      assert.include(r.stderr, "incomplete record")

      const rep = yield* bin(["repair", "--wal", d.wal])
      assert.strictEqual(rep.status, 0, rep.stderr)
      assert.strictEqual(
        rep.stdout,
        `repaired: truncated ${seg} at offset ${last.offset}, dropping ${dropped} bytes (torn-write); ` +
          `the original is kept as ${seg}.broken\n`
      )
      assert.isTrue(NFS.existsSync(Path.join(d.wal, `${seg}.broken`)))
      const again = yield* bin(["verify", "--wal", d.wal])
      assert.strictEqual(again.status, 0, again.stderr)
      const clean = yield* bin(["repair", "--wal", d.wal])
      assert.strictEqual(clean.stdout, `clean: ${seg} ends cleanly, nothing to repair\n`)
    }))

  it.live("repair of etcd's torn-tail fixture gives etcd's repaired bytes", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const wal = Path.join(root, "wal")
      copyDir(Path.join(FIXTURES, "torn-tail", "wal"), wal)
      for (const n of NFS.readdirSync(wal)) NFS.chmodSync(Path.join(wal, n), 0o600)
      const fixture = Path.join(FIXTURES, "torn-tail", "wal", "0000000000000000-0000000000000000.wal")
      const v = yield* bin(["verify", "--wal", Path.join(FIXTURES, "torn-tail", "wal")])
      assert.strictEqual(v.status, 1)
      assertOneErrorLine(v.stderr, "binlog verify:", "UnexpectedEof", "@248", "264 bytes")
      const rep = yield* bin(["repair", "--wal", wal])
      assert.strictEqual(rep.status, 0, rep.stderr)
      const name = "0000000000000000-0000000000000000.wal"
      assert.deepStrictEqual(
        readBytes(Path.join(wal, name)),
        readBytes(Path.join(FIXTURES, "torn-tail", "repaired", name))
      )
      assert.deepStrictEqual(readBytes(Path.join(wal, `${name}.broken`)), readBytes(fixture))
    }))

  it.live("dump lists every frame as etcd's harness does (offset, length word, type, CRC)", () =>
    Effect.gen(function*() {
      const f = Path.join(FIXTURES, "basic")
      const r = yield* bin(["dump", "--wal", Path.join(f, "wal")])
      assert.strictEqual(r.status, 0, r.stderr)
      const ours = lines(r.stdout).map((l) => JSON.parse(l) as Record<string, unknown>)
      const frames = ours.filter((o) => "type" in o)
      const theirs = lines(NFS.readFileSync(Path.join(f, "dump.jsonl"), "utf8"))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((t) => "type" in t)
      assert.strictEqual(frames.length, theirs.length)
      frames.forEach((o, i) => {
        const t = theirs[i]!
        assert.deepStrictEqual(
          [o.file, o.offset, o.lengthWord, o.type, o.crc, o.recordBytes, o.padBytes, o.crcOk],
          [t.file, t.offset, t.len_field, t.type, t.crc, t.rec_bytes, t.pad, true]
        )
        if (t.type === 2) {
          const e = t.entry as { index: number }
          assert.strictEqual((o.entry as { index: string }).index, String(e.index))
        }
      })
      assert.deepStrictEqual(ours.at(-1), { file: "0000000000000000-0000000000000000.wal", offset: 768, end: "eof" })
      const table = yield* bin(["dump", "--wal", Path.join(f, "wal"), "--format", "table"])
      assert.match(lines(table.stdout)[0]!, /^FILE\s+OFFSET\s+LENGTH WORD\s+TYPE\s+CRC\s+OK\s+DATA\s+DETAIL$/)
      assert.strictEqual(lines(table.stdout).length, theirs.length + 2)
    }))

  it.live("dump goes on past a frame whose CRC fails, marks it, and exits 1", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const wal = Path.join(root, "wal")
      copyDir(Path.join(FIXTURES, "basic", "wal"), wal)
      const name = segmentFiles(wal)[0]!
      const victim = framesOf(wal, name).filter((fr) => fr.entryIndex !== undefined)[1]!
      const path = Path.join(wal, name)
      NFS.chmodSync(path, 0o600)
      const bytes = readBytes(path)
      bytes[victim.recordEnd - 1] = bytes[victim.recordEnd - 1]! ^ 0x55
      NFS.writeFileSync(path, bytes)
      const r = yield* bin(["dump", "--wal", wal])
      assert.strictEqual(r.status, 1)
      assertOneErrorLine(r.stderr, "binlog dump:", "1 bad frame")
      const frames = lines(r.stdout).map((l) => JSON.parse(l) as { offset: number; crcOk?: boolean; error?: string })
      const bad = frames.filter((fr) => fr.crcOk === false)
      assert.deepStrictEqual(bad.map((fr) => [fr.offset, fr.error]), [[victim.offset, "CrcMismatch"]])
      // the frames after it are still listed (and their CRCs check out against the re-synchronised chain)
      const after = frames.filter((fr) => fr.offset > victim.offset && fr.crcOk !== undefined)
      assert.isTrue(after.length > 0 && after.every((fr) => fr.crcOk === true))
      const v = yield* bin(["verify", "--wal", wal])
      assert.strictEqual(v.status, 1)
      assertOneErrorLine(v.stderr, "binlog verify:", "CrcMismatch", `@${victim.offset}`)
    }))

  it.live("stat reports segments, indexes, snapshots and what the latest snapshot keeps", () =>
    Effect.gen(function*() {
      const f = Path.join(FIXTURES, "multi-segment")
      const r = yield* bin(["stat", "--wal", Path.join(f, "wal"), "--snap", Path.join(f, "snap"), "--format", "json"])
      assert.strictEqual(r.status, 0, r.stderr)
      const s = JSON.parse(r.stdout) as {
        firstIndex: string
        lastIndex: string
        committed: string
        segments: Array<{ name: string; firstIndex: string; bytes: number; keptBy: { _tag: string } }>
        snapshots: Array<{ name: string; index: string; walRecord: string }>
        bytes: { total: number }
        retention: { snapshotIndex: string; releasable: Array<string>; note: string }
      }
      assert.deepStrictEqual([s.firstIndex, s.lastIndex, s.committed], ["1", "50", "50"])
      assert.deepStrictEqual(s.segments.map((x) => [x.name, x.firstIndex, x.bytes]), [
        ["0000000000000000-0000000000000000.wal", "0", 1496],
        ["0000000000000001-0000000000000010.wal", "16", 1472],
        ["0000000000000002-000000000000001f.wal", "31", 1504],
        ["0000000000000003-000000000000002e.wal", "46", 1024]
      ])
      assert.deepStrictEqual(s.snapshots.map((x) => [x.name, x.index, x.walRecord]), [
        ["0000000000000000-000000000000001e.snap", "30", "present"]
      ])
      // etcd's ReleaseLockTo(30): keep the segment holding 30 (starts at 16) and everything after it
      assert.deepStrictEqual(s.retention.releasable, ["0000000000000000-0000000000000000.wal"])
      assert.deepStrictEqual(s.segments.map((x) => x.keptBy._tag), ["Releasable", "Snapshot", "Snapshot", "Snapshot"])
      assert.strictEqual(s.bytes.total, 1496 + 1472 + 1504 + 1024 + 18)
      assert.include(s.retention.note, "only inside a running process")
      const t = yield* bin(["stat", "--wal", Path.join(f, "wal"), "--snap", Path.join(f, "snap")])
      assert.match(t.stdout, /^indexes\s+first 1, last 50, committed 50$/m)
      assert.match(
        t.stdout,
        /0000000000000000-0000000000000000\.wal\s+0\s+1496\s+nothing: the next purge may delete it/
      )
    }))
})

describe("bad arguments and unreadable directories", () => {
  it.live("give one line on stderr, no stack trace, and exit 2 (usage) or 1 (failure)", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const file = Path.join(root, "file")
      NFS.writeFileSync(file, "x")
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, number, string, ReadonlyArray<string>]> = [
        [["read"], 2, "binlog read:", ["--wal"]],
        [["frobnicate"], 2, "binlog:", ["frobnicate"]],
        [["read", "--wal", root, "--from", "abc"], 2, "binlog read:", ["--from", "abc"]],
        [["read", "--wal", root, "--from", "0"], 2, "binlog read:", ["--from"]],
        [["read", "--wal", root, "--snap", root, "--from", "3"], 2, "binlog read:", ["--snap", "--from"]],
        [["append", "--wal", root, "--snap", root, "--sync-interval", "-1"], 2, "binlog append:", ["--sync-interval"]],
        [["dump", "--wal", root, "--format", "xml"], 2, "binlog dump:", ["--format"]],
        [["read", "--wal", Path.join(root, "missing")], 1, "binlog read:", ["ENOENT", "missing"]],
        [["verify", "--wal", file], 1, "binlog verify:", ["ENOTDIR"]],
        [["stat", "--wal", root], 1, "binlog stat:", ["no WAL segment files"]],
        [["dump", "--wal", Path.join(root, "missing")], 1, "binlog dump:", ["ENOENT"]],
        [["repair", "--wal", Path.join(root, "missing")], 1, "binlog repair:", ["ENOENT"]],
        [["append", "--wal", Path.join(file, "wal"), "--snap", root], 1, "binlog append:", ["ENOTDIR"]]
      ]
      for (const [args, status, prefix, parts] of cases) {
        const r = yield* bin(args, "")
        assert.strictEqual(r.status, status, `${args.join(" ")}: ${r.stderr}`)
        assertOneErrorLine(r.stderr, prefix, ...parts)
      }
    }))

  it.live("--help and --version print to stdout and exit 0; the entry point has a node shebang", () =>
    Effect.gen(function*() {
      const v = yield* bin(["--version"])
      assert.deepStrictEqual([v.status, v.stdout], [0, "binlog 0.1.0\n"])
      const h = yield* bin(["read", "--help"])
      assert.strictEqual(h.status, 0)
      assert.include(h.stdout, "--follow")
      assert.strictEqual(h.stderr, "")
      assert.isTrue(NFS.readFileSync(BIN, "utf8").startsWith("#!/usr/bin/env node\n"))
      const r = runBin([])
      assert.strictEqual(r.status, 2)
      assert.include(r.stdout, "append")
    }))
})
