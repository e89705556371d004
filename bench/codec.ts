/**
 * Micro-benchmark: the hand-written entry-record codec (`FrameEncoder.entry`, `RecordCodec.decodeRecord` /
 * `decodeEntry`) against protobufjs through the reflection types of `Proto.ts`. The issue allows a hand codec on
 * the per-entry hot path only if it is measurably faster; this prints (and `bench/run.ts` records) the ratio.
 *
 * Both sides produce the same bytes (checked before timing):
 *
 * - **encode**: one 8-byte-aligned WAL frame per entry (`raftpb.Entry{0, 0, index, 256 B}` inside a
 *   `walpb.Record{2, crc, entry}`), chaining the CRC-32C, appended to a batch buffer. protobufjs gets its fastest
 *   use: `encode(plain object)` with `number` indexes (no `fromObject`), then the CRC over its output and a copy
 *   into the batch buffer (it cannot write in place).
 * - **decode**: record then entry, to `{type, term, index: bigint, data}`; the CRC check is left out of both
 *   (same code either way). protobufjs' `Long` index becomes a `bigint` from its two halves.
 *
 * Standalone: `node bench/codec.ts [--quick]`.
 *
 * @since 0.1.0
 */
import type Long from "long"
import * as Crc32c from "../packages/core/src/Crc32c.ts"
import { FrameEncoder, padBytes, writeLengthWord } from "../packages/core/src/Encoder.ts"
import * as Proto from "../packages/core/src/Proto.ts"
import * as RecordCodec from "../packages/core/src/RecordCodec.ts"
import type { BenchContext, Row } from "./internal/types.ts"
import { median, rateRow } from "./internal/types.ts"

const ENTRY_BYTES = 256
const EMPTY = new Uint8Array(0)
const BATCH = 1000
const PEER = "protobufjs 8 (Proto.ts reflection types)"

const payload = (() => {
  const p = new Uint8Array(ENTRY_BYTES)
  for (let i = 0; i < p.length; i++) p[i] = (i * 131 + 17) & 0xff
  return p
})()

/** protobufjs' side of the encoder: same frames, same running CRC. */
class ProtobufjsFramer {
  crc = 0
  private buf = new Uint8Array(1 << 20)
  private len = 0

  entry(index: number, data: Uint8Array): void {
    const entry = Proto.Entry.encode({ Type: 0, Term: 0, Index: index, Data: data }).finish()
    this.crc = Crc32c.update(this.crc, entry)
    const rec = Proto.Record.encode({ type: RecordCodec.RecordType.entry, crc: this.crc, data: entry }).finish()
    const total = 8 + rec.length + padBytes(rec.length)
    if (this.len + total > this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2)
      next.set(this.buf.subarray(0, this.len))
      this.buf = next
    }
    writeLengthWord(this.buf, this.len, rec.length)
    this.buf.set(rec, this.len + 8)
    this.buf.fill(0, this.len + 8 + rec.length, this.len + total)
    this.len += total
  }

  take(): Uint8Array {
    const out = this.buf.subarray(0, this.len)
    this.len = 0
    return out
  }
}

const longToBigInt = (v: number | Long): bigint =>
  typeof v === "number" ? BigInt(v) : (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0)

interface Decoded {
  readonly type: number
  readonly term: bigint
  readonly index: bigint
  readonly data: Uint8Array | undefined
}

const decodeHand = (frame: Uint8Array, start: number, end: number): Decoded => {
  const rec = RecordCodec.decodeRecord(frame, start, end)
  return RecordCodec.decodeEntry(rec.data!)
}

const decodePb = (frame: Uint8Array, start: number, end: number): Decoded => {
  const rec = Proto.Record.decode(frame.subarray(start, end)) as unknown as { data: Uint8Array }
  const e = Proto.Entry.decode(rec.data) as unknown as {
    Type: number
    Term: number | Long
    Index: number | Long
    Data: Uint8Array
  }
  return { type: e.Type, term: longToBigInt(e.Term), index: longToBigInt(e.Index), data: e.Data }
}

/** Frame boundaries of an encoded batch: [recordStart, recordEnd] pairs. */
const frames = (bytes: Uint8Array): Array<number> => {
  const out: Array<number> = []
  for (let pos = 0; pos < bytes.length;) {
    const lo = bytes[pos]! | (bytes[pos + 1]! << 8) | (bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 24)
    const recBytes = lo >>> 0
    const top = bytes[pos + 7]!
    const pad = top & 0x80 ? top & 0x07 : 0
    out.push(pos + 8, pos + 8 + recBytes)
    pos += 8 + recBytes + pad
  }
  return out
}

