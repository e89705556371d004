import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NFS from "node:fs"
import * as Path from "node:path"
import * as BinLogger from "../src/BinLogger.ts"
import * as Crc32c from "../src/Crc32c.ts"
import { canAlign } from "../src/Encoder.ts"
import * as Reader from "../src/Reader.ts"
import * as Segment from "../src/Segment.ts"
import { LOCK_FILE_NAME } from "../src/Segment.ts"
import * as SegmentPipeline from "../src/SegmentPipeline.ts"
import * as Snap from "../src/Snap.ts"
import * as Wal from "../src/Wal.ts"
import { directSupported, tempDir, text } from "./utils.ts"

const dec = (b: Uint8Array) => new TextDecoder().decode(b)

const dirs = (root: string) => ({ walDir: Path.join(root, "wal"), snapDir: Path.join(root, "snap") })

/** Runs `f` against a logger opened on `root` and closes it afterwards. */
const withLogger = <A, E>(
  root: string,
  f: (log: BinLogger.BinLogger["Service"]) => Effect.Effect<A, E, Scope.Scope>,
  options: Partial<BinLogger.Options> = {}
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const log = yield* BinLogger.BinLogger
      return yield* f(log)
    }).pipe(Effect.provide(Layer.fresh(BinLogger.layer({ ...dirs(root), ...options }))))
  )

const entriesOf = (walDir: string, from = 1n) =>
  Effect.map(Stream.runCollect(Reader.entries(walDir, from)), (es) => es.map((e) => dec(e.data ?? new Uint8Array())))

