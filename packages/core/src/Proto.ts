/**
 * The protobuf messages of etcd's WAL and snap files, defined with protobufjs (reflection, no codegen), and typed
 * encode/decode helpers for the messages that are not on the per-entry hot path.
 *
 * All messages are proto2 as gogoproto generates them: non-nullable fields are always encoded, even when zero;
 * nullable bytes/messages only when present; fields in field-number order; repeated scalars unpacked. The helpers
 * below always set the non-nullable fields so protobufjs writes them. 64-bit integers cross this module as
 * `bigint` (protobufjs' `Long` never leaks out).
 *
 * The hot path (walpb.Record and raftpb.Entry) has a hand-written codec in {@link RecordCodec}; a property test
 * checks it against the protobufjs types here, both ways.
 *
 * @since 0.1.0
 */
import protobuf from "protobufjs"

const { Field, Root, Type } = protobuf

/**
 * The protobufjs root holding `walpb.*`, `raftpb.*` and `snappb.*`.
 *
 * @since 0.1.0
 * @category schema
 */
export const root = new Root()

const unpacked = { packed: false }

/**
 * `walpb.Record`: type (int64, 1), crc (uint32, 2), data (bytes, 3, nullable).
 *
 * @since 0.1.0
 * @category schema
 */
export const Record = new Type("Record")
  .add(new Field("type", 1, "int64"))
  .add(new Field("crc", 2, "uint32"))
  .add(new Field("data", 3, "bytes"))

/**
 * `raftpb.Entry`: Type (enum as int32, 1), Term (uint64, 2), Index (uint64, 3), Data (bytes, 4, nullable).
 *
 * @since 0.1.0
 * @category schema
 */
export const Entry = new Type("Entry")
  .add(new Field("Type", 1, "int32"))
  .add(new Field("Term", 2, "uint64"))
  .add(new Field("Index", 3, "uint64"))
  .add(new Field("Data", 4, "bytes"))

/**
 * `raftpb.HardState`: term (1), vote (2), commit (3), all uint64 and always encoded.
 *
 * @since 0.1.0
 * @category schema
 */
export const HardState = new Type("HardState")
  .add(new Field("term", 1, "uint64"))
  .add(new Field("vote", 2, "uint64"))
  .add(new Field("commit", 3, "uint64"))

/**
 * `raftpb.ConfState`: voters (1), learners (2), voters_outgoing (3), learners_next (4) as unpacked repeated
 * uint64, auto_leave (5) bool, always encoded.
 *
 * @since 0.1.0
 * @category schema
 */
export const ConfState = new Type("ConfState")
  .add(new Field("voters", 1, "uint64", "repeated", undefined, unpacked))
  .add(new Field("learners", 2, "uint64", "repeated", undefined, unpacked))
  .add(new Field("voters_outgoing", 3, "uint64", "repeated", undefined, unpacked))
  .add(new Field("learners_next", 4, "uint64", "repeated", undefined, unpacked))
  .add(new Field("auto_leave", 5, "bool"))

/**
 * `raftpb.SnapshotMetadata`: conf_state (1, always), index (2), term (3).
 *
 * @since 0.1.0
 * @category schema
 */
export const SnapshotMetadata = new Type("SnapshotMetadata")
  .add(new Field("conf_state", 1, "raftpb.ConfState"))
  .add(new Field("index", 2, "uint64"))
  .add(new Field("term", 3, "uint64"))

/**
 * `raftpb.Snapshot`: data (1, nullable bytes), metadata (2, always).
 *
 * @since 0.1.0
 * @category schema
 */
export const RaftSnapshot = new Type("Snapshot")
  .add(new Field("data", 1, "bytes"))
  .add(new Field("metadata", 2, "raftpb.SnapshotMetadata"))

/**
 * `walpb.Snapshot`: index (1), term (2), conf_state (3, present since etcd 3.5 for index > 0).
 *
 * @since 0.1.0
 * @category schema
 */
export const WalSnapshot = new Type("Snapshot")
  .add(new Field("index", 1, "uint64"))
  .add(new Field("term", 2, "uint64"))
  .add(new Field("conf_state", 3, "raftpb.ConfState"))

/**
 * `snappb.Snapshot`: crc (uint32, 1), data (bytes, 2) — the whole content of a `.snap` file.
 *
 * @since 0.1.0
 * @category schema
 */
export const SnapFile = new Type("Snapshot")
  .add(new Field("crc", 1, "uint32"))
  .add(new Field("data", 2, "bytes"))

root.define("walpb").add(Record).add(WalSnapshot)
root.define("raftpb").add(Entry).add(HardState).add(ConfState).add(SnapshotMetadata).add(RaftSnapshot)
root.define("snappb").add(SnapFile)
root.resolveAll()

/**
 * A decoded `raftpb.ConfState`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfStateValue {
  readonly voters: ReadonlyArray<bigint>
  readonly learners: ReadonlyArray<bigint>
  readonly votersOutgoing: ReadonlyArray<bigint>
  readonly learnersNext: ReadonlyArray<bigint>
  readonly autoLeave: boolean
}

/**
 * The empty ConfState go-binlogger writes (encodes to `28 00`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const emptyConfState: ConfStateValue = {
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false
}

/**
 * A decoded `walpb.Snapshot` (the payload of a WAL snapshot record).
 *
 * @since 0.1.0
 * @category models
 */
export interface WalSnapshotValue {
  readonly index: bigint
  readonly term: bigint
  readonly confState?: ConfStateValue | undefined
}

/**
 * A decoded `raftpb.HardState`.
 *
 * @since 0.1.0
 * @category models
 */
export interface HardStateValue {
  readonly term: bigint
  readonly vote: bigint
  readonly commit: bigint
}

