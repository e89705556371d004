// The native helper (native/binlog_native.c) and the O_DIRECT write path must give exactly the bytes of the
// JavaScript code: the CRC, the batch entry encoder, and whole WAL directories written each way.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import { execFileSync } from "node:child_process"
import * as NFS from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Crc32c from "../src/Crc32c.ts"
import { canAlign, FrameEncoder } from "../src/Encoder.ts"
import * as Wal from "../src/Wal.ts"
import { directSupported, readBytes, segmentFiles, tempDir, withoutZeroTail } from "./utils.ts"

const native = Crc32c.implementation !== "javascript"
const property = <A>(arb: fc.Arbitrary<A>, check: (a: A) => void, numRuns = 300) =>
  Effect.sync(() => fc.assert(fc.property(arb, check), { numRuns }))

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")

describe("native helper", () => {
  it("is built and loaded (required with CI set; without it binlog runs its JavaScript code)", () => {
    if (!native && process.env["CI"] === undefined) {
      console.warn(
        "\n*** Native helper NOT loaded: CRC-32C and batch encoding run in JavaScript (slower, same bytes). ***\n" +
          "*** Run `npm install` with python3, make and a C compiler available to build it.            ***\n"
      )
      return
    }
    assert.notStrictEqual(Crc32c.implementation, "javascript", "the native helper must be built in CI")
    assert.isTrue(canAlign)
  })

  it.effect.skipIf(!native)(
    "Crc32c.update gives the JavaScript tables' value for any range and start CRC",
    () =>
      property(
        fc.record({
          bytes: fc.uint8Array({ maxLength: 2000 }),
          prev: fc.integer({ min: 0, max: 0xffffffff }),
          cut: fc.tuple(fc.nat(), fc.nat())
        }),
        ({ bytes, cut, prev }) => {
          const a = bytes.length === 0 ? 0 : cut[0] % (bytes.length + 1)
          const b = bytes.length === 0 ? 0 : cut[1] % (bytes.length + 1)
          const [start, end] = a <= b ? [a, b] : [b, a]
          assert.strictEqual(Crc32c.update(prev, bytes, start, end), Crc32c.updateTable(prev, bytes, start, end))
        }
      )
  )
})

describe("FrameEncoder.entries (one native call per batch)", () => {
  it.effect("writes the frames, sizes and running CRC of one FrameEncoder.entry per payload", () =>
    property(
      fc.record({
        crc: fc.integer({ min: 0, max: 0xffffffff }),
        type: fc.constantFrom(0, 1, 127),
        term: fc.constantFrom(0, 1, 127),
        first: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(2 ** 53 - 40)),
        datas: fc.array(fc.uint8Array({ maxLength: 700 }), { minLength: 0, maxLength: 30 })
      }),
      ({ crc, datas, first, term, type }) => {
        const batch = new FrameEncoder(crc, 16)
        const sizes: Array<number> = []
        batch.entries(type, term, first, datas, sizes)
        const one = new FrameEncoder(crc, 16)
        const expectedSizes: Array<number> = []
        datas.forEach((d, i) => {
          const before = one.size
          one.entry(type, BigInt(term), BigInt(first + i), d)
          expectedSizes.push(one.size - before)
        })
        // the same payloads split into several batches (a group commit's) in one call
        const groups = new FrameEncoder(crc, 16)
        const groupSizes: Array<number> = []
        const cut = Math.floor(datas.length / 3)
        groups.entryBatches(type, term, first, [datas.slice(0, cut), [], datas.slice(cut)], groupSizes)
        assert.strictEqual(batch.crc, one.crc)
        assert.strictEqual(groups.crc, one.crc)
        assert.deepStrictEqual(sizes, expectedSizes)
        assert.deepStrictEqual(groupSizes, expectedSizes)
        const expected = hex(one.take())
        assert.strictEqual(hex(batch.take()), expected)
        assert.strictEqual(hex(groups.take()), expected)
      }
    ))

  it.effect.skipIf(!canAlign)(
    "aligned takes, written at their page starts, rebuild the plain encoder's bytes",
    () =>
      property(
        fc.record({
          startLength: fc.integer({ min: 0, max: 9000 }),
          batches: fc.array(fc.array(fc.uint8Array({ maxLength: 900 }), { maxLength: 12 }), { maxLength: 8 })
        }),
        ({ batches, startLength }) => {
          const ALIGN = 4096
          const file = new Uint8Array(startLength + 200_000 + ALIGN)
          for (let i = 0; i < startLength; i++) file[i] = (i * 7) & 0xff
          const aligned = new FrameEncoder(5, 64, ALIGN)
          const pageStart = Math.floor(startLength / ALIGN) * ALIGN
          aligned.setPrefix(file.slice(pageStart, startLength))
          const plain = new FrameEncoder(5, 64)
          let offset = startLength
          let index = 1
          for (const batch of batches) {
            aligned.entries(0, 0, index, batch, [])
            plain.entries(0, 0, index, batch, [])
            index += batch.length
            const take = aligned.takeAligned()
            const at = offset - take.prefixBytes
            assert.strictEqual(at % ALIGN, 0, "writes start at a page boundary")
            assert.strictEqual(take.bytes.length % ALIGN, 0, "writes are whole pages")
            file.set(take.bytes, at)
            aligned.carryTail()
            const expected = plain.take()
            assert.strictEqual(take.newBytes, expected.length)
            assert.strictEqual(hex(file.subarray(offset, offset + expected.length)), hex(expected))
            offset += expected.length
            assert.isTrue(file.subarray(offset, at + take.bytes.length).every((b) => b === 0), "zero padding")
          }
          for (let i = 0; i < startLength; i++) assert.strictEqual(file[i], (i * 7) & 0xff, "old bytes unchanged")
        },
        100
      )
  )
})