describe("BinLogger: log", () => {
  it.effect("log returns dense index ranges and the entries survive a restart", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const ranges = yield* withLogger(root, (log) =>
        Effect.gen(function*() {
          const a = yield* log.log([text("a"), text("b")])
          const b = yield* log.log([text("c")])
          return [a, b]
        }))
      assert.deepStrictEqual(ranges, [{ first: 1n, last: 2n }, { first: 3n, last: 3n }])
      const more = yield* withLogger(root, (log) => log.log([text("d")]))
      assert.deepStrictEqual(more, { first: 4n, last: 4n })
      assert.deepStrictEqual(yield* entriesOf(dirs(root).walDir), ["a", "b", "c", "d"])
    }))

  it.effect("64 concurrent fibers get dense, unique, ordered indexes (group commit)", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const results = yield* withLogger(root, (log) =>
        Effect.all(
          Array.from(
            { length: 64 },
            (_, i) => log.log([text(`w${i}-0`), text(`w${i}-1`)]).pipe(Effect.map((r) => ({ i, r })))
          ),
          { concurrency: "unbounded" }
        ))
      const firsts = results.map(({ r }) => r.first).sort((a, b) => (a < b ? -1 : 1))
      assert.deepStrictEqual(firsts, Array.from({ length: 64 }, (_, k) => BigInt(2 * k + 1)))
      for (const { r } of results) assert.strictEqual(r.last, r.first + 1n)
      const all = yield* entriesOf(dirs(root).walDir)
      for (const { i, r } of results) {
        assert.strictEqual(all[Number(r.first) - 1], `w${i}-0`)
        assert.strictEqual(all[Number(r.last) - 1], `w${i}-1`)
      }
    }))

  it.effect("an empty batch is EmptyBatch and writes nothing", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const err = yield* withLogger(root, (log) => Effect.flip(log.log([])))
      assert.strictEqual(err._tag, "EmptyBatch")
      assert.deepStrictEqual(yield* entriesOf(dirs(root).walDir), [])
    }))

  it.effect("an entry over the size limit is EntryTooLarge and nothing of its batch is written", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const err = yield* withLogger(
        root,
        (log) => Effect.flip(log.log([text("ok"), new Uint8Array(17)])),
        { maxEntryBytes: 16 }
      )
      assert.strictEqual(err._tag, "EntryTooLarge")
      if (err._tag === "EntryTooLarge") assert.deepStrictEqual([err.position, err.bytes, err.limitBytes], [1, 17, 16])
      assert.deepStrictEqual(yield* entriesOf(dirs(root).walDir), [])
    }))

  it.effect("logPrepared runs in index order inside the writer, and a batch rejected after prepare calls rejected", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const seen: Array<bigint> = []
      let rolledBack = 0
      const [ranges, err] = yield* withLogger(
        root,
        (log) =>
          Effect.gen(function*() {
            const ranges = yield* Effect.all(
              Array.from({ length: 8 }, (_, i) =>
                log.logPrepared((first) => {
                  seen.push(first)
                  return Result.succeed([text(`p${i}-${first}`)])
                })),
              { concurrency: "unbounded" }
            )
            const err = yield* Effect.flip(
              log.logPrepared(() => Result.succeed([new Uint8Array(100)]), () => rolledBack++)
            )
            return [ranges, err] as const
          }),
        { maxEntryBytes: 64 }
      )
      assert.deepStrictEqual(seen, [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n])
      assert.deepStrictEqual(ranges.map((r) => r.first).sort((a, b) => (a < b ? -1 : 1)), seen)
      assert.strictEqual(err._tag, "EntryTooLarge")
      assert.strictEqual(rolledBack, 1)
      const refused = yield* withLogger(
        root,
        (log) => Effect.flip(log.logPrepared(() => Result.fail("domain says no" as const)))
      )
      assert.strictEqual(refused, "domain says no")
      assert.deepStrictEqual(yield* entriesOf(dirs(root).walDir), seen.map((f, i) => `p${i}-${f}`))
    }))

  it.effect("indexes past 2^53 are exact, and passing 2^64 - 1 is IndexOverflow that writes nothing", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { snapDir, walDir } = dirs(root)
      const start = BinLogger.MAX_INDEX - 3n
      // a log whose snapshot sits just below 2^64 - 1 (as if 2^64 - 4 entries had been released)
      yield* Effect.scoped(Effect.gen(function*() {
        const w = yield* Wal.create(walDir)
        NFS.mkdirSync(snapDir, { recursive: true })
        yield* Snap.save(snapDir, { index: start, term: 0n, confState: emptyCs })
        yield* w.saveSnapshot({ index: start, term: 0n, confState: emptyCs })
      }))
      const [a, b, err] = yield* withLogger(root, (log) =>
        Effect.gen(function*() {
          const a = yield* log.log([text("x"), text("y")])
          const b = yield* log.log([text("z")])
          const err = yield* Effect.flip(log.log([text("too far")]))
          return [a, b, err] as const
        }))
      assert.deepStrictEqual(a, { first: start + 1n, last: start + 2n })
      assert.deepStrictEqual(b, { first: BinLogger.MAX_INDEX, last: BinLogger.MAX_INDEX })
      assert.strictEqual(err._tag, "IndexOverflow")
      const after = yield* withLogger(
        root,
        (log) =>
          Effect.map(Stream.runCollect(log.read(start + 1n)), (es) => es.map((e) => [e.index, dec(e.data)] as const))
      )
      assert.deepStrictEqual(after, [[start + 1n, "x"], [start + 2n, "y"], [BinLogger.MAX_INDEX, "z"]])
    }))

  it.effect("layerConfig reads BINLOG_* settings from Config", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const layer = BinLogger.layerConfig.pipe(
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
          BINLOG_WAL_DIR: Path.join(root, "wal"),
          BINLOG_SNAP_DIR: Path.join(root, "snap"),
          BINLOG_SEGMENT_SIZE: "1024",
          BINLOG_SYNC_INTERVAL: "0 millis"
        })))
      )
      yield* Effect.scoped(
        Effect.gen(function*() {
          const log = yield* BinLogger.BinLogger
          for (let i = 0; i < 30; i++) yield* log.log([text(`entry ${i} ${"z".repeat(60)}`)])
        }).pipe(Effect.provide(layer))
      )
      // 1 KiB segments prove the setting was applied
      assert.isTrue(NFS.readdirSync(Path.join(root, "wal")).filter((n) => n.endsWith(".wal")).length > 1)
      const noConfig = BinLogger.layerConfig.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({}))))
      const missing = yield* Effect.flip(
        Effect.scoped(Effect.provide(BinLogger.BinLogger.use(() => Effect.void), noConfig))
      )
      assert.strictEqual(missing._tag, "ConfigError")
    }))

  it.effect("with a sync interval, log returns, entries are readable, and sync forces an fdatasync", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const read = yield* withLogger(
        root,
        (log) =>
          Effect.gen(function*() {
            yield* log.log([text("a")])
            yield* log.log([text("b")])
            yield* log.sync
            return yield* Stream.runCollect(log.read(1n))
          }),
        { syncInterval: "20 millis" }
      )
      assert.deepStrictEqual(read.map((e) => dec(e.data)), ["a", "b"])
    }))
})

