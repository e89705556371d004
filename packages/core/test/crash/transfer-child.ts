// Crash-test child for the event store: appends transfers (a Withdrawn on one account stream and a Deposited on
// another, one atomic appendMany, each stream with its exact expected version) from 8 concurrent fibers until
// killed, printing "ok <transfer id>" after each acknowledged transfer. Small segments and frequent stream-table
// checkpoints make crashes land inside segment cuts and checkpoint writes too.
//
// usage: node transfer-child.ts <root> <seed>
import * as Effect from "effect/Effect"
import * as EventStore from "../../src/EventStore.ts"
import { Deposited, Events, Withdrawn } from "../EventStore.utils.ts"

const [root, seedText] = process.argv.slice(2)
let seed = Number(seedText ?? "1") >>> 0 || 1
const random = () => {
  seed ^= seed << 13
  seed >>>= 0
  seed ^= seed >>> 17
  seed ^= seed << 5
  seed >>>= 0
  return seed / 0x1_0000_0000
}

export const ACCOUNTS = 6

const transfer = (id: string) =>
  Effect.gen(function*() {
    const from = Math.floor(random() * ACCOUNTS)
    const to = (from + 1 + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS
    const a = `account-${from}`
    const b = `account-${to}`
    const amount = 1 + Math.floor(random() * 100)
    const va = yield* EventStore.streamVersion(a)
    const vb = yield* EventStore.streamVersion(b)
    const metadata = { transfer: id }
    yield* EventStore.appendMany(Events, [
      {
        streamId: a,
        expectedVersion: EventStore.ExpectedVersion.exact(va),
        events: [{ event: Withdrawn.make({ amount }), eventId: `${id}/w`, metadata }]
      },
      {
        streamId: b,
        expectedVersion: EventStore.ExpectedVersion.exact(vb),
        events: [{ event: Deposited.make({ amount }), eventId: `${id}/d`, metadata }]
      }
    ])
    process.stdout.write(`ok ${id}\n`)
  }).pipe(Effect.catchTag("WrongExpectedVersion", () => Effect.void))

const program = Effect.gen(function*() {
  process.stdout.write("ready\n")
  yield* Effect.all(
    Array.from({ length: 8 }, (_, f) =>
      Effect.gen(function*() {
        for (let n = 0;; n++) yield* transfer(`${seedText}-${f}-${n}`)
      })),
    { concurrency: "unbounded" }
  )
}).pipe(
  Effect.provide(EventStore.layerWithLog({ root: root!, segmentSizeBytes: 64 * 1024, checkpointEvery: 300 }))
)

Effect.runFork(program)
