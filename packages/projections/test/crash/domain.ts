// The crash test's events: the event at index i is a pure function of (seed, i), so the expected read model is a
// fold computed without reading the log.
import type { BankEvent } from "../utils/fixtures.ts"

/** Small segments: the log is cut often, so releases purge and retention holds matter. */
export const SEGMENT_SIZE_BYTES = 32 * 1024

/** Accounts the events spread over. */
export const ACCOUNTS = 13

const hash32 = (x: number): number => {
  let h = x >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

export const eventAt = (seed: number, index: bigint): BankEvent => {
  const h = hash32(hash32(seed) ^ Number(index % 0xffff_ffffn))
  const account = `acc-${h % ACCOUNTS}`
  const kind = (h >>> 8) % 10
  const cents = 1 + ((h >>> 16) % 1000)
  if (kind === 0) return { type: "Opened", account, owner: `owner ${account}` }
  if (kind <= 4) return { type: "Deposited", account, cents: cents * 100, v1: kind === 1 }
  if (kind <= 7) return { type: "Withdrawn", account, cents }
  return { type: "Noted", account, text: `note ${index}` }
}

/** Events 1..last. */
export const eventsUpTo = (seed: number, last: bigint): Array<BankEvent> => {
  const out: Array<BankEvent> = []
  for (let i = 1n; i <= last; i++) out.push(eventAt(seed, i))
  return out
}
