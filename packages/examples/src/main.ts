/**
 * `npm run example`: the event-sourced bank service. Starts it on a free localhost port over a temporary WAL, runs a
 * scripted session of HTTP requests against it (open two accounts, deposit, transfer, a retried transfer, a
 * rejected overdraft, a version conflict, bad input, reads), prints each request and response, checks every status
 * is the expected one, and exits 0 (1 if any status differs). The temporary directory is removed afterwards.
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { FetchHttpClient } from "effect/http"
import * as Layer from "effect/Layer"
import * as FS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import * as Server from "./bank/server.ts"
import * as Session from "./bank/session.ts"

const program = Effect.gen(function*() {
  const root = yield* Effect.acquireRelease(
    Effect.sync(() => FS.mkdtempSync(Path.join(OS.tmpdir(), "binlog-bank-"))),
    (dir) => Effect.sync(() => FS.rmSync(dir, { recursive: true, force: true }))
  )
  const exchanges = yield* Effect.gen(function*() {
    const url = yield* Server.baseUrl
    yield* Console.log(`bank service listening on ${url} (WAL in ${root}/wal)`)
    return yield* Session.run(url)
  }).pipe(Effect.provide(Layer.mergeAll(Server.layer({ root, port: 0 }), FetchHttpClient.layer)))
  const wrong = exchanges.filter((e) => e.status !== e.expected)
  yield* Console.log(
    `\n${exchanges.length} requests, ${exchanges.length - wrong.length} with the expected status` +
      (wrong.length > 0 ? `; unexpected: ${wrong.map((e) => `${e.method} ${e.path} → ${e.status}`).join(", ")}` : "")
  )
  if (wrong.length > 0) return yield* Effect.die(new Error("the session did not go as scripted"))
})

program.pipe(Effect.scoped, NodeRuntime.runMain)
