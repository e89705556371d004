// Errors of the `binlog` command line (re-exported by `Cli.ts`), and the one-line message every failure becomes.
import * as Schema from "effect/Schema"

/**
 * Arguments that parse but do not make sense together (exit code 2, like a parse error).
 */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/**
 * A line on the standard input of `binlog append` that cannot become an entry (bad base64, too long). The lines
 * before it were appended and acknowledged; nothing after it was read.
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  line: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `stdin line ${this.line}: ${this.reason}`
  }
}

/**
 * `binlog dump` listed every frame but some of them are bad (reported on their own lines).
 */
export class BadFrames extends Schema.TaggedError<BadFrames>()("BadFrames", {
  count: Schema.Number
}) {
  override get message(): string {
    return `${this.count} bad frame${this.count === 1 ? "" : "s"} (see the "error" lines above)`
  }
}

/**
 * `binlog verify` found a problem that is not a typed read error (a `.snap` file that is corrupt, or entries
 * that cannot be read from the start it found).
 */
export class VerifyFailed extends Schema.TaggedError<VerifyFailed>()("VerifyFailed", {
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return this.problems.join("; ")
  }
}

const causeText = (cause: unknown): string => {
  if (cause instanceof Error) return cause.message
  return String(cause)
}

/**
 * The one line shown for a failure: the error's tag (for typed errors of the log) and its message, which names
 * file and offset where there are some. Never a stack trace.
 */
export const describe = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return String(error)
  const tag = "_tag" in error && typeof error._tag === "string" ? error._tag : undefined
  const message = "message" in error && typeof error.message === "string" ? error.message : String(error)
  switch (tag) {
    case undefined:
      return message
    case "WalIoError": {
      const e = error as { op?: unknown; path?: unknown; cause?: unknown }
      return `cannot ${String(e.op)} ${String(e.path)}: ${causeText(e.cause)}`
    }
    case "UnexpectedEof": {
      const e = error as { lastSegment?: unknown }
      return e.lastSegment === true
        ? `${tag}: ${message}: a torn tail (binlog repair truncates it and keeps a .broken copy)`
        : `${tag}: ${message}`
    }
    case "WalLocked":
      return `${tag}: ${message} (another writer is running on this directory)`
    case "UsageError":
    case "InvalidInput":
    case "BadFrames":
    case "VerifyFailed":
    case "RecoveryFailed":
      return message
    default:
      // CLI parse errors carry their own wording; the log's typed errors are named
      return tag.startsWith("~") || /^(MissingOption|UnrecognizedOption|InvalidValue|UnknownSubcommand)/.test(tag)
        ? message
        : `${tag}: ${message}`
  }
}
