import { assert, describe, it } from "@effect/vitest"
import * as FSP from "node:fs/promises"
import * as OS from "node:os"
import * as Path from "node:path"
import * as BinLoggerClient from "../src/BinLoggerClient.ts"

const text = (s: string) => new TextEncoder().encode(s)

describe("BinLoggerClient (Promise API)", () => {
  it("start, log, createSnapshot, release, close, and a restart continues", async () => {
    const root = await FSP.mkdtemp(Path.join(OS.tmpdir(), "binlog-client-"))
    try {
      const opts = { walDir: Path.join(root, "wal"), snapDir: Path.join(root, "snap") }
      const log = await BinLoggerClient.start(opts)
      assert.deepStrictEqual(await log.log([text("a"), text("b")]), { first: 1n, last: 2n })
      const snap = await log.createSnapshot()
      assert.deepStrictEqual([snap?.prevIndex, snap?.currentIndex, snap?.entries.length], [0n, 2n, 2])
      await snap?.release()
      assert.strictEqual(await log.createSnapshot(), undefined)
      await log.close()
      const again = await BinLoggerClient.start(opts)
      assert.deepStrictEqual(await again.log([text("c")]), { first: 3n, last: 3n })
      await again.close()
    } finally {
      await FSP.rm(root, { recursive: true, force: true })
    }
  })

  it("typed errors reject with their _tag (IndexOverflow-style checks)", async () => {
    const root = await FSP.mkdtemp(Path.join(OS.tmpdir(), "binlog-client-"))
    try {
      const log = await BinLoggerClient.start({ walDir: Path.join(root, "wal"), snapDir: Path.join(root, "snap") })
      const err = await log.log([]).then(() => undefined, (e: { _tag: string }) => e)
      assert.strictEqual(err?._tag, "EmptyBatch")
      const locked = await BinLoggerClient.start({ walDir: Path.join(root, "wal"), snapDir: Path.join(root, "snap") })
        .then(() => undefined, (e: { _tag: string }) => e)
      assert.strictEqual(locked?._tag, "WalLocked")
      await log.close()
    } finally {
      await FSP.rm(root, { recursive: true, force: true })
    }
  })
})