const emptyCs = { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }

describe("BinLogger: snapshot leases", () => {
  it.effect("createSnapshot is None on an empty log and a lease of (0, n] after appends", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withLogger(root, (log) =>
        Effect.gen(function*() {
          assert.isTrue(Option.isNone(yield* log.createSnapshot))
          yield* log.log([text("a"), text("b"), text("c")])
          const lease = Option.getOrThrow(yield* log.createSnapshot)
          assert.deepStrictEqual([lease.prevIndex, lease.currentIndex], [0n, 3n])
          assert.deepStrictEqual((yield* lease.entriesArray).map((e) => dec(e.data)), ["a", "b", "c"])
          assert.deepStrictEqual((yield* Stream.runCollect(lease.entries)).map((e) => e.index), [1n, 2n, 3n])
          yield* lease.release(true)
          assert.isTrue(Option.isNone(yield* log.createSnapshot))
        }))
      // go-binlogger's bytes: .snap named in hex, then the WAL record {3, 0, conf_state {}}
      assert.deepStrictEqual(NFS.readdirSync(dirs(root).snapDir), ["0000000000000000-0000000000000003.snap"])
      const r = yield* Reader.readAll(dirs(root).walDir, { index: 3n, term: 0n }, { mode: "read" })
      assert.deepStrictEqual(r.snapshots.at(-1), { index: 3n, term: 0n, confState: emptyCs })
    }))

  it.effect("release(false) hands the same range, extended, to the next createSnapshot", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withLogger(root, (log) =>
        Effect.gen(function*() {
          yield* log.log([text("a"), text("b")])
          const first = Option.getOrThrow(yield* log.createSnapshot)
          yield* first.release(false)
          yield* log.log([text("c")])
          const second = Option.getOrThrow(yield* log.createSnapshot)
          assert.deepStrictEqual([second.prevIndex, second.currentIndex], [0n, 3n])
          yield* second.release(true)
        }))
      assert.deepStrictEqual(NFS.readdirSync(dirs(root).snapDir), ["0000000000000000-0000000000000003.snap"])
    }))

  it.effect("a crash (scope closed) before release re-delivers the range after restart", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withLogger(root, (log) =>
        Effect.gen(function*() {
          yield* log.log([text("a"), text("b")])
          const lease = Option.getOrThrow(yield* log.createSnapshot)
          yield* lease.release(true)
          yield* log.log([text("c"), text("d")])
          yield* log.createSnapshot // leased, never released
        }))
      const lease = yield* withLogger(root, (log) =>
        Effect.map(log.createSnapshot, (l) => Option.map(l, (x) => [x.prevIndex, x.currentIndex])))
      assert.deepStrictEqual(Option.getOrThrow(lease), [2n, 4n])
    }))

  it.effect("a second createSnapshot while a lease is out fails with SnapshotLeaseBusy; appends never wait", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withLogger(root, (log) =>
        Effect.gen(function*() {
          yield* log.log([text("a")])
          const lease = Option.getOrThrow(yield* log.createSnapshot)
          const busy = yield* Effect.flip(log.createSnapshot)
          assert.strictEqual(busy._tag, "SnapshotLeaseBusy")
          const r = yield* log.log([text("b")]) // would block forever in go-binlogger
          assert.deepStrictEqual(r, { first: 2n, last: 2n })
          yield* lease.release(true)
          yield* lease.release(true) // a second release is a no-op
          const next = Option.getOrThrow(yield* log.createSnapshot)
          assert.deepStrictEqual([next.prevIndex, next.currentIndex], [1n, 2n])
          yield* next.release(false)
        }))
    }))

  it.effect("withSnapshot releases according to the Exit of its function", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withLogger(root, (log) =>
        Effect.gen(function*() {
          yield* log.log([text("a"), text("b")])
          const failed = yield* Effect.exit(log.withSnapshot(() => Effect.fail("consumer failed" as const)))
          assert.isTrue(Exit.isFailure(failed))
          assert.strictEqual(yield* log.snapshotIndex, 0n)
          const ok = yield* log.withSnapshot((l) => Effect.succeed(l.currentIndex))
          assert.deepStrictEqual(ok, Option.some(2n))
          assert.strictEqual(yield* log.snapshotIndex, 2n)
        }))
    }))

  it.effect("snapshot names past index 9 (hex a-f, 16 = ...10, 26, 31) recover at the right index", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      for (const target of [10n, 16n, 26n, 31n]) {
        yield* withLogger(root, (log) =>
          Effect.gen(function*() {
            const cur = yield* log.currentIndex
            const n = Number(target - cur)
            yield* log.log(Array.from({ length: n }, (_, k) => text(`e${Number(cur) + k + 1}`)))
            yield* Effect.flatMap(log.createSnapshot, (l) => Option.getOrThrow(l).release(true))
          }), { keepSnapshots: 10 })
        const after = yield* withLogger(root, (log) => Effect.all([log.snapshotIndex, log.currentIndex]))
        assert.deepStrictEqual(after, [target, target])
      }
      assert.deepStrictEqual(NFS.readdirSync(dirs(root).snapDir).sort(), [
        "0000000000000000-000000000000000a.snap",
        "0000000000000000-0000000000000010.snap",
        "0000000000000000-000000000000001a.snap",
        "0000000000000000-000000000000001f.snap"
      ])
    }))
})