const time = (f: () => void, rounds: number): number => {
  const samples: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now()
    f()
    samples.push(performance.now() - t0)
  }
  return median(samples)
}

/**
 * Runs the codec comparison and returns its rows (entries/s for encode and decode; ratio = hand ÷ protobufjs).
 *
 * @since 0.1.0
 * @category benchmarks
 */
export const run = (ctx: Pick<BenchContext, "quick" | "log">): ReadonlyArray<Row> => {
  const batches = ctx.quick ? 50 : 300
  const rounds = ctx.quick ? 3 : 7
  const hand = new FrameEncoder(0)
  const pb = new ProtobufjsFramer()

  // same bytes (first batch), so the comparison is like for like
  for (let i = 1; i <= BATCH; i++) {
    hand.entry(0, 0n, BigInt(i), payload)
    pb.entry(i, payload)
  }
  const a = hand.take()
  const b = pb.take()
  if (Buffer.compare(a, b) !== 0) throw new Error("hand codec and protobufjs produced different frames")
  const sample = a.slice()
  const bounds = frames(sample)
  for (let k = 0; k < bounds.length; k += 2) {
    const x = decodeHand(sample, bounds[k]!, bounds[k + 1]!)
    const y = decodePb(sample, bounds[k]!, bounds[k + 1]!)
    if (
      x.index !== y.index || x.term !== y.term || x.type !== y.type ||
      Buffer.compare(x.data ?? EMPTY, y.data ?? EMPTY) !== 0
    ) {
      throw new Error(`decoders disagree at frame ${k / 2}`)
    }
  }

  let index = BATCH
  const encodeHand = () => {
    for (let k = 0; k < batches; k++) {
      for (let i = 0; i < BATCH; i++) hand.entry(0, 0n, BigInt(++index), payload)
      hand.take()
    }
  }
  const encodePb = () => {
    for (let k = 0; k < batches; k++) {
      for (let i = 0; i < BATCH; i++) pb.entry(++index, payload)
      pb.take()
    }
  }
  let sink = 0
  const decodeWith = (decode: (f: Uint8Array, s: number, e: number) => Decoded) => () => {
    for (let k = 0; k < batches; k++) {
      for (let j = 0; j < bounds.length; j += 2) sink += decode(sample, bounds[j]!, bounds[j + 1]!).type
    }
  }
  // warm both up before timing
  time(encodeHand, 2)
  time(encodePb, 2)
  time(decodeWith(decodeHand), 2)
  time(decodeWith(decodePb), 2)
  const n = batches * BATCH
  const rate = (ms: number) => n / (ms / 1000)
  ctx.log(`  codec: encode (${rounds} rounds of ${n.toLocaleString("en-US")} entries)`)
  const encHand = rate(time(encodeHand, rounds))
  const encPb = rate(time(encodePb, rounds))
  ctx.log(`  codec: decode`)
  const decHand = rate(time(decodeWith(decodeHand), rounds))
  const decPb = rate(time(decodeWith(decodePb), rounds))
  if (sink < 0) ctx.log("unreachable")
  const note = "in-process micro-benchmark, median of rounds; target 1.0: the hand codec must beat protobufjs"
  return [
    rateRow({
      name: "codec: encode entry frames (256 B, CRC chained) into a batch buffer",
      unit: "entries/s",
      ours: encHand,
      peer: encPb,
      peerName: PEER,
      target: 1,
      note
    }),
    rateRow({
      name: "codec: decode entry records (256 B) to {type, term, index, data}",
      unit: "entries/s",
      ours: decHand,
      peer: decPb,
      peerName: PEER,
      target: 1,
      note
    })
  ]
}

if (import.meta.main) {
  const quick = process.argv.includes("--quick")
  const rows = run({ quick, log: (l) => console.error(l) })
  for (const r of rows) {
    console.log(
      `${r.name}\n  hand ${Math.round(r.ours ?? 0).toLocaleString("en-US")} ${r.unit}, protobufjs ${
        Math.round(r.peer ?? 0).toLocaleString("en-US")
      } ${r.unit}, ratio ${r.ratio?.toFixed(2)}×`
    )
  }
}
