/**
 * A scripted session against a running bank service, over real HTTP: open two accounts, deposit, transfer, a
 * rejected overdraft, a version conflict, bad input, reads. Each exchange is printed as it happens and returned
 * with the status the script expects, so callers (the example's `main`, the tests) can check them.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import type { HttpClientError } from "effect/http/HttpClientError"
import * as Result from "effect/Result"

/**
 * One request and its response.
 *
 * @since 0.1.0
 * @category models
 */
export interface Exchange {
  readonly method: "GET" | "POST"
  readonly path: string
  readonly body: unknown
  readonly status: number
  readonly response: unknown
  /** The status the script expects. */
  readonly expected: number
  readonly note: string
}

/**
 * Sends one request and prints it and its response.
 *
 * @since 0.1.0
 * @category requests
 */
export const send = (
  baseUrl: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  headers: Readonly<Record<string, string>> = {}
): Effect.Effect<{ readonly status: number; readonly response: unknown }, HttpClientError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    let request = (method === "GET" ? HttpClientRequest.get : HttpClientRequest.post)(`${baseUrl}${path}`)
    for (const [k, v] of Object.entries(headers)) request = HttpClientRequest.setHeader(request, k, v)
    if (body !== undefined) request = HttpClientRequest.bodyJsonUnsafe(request, body)
    const res = yield* HttpClient.execute(request)
    const text = yield* res.text
    // not JSON (an empty body, a plain-text error): keep the text
    const response = text.length === 0
      ? null
      : Result.getOrElse(Result.try(() => JSON.parse(text) as unknown), () => text)
    return { status: res.status, response }
  })

/**
 * Runs the scripted session against `baseUrl`, printing every exchange.
 *
 * @since 0.1.0
 * @category session
 */
export const run = (
  baseUrl: string,
  options?: { readonly quiet?: boolean | undefined }
): Effect.Effect<ReadonlyArray<Exchange>, HttpClientError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const print = (line: string) => options?.quiet === true ? Effect.void : Console.log(line)
    const out: Array<Exchange> = []
    const step = (
      note: string,
      expected: number,
      method: "GET" | "POST",
      path: string,
      body?: unknown,
      headers?: Readonly<Record<string, string>>
    ) =>
      Effect.gen(function*() {
        yield* print(`\n# ${note}`)
        yield* print(`→ ${method} ${path}${body === undefined ? "" : ` ${JSON.stringify(body)}`}`)
        const { response, status } = yield* send(baseUrl, method, path, body, headers)
        yield* print(`← ${status} ${JSON.stringify(response)}`)
        out.push({ method, path, body, status, response, expected, note })
      })

    yield* step("open Alice's account", 200, "POST", "/accounts/alice", { owner: "Alice" })
    yield* step("open Bob's account", 200, "POST", "/accounts/bob", { owner: "Bob" })
    yield* step("Alice deposits 100.00", 200, "POST", "/accounts/alice/deposits", { amount: 10_000 })
    yield* step(
      "transfer 25.00 from Alice to Bob (one atomic append to both streams)",
      200,
      "POST",
      "/transfers",
      { from: "alice", to: "bob", amount: 2_500 },
      { "idempotency-key": "transfer-1" }
    )
    yield* step(
      "the client retries the same transfer (same idempotency key): acknowledged, not applied twice",
      200,
      "POST",
      "/transfers",
      { from: "alice", to: "bob", amount: 2_500 },
      { "idempotency-key": "transfer-1" }
    )
    yield* step("Bob tries to withdraw 500.00: rejected overdraft (422)", 422, "POST", "/accounts/bob/withdrawals", {
      amount: 50_000
    })
    yield* step(
      "a client still at Alice's version 1 deposits: version conflict (409)",
      409,
      "POST",
      "/accounts/alice/deposits",
      { amount: 100, expectedVersion: 1 }
    )
    yield* step("a negative amount: bad input (400)", 400, "POST", "/accounts/alice/deposits", { amount: -5 })
    yield* step("Alice's account", 200, "GET", "/accounts/alice")
    yield* step("Bob's account", 200, "GET", "/accounts/bob")
    yield* step("Bob's events", 200, "GET", "/accounts/bob/events")
    yield* step("an account nobody opened (404)", 404, "GET", "/accounts/carol")
    return out
  })
