/**
 * The optional native helpers in `native/binlog_native.c`, built by `npm install` (node-gyp, Node-API 8).
 *
 * When the build is missing (no compiler at install time, an unusual platform) or `BINLOG_NATIVE=0` is set, the
 * binding is `undefined` and every caller uses its JavaScript code, which writes the same bytes. Tests compare
 * the two; with `CI` set the suite requires the native build.
 */
import { createRequire } from "node:module"

/** The functions the addon exports (see the C file's header for their contracts). */
export interface NativeBinding {
  /** `Crc32c.update` over `bytes[start, end)`; throws a TypeError on bad arguments. */
  readonly crc32cUpdate: (crc: number, bytes: Uint8Array, start: number, end: number) => number
  /**
   * Encodes one entry frame per payload (laid end to end in `staged`, their sizes in `lengths[0, count)`; indexes
   * `firstIndex`, `firstIndex + 1`, ...) at `io[0]` in `out`, continuing the CRC `io[1]`; updates `io` to the new
   * end and CRC and writes each frame's size to `frames`. `out` must have room for every frame (the caller reserves
   * {@link ENTRY_FRAME_OVERHEAD_BYTES} per entry beyond its data); throws a TypeError otherwise.
   */
  readonly encodeEntries: (
    out: Uint8Array,
    io: Float64Array,
    type: number,
    term: number,
    firstIndex: number,
    staged: Uint8Array,
    lengths: Int32Array,
    count: number,
    frames: Int32Array
  ) => void
  /**
   * How many bytes past the start of `bytes` the first address that is a multiple of `align` (a power of two)
   * lies; for buffers handed to `O_DIRECT` writes.
   */
  readonly alignmentOffset: (bytes: Uint8Array, align: number) => number
  /** Whether the CPU's CRC-32C instruction is used (x86-64 with SSE4.2). */
  readonly hasHardwareCrc: () => boolean
}

/** The most bytes a small entry's frame adds to its data: length word, record and entry headers, padding. */
export const ENTRY_FRAME_OVERHEAD_BYTES = 8 + 19 + 26 + 7

/** Where node-gyp puts the addon, relative to this file. */
const ADDON_PATH = "../../build/Release/binlog_native.node"

const load = (): NativeBinding | undefined => {
  if (process.env["BINLOG_NATIVE"] === "0") return undefined
  try {
    return createRequire(import.meta.url)(ADDON_PATH) as NativeBinding
  } catch {
    return undefined
  }
}

/** The loaded addon, or undefined when it was not built or is disabled with `BINLOG_NATIVE=0`. */
export const binding: NativeBinding | undefined = load()