describe("BinLogger: reads", () => {
  it.effect("read(from, {to}) streams a range; read follows new entries when asked", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withLogger(root, (log) =>
        Effect.gen(function*() {
          yield* log.log([text("a"), text("b"), text("c")])
          const mid = yield* Stream.runCollect(log.read(2n, { to: 2n }))
          assert.deepStrictEqual(mid.map((e) => dec(e.data)), ["b"])
          const follower = yield* Effect.forkChild(
            Stream.runCollect(log.read(2n, { follow: true }).pipe(Stream.take(4)))
          )
          yield* log.log([text("d")])
          yield* log.log([text("e")])
          const seen = yield* Fiber.join(follower)
          assert.deepStrictEqual(seen.map((e) => [e.index, dec(e.data)]), [[2n, "b"], [3n, "c"], [4n, "d"], [5n, "e"]])
        }))
    }))

  it.live("a follower keeps up across segment cuts", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withLogger(
        root,
        (log) =>
          Effect.gen(function*() {
            const follower = yield* Effect.forkChild(
              Stream.runCollect(log.read(1n, { follow: true }).pipe(Stream.take(300)))
            )
            for (let i = 0; i < 100; i++) yield* log.log([text(`a${i}`), text(`b${i}`), text(`c${i}`)])
            const seen = yield* Fiber.join(follower)
            assert.deepStrictEqual(seen.map((e) => e.index), Array.from({ length: 300 }, (_, k) => BigInt(k + 1)))
            assert.isTrue(NFS.readdirSync(dirs(root).walDir).filter((n) => n.endsWith(".wal")).length > 5)
          }),
        { segmentSizeBytes: 1024 }
      )
    }))

  it.effect("awaitIndex resolves once the index is durable", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withLogger(root, (log) =>
        Effect.gen(function*() {
          const waiter = yield* Effect.forkChild(log.awaitIndex(3n))
          yield* log.log([text("a"), text("b")])
          assert.isUndefined(waiter.pollUnsafe())
          yield* log.log([text("c")])
          yield* Fiber.join(waiter)
          yield* log.awaitIndex(1n)
        }))
    }))

  it.effect("reading from 0 is IndexUnavailable", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const err = yield* withLogger(root, (log) => Effect.flip(Stream.runCollect(log.read(0n))))
      assert.strictEqual(err._tag, "IndexUnavailable")
    }))
})

