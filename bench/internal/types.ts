/**
 * The shapes shared by every benchmark module: the row written to `bench/results/latest.json` and the context
 * `bench/run.ts` hands to each module.
 *
 * Contract for row modules (`bench/wal.ts`, `bench/codec.ts`, and the optional `bench/eventstore.ts`,
 * `bench/projections.ts`): export `run(ctx: BenchContext)` returning rows, as an array, a `Promise` of one or an
 * `Effect` of one (run.ts accepts all three; it also accepts the function as the default export or as `rows`/
 * `bench`). Each module makes its own temp directories under `ctx.tmpRoot` and removes them.
 *
 * @since 0.1.0
 */

/**
 * One measurement. `ratio` is always "higher is better": ours ÷ peer for rates, peer ÷ ours for latencies and
 * memory. `target` is the ratio the issue asks for (null for informational rows); `met` says whether the row
 * reached it (null when there is no target or the row failed).
 *
 * @since 0.1.0
 * @category models
 */
export interface Row {
  readonly name: string
  readonly unit: string
  readonly ours: number | null
  readonly peer: number | null
  readonly peerName: string
  readonly ratio: number | null
  readonly target: number | null
  readonly met: boolean | null
  /** What was measured and how, or an absolute limit that applies besides the ratio. */
  readonly note?: string | undefined
  /** Set on rows standing for a module or measurement that failed. */
  readonly error?: string | undefined
  /** Raw samples and parameters, for whoever digs into the JSON. */
  readonly details?: Record<string, unknown> | undefined
}

/**
 * What run.ts passes to every row module.
 *
 * @since 0.1.0
 * @category models
 */
export interface BenchContext {
  /** `--quick`: smaller N and fewer rounds (a smoke run, not figures to quote). */
  readonly quick: boolean
  /** A directory on a real (non-tmpfs) filesystem, shared by ours and the peer, for temp dirs. */
  readonly tmpRoot: string
  /** The repository root. */
  readonly repoRoot: string
  /** Prints a progress line (to stderr, so stdout stays the table). */
  readonly log: (line: string) => void
}

/**
 * A rate row (entries/s and the like): ratio = ours ÷ peer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rateRow = (
  fields: Omit<Row, "ratio" | "met"> & { readonly ours: number; readonly peer: number }
): Row => {
  const ratio = fields.peer > 0 ? fields.ours / fields.peer : null
  return { ...fields, ratio, met: fields.target === null || ratio === null ? null : ratio >= fields.target }
}

/**
 * A cost row (latency, memory: lower is better): ratio = peer ÷ ours. `strict` makes the target a strict
 * inequality ("below theirs" means ratio > 1).
 *
 * @since 0.1.0
 * @category constructors
 */
export const costRow = (
  fields: Omit<Row, "ratio" | "met"> & { readonly ours: number; readonly peer: number },
  strict = false
): Row => {
  const ratio = fields.ours > 0 ? fields.peer / fields.ours : null
  const met = fields.target === null || ratio === null
    ? null
    : strict
    ? ratio > fields.target
    : ratio >= fields.target
  return { ...fields, ratio, met }
}

/**
 * A row standing for a failure, so a broken module shows up in the table instead of vanishing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const errorRow = (name: string, peerName: string, error: unknown): Row => ({
  name,
  unit: "",
  ours: null,
  peer: null,
  peerName,
  ratio: null,
  target: null,
  met: null,
  error: error instanceof Error ? `${error.name}: ${error.message}` : String(error)
})

/**
 * The median of a non-empty list of numbers.
 *
 * @since 0.1.0
 * @category statistics
 */
export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
