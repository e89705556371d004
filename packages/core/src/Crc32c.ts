/**
 * CRC-32C (Castagnoli), the checksum etcd's WAL chains across records and segments.
 *
 * This is CRC-32 with the reflected polynomial 0x82F63B78 and the usual initial/final inversion, i.e.
 * what Go's `crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), p)` computes. Node's `zlib.crc32` uses the
 * IEEE polynomial and is **not** interchangeable with it.
 *
 * `update(prev, bytes)` continues a CRC as if `bytes` were appended to the input that produced `prev`, so the
 * running value of a WAL equals the CRC-32C of the concatenated `data` of every non-crc record since the chain
 * started.
 *
 * Two implementations compute the same values. When the optional native helper was built at install time
 * (`native/binlog_native.c`, Node-API; see {@link implementation}), {@link update} uses it for inputs of
 * {@link NATIVE_MIN_BYTES} or more: the SSE4.2 `crc32` instruction Go uses (about 8 GB/s) or, on CPUs without
 * it, slicing-by-8 in C. Otherwise, and in {@link updateTable} always, it is JavaScript slicing-by-16 over sixteen
 * 256-entry tables (16 KiB): about 1.5–1.9 GB/s on Node 24 / x86-64; {@link updateWords} reads the input as 32-bit
 * words and reaches 2.1–2.3 GB/s on 256-byte records. (A WebAssembly slicing-by-16 measured no faster than this
 * JavaScript on 256-byte records because of the copy into its memory.) `BINLOG_NATIVE=0` turns the native helper
 * off.
 *
 * @since 0.1.0
 */

import * as Native from "./internal/native.ts"

/**
 * The reflected Castagnoli polynomial.
 *
 * @since 0.1.0
 * @category constants
 */
export const POLYNOMIAL = 0x82f63b78

/** Tables for slicing-by-16: `TABLES[k][b]` is the CRC of byte `b` followed by `k` zero bytes. */
const TABLE_COUNT = 16

const TABLES: ReadonlyArray<Uint32Array> = (() => {
  const tables: Array<Uint32Array> = []
  const t0 = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1
    t0[n] = c >>> 0
  }
  tables.push(t0)
  for (let t = 1; t < TABLE_COUNT; t++) {
    const prev = tables[t - 1]!
    const cur = new Uint32Array(256)
    for (let n = 0; n < 256; n++) cur[n] = (prev[n]! >>> 8) ^ t0[prev[n]! & 0xff]!
    tables.push(cur)
  }
  return tables
})()

// the tables as module-level bindings, resolved once instead of per call
const [T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15] = TABLES as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array
]

/**
 * Which code computes CRC-32C in this process: `"sse4.2"` (native helper, CPU instruction), `"native-table"`
 * (native helper, table-driven C) or `"javascript"` (no native helper: not built, or `BINLOG_NATIVE=0`).
 *
 * @since 0.1.0
 * @category hashing
 */
export const implementation: "sse4.2" | "native-table" | "javascript" = Native.binding === undefined
  ? "javascript"
  : Native.binding.hasHardwareCrc()
  ? "sse4.2"
  : "native-table"

/**
 * Inputs shorter than this many bytes stay in JavaScript even with the native helper: a call into native code
 * costs about as much as checksumming 64 bytes in JavaScript.
 *
 * @since 0.1.0
 * @category constants
 */
export const NATIVE_MIN_BYTES = 64

const nativeUpdate = Native.binding?.crc32cUpdate

/**
 * Continues the CRC-32C `prev` over `bytes[start, end)` and returns the new value (an unsigned 32-bit number).
 * `update(0, bytes)` is the plain CRC-32C of `bytes`. Uses the native helper when it is loaded and the range is
 * {@link NATIVE_MIN_BYTES} or longer, {@link updateTable} otherwise. A range outside `bytes` is a defect (the
 * native helper throws a TypeError; the JavaScript code reads `undefined` bytes).
 *
 * @since 0.1.0
 * @category hashing
 */
export const update = (prev: number, bytes: Uint8Array, start = 0, end = bytes.length): number =>
  nativeUpdate !== undefined && end - start >= NATIVE_MIN_BYTES
    ? nativeUpdate(prev >>> 0, bytes, start, end)
    : updateTable(prev, bytes, start, end)

/**
 * {@link update} in JavaScript only (slicing-by-16), whatever {@link implementation} says. The reference the
 * native helper is tested against.
 *
 * @since 0.1.0
 * @category hashing
 */