describe("BinLogger: purge and retention", () => {
  const fill = (log: BinLogger.BinLogger["Service"], n: number) =>
    Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => log.log([text(`entry-${i}-${"x".repeat(40)}`)]), {
      discard: true
    })

  it.effect("purge after release keeps exactly what etcd's ReleaseLockTo rule keeps", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { walDir } = dirs(root)
      yield* withLogger(
        root,
        (log) =>
          Effect.gen(function*() {
            yield* fill(log, 60)
            const before = (yield* Segment.list(walDir)).segments
            assert.isTrue(before.length >= 4)
            const lease = Option.getOrThrow(yield* log.createSnapshot)
            const at = lease.currentIndex
            yield* lease.release(true)
            const after = (yield* Segment.list(walDir)).segments
            // keep the last segment whose name index is below the snapshot index, and everything after it
            let firstKept = before.findIndex((s) => s.index >= at)
            if (firstKept < 0) firstKept = before.length
            const expected = before.slice(Math.max(0, Math.min(firstKept - 1, before.length - 1)))
            assert.deepStrictEqual(after.map((s) => s.name), expected.map((s) => s.name))
            assert.isTrue(after.length < before.length)
          }),
        { segmentSizeBytes: 1024 }
      )
      // and the log still opens at its snapshot
      const idx = yield* withLogger(root, (log) => log.currentIndex, { segmentSizeBytes: 1024 })
      assert.strictEqual(idx, 60n)
    }))

  it.effect("a retention hold stops purge below it, and status names the holder", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { walDir } = dirs(root)
      yield* withLogger(
        root,
        (log) =>
          Effect.gen(function*() {
            yield* fill(log, 60)
            const before = (yield* Segment.list(walDir)).segments
            const hold = yield* log.retain("projection orders", 1n)
            yield* Effect.flatMap(log.createSnapshot, (l) => Option.getOrThrow(l).release(true))
            assert.deepStrictEqual((yield* Segment.list(walDir)).segments.length, before.length)
            const status = yield* log.status
            assert.deepStrictEqual(status.segments[0]!.keptBy, { _tag: "Hold", name: "projection orders", index: 1n })
            assert.isTrue(status.holds.some((h) => h.name === "projection orders"))
            yield* hold.set(60n)
            yield* log.purge
            assert.isTrue((yield* Segment.list(walDir)).segments.length < before.length)
          }),
        { segmentSizeBytes: 1024 }
      )
    }))

  it.effect("old .snap files beyond keepSnapshots are deleted, the newest kept", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withLogger(
        root,
        (log) =>
          Effect.gen(function*() {
            for (let i = 0; i < 4; i++) {
              yield* log.log([text(`e${i}`)])
              yield* Effect.flatMap(log.createSnapshot, (l) => Option.getOrThrow(l).release(true))
            }
          }),
        { keepSnapshots: 2 }
      )
      assert.deepStrictEqual(NFS.readdirSync(dirs(root).snapDir).sort(), [
        "0000000000000000-0000000000000003.snap",
        "0000000000000000-0000000000000004.snap"
      ])
    }))
})

