// Kill-and-restart cycles for the event store's crash test (used by the vitest suite and by `npm run torture`):
// `transfer-child.ts` appends two-stream transfers until it is killed with SIGKILL; after each kill the store is
// reopened in this process (recovery, stream-table checkpoints and their deltas, the log's tail) and everything is
// checked: no half transfer, no acknowledged transfer lost, stream versions dense, the stream table agreeing with
// the log.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Assert from "node:assert/strict"
import * as ChildProcess from "node:child_process"
import { fileURLToPath } from "node:url"
import * as EventStore from "../../src/EventStore.ts"
import { type Event, Events, withStore } from "../EventStore.utils.ts"

const CHILD = fileURLToPath(new URL("./transfer-child.ts", import.meta.url))

/** Runs the child on `root` and kills it with SIGKILL `delayMs` after it started appending; the acked ids. */
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

/** Reopens the store on `root` and checks it against the acknowledged transfers; the number of transfers. */
const verify = (root: string, acked: ReadonlySet<string>) =>
  withStore(
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
        Assert.strictEqual(list.length, 2, `transfer ${id} is incomplete`)
        Assert.deepStrictEqual(list.map((e) => e.event.type).sort(), ["Deposited", "Withdrawn"])
        Assert.deepStrictEqual(list.map((e) => e.transaction), [{ position: 0, size: 2 }, { position: 1, size: 2 }])
        Assert.strictEqual(list[1]!.index, list[0]!.index + 1n)
      }
      for (const id of acked) Assert.ok(parts.has(id), `acknowledged transfer ${id} was lost`)
      for (const [stream, vs] of versions) {
        Assert.deepStrictEqual(vs, Array.from({ length: vs.length }, (_, i) => i + 1), `versions of ${stream}`)
        Assert.strictEqual(yield* EventStore.streamVersion(stream), BigInt(vs.length))
        const byStream = yield* Stream.runCollect(EventStore.readStream(Events, stream))
        Assert.strictEqual(byStream.length, vs.length)
      }
      return parts.size
    })
  )

/** What {@link runTransferCycles} saw. */
export interface TransferReport {
  readonly cycles: number
  readonly acknowledged: number
  readonly transfers: number
}

/**
 * `cycles` kill-and-restart cycles on `root` (seeds from `seed`), checking the store after each; fails (an
 * `AssertionError` as a defect) on the first violation.
 */
export const runTransferCycles = (root: string, cycles: number, seed = 1) =>
  Effect.gen(function*() {
    const acked = new Set<string>()
    let transfers = 0
    for (let c = 0; c < cycles; c++) {
      for (const id of yield* runChild(root, seed + c, 30 + (((seed + c) * 97) % 300))) acked.add(id)
      const now = yield* verify(root, acked)
      Assert.ok(now >= transfers, `transfers went from ${transfers} to ${now}`)
      transfers = now
    }
    return { cycles, acknowledged: acked.size, transfers } satisfies TransferReport
  })
