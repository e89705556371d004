/**
 * Aggregate snapshots: the folded state of a long stream, saved with the stream version and global index it covers,
 * so loading folds only the tail. They live in their own directory beside the WAL (never inside it: the WAL's
 * `.snap` files belong to the log and carry no data).
 *
 * - **Layout**: `dir/<name>/<sha256(streamId) as hex>.snap`, one file per stream, replaced atomically (temp file,
 *   fsync, rename, fsync dir) on each save. `name` is the aggregate type (one directory per decider).
 * - **File format** (version 1): protobuf message followed by the CRC-32C (u32 little endian) of its bytes:
 *   `format (1, uint32) = 1`, `state_version (2, uint32)`, `stream_id (3, string)`, `stream_version (4, uint64)`,
 *   `index (5, uint64)`, `state (6, bytes: UTF-8 JSON of the state schema's canonical JSON codec)`.
 * - **Versioning**: the state schema has a version. A snapshot written with another version, of another stream,
 *   with a bad CRC or that fails to decode is ignored (logged) — the state is rebuilt from the events and the next
 *   save replaces it. A snapshot beyond the log's end (written for entries a machine crash took back) is ignored too.
 *
 * Saving is a cache fill: {@link CommandHandler} saves every N events (or on demand), and a failed save only logs.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as NCrypto from "node:crypto"
import protobuf from "protobufjs"
import * as Crc32c from "./Crc32c.ts"
import * as Fsx from "./internal/fsx.ts"
import type { WalIoError } from "./WalError.ts"

const { Reader, Writer } = protobuf

/**
 * Snapshot file format version.
 *
 * @since 0.1.0
 * @category constants
 */
export const FORMAT_VERSION = 1

/**
 * A saved state.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot<S> {
  readonly state: S
  /** The stream version the state includes (events 1..streamVersion). */
  readonly streamVersion: bigint
  /** The global index of the stream's event at `streamVersion`. */
  readonly index: bigint
}

/**
 * Options of a snapshot store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<S> {
  /** Root directory of aggregate snapshots (created if missing). */
  readonly dir: string
  /** The aggregate type: snapshots go to `dir/name`. */
  readonly name: string
  /** The state schema (encoded through its canonical JSON codec). */
  readonly schema: Schema.Codec<S, unknown>
  /** The state schema's version: bump it whenever the state's shape or meaning changes. */
  readonly version: number
}

/**
 * A snapshot store for one aggregate type.
 *
 * @since 0.1.0
 * @category models
 */
export interface AggregateSnapshots<S> {
  readonly name: string
  readonly version: number
  /** The newest valid snapshot of a stream, if any. */
  readonly load: (streamId: string) => Effect.Effect<Option.Option<Snapshot<S>>>
  /** Saves (replaces) a stream's snapshot. */
  readonly save: (streamId: string, snapshot: Snapshot<S>) => Effect.Effect<void, WalIoError | SnapshotEncodeError>
  /** Deletes a stream's snapshot. */
  readonly remove: (streamId: string) => Effect.Effect<void, WalIoError>
}

/**
 * A state could not be encoded with the state schema (nothing was saved).
 *
 * @since 0.1.0
 * @category errors
 */