describe("BinLogger: recovery", () => {
  it.effect("a torn tail is repaired on start: entries before it stay, a .broken copy is kept", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { walDir } = dirs(root)
      yield* withLogger(
        root,
        (log) => Effect.andThen(log.log([text("a"), text("b")]), log.log([new Uint8Array(1500).fill(7)]))
      )
      // tear the last record: zero its last 512-byte sector (as a lost sector write would)
      const seg = Path.join(walDir, "0000000000000000-0000000000000000.wal")
      const r = yield* Reader.readAll(walDir, { index: 0n, term: 0n }, { mode: "read" })
      const end = r.tail.offset
      const fd = NFS.openSync(seg, "r+")
      NFS.writeSync(fd, new Uint8Array(512), 0, 512, Math.floor((end - 1) / 512) * 512 - 512)
      NFS.closeSync(fd)
      const after = yield* withLogger(
        root,
        (log) => Effect.map(Stream.runCollect(log.read(1n)), (es) => es.map((e) => dec(e.data)))
      )
      assert.deepStrictEqual(after, ["a", "b"])
      assert.isTrue(NFS.existsSync(`${seg}.broken`))
    }))

  it.effect("a .snap without its WAL snapshot record falls back to the one before", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { snapDir } = dirs(root)
      yield* withLogger(root, (log) =>
        Effect.gen(function*() {
          yield* log.log([text("a"), text("b")])
          yield* Effect.flatMap(log.createSnapshot, (l) => Option.getOrThrow(l).release(true))
          yield* log.log([text("c")])
        }))
      // a crash between writing the .snap and its WAL record leaves an orphan .snap at 3
      yield* Snap.save(snapDir, { index: 3n, term: 0n, confState: emptyCs })
      const [snap, cur, lease] = yield* withLogger(root, (log) =>
        Effect.all([
          log.snapshotIndex,
          log.currentIndex,
          Effect.map(log.createSnapshot, Option.map((l) => l.prevIndex))
        ]))
      assert.deepStrictEqual([snap, cur, lease], [2n, 3n, Option.some(2n)])
      // set aside, so that etcd's Load and go-binlogger's Start (newest .snap) open where binlog did
      const orphan = Snap.snapName(0n, 3n)
      assert.isFalse(NFS.existsSync(Path.join(snapDir, orphan)))
      assert.isTrue(NFS.existsSync(Path.join(snapDir, `.${orphan}.orphan`)))
      assert.deepStrictEqual((yield* Snap.list(snapDir)).map((s) => s.index), [2n])
    }))

  it.effect("status reports how segments are written: O_DSYNC (+ O_DIRECT by default) at syncInterval 0", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const modes = [
        (yield* withLogger(root, (log) => log.status)).io.writeMode,
        (yield* withLogger(root, (log) => log.status, { directIo: false })).io.writeMode,
        (yield* withLogger(root, (log) => log.status, { syncInterval: "5 millis" })).io.writeMode
      ]
      // O_DIRECT needs the native helper and a file system that accepts it (tmpfs does not)
      const direct = canAlign && directSupported(root) ? "direct" : "dsync"
      assert.deepStrictEqual(modes, [direct, "dsync", "buffered"])
      const status = yield* withLogger(root, (log) => log.status)
      assert.strictEqual(status.io.crc32c, Crc32c.implementation)
      // no segment cut yet, so none begun zero-filled (test/SegmentPipeline.test.ts covers zero-fill)
      assert.strictEqual(status.io.zeroFilledSegments, 0)
    }))

  it.effect("a .snap.tmp left by a crash inside Snap.save is removed on start", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { snapDir } = dirs(root)
      yield* withLogger(root, (log) => log.log([text("a")]))
      const tmp = Path.join(snapDir, `${Snap.snapName(0n, 1n)}.tmp`)
      NFS.writeFileSync(tmp, "half a snapshot")
      const cur = yield* withLogger(root, (log) => log.currentIndex)
      assert.strictEqual(cur, 1n)
      assert.isFalse(NFS.existsSync(tmp))
    }))

  it.effect("a group whose marker announces more entries than reached the disk is dropped whole on start", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { walDir } = dirs(root)
      yield* withLogger(root, (log) => log.log([text("a"), text("b")]))
      // simulate a crash in the middle of a group: its marker says "up to 5" but only 3 and 4 reached the disk
      yield* Effect.scoped(Effect.gen(function*() {
        const { writer } = yield* Wal.openForWrite(walDir, { index: 0n, term: 0n })
        yield* writer.save([{ index: 3n, data: text("half-1") }, { index: 4n, data: text("half-2") }], true, 5n)
      }))
      const [cur, next] = yield* withLogger(root, (log) => Effect.all([log.currentIndex, log.log([text("c")])]))
      assert.strictEqual(cur, 2n)
      assert.deepStrictEqual(next, { first: 3n, last: 3n })
      assert.deepStrictEqual(yield* entriesOf(walDir), ["a", "b", "c"])
    }))

  it.effect("entries appended without markers after a complete group (go-binlogger's writer) are kept", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { walDir } = dirs(root)
      yield* withLogger(root, (log) => log.log([text("a"), text("b")]))
      yield* Effect.scoped(Effect.gen(function*() {
        const { writer } = yield* Wal.openForWrite(walDir, { index: 0n, term: 0n })
        yield* writer.save([{ index: 3n, data: text("go-1") }, { index: 4n, data: text("go-2") }], true)
      }))
      const cur = yield* withLogger(root, (log) => log.currentIndex)
      assert.strictEqual(cur, 4n)
      assert.deepStrictEqual(yield* entriesOf(walDir), ["a", "b", "go-1", "go-2"])
    }))

  it.effect("a snapshot record written after the last commit marker survives any number of restarts", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withLogger(
        root,
        (log) =>
          Effect.andThen(
            log.log([text("a"), text("b")]),
            Effect.flatMap(log.createSnapshot, (l) => Option.getOrThrow(l).release(true))
          )
      )
      for (let i = 0; i < 3; i++) {
        const [snap, cur] = yield* withLogger(root, (log) => Effect.all([log.snapshotIndex, log.currentIndex]))
        assert.deepStrictEqual([snap, cur], [2n, 2n])
      }
      const r = yield* Reader.readAll(dirs(root).walDir, { index: 2n, term: 0n }, { mode: "read" })
      assert.strictEqual(r.snapshots.filter((s) => s.index === 2n).length, 1)
    }))

  it.effect("a second writer on the same directory gets WalLocked", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      yield* withLogger(root, () =>
        Effect.gen(function*() {
          const err = yield* Effect.flip(withLogger(root, (log) => log.currentIndex))
          assert.strictEqual(err._tag, "WalLocked")
        }))
    }))

  it.effect("a lock left by a killed process does not block the next start", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { walDir } = dirs(root)
      yield* withLogger(root, (log) => log.log([text("a")]))
      // a pid that cannot be alive (beyond pid_max) wrote the lock and died
      NFS.writeFileSync(Path.join(walDir, LOCK_FILE_NAME), "4194305 12345\n")
      const r = yield* withLogger(root, (log) => log.log([text("b")]))
      assert.deepStrictEqual(r, { first: 2n, last: 2n })
    }))
})

