/**
 * Typed errors of projections, sinks and runners.
 *
 * A projection that fails while applying a range reports {@link ProjectionFailed}, which names the projection, the
 * entry index and the original error (`cause`). Sinks report {@link SinkError} for anything their store rejects.
 * {@link CheckpointAhead} and {@link CheckpointGap} are consistency checks: a read model that claims to be ahead of
 * the log, or that missed entries the log no longer has, is never silently "caught up".
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The sink (memory, SQLite, PostgreSQL) failed: opening, reading or writing the checkpoint, beginning or committing
 * a transaction. The transaction was rolled back (nothing of it is visible).
 *
 * @since 0.1.0
 * @category errors
 */
export class SinkError extends Schema.TaggedError<SinkError>()("SinkError", {
  sink: Schema.String,
  operation: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `${this.sink} sink: ${this.operation} failed${detail}`
  }
}

/**
 * A projection's handler (or its event decoding, or its batch flush) failed on the entry at `index`. The sink
 * transaction holding that entry was rolled back; its checkpoint is unchanged, so the entry is delivered again.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProjectionFailed extends Schema.TaggedError<ProjectionFailed>()("ProjectionFailed", {
  projection: Schema.String,
  version: Schema.Number,
  /** Index of the failing entry (the last entry of the batch when the batch flush failed). */
  index: Schema.String,
  /** The event type, when the entry was an envelope. */
  eventType: Schema.optional(Schema.String),
  cause: Schema.Defect()
}) {
  override get message(): string {
    const what = this.eventType === undefined ? "" : ` (${this.eventType})`
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `projection ${this.projection} v${this.version} failed at index ${this.index}${what}${detail}`
  }
}

/**
 * The stored checkpoint of a projection is above the log's durable index: the read model was built from another
 * (or a longer, since truncated) log. Applying would silently skip entries, so the runner refuses.
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointAhead extends Schema.TaggedError<CheckpointAhead>()("CheckpointAhead", {
  projection: Schema.String,
  version: Schema.Number,
  checkpoint: Schema.String,
  currentIndex: Schema.String
}) {
  override get message(): string {
    return `projection ${this.projection} v${this.version} is at ${this.checkpoint}, beyond the log's durable index ` +
      `${this.currentIndex}: the read model does not belong to this log`
  }
}

/**
 * A projection needs entries the log no longer has (its checkpoint is below the first retained index): it was
 * added after those segments were purged, or its sink lost data. Rebuild it from an archive, or reset it.
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointGap extends Schema.TaggedError<CheckpointGap>()("CheckpointGap", {
  projection: Schema.String,
  version: Schema.Number,
  checkpoint: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `projection ${this.projection} v${this.version} at ${this.checkpoint} cannot continue: ${this.reason}`
  }
}

/**
 * `awaitPosition`, `position` or `lag` named a projection the runner does not run.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProjectionNotFound extends Schema.TaggedError<ProjectionNotFound>()("ProjectionNotFound", {
  projection: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `no projection named ${this.projection} (this runner runs: ${this.known.join(", ") || "none"})`
  }
}

/**
 * Two projections registered with one runner share a name (and would share a checkpoint row).
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateProjection extends Schema.TaggedError<DuplicateProjection>()("DuplicateProjection", {
  projection: Schema.String
}) {
  override get message(): string {
    return `projection ${this.projection} is registered twice`
  }
}

/**
 * The projection stopped for good (an error retrying cannot fix, such as {@link CheckpointGap}), so a position it
 * has not reached will never be reached.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProjectionStopped extends Schema.TaggedError<ProjectionStopped>()("ProjectionStopped", {
  projection: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `projection ${this.projection} stopped: ${this.reason}`
  }
}

/**
 * The projection halted on a poison entry under the `stop` policy. The halted state is stored in the sink: the
 * projection stays halted across restarts until `runner.resume(name)`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProjectionHalted extends Schema.TaggedError<ProjectionHalted>()("ProjectionHalted", {
  projection: Schema.String,
  version: Schema.Number,
  /** The entry it halted on. */
  index: Schema.String,
  error: Schema.String
}) {
  override get message(): string {
    return `projection ${this.projection} v${this.version} is halted at index ${this.index}: ${this.error}`
  }
}

/**
 * The lane layout of a projection cannot be changed now (an old lane is halted or has parked entries).
 *
 * @since 0.1.0
 * @category errors
 */
export class LanesRescaleRefused extends Schema.TaggedError<LanesRescaleRefused>()("LanesRescaleRefused", {
  projection: Schema.String,
  version: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `projection ${this.projection} v${this.version}: cannot change its lanes: ${this.reason}`
  }
}

/**
 * A rebuild cannot cut over (it is behind the serving version), or the cutover or drop was refused.
 *
 * @since 0.1.0
 * @category errors
 */
export class RebuildError extends Schema.TaggedError<RebuildError>()("RebuildError", {
  projection: Schema.String,
  version: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `rebuild of ${this.projection} v${this.version}: ${this.reason}`
  }
}