export class SnapshotEncodeError extends Schema.TaggedError<SnapshotEncodeError>()("SnapshotEncodeError", {
  name: Schema.String,
  streamId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot encode the ${this.name} snapshot of ${this.streamId}: ${this.reason}`
  }
}

const VARINT = 0
const LEN = 2
const tag = (f: number, w: number) => (f << 3) | w
const u64 = (v: bigint): number | string => v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()
const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder("utf-8", { fatal: true })

/**
 * The file name of a stream's snapshot.
 *
 * @since 0.1.0
 * @category naming
 */
export const fileName = (streamId: string): string =>
  `${NCrypto.createHash("sha256").update(streamId).digest("hex")}.snap`

interface Parsed {
  readonly format: number
  readonly stateVersion: number
  readonly streamId: string
  readonly streamVersion: bigint
  readonly index: bigint
  readonly state: Uint8Array
}

const parse = (bytes: Uint8Array): Parsed => {
  if (bytes.length < 4) throw new Error("too short")
  const body = bytes.subarray(0, bytes.length - 4)
  const crc = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(body.length, true)
  if (Crc32c.checksum(body) !== crc) throw new Error("CRC mismatch")
  const r = Reader.create(body)
  let format = 0
  let stateVersion = 0
  let streamId = ""
  let streamVersion = 0n
  let index = 0n
  let state: Uint8Array = new Uint8Array(0)
  while (r.pos < r.len) {
    const t = r.uint32()
    switch (t >>> 3) {
      case 1:
        format = r.uint32()
        break
      case 2:
        stateVersion = r.uint32()
        break
      case 3:
        streamId = r.string()
        break
      case 4:
        streamVersion = BigInt(r.uint64().toString())
        break
      case 5:
        index = BigInt(r.uint64().toString())
        break
      case 6:
        state = r.bytes()
        break
      default:
        r.skipType(t & 7)
    }
  }
  return { format, stateVersion, streamId, streamVersion, index, state }
}

/**
 * Opens (creates) the snapshot store of one aggregate type.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S>(options: Options<S>): Effect.Effect<AggregateSnapshots<S>, WalIoError> =>
  Effect.gen(function*() {
    const dir = `${options.dir}/${options.name}`
    yield* Fsx.mkdirp(dir)
    const json = Schema.toCodecJson(options.schema)
    const encodeState = Schema.encodeUnknownResult(json)
    const decodeState = Schema.decodeUnknownResult(json)

    const load = (streamId: string): Effect.Effect<Option.Option<Snapshot<S>>> =>
      Effect.gen(function*() {
        const path = `${dir}/${fileName(streamId)}`
        if (!(yield* Fsx.exists(path))) return Option.none()
        const bytes = yield* Fsx.readFile(path).pipe(Effect.option)
        if (Option.isNone(bytes)) return Option.none()
        const ignore = (why: string) =>
          Effect.as(
            Effect.logWarning(`AggregateSnapshots(${options.name}): ignoring the snapshot of ${streamId}: ${why}`),
            Option.none<Snapshot<S>>()
          )
        const parsed = Result.try(() => parse(bytes.value))
        if (Result.isFailure(parsed)) return yield* ignore(String(parsed.failure))
        const p = parsed.success
        if (p.format !== FORMAT_VERSION) return yield* ignore(`file format ${p.format}`)
        if (p.stateVersion !== options.version) {
          return yield* ignore(`written with state version ${p.stateVersion}, this reader has ${options.version}`)
        }
        if (p.streamId !== streamId) return yield* ignore(`it belongs to stream ${p.streamId}`)
        const value = Result.try(() => JSON.parse(utf8Decoder.decode(p.state)) as unknown)
        if (Result.isFailure(value)) return yield* ignore(`state is not JSON: ${String(value.failure)}`)
        const state = decodeState(value.success)
        if (Result.isFailure(state)) return yield* ignore(state.failure.message)
        return Option.some({ state: state.success, streamVersion: p.streamVersion, index: p.index })
      }).pipe(Effect.withSpan("AggregateSnapshots.load", { attributes: { name: options.name } }))

    const save = (streamId: string, snapshot: Snapshot<S>): Effect.Effect<void, WalIoError | SnapshotEncodeError> =>
      Effect.gen(function*() {
        const encoded = encodeState(snapshot.state)
        if (Result.isFailure(encoded)) {
          return yield* new SnapshotEncodeError({ name: options.name, streamId, reason: encoded.failure.message })
        }
        const w = Writer.create()
        w.uint32(tag(1, VARINT)).uint32(FORMAT_VERSION)
        w.uint32(tag(2, VARINT)).uint32(options.version)
        w.uint32(tag(3, LEN)).string(streamId)
        w.uint32(tag(4, VARINT)).uint64(u64(snapshot.streamVersion))
        w.uint32(tag(5, VARINT)).uint64(u64(snapshot.index))
        w.uint32(tag(6, LEN)).bytes(utf8.encode(JSON.stringify(encoded.success) ?? "null"))
        const body = w.finish()
        const out = new Uint8Array(body.length + 4)
        out.set(body, 0)
        new DataView(out.buffer).setUint32(body.length, Crc32c.checksum(body), true)
        yield* Fsx.writeFileAtomic(dir, `${dir}/${fileName(streamId)}`, out)
      }).pipe(Effect.withSpan("AggregateSnapshots.save", { attributes: { name: options.name } }))

    const remove = (streamId: string) => Fsx.unlink(`${dir}/${fileName(streamId)}`)

    return { name: options.name, version: options.version, load, save, remove }
  })