describe("BinLogger: archive", () => {
  it.live("sealed segments are archived (verified) before purge deletes them; read serves archive + live", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const archiveDir = Path.join(root, "archive")
      const { walDir } = dirs(root)
      const opts = { segmentSizeBytes: 1024, archiveDir }
      yield* withLogger(
        root,
        (log) =>
          Effect.gen(function*() {
            for (let i = 0; i < 60; i++) yield* log.log([text(`entry-${i}-${"y".repeat(40)}`)])
            // wait until the archiver has caught up with the cuts
            while ((yield* log.status).archive!.lastSeq < BigInt((yield* log.status).segments.at(-1)!.seq) - 1n) {
              yield* Effect.sleep("5 millis")
            }
            yield* Effect.flatMap(log.createSnapshot, (l) => Option.getOrThrow(l).release(true))
            const status = yield* log.status
            assert.isTrue(status.segments[0]!.firstIndex > 1n, "live segments were purged")
            const all = yield* Stream.runCollect(log.read(1n))
            assert.deepStrictEqual(all.map((e) => e.index), Array.from({ length: 60 }, (_, k) => BigInt(k + 1)))
            assert.strictEqual(dec(all[0]!.data), `entry-0-${"y".repeat(40)}`)
          }),
        opts
      )
      const archived = (yield* Segment.list(archiveDir)).segments
      assert.isTrue(archived.length >= 3)
      assert.strictEqual(archived[0]!.name, "0000000000000000-0000000000000000.wal")
      // the archive is a valid log on its own: one CRC chain from the first segment
      const scan = yield* Reader.scanSegments(archiveDir, archived)
      assert.isTrue(scan.records > 60)
      assert.isTrue(NFS.readdirSync(Path.join(archiveDir, "snap")).length >= 1)
      // after a restart, reads from 1 still work (archive + live)
      const again = yield* withLogger(
        root,
        (log) => Effect.map(Stream.runCollect(log.read(1n)), (es) => es.length),
        opts
      )
      assert.strictEqual(again, 60)
      assert.isFalse((yield* Segment.list(walDir)).segments.some((s) => s.index === 0n))
    }))
})

describe("SegmentPipeline: closing while the next file is being prepared", () => {
  it.live("closing the scope right after take (the next preparation still running) never hangs and leaves no .tmp file", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      for (let round = 0; round < 20; round++) {
        const dir = Path.join(root, `pipe-${round}`)
        NFS.mkdirSync(dir)
        const result = yield* Effect.scoped(Effect.gen(function*() {
          const pipeline = yield* SegmentPipeline.make(dir, 4096)
          const file = yield* pipeline.take // starts preparing the next file in the background
          NFS.closeSync(file.fd)
          NFS.unlinkSync(file.path)
        })).pipe(Effect.timeoutOption("5 seconds"))
        assert.isTrue(Option.isSome(result), `round ${round}: closing the pipeline hung`)
        assert.deepStrictEqual(NFS.readdirSync(dir), [])
      }
    }))
})
