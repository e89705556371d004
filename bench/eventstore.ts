/**
 * Event-store benchmarks (a row module for `bench/run.ts`; also runnable alone:
 * `node_modules/.bin/node bench/eventstore.ts [--quick]`, which prints its rows).
 *
 * 1. **Command handling, 64 clients**: 64 concurrent clients, each on its own stream, each running commands one
 *    after the other through a `CommandHandler` (load from its state cache, decide, append one event with the exact
 *    expected version), `syncInterval` 0 (every acknowledged command is fdatasynced). Peer, in the same run: the
 *    same 64-client workload through Emmett's PostgreSQL event store (`appendToStream` with
 *    `expectedStreamVersion`, the state kept in memory by each client — Emmett's best case) on a throwaway local
 *    PostgreSQL with default durability (`fsync=on`, `synchronous_commit=on`). Target: ≥ 50,000 commands/s and
 *    ≥ 20× Emmett.
 * 2. **readStream latency**: one stream of 10,000 events among 1,000,000 (100 streams written interleaved, one
 *    event per stream per batch), read whole and decoded through its `EventType`; warm (median of 5) and cold
 *    (first read after a restart, which also builds the per-segment offset index). Peer: Emmett's `readStream` of
 *    the same layout. Absolute target: < 50 ms.
 * 3. Informational: the store's restart time on that log (checkpoint + tail), and memory per event of the stream
 *    table and of the positional reader's offset index.
 *
 * `--quick` shrinks everything (100,000 events, 1 s rounds): a smoke run, not figures to quote.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as CommandHandler from "../packages/core/src/CommandHandler.ts"
import * as Decider from "../packages/core/src/Decider.ts"
import * as EventStore from "../packages/core/src/EventStore.ts"
import * as EventType from "../packages/core/src/EventType.ts"
import * as Metrics from "../packages/core/src/Metrics.ts"
import { startPostgres } from "./internal/postgres.ts"
import type { BenchContext, Row } from "./internal/types.ts"
import { costRow, errorRow, median, rateRow } from "./internal/types.ts"

const CLIENTS = 64
const TARGET_COMMANDS_PER_SECOND = 50_000
const TARGET_RATIO_VS_EMMETT = 20
const READ_TARGET_MS = 50
const PEER = "Emmett 0.42.0 (@event-driven-io/emmett-postgresql) on PostgreSQL"

// --- the domain: a counter-like account ---

const Deposited = EventType.make("Deposited", Schema.Struct({ amount: Schema.Int, note: Schema.String }))
const Events = EventType.registry(Deposited)
type Event = EventType.EventOf<typeof Deposited>
type Command = { readonly amount: number }
const NOTE = "x".repeat(64)

const decider: Decider.Decider<Command, Event, number, never> = {
  initialState: () => 0,
  decide: (c) => Decider.accept(Deposited.make({ amount: c.amount, note: NOTE })),
  evolve: (s, e) => s + e.data.amount
}

const withStore = <A, E>(root: string, f: Effect.Effect<A, E, EventStore.EventStore | Scope.Scope>) =>
  Effect.runPromise(
    Effect.scoped(f.pipe(Effect.provide(Layer.fresh(EventStore.layerWithLog({ root, syncInterval: 0 })))))
  )

/** Runs `client(i)` in a loop on 64 fibers for `seconds`; returns completed iterations per second. */
const drive = <E>(
  seconds: number,
  client: (i: number) => Effect.Effect<unknown, E, EventStore.EventStore>
): Effect.Effect<number, E, EventStore.EventStore> =>
  Effect.gen(function*() {
    let done = 0
    let stop = false
    const started = performance.now()
    const deadline = started + seconds * 1000
    yield* Effect.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        Effect.gen(function*() {
          while (!stop) {
            yield* client(i)
            done++
            if (performance.now() >= deadline) stop = true
          }
        })),
      { concurrency: "unbounded" }
    )
    return done / ((performance.now() - started) / 1000)
  })

// --- 1. command handling ---

