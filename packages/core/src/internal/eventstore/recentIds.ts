/**
 * The event store's idempotency window (internal): the last `window` event ids with where each was stored, oldest
 * evicted first, with O(1) look-ups.
 *
 * Kept so that remembering an id allocates nothing that outlives the append: ids in the canonical lowercase UUID form
 * (what the store generates for plain events, `crypto.randomUUID()`) are held as four 32-bit words in typed arrays
 * and found through an open-addressing hash table (linear probing, backward-shift deletion); any other id is kept as
 * its string in a `Map`. Holding 100,000 UUID strings and a 100,000-entry `Map` that changes on every append cost ~3
 * µs of CPU per event (bench/eventstore.ts: the strings outlive the young generation, so each was copied and then
 * collected by full GCs, and every deletion churned the map's backing store).
 *
 * The per-slot arrays grow by doubling up to `window`, so a large window costs memory only as it fills: about 70
 * bytes per UUID id (plus the hash table, 8 to 16 bytes per id), plus the string and a map entry for other ids.
 *
 * @since 0.1.0
 */

/** Where an event id was stored. */
export interface IdPosition {
  readonly streamId: string
  readonly version: number
  readonly index: number
}

/** Slots allocated at first (the arrays double from here up to the window). */
const INITIAL_SLOTS = 1024

/** Characters of a canonical UUID string (8-4-4-4-12 hex digits). */
export const UUID_CHARS = 36

const HEX_VALUE = new Int8Array(128).fill(-1)
for (let c = 0; c < 10; c++) HEX_VALUE[48 + c] = c
for (let c = 0; c < 6; c++) HEX_VALUE[97 + c] = 10 + c
const HEX_DIGITS = "0123456789abcdef"
const HEX_BYTES = new Uint8Array(16).map((_, i) => HEX_DIGITS.charCodeAt(i))

/** Set below zero by {@link hex} on a character that is not a lowercase hex digit. */
let bad = 0

/** The value of the hex digit at `s[i]` (folding a bad character into {@link bad}). */
const hex = (s: string, i: number): number => {
  const c = s.charCodeAt(i)
  const v = HEX_VALUE[c & 127]! | (c > 127 ? -1 : 0)
  bad |= v
  return v & 15
}

/** 8 hex digits from `s[i]` on, skipping a dash after the 4th when `dash` (as int32 bits). */
const hex8At = (s: string, i: number, dash: boolean): number => {
  const j = dash ? i + 5 : i + 4
  return (hex(s, i) << 28) | (hex(s, i + 1) << 24) | (hex(s, i + 2) << 20) | (hex(s, i + 3) << 16) |
    (hex(s, j) << 12) | (hex(s, j + 1) << 8) | (hex(s, j + 2) << 4) | hex(s, j + 3)
}

/** The words of the UUID last parsed by {@link parseUuid} (int32 bits). */
const words = new Int32Array(4)

/**
 * Parses a canonical lowercase UUID string into {@link words}; false for anything else (upper case included: the
 * id must print back to the same string).
 */
const parseUuid = (s: string): boolean => {
  // an append asks `has` and then `remember` for each id: the second parse is a comparison
  if (s === lastParsed) return true
  if (
    s.length !== UUID_CHARS || s.charCodeAt(8) !== 45 || s.charCodeAt(13) !== 45 || s.charCodeAt(18) !== 45 ||
    s.charCodeAt(23) !== 45
  ) return false
  bad = 0
  const w0 = hex8At(s, 0, false)
  const w1 = hex8At(s, 9, true)
  const w2 = hex8At(s, 19, true)
  const w3 = hex8At(s, 28, false)
  if (bad < 0) return false
  words[0] = w0
  words[1] = w1
  words[2] = w2
  words[3] = w3
  lastParsed = s
  return true
}

/** The UUID string whose words are in {@link words} ("" when none). */
let lastParsed = ""

const hex8 = (n: number): string => {
  let out = ""
  for (let shift = 28; shift >= 0; shift -= 4) out += HEX_DIGITS[(n >>> shift) & 15]
  return out
}

const formatUuid = (w0: number, w1: number, w2: number, w3: number): string => {
  const b = hex8(w1)
  const c = hex8(w2)
  return `${hex8(w0)}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${hex8(w3)}`
}

/** The bounded window of recent event ids. */
export class RecentIds {
  readonly window: number
  /** Ids in the window (an id stored twice counts once). */
  size = 0
  /** Ids remembered since this window was made (evicted ones included): marks for {@link forEachSince}. */
  remembered = 0
  private tail = 0
  private count = 0
  // per slot (ring order): the id (a string, or "" with the UUID words set), its stream, version and index
  private ids: Array<string>
  private uuids: Int32Array
  private streams: Array<string>
  private versions: Float64Array
  private indexes: Float64Array
  /** Per slot: the hash of its UUID. */
  private hashes: Int32Array
  // look-ups: other ids by string; UUID ids through `table`: cells of two int32s, the slot + 1 (0 = empty) and its
  // hash (so probing and shifting read one cache line, not the UUIDs), a power of two of cells
  private readonly byString = new Map<string, number>()
  private table: Int32Array
  private mask: number
  private readonly seed = (Math.random() * 0x1_0000_0000) | 0