export const updateTable = (prev: number, bytes: Uint8Array, start = 0, end = bytes.length): number => {
  let crc = ~prev | 0
  let i = start
  // slicing-by-16: 16 bytes per step, one table lookup per byte, no data-dependent chain inside a step
  const fast = end - ((end - i) & 15)
  while (i < fast) {
    const a = (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) ^ crc
    crc = T15[a & 0xff]! ^ T14[(a >>> 8) & 0xff]! ^ T13[(a >>> 16) & 0xff]! ^ T12[a >>> 24]! ^
      T11[bytes[i + 4]!]! ^ T10[bytes[i + 5]!]! ^ T9[bytes[i + 6]!]! ^ T8[bytes[i + 7]!]! ^
      T7[bytes[i + 8]!]! ^ T6[bytes[i + 9]!]! ^ T5[bytes[i + 10]!]! ^ T4[bytes[i + 11]!]! ^
      T3[bytes[i + 12]!]! ^ T2[bytes[i + 13]!]! ^ T1[bytes[i + 14]!]! ^ T0[bytes[i + 15]!]!
    i += 16
  }
  while (i < end) crc = T0[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}

/**
 * Whether 32-bit words read through an `Int32Array` are little-endian here (they are on every platform Node runs
 * on in practice; {@link wordView} returns undefined otherwise and callers fall back to {@link update}).
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/**
 * An `Int32Array` over the same memory as `bytes`, for {@link updateWords}, or undefined when `bytes` does not start
 * 4-byte aligned in its buffer (or the platform is big-endian). Allocates: make one per buffer, not per call.
 *
 * @since 0.1.0
 * @category hashing
 */
export const wordView = (bytes: Uint8Array): Int32Array | undefined =>
  LITTLE_ENDIAN && bytes.byteOffset % 4 === 0
    ? new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2)
    : undefined

/**
 * {@link update} over `bytes[start, end)`, reading the aligned middle as 32-bit words through `words`, a
 * {@link wordView} of `bytes` (same memory, same start): 4 loads per 16 bytes instead of 16, about 1.3× faster on
 * records of a few hundred bytes. Same result as `update(prev, bytes, start, end)`; like `update`, ranges of
 * {@link NATIVE_MIN_BYTES} or more go to the native helper when it is loaded.
 *
 * @since 0.1.0
 * @category hashing
 */
export const updateWords = (prev: number, bytes: Uint8Array, words: Int32Array, start: number, end: number): number =>
  nativeUpdate !== undefined && end - start >= NATIVE_MIN_BYTES
    ? nativeUpdate(prev >>> 0, bytes, start, end)
    : updateWordsTable(prev, bytes, words, start, end)

/**
 * {@link updateWords} in JavaScript only, whatever {@link implementation} says (tested against {@link updateTable}).
 *
 * @since 0.1.0
 * @category hashing
 */
export const updateWordsTable = (
  prev: number,
  bytes: Uint8Array,
  words: Int32Array,
  start: number,
  end: number
): number => {
  let crc = ~prev | 0
  let i = start
  // bytes up to the next word boundary
  while ((i & 3) !== 0 && i < end) crc = T0[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8)
  // i is word-aligned here unless it reached `end` first (then there is nothing left for the word loop)
  if ((i & 3) === 0) {
    let w = i >>> 2
    const wordsEnd = w + (((end - i) >> 4) << 2)
    while (w < wordsEnd) {
      const a = words[w]! ^ crc
      const b = words[w + 1]!
      const c = words[w + 2]!
      const d = words[w + 3]!
      crc = T15[a & 0xff]! ^ T14[(a >>> 8) & 0xff]! ^ T13[(a >>> 16) & 0xff]! ^ T12[a >>> 24]! ^
        T11[b & 0xff]! ^ T10[(b >>> 8) & 0xff]! ^ T9[(b >>> 16) & 0xff]! ^ T8[b >>> 24]! ^
        T7[c & 0xff]! ^ T6[(c >>> 8) & 0xff]! ^ T5[(c >>> 16) & 0xff]! ^ T4[c >>> 24]! ^
        T3[d & 0xff]! ^ T2[(d >>> 8) & 0xff]! ^ T1[(d >>> 16) & 0xff]! ^ T0[d >>> 24]!
      w += 4
    }
    i = w << 2
  }
  while (i < end) crc = T0[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}

/**
 * The CRC-32C of `bytes` (chain start 0).
 *
 * @since 0.1.0
 * @category hashing
 */
export const checksum = (bytes: Uint8Array): number => update(0, bytes)