/**
 * A decoded `raftpb.Snapshot` (the payload of a `.snap` file).
 *
 * @since 0.1.0
 * @category models
 */
export interface RaftSnapshotValue {
  readonly data?: Uint8Array | undefined
  readonly index: bigint
  readonly term: bigint
  readonly confState: ConfStateValue
}

/**
 * Converts a protobufjs 64-bit value (`Long`, number or string) to a `bigint`, exactly.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toBigInt = (value: unknown): bigint => {
  if (typeof value === "bigint") return value
  if (typeof value === "number") return BigInt(value)
  if (typeof value === "string") return BigInt(value)
  if (value !== null && typeof value === "object" && "toString" in value) return BigInt(String(value))
  return 0n
}

const u64 = (n: bigint): string => n.toString()

const confStateToObject = (cs: ConfStateValue) => ({
  voters: cs.voters.map(u64),
  learners: cs.learners.map(u64),
  voters_outgoing: cs.votersOutgoing.map(u64),
  learners_next: cs.learnersNext.map(u64),
  auto_leave: cs.autoLeave
})

interface ConfStateObject {
  voters?: ReadonlyArray<unknown>
  learners?: ReadonlyArray<unknown>
  voters_outgoing?: ReadonlyArray<unknown>
  learners_next?: ReadonlyArray<unknown>
  auto_leave?: boolean
}

const confStateFromObject = (o: ConfStateObject | null | undefined): ConfStateValue => ({
  voters: (o?.voters ?? []).map(toBigInt),
  learners: (o?.learners ?? []).map(toBigInt),
  votersOutgoing: (o?.voters_outgoing ?? []).map(toBigInt),
  learnersNext: (o?.learners_next ?? []).map(toBigInt),
  autoLeave: o?.auto_leave ?? false
})

/**
 * Encodes a `raftpb.ConfState`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeConfState = (cs: ConfStateValue): Uint8Array =>
  ConfState.encode(ConfState.fromObject(confStateToObject(cs))).finish()

/**
 * Encodes a `walpb.Snapshot`; `conf_state` is written only when given (etcd ≥ 3.5 layout), so
 * `{index: 0n, term: 0n}` gives `08 00 10 00` and go-binlogger's records `08 <index> 10 00 1a 02 28 00`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeWalSnapshot = (s: WalSnapshotValue): Uint8Array => {
  const o: Record<string, unknown> = { index: u64(s.index), term: u64(s.term) }
  if (s.confState !== undefined) o.conf_state = confStateToObject(s.confState)
  return WalSnapshot.encode(WalSnapshot.fromObject(o)).finish()
}

/**
 * Decodes a `walpb.Snapshot`; throws protobufjs' error on malformed input (callers wrap it).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeWalSnapshot = (bytes: Uint8Array): WalSnapshotValue => {
  const m = WalSnapshot.toObject(WalSnapshot.decode(bytes), { longs: String, defaults: false }) as {
    index?: string
    term?: string
    conf_state?: ConfStateObject
  }
  return {
    index: toBigInt(m.index ?? 0),
    term: toBigInt(m.term ?? 0),
    confState: m.conf_state === undefined ? undefined : confStateFromObject(m.conf_state)
  }
}

/**
 * Encodes a `raftpb.HardState` (all three fields always present).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeHardState = (h: HardStateValue): Uint8Array =>
  HardState.encode(HardState.fromObject({ term: u64(h.term), vote: u64(h.vote), commit: u64(h.commit) })).finish()

/**
 * Decodes a `raftpb.HardState`; throws on malformed input.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeHardState = (bytes: Uint8Array): HardStateValue => {
  const m = HardState.toObject(HardState.decode(bytes), { longs: String }) as {
    term?: string
    vote?: string
    commit?: string
  }
  return { term: toBigInt(m.term ?? 0), vote: toBigInt(m.vote ?? 0), commit: toBigInt(m.commit ?? 0) }
}

/**
 * Encodes a `raftpb.Snapshot` (data only when given, metadata always, conf_state always).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeRaftSnapshot = (s: RaftSnapshotValue): Uint8Array => {
  const o: Record<string, unknown> = {
    metadata: { conf_state: confStateToObject(s.confState), index: u64(s.index), term: u64(s.term) }
  }
  if (s.data !== undefined) o.data = s.data
  return RaftSnapshot.encode(RaftSnapshot.fromObject(o)).finish()
}

/**
 * Decodes a `raftpb.Snapshot`; throws on malformed input.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeRaftSnapshot = (bytes: Uint8Array): RaftSnapshotValue => {
  const m = RaftSnapshot.toObject(RaftSnapshot.decode(bytes), { longs: String, defaults: false }) as {
    data?: Uint8Array
    metadata?: { conf_state?: ConfStateObject; index?: string; term?: string }
  }
  return {
    data: m.data === undefined ? undefined : new Uint8Array(m.data),
    index: toBigInt(m.metadata?.index ?? 0),
    term: toBigInt(m.metadata?.term ?? 0),
    confState: confStateFromObject(m.metadata?.conf_state)
  }
}

/**
 * Encodes a `snappb.Snapshot` (crc and data always present).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeSnapFile = (crc: number, data: Uint8Array): Uint8Array =>
  SnapFile.encode(SnapFile.fromObject({ crc, data })).finish()

/**
 * Decodes a `snappb.Snapshot`; throws on malformed input.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeSnapFile = (bytes: Uint8Array): { readonly crc: number; readonly data: Uint8Array | undefined } => {
  const m = SnapFile.toObject(SnapFile.decode(bytes), { defaults: false }) as { crc?: number; data?: Uint8Array }
  return { crc: m.crc ?? 0, data: m.data === undefined ? undefined : new Uint8Array(m.data) }
}