const oursCommands = async (ctx: BenchContext, rounds: number, seconds: number) => {
  const root = NFS.mkdtempSync(Path.join(ctx.tmpRoot, "es-cmd-"))
  try {
    return await withStore(
      root,
      Effect.gen(function*() {
        const handler = CommandHandler.make({ decider, registry: Events, cache: { capacity: 10_000 } })
        const client = (i: number) => handler.handle(`account-${i}`, { amount: 1 })
        yield* drive(Math.min(1, seconds), client) // warm-up
        const rates: Array<number> = []
        const cpuUs: Array<number> = []
        const groupSizes: Array<number> = []
        const commitMs: Array<number> = []
        for (let r = 0; r < rounds; r++) {
          const groupsBefore = yield* Metric.value(Metrics.groupSize)
          const commitsBefore = yield* Metric.value(Metrics.commitLatency)
          const before = process.cpuUsage()
          const rate = yield* drive(seconds, client)
          const used = process.cpuUsage(before)
          const groups = yield* Metric.value(Metrics.groupSize)
          const commits = yield* Metric.value(Metrics.commitLatency)
          rates.push(rate)
          cpuUs.push((used.user + used.system) / (rate * seconds))
          groupSizes.push((groups.sum - groupsBefore.sum) / Math.max(1, groups.count - groupsBefore.count))
          commitMs.push((commits.sum - commitsBefore.sum) / Math.max(1, commits.count - commitsBefore.count))
        }
        const stats = yield* (yield* EventStore.EventStore).stats
        return { rates, cpuUs, groupSizes, commitMs, events: stats.events }
      })
    )
  } finally {
    NFS.rmSync(root, { recursive: true, force: true })
  }
}

interface EmmettStore {
  appendToStream(
    stream: string,
    events: Array<{ type: string; data: Record<string, unknown> }>,
    options?: { expectedStreamVersion?: bigint }
  ): Promise<{ nextExpectedStreamVersion: bigint }>
  readStream(stream: string): Promise<{ events: Array<unknown>; currentStreamVersion: bigint }>
  close(): Promise<void>
}

const emmettStore = async (url: string): Promise<EmmettStore> => {
  const mod = await import("@event-driven-io/emmett-postgresql")
  return mod.getPostgreSQLEventStore(url) as unknown as EmmettStore
}

const emmettCommands = async (store: EmmettStore, seconds: number) => {
  const versions = Array.from({ length: CLIENTS }, () => 0n)
  const states = Array.from({ length: CLIENTS }, () => 0)
  let done = 0
  let stop = false
  const client = async (i: number) => {
    while (!stop) {
      // decide in memory, append with the expected version
      const event = { type: "Deposited", data: { amount: 1, note: NOTE } }
      const r = await store.appendToStream(`account-${i}`, [event], { expectedStreamVersion: versions[i]! })
      versions[i] = r.nextExpectedStreamVersion
      states[i] = states[i]! + 1
      done++
    }
  }
  const started = performance.now()
  const timer = setTimeout(() => (stop = true), seconds * 1000)
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)))
  clearTimeout(timer)
  return done / ((performance.now() - started) / 1000)
}

// --- 2. reads ---

const STREAMS = 100

const oursReads = async (ctx: BenchContext, total: number) => {
  const root = NFS.mkdtempSync(Path.join(ctx.tmpRoot, "es-read-"))
  const perStream = total / STREAMS
  try {
    const writeStarted = performance.now()
    await withStore(
      root,
      Effect.gen(function*() {
        // 8 writers, each batch = one event for each of the 100 streams (so a stream's events are 100 apart)
        const batches = perStream
        let next = 0
        yield* Effect.all(
          Array.from({ length: 8 }, () =>
            Effect.gen(function*() {
              while (next < batches) {
                next++
                yield* EventStore.appendMany(
                  Events,
                  Array.from({ length: STREAMS }, (_, s) => ({
                    streamId: `stream-${s}`,
                    expectedVersion: EventStore.ExpectedVersion.any,
                    events: [Deposited.make({ amount: s, note: NOTE })]
                  }))
                )
              }
            })),
          { concurrency: "unbounded" }
        )
      })
    )
    const writeSeconds = (performance.now() - writeStarted) / 1000
    const target = "stream-42"
    const readOnce = Effect.gen(function*() {
      const t = performance.now()
      const n = yield* Stream.runCount(EventStore.readStream(Events, target))
      if (n !== perStream) return yield* Effect.die(new Error(`read ${n} events, expected ${perStream}`))
      return performance.now() - t
    })
    const restartStarted = performance.now()
    return await withStore(
      root,
      Effect.gen(function*() {
        const restartMs = performance.now() - restartStarted
        const cold = yield* readOnce
        const warm: Array<number> = []
        for (let i = 0; i < 5; i++) warm.push(yield* readOnce)
        const stats = yield* (yield* EventStore.EventStore).stats
        return { cold, warm, restartMs, writeSeconds, stats }
      })
    )
  } finally {
    NFS.rmSync(root, { recursive: true, force: true })
  }
}

const EMMETT_BULK_EVENTS = 100

