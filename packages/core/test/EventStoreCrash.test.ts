import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ChildProcess from "node:child_process"
import { fileURLToPath } from "node:url"
import * as EventStore from "../src/EventStore.ts"
import { type Event, Events, withStore } from "./EventStore.utils.ts"
import { tempDir } from "./utils.ts"

const CHILD = fileURLToPath(new URL("./crash/transfer-child.ts", import.meta.url))
const CYCLES = 8

/** Runs the child on `root`, kills it with SIGKILL 30–330 ms after it started appending; returns the acked ids. */
const runChild = (root: string, seed: number, delayMs: number) =>
  Effect.callback<ReadonlyArray<string>, Error>((resume) => {
    const child = ChildProcess.spawn(process.execPath, [CHILD, root, String(seed)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    const acked: Array<string> = []
    let buffered = ""
    let stderr = ""
    let timer: ReturnType<typeof setTimeout> | undefined
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8")
      const lines = buffered.split("\n")
      buffered = lines.pop() ?? ""
      for (const line of lines) {
        if (line.startsWith("ok ")) acked.push(line.slice(3))
        if (line === "ready" && timer === undefined) timer = setTimeout(() => child.kill("SIGKILL"), delayMs)
      }
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") resume(Effect.succeed(acked))
      else resume(Effect.fail(new Error(`child exited with ${code} before the kill: ${stderr}`)))
    })
  })

describe("EventStore: crash safety", () => {
  it.live(
    "a child killed with SIGKILL mid-run never leaves half a transfer, and stream versions stay dense",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const acked = new Set<string>()
        let transfers = 0
        for (let c = 0; c < CYCLES; c++) {
          for (const id of yield* runChild(root, c + 1, 30 + ((c * 97) % 300))) acked.add(id)
          // restart in-process: recovery + stream table (checkpoint + tail), then check everything
          const report = yield* withStore(
            root,
            Effect.gen(function*() {
              const parts = new Map<string, Array<EventStore.RecordedEvent<Event>>>()
              const versions = new Map<string, Array<number>>()
              yield* EventStore.readAll(Events).pipe(Stream.runForEach((e) =>
                Effect.sync(() => {
                  const id = e.metadata["transfer"]!
                  const list = parts.get(id) ?? []
                  list.push(e)
                  parts.set(id, list)
                  const vs = versions.get(e.streamId) ?? []
                  vs.push(Number(e.streamVersion))
                  versions.set(e.streamId, vs)
                })
              ))
              for (const [id, list] of parts) {
                assert.strictEqual(list.length, 2, `transfer ${id} is incomplete`)
                assert.deepStrictEqual(list.map((e) => e.event.type).sort(), ["Deposited", "Withdrawn"])
                assert.deepStrictEqual(list.map((e) => e.transaction), [{ position: 0, size: 2 }, {
                  position: 1,
                  size: 2
                }])
                assert.strictEqual(list[1]!.index, list[0]!.index + 1n)
              }
              for (const id of acked) assert.isTrue(parts.has(id), `acknowledged transfer ${id} was lost`)
              for (const [stream, vs] of versions) {
                assert.deepStrictEqual(vs, Array.from({ length: vs.length }, (_, i) => i + 1), `versions of ${stream}`)
                assert.strictEqual(yield* EventStore.streamVersion(stream), BigInt(vs.length))
                const byStream = yield* Stream.runCollect(EventStore.readStream(Events, stream))
                assert.strictEqual(byStream.length, vs.length)
              }
              return parts.size
            })
          )
          assert.isAtLeast(report, transfers)
          transfers = report
        }
        assert.isAbove(transfers, 0)
        assert.isAbove(acked.size, 0)
      }),
    { timeout: 60_000 }
  )
})