  constructor(window: number) {
    this.window = Math.max(0, Math.floor(window))
    const slots = Math.min(this.window, INITIAL_SLOTS)
    this.ids = new Array<string>(slots).fill("")
    this.uuids = new Int32Array(slots * 4)
    this.streams = new Array<string>(slots).fill("")
    this.versions = new Float64Array(slots)
    this.indexes = new Float64Array(slots)
    this.hashes = new Int32Array(slots)
    const cells = tableSizeFor(slots)
    this.table = new Int32Array(cells * 2)
    this.mask = cells - 1
  }

  /** Whether `eventId` is in the window. */
  has(eventId: string): boolean {
    return this.slotOf(eventId) >= 0
  }

  /** Where `eventId` was stored, if it is in the window. */
  find(eventId: string): IdPosition | undefined {
    const slot = this.slotOf(eventId)
    if (slot < 0) return undefined
    return { streamId: this.streams[slot]!, version: this.versions[slot]!, index: this.indexes[slot]! }
  }

  /**
   * Remembers an id (evicting the oldest beyond the window). `streamId` is kept as given: pass one string per stream
   * (not a fresh copy per event), so the window holds no string per event.
   */
  remember(eventId: string, streamId: string, version: number, index: number): void {
    if (this.window === 0 || eventId.length === 0) return
    this.remembered++
    if (this.count === this.window) this.evict(this.tail)
    else if (this.count === this.ids.length) this.grow()
    const slot = this.tail
    const uuid = parseUuid(eventId)
    if (uuid) {
      this.ids[slot] = ""
      this.uuids[slot * 4] = words[0]!
      this.uuids[slot * 4 + 1] = words[1]!
      this.uuids[slot * 4 + 2] = words[2]!
      this.uuids[slot * 4 + 3] = words[3]!
      this.hashes[slot] = this.hash(words[0]!, words[1]!, words[2]!, words[3]!)
    } else {
      this.ids[slot] = eventId
    }
    this.streams[slot] = streamId
    this.versions[slot] = version
    this.indexes[slot] = index
    if (uuid) this.putUuid(slot)
    else {
      if (!this.byString.has(eventId)) this.size++
      this.byString.set(eventId, slot)
    }
    this.tail = slot + 1 === this.window ? 0 : slot + 1
    this.count++
  }

  /** Calls `f` for each id in the window, oldest first. */
  forEach(f: (eventId: string, streamId: string, version: number, index: number) => void): void {
    this.forEachSlot((slot, id, streamId, version, index) => {
      if (id.length > 0) return f(id, streamId, version, index)
      const u = this.uuids
      f(formatUuid(u[slot * 4]!, u[slot * 4 + 1]!, u[slot * 4 + 2]!, u[slot * 4 + 3]!), streamId, version, index)
    })
  }

  /**
   * Calls `f` for each id in the window, oldest first, with its slot; `eventId` is "" for a UUID id, which
   * {@link writeUuid} writes out (no string per id).
   */
  forEachSlot(f: (slot: number, eventId: string, streamId: string, version: number, index: number) => void): void {
    this.forEachLast(this.count, f)
  }

  /**
   * {@link forEachSlot} over the ids remembered after the mark `remembered` (a past value of {@link remembered}) that
   * are still in the window, oldest first: what a window restored to that mark must remember again to be this one.
   */
  forEachSince(
    remembered: number,
    f: (slot: number, eventId: string, streamId: string, version: number, index: number) => void
  ): void {
    this.forEachLast(Math.min(this.count, Math.max(0, this.remembered - remembered)), f)
  }

  /** The last `last` slots in ring order, skipping a slot whose id a newer slot holds. */
  private forEachLast(
    last: number,
    f: (slot: number, eventId: string, streamId: string, version: number, index: number) => void
  ): void {
    const n = this.ids.length
    for (let k = this.count - last; k < this.count; k++) {
      const slot = (this.tail - this.count + k + n) % n
      const id = this.ids[slot]!
      if (id.length > 0 ? this.byString.get(id) !== slot : this.cellSlot(slot) !== slot) continue
      f(slot, id, this.streams[slot]!, this.versions[slot]!, this.indexes[slot]!)
    }
  }

  /** Writes the UUID id of `slot` (36 ASCII bytes) into `buf` at `pos`. */
  writeUuid(slot: number, buf: Uint8Array, pos: number): void {
    const u = this.uuids
    let p = pos
    for (let w = 0; w < 4; w++) {
      const word = u[slot * 4 + w]!
      for (let shift = 28; shift >= 0; shift -= 4) {
        // dashes after hex digits 8, 12, 16 and 20
        if (p - pos === 8 || p - pos === 13 || p - pos === 18 || p - pos === 23) buf[p++] = 45
        buf[p++] = HEX_BYTES[(word >>> shift) & 15]!
      }
    }
  }