const emmettReads = async (store: EmmettStore, total: number, log: (l: string) => void) => {
  const perStream = total / STREAMS
  const started = performance.now()
  // bulk-load: 10 writers, each owning 10 streams (Emmett rejects concurrent appends to one stream), appending
  // EMMETT_BULK_EVENTS events per call round-robin over its streams (one event per call would take minutes)
  const WRITERS = 10
  let written = 0
  const writer = async (w: number) => {
    const mine = Array.from({ length: STREAMS / WRITERS }, (_, k) => w + k * WRITERS)
    for (let round = 0; round < perStream / EMMETT_BULK_EVENTS; round++) {
      for (const s of mine) {
        const events = Array.from({ length: EMMETT_BULK_EVENTS }, () => ({
          type: "Deposited",
          data: { amount: s, note: NOTE }
        }))
        await store.appendToStream(`stream-${s}`, events)
        written += EMMETT_BULK_EVENTS
        if (written % 100_000 === 0) log(`  emmett: ${written} events written`)
      }
    }
  }
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)))
  const writeSeconds = (performance.now() - started) / 1000
  const readOnce = async () => {
    const t = performance.now()
    const r = await store.readStream("stream-42")
    if (r.events.length !== perStream) throw new Error(`emmett read ${r.events.length} events, expected ${perStream}`)
    return performance.now() - t
  }
  const cold = await readOnce()
  const warm: Array<number> = []
  for (let i = 0; i < 5; i++) warm.push(await readOnce())
  return { cold, warm, writeSeconds }
}

// --- the module ---

/**
 * The rows (see the module header).
 *
 * @since 0.1.0
 */