/** Random batches of payloads, the same for every writer in a test. */
const batchesOf = (seed: number, groups: number): Array<Array<Uint8Array>> => {
  let x = seed
  const next = () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
  return Array.from({ length: groups }, () =>
    Array.from({ length: 1 + (next() % 40) }, () => {
      const d = new Uint8Array(next() % 600)
      for (let i = 0; i < d.length; i++) d[i] = next() & 0xff
      return d
    }))
}

/** Writes `groups` into a new WAL in `dir`, closes it, reopens it and writes them again; small segments. */
const writeWal = (dir: string, groups: ReadonlyArray<ReadonlyArray<Uint8Array>>, direct: boolean) =>
  Effect.gen(function*() {
    const options = { segmentSizeBytes: 20_000, dsync: true, direct }
    const modes: Array<string> = []
    let next = 1n
    const writeAll = (writer: Wal.WalWriter) =>
      Effect.gen(function*() {
        for (const g of groups) {
          yield* writer.saveBatches(next, [g], true, next + BigInt(g.length) - 1n)
          next += BigInt(g.length)
        }
      })
    yield* Effect.scoped(Effect.gen(function*() {
      const writer = yield* Wal.create(dir, options)
      modes.push(writer.writeMode)
      yield* writeAll(writer)
    }))
    yield* Effect.scoped(Effect.gen(function*() {
      const { writer } = yield* Wal.openForWrite(dir, { index: 0n, term: 0n }, options)
      modes.push(writer.writeMode)
      yield* writeAll(writer)
      yield* writer.saveSnapshot({ index: next - 1n, term: 0n })
    }))
    return modes
  })

/**
 * Each segment's bytes; the last one without its zero tail (preallocation, and the page padding of O_DIRECT writes,
 * leave zeros after the log's end there, which the format treats as the end).
 */
const dirBytes = (dir: string): Record<string, string> => {
  const files = segmentFiles(dir)
  return Object.fromEntries(files.map((f, i) => {
    const bytes = readBytes(Path.join(dir, f))
    return [f, hex(i === files.length - 1 ? withoutZeroTail(bytes) : bytes)]
  }))
}

describe("Wal: O_DIRECT writes", () => {
  it.live("a WAL written with O_DIRECT (cuts and a reopen included) is byte-identical to one written without", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      if (!canAlign || !directSupported(root)) {
        if (process.env["CI"] !== undefined) assert.fail(`CI is set but O_DIRECT writes cannot be tested in ${root}`)
        console.warn(
          `\n*** O_DIRECT not available (native helper: ${canAlign}, ${root}): direct writes NOT tested ***\n`
        )
        return
      }
      const groups = batchesOf(7, 60)
      const withDirect = yield* writeWal(Path.join(root, "direct"), groups, true)
      const without = yield* writeWal(Path.join(root, "plain"), groups, false)
      assert.deepStrictEqual(withDirect, ["direct", "direct"])
      assert.deepStrictEqual(without, ["dsync", "dsync"])
      const a = dirBytes(Path.join(root, "direct"))
      const b = dirBytes(Path.join(root, "plain"))
      assert.isAbove(Object.keys(a).length, 3, "several segments")
      assert.deepStrictEqual(a, b)
    }))

  it.live("the JavaScript code (BINLOG_NATIVE=0, in a child process) writes the same WAL as the native helper", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const groups = batchesOf(11, 40)
      const modes = yield* writeWal(Path.join(root, "native"), groups, true)
      const walModule = fileURLToPath(new URL("../src/Wal.ts", import.meta.url))
      const script = `
        import * as Effect from "effect/Effect"
        import * as Wal from ${JSON.stringify(walModule)}
        import * as Crc32c from ${JSON.stringify(walModule.replace(/Wal\.ts$/, "Crc32c.ts"))}
        if (Crc32c.implementation !== "javascript") throw new Error("BINLOG_NATIVE=0 ignored")
        const { readFileSync } = await import("node:fs")
        const groups = JSON.parse(readFileSync(process.argv[1], "utf8")).map((g) => g.map((d) => Uint8Array.from(Buffer.from(d, "base64"))))
        const dir = process.argv[2]
        const options = { segmentSizeBytes: 20_000, dsync: true }
        let next = 1n
        const writeAll = (writer) => Effect.gen(function*() {
          for (const g of groups) {
            yield* writer.saveBatches(next, [g], true, next + BigInt(g.length) - 1n)
            next += BigInt(g.length)
          }
        })
        await Effect.runPromise(Effect.scoped(Effect.flatMap(Wal.create(dir, options), writeAll)))
        await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
          const { writer } = yield* Wal.openForWrite(dir, { index: 0n, term: 0n }, options)
          yield* writeAll(writer)
          yield* writer.saveSnapshot({ index: next - 1n, term: 0n })
        })))
        console.log("ok")
      `
      const groupsFile = Path.join(root, "groups.json")
      NFS.writeFileSync(groupsFile, JSON.stringify(groups.map((g) => g.map((d) => Buffer.from(d).toString("base64")))))
      const out = execFileSync(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          script,
          groupsFile,
          Path.join(root, "js")
        ],
        { cwd: Path.dirname(walModule), env: { ...process.env, BINLOG_NATIVE: "0" }, encoding: "utf8" }
      )
      assert.strictEqual(out.trim(), "ok")
      const expected = canAlign && directSupported(root) ? "direct" : "dsync"
      assert.deepStrictEqual(modes, [expected, expected])
      assert.deepStrictEqual(dirBytes(Path.join(root, "js")), dirBytes(Path.join(root, "native")))
    }))
})