  // --- internals ---

  private slotOf(eventId: string): number {
    if (!parseUuid(eventId)) return this.byString.get(eventId) ?? -1
    const w0 = words[0]!
    const w1 = words[1]!
    const w2 = words[2]!
    const w3 = words[3]!
    const i = this.findCell(this.hash(w0, w1, w2, w3), w0, w1, w2, w3)
    return i < 0 ? -1 : this.table[2 * i]! - 1
  }

  /** The table cell holding the UUID `w0..w3` of hash `h`, or -1 (linear probing; cells keep the hash). */
  private findCell(h: number, w0: number, w1: number, w2: number, w3: number): number {
    const u = this.uuids
    const t = this.table
    for (let i = h & this.mask;; i = (i + 1) & this.mask) {
      const cell = t[2 * i]!
      if (cell === 0) return -1
      if (t[2 * i + 1] !== h) continue
      const s = cell - 1
      if (u[s * 4] === w0 && u[s * 4 + 1] === w1 && u[s * 4 + 2] === w2 && u[s * 4 + 3] === w3) return i
    }
  }

  private hash(w0: number, w1: number, w2: number, w3: number): number {
    let h = this.seed ^ w0
    h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b) ^ w1
    h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35) ^ w2
    h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b) ^ w3
    h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35)
    return h ^ (h >>> 16)
  }

  /** The table cell holding the UUID of `slot` (this slot's or an equal UUID's), or -1. */
  private findUuidCell(slot: number): number {
    const u = this.uuids
    return this.findCell(this.hashes[slot]!, u[slot * 4]!, u[slot * 4 + 1]!, u[slot * 4 + 2]!, u[slot * 4 + 3]!)
  }

  /** The slot the table maps the UUID of `slot` to (-1 when absent). */
  private cellSlot(slot: number): number {
    const i = this.findUuidCell(slot)
    return i < 0 ? -1 : this.table[2 * i]! - 1
  }

  /** Points the UUID of `slot` at `slot` (a newer copy of an id replaces the older one). */
  private putUuid(slot: number): void {
    const i = this.findUuidCell(slot)
    if (i >= 0) {
      this.table[2 * i] = slot + 1
      return
    }
    const h = this.hashes[slot]!
    for (let j = h & this.mask;; j = (j + 1) & this.mask) {
      if (this.table[2 * j] === 0) {
        this.table[2 * j] = slot + 1
        this.table[2 * j + 1] = h
        this.size++
        return
      }
    }
  }

  /** Drops the id of `slot` (the oldest) from the look-ups, unless a newer copy of it owns them. */
  private evict(slot: number): void {
    this.count--
    const id = this.ids[slot]!
    if (id.length > 0) {
      if (this.byString.get(id) === slot) {
        this.byString.delete(id)
        this.size--
      }
      return
    }
    const t = this.table
    let i = this.findUuidCell(slot)
    if (i < 0 || t[2 * i]! - 1 !== slot) return
    this.size--
    // backward-shift deletion: move later entries of the probe run into the hole when their home allows it
    const mask = this.mask
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      const cell = t[2 * j]!
      if (cell === 0) break
      const h = t[2 * j + 1]!
      // the entry at j may fill the hole at i when i lies cyclically in [home, j)
      if ((j - (h & mask) & mask) >= (j - i & mask)) {
        t[2 * i] = cell
        t[2 * i + 1] = h
        i = j
      }
    }
    t[2 * i] = 0
  }

  /** Doubles the per-slot arrays (only while the ring has not wrapped: slots 0..count-1 are in order). */
  private grow(): void {
    const slots = Math.min(this.window, this.ids.length * 2)
    const extend = (a: Array<string>) => {
      const next = new Array<string>(slots).fill("")
      for (let i = 0; i < a.length; i++) next[i] = a[i]!
      return next
    }
    const copy = <T extends Int32Array | Float64Array>(a: T, next: T): T => {
      next.set(a)
      return next
    }
    this.ids = extend(this.ids)
    this.streams = extend(this.streams)
    this.uuids = copy(this.uuids, new Int32Array(slots * 4))
    this.versions = copy(this.versions, new Float64Array(slots))
    this.indexes = copy(this.indexes, new Float64Array(slots))
    this.hashes = copy(this.hashes, new Int32Array(slots))
    const cells = tableSizeFor(slots)
    if (cells * 2 !== this.table.length) {
      this.table = new Int32Array(cells * 2)
      this.mask = cells - 1
      this.size = 0
      // re-insert in ring order: a newer copy of an id then owns its cell, as before
      for (let s = 0; s < this.count; s++) {
        if (this.ids[s]!.length > 0) {
          if (this.byString.get(this.ids[s]!) === s) this.size++
        } else this.putUuid(s)
      }
    }
  }
}

/** A power of two at least twice `slots` (load factor ≤ 1/2). */
const tableSizeFor = (slots: number): number => {
  let n = 16
  while (n < slots * 2) n *= 2
  return n
}