export const run = async (ctx: BenchContext): Promise<ReadonlyArray<Row>> => {
  const rounds = ctx.quick ? 1 : 3
  const seconds = ctx.quick ? 1 : 3
  const total = ctx.quick ? 100_000 : 1_000_000
  const rows: Array<Row> = []

  ctx.log(`eventstore: command handling, ${CLIENTS} clients, ${rounds} × ${seconds} s`)
  const ours = await oursCommands(ctx, rounds, seconds)
  const oursRate = median(ours.rates)
  const cpuPerCommand = median(ours.cpuUs)
  const groupSize = median(ours.groupSizes)
  const commitMs = median(ours.commitMs)
  ctx.log(
    `eventstore: ours ${Math.round(oursRate)} commands/s (rounds ${ours.rates.map(Math.round).join(", ")}), ` +
      `${cpuPerCommand.toFixed(1)} µs CPU per command (this process, all threads), ` +
      `${groupSize.toFixed(1)} commands per group commit, ${commitMs.toFixed(3)} ms per group write + fdatasync`
  )

  ctx.log(`eventstore: reads, ${total} events in ${STREAMS} streams`)
  const reads = await oursReads(ctx, total)
  const warm = median(reads.warm)
  ctx.log(`eventstore: ours readStream warm ${warm.toFixed(1)} ms, cold ${reads.cold.toFixed(1)} ms`)

  let pg: Awaited<ReturnType<typeof startPostgres>>
  try {
    pg = await startPostgres({ baseDir: ctx.tmpRoot })
  } catch (e) {
    pg = undefined
    rows.push(errorRow("eventstore: PostgreSQL did not start", PEER, e))
  }
  let emmettRate: number | undefined
  let emmettRead: Awaited<ReturnType<typeof emmettReads>> | undefined
  if (pg === undefined) {
    ctx.log("eventstore: !!! no PostgreSQL server binaries: the Emmett peer is skipped")
  } else {
    try {
      const store = await emmettStore(pg.url)
      try {
        await store.appendToStream("warm-up", [{ type: "Deposited", data: { amount: 0, note: NOTE } }])
        ctx.log(`eventstore: Emmett command workload (${pg.version})`)
        emmettRate = await emmettCommands(store, ctx.quick ? 2 : 5)
        ctx.log(`eventstore: Emmett ${Math.round(emmettRate)} appends/s`)
        ctx.log(`eventstore: Emmett bulk load of ${total} events for the read row`)
        emmettRead = await emmettReads(store, total, ctx.log)
        ctx.log(`eventstore: Emmett readStream warm ${median(emmettRead.warm).toFixed(1)} ms`)
      } finally {
        await store.close()
      }
    } catch (e) {
      rows.push(errorRow("eventstore: Emmett peer failed", PEER, e))
    } finally {
      pg.stop()
    }
  }

  const peerName = pg === undefined ? "" : `${PEER} ${pg.version.replace(/^postgres \(PostgreSQL\) /, "")}`
  const cmdName = `command handling (load + decide + append, expected version), ${CLIENTS} clients, syncInterval 0`
  const cmdNote =
    `ours: CommandHandler with a state cache, one event per command, every ack fdatasynced; Emmett: appendToStream ` +
    `with expectedStreamVersion, state in memory; also absolute target ≥ ${TARGET_COMMANDS_PER_SECOND} commands/s ` +
    `(${oursRate >= TARGET_COMMANDS_PER_SECOND ? "met" : "NOT met"}); ours used ${cpuPerCommand.toFixed(1)} µs CPU ` +
    `per command (CPU-bound: 64 clients wait for each group's fdatasync, so every group's CPU work and its sync ` +
    `are serial: ${groupSize.toFixed(1)} commands per group, ${commitMs.toFixed(3)} ms per group write + ` +
    `fdatasync; 1-min load average at the end: ${OS.loadavg()[0]!.toFixed(1)})`
  if (emmettRate !== undefined) {
    const row = rateRow({
      name: cmdName,
      unit: "commands/s",
      ours: oursRate,
      peer: emmettRate,
      peerName,
      target: TARGET_RATIO_VS_EMMETT,
      note: cmdNote,
      details: {
        oursRounds: ours.rates,
        oursCpuMicrosPerCommand: ours.cpuUs,
        oursCommandsPerGroup: ours.groupSizes,
        oursGroupCommitMs: ours.commitMs,
        seconds,
        rounds
      }
    })
    rows.push({ ...row, met: row.met === true && oursRate >= TARGET_COMMANDS_PER_SECOND })
  } else {
    rows.push({
      name: cmdName,
      unit: "commands/s",
      ours: oursRate,
      peer: null,
      peerName: "",
      ratio: null,
      target: null,
      met: oursRate >= TARGET_COMMANDS_PER_SECOND,
      note: cmdNote
    })
  }

  const readName = `readStream of a ${total / STREAMS}-event stream among ${total} (warm, median of 5)`
  const readNote = `absolute target < ${READ_TARGET_MS} ms (${warm < READ_TARGET_MS ? "met" : "NOT met"}); ` +
    `cold (first read after restart, builds the offset index): ${reads.cold.toFixed(1)} ms`
  if (emmettRead !== undefined) {
    const row = costRow({
      name: readName,
      unit: "ms",
      ours: warm,
      peer: median(emmettRead.warm),
      peerName,
      target: null,
      note: readNote,
      details: { ours: reads.warm, oursCold: reads.cold, emmett: emmettRead.warm, emmettCold: emmettRead.cold }
    })
    rows.push({ ...row, met: warm < READ_TARGET_MS })
  } else {
    rows.push({
      name: readName,
      unit: "ms",
      ours: warm,
      peer: null,
      peerName: "",
      ratio: null,
      target: null,
      met: warm < READ_TARGET_MS,
      note: readNote
    })
  }
  const info = (name: string, unit: string, ours: number, peer: number | null, note: string): Row => ({
    name,
    unit,
    ours,
    peer,
    peerName: peer === null ? "" : peerName,
    ratio: peer === null || ours === 0 ? null : peer / ours,
    target: null,
    met: null,
    note
  })
  rows.push(
    info(
      `bulk load of ${total} events (100 streams interleaved)`,
      "s",
      reads.writeSeconds,
      emmettRead?.writeSeconds ?? null,
      `ours: 8 writers × appendMany of one event to each of the 100 streams; Emmett: 10 writers × appendToStream of ${EMMETT_BULK_EVENTS} events to one stream`
    )
  )
  rows.push(
    info(
      `store restart on ${total} events (stream-table checkpoint + tail)`,
      "ms",
      reads.restartMs,
      null,
      "log recovery + checkpoint load + tail replay"
    )
  )
  rows.push(
    info(
      "stream table: bytes per event",
      "B",
      reads.stats.streamIndexBytes / Math.max(1, reads.stats.events),
      null,
      `${reads.stats.streams} streams, ${reads.stats.events} events (Float64Array per stream, doubling)`
    )
  )
  rows.push(
    info(
      "positional reader: bytes per indexed entry",
      "B",
      reads.stats.entryIndexBytes / Math.max(1, total),
      null,
      "offset + CRC per entry (Uint32Array × 2), built lazily per segment"
    )
  )
  return rows
}

const isMain = process.argv[1] !== undefined && Path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  const repoRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
  const { makeTmpRoot } = await import("./internal/machine.ts")
  const tmpRoot = makeTmpRoot(repoRoot)
  try {
    const rows = await run({
      quick: process.argv.includes("--quick"),
      tmpRoot,
      repoRoot,
      log: (line) => process.stderr.write(`${line}\n`)
    })
    for (const r of rows) console.log(JSON.stringify(r))
  } finally {
    NFS.rmSync(tmpRoot, { recursive: true, force: true })
  }
}
