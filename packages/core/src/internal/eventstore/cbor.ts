/**
 * A small RFC 8949 CBOR codec for JSON values (the canonical JSON form an Effect Schema encodes to): null,
 * booleans, numbers (integers in the safe range as CBOR integers, everything else as float64), text strings,
 * arrays and maps with text keys. Decoding also accepts half/single floats, byte strings and `undefined`;
 * indefinite lengths and tags are rejected. Pure and synchronous: it throws {@link CborError}, which callers turn
 * into typed failures.
 *
 * @since 0.1.0
 */

/** Thrown on malformed or unsupported input. */
export class CborError extends Error {}

const MAX_DEPTH = 256
const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder("utf-8", { fatal: true })

class Out {
  buf = new Uint8Array(256)
  view = new DataView(this.buf.buffer)
  pos = 0
  ensure(n: number) {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer)
  }
  head(major: number, n: number) {
    const m = major << 5
    if (n < 24) {
      this.ensure(1)
      this.buf[this.pos++] = m | n
    } else if (n < 0x100) {
      this.ensure(2)
      this.buf[this.pos++] = m | 24
      this.buf[this.pos++] = n
    } else if (n < 0x10000) {
      this.ensure(3)
      this.buf[this.pos++] = m | 25
      this.view.setUint16(this.pos, n)
      this.pos += 2
    } else if (n < 0x1_0000_0000) {
      this.ensure(5)
      this.buf[this.pos++] = m | 26
      this.view.setUint32(this.pos, n)
      this.pos += 4
    } else {
      this.ensure(9)
      this.buf[this.pos++] = m | 27
      this.view.setBigUint64(this.pos, BigInt(n))
      this.pos += 8
    }
  }
  bytes(b: Uint8Array) {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }
}

const write = (out: Out, v: unknown, depth: number): void => {
  if (depth > MAX_DEPTH) throw new CborError("nested too deeply")
  switch (typeof v) {
    case "string": {
      const b = textEncoder.encode(v)
      out.head(3, b.length)
      out.bytes(b)
      return
    }
    case "number":
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
        if (v >= 0) out.head(0, v)
        else out.head(1, -1 - v)
      } else {
        out.ensure(9)
        out.buf[out.pos++] = 0xfb
        out.view.setFloat64(out.pos, v)
        out.pos += 8
      }
      return
    case "boolean":
      out.ensure(1)
      out.buf[out.pos++] = v ? 0xf5 : 0xf4
      return
    case "undefined":
      out.ensure(1)
      out.buf[out.pos++] = 0xf7
      return
    case "object":
      if (v === null) {
        out.ensure(1)
        out.buf[out.pos++] = 0xf6
        return
      }
      if (v instanceof Uint8Array) {
        out.head(2, v.length)
        out.bytes(v)
        return
      }
      if (Array.isArray(v)) {
        out.head(4, v.length)
        for (const x of v) write(out, x, depth + 1)
        return
      }
      {
        const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        out.head(5, keys.length)
        for (const k of keys) {
          write(out, k, depth + 1)
          write(out, (v as Record<string, unknown>)[k], depth + 1)
        }
      }
      return
    default:
      throw new CborError(`cannot encode a ${typeof v}`)
  }
}

/** Encodes a JSON value as CBOR. Throws {@link CborError} for values JSON cannot hold. */
export const encode = (v: unknown): Uint8Array => {
  const out = new Out()
  write(out, v, 0)
  return out.buf.slice(0, out.pos)
}

class In {
  pos = 0
  readonly view: DataView
  readonly buf: Uint8Array
  constructor(buf: Uint8Array) {
    this.buf = buf
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }
  need(n: number) {
    if (this.pos + n > this.buf.length) throw new CborError("truncated input")
  }
  arg(info: number): number {
    if (info < 24) return info
    switch (info) {
      case 24:
        this.need(1)
        return this.buf[this.pos++]!
      case 25: {
        this.need(2)
        const n = this.view.getUint16(this.pos)
        this.pos += 2
        return n
      }
      case 26: {
        this.need(4)
        const n = this.view.getUint32(this.pos)
        this.pos += 4
        return n
      }
      case 27: {
        this.need(8)
        const n = this.view.getBigUint64(this.pos)
        this.pos += 8
        if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new CborError("integer beyond 2^53")
        return Number(n)
      }
      default:
        throw new CborError(`unsupported additional information ${info} (indefinite lengths are not supported)`)
    }
  }
}

const halfToFloat = (h: number): number => {
  const exp = (h >> 10) & 0x1f
  const mant = h & 0x3ff
  const sign = h & 0x8000 ? -1 : 1
  if (exp === 0) return sign * mant * 2 ** -24
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN
  return sign * (mant + 1024) * 2 ** (exp - 25)
}

const read = (inp: In, depth: number): unknown => {
  if (depth > MAX_DEPTH) throw new CborError("nested too deeply")
  inp.need(1)
  const ib = inp.buf[inp.pos++]!
  const major = ib >> 5
  const info = ib & 0x1f
  switch (major) {
    case 0:
      return inp.arg(info)
    case 1:
      return -1 - inp.arg(info)
    case 2: {
      const n = inp.arg(info)
      inp.need(n)
      const b = inp.buf.slice(inp.pos, inp.pos + n)
      inp.pos += n
      return b
    }
    case 3: {
      const n = inp.arg(info)
      inp.need(n)
      const s = textDecoder.decode(inp.buf.subarray(inp.pos, inp.pos + n))
      inp.pos += n
      return s
    }
    case 4: {
      const n = inp.arg(info)
      const a: Array<unknown> = []
      for (let i = 0; i < n; i++) a.push(read(inp, depth + 1))
      return a
    }
    case 5: {
      const n = inp.arg(info)
      const o: Record<string, unknown> = {}
      for (let i = 0; i < n; i++) {
        const k = read(inp, depth + 1)
        if (typeof k !== "string") throw new CborError("map keys must be text strings")
        Object.defineProperty(o, k, {
          value: read(inp, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true
        })
      }
      return o
    }
    case 7:
      switch (info) {
        case 20:
          return false
        case 21:
          return true
        case 22:
          return null
        case 23:
          return undefined
        case 25: {
          inp.need(2)
          const h = inp.view.getUint16(inp.pos)
          inp.pos += 2
          return halfToFloat(h)
        }
        case 26: {
          inp.need(4)
          const f = inp.view.getFloat32(inp.pos)
          inp.pos += 4
          return f
        }
        case 27: {
          inp.need(8)
          const f = inp.view.getFloat64(inp.pos)
          inp.pos += 8
          return f
        }
        default:
          throw new CborError(`unsupported simple value ${info}`)
      }
    default:
      throw new CborError("tags are not supported")
  }
}

/** Decodes one CBOR item that must span the whole input. Throws {@link CborError}. */
export const decode = (bytes: Uint8Array): unknown => {
  const inp = new In(bytes)
  const v = read(inp, 0)
  if (inp.pos !== bytes.length) throw new CborError("trailing bytes after the item")
  return v
}
