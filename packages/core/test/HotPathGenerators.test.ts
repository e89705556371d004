/**
 * The write path makes no generator function per call.
 *
 * `(x) => Effect.gen(function*() { … })` creates a new generator function on every call. V8 gives each generator
 * function object its own initial map, and maps live in the old generation: the map points back to the function,
 * its closure context and everything the call captured (the group's commands, their deferreds, encoded entries).
 * Young-generation GCs treat old objects as roots, so all of that survives every scavenge and is promoted until the
 * next full GC. On the 64-client command benchmark this promoted ~7 MB per scavenge (~6 ms each) and cost ~15% of
 * the throughput; `Effect.fnUntraced(function*(x) { … })` makes the generator function once (bench/eventstore.ts).
 *
 * This test reads the per-command, per-group and per-batch modules and fails on a generator made per call, except in the
 * functions listed below, which run once per writer or store (construction, finalizers).
 */
import * as NFS from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const packages = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../..")

/**
 * Hot modules (relative to `packages/`: the projection runners' per-batch path is checked here too, the rule is the
 * repository's) and the enclosing declarations allowed to make a generator per call (each runs once).
 */
const HOT_MODULES: ReadonlyArray<{ readonly file: string; readonly once: ReadonlyArray<string> }> = [
  { file: "core/src/internal/groupCommit.ts", once: ["make", "finalizer"] },
  { file: "core/src/Wal.ts", once: ["makeWriter", "finalizer", "create", "openForWrite", "openLocked", "onError"] },
  { file: "core/src/internal/fsx.ts", once: [] },
  { file: "core/src/CommandHandler.ts", once: [] },
  { file: "core/src/EventStore.ts", once: [] },
  { file: "core/src/internal/eventstore/store.ts", once: ["make"] },
  { file: "core/src/internal/eventstore/entryIndex.ts", once: ["make"] },
  { file: "core/src/internal/recordSource.ts", once: [] },
  { file: "core/src/BinLogger.ts", once: ["make", "withSnapshot", "finalizer"] },
  { file: "projections/src/internal/engine.ts", once: [] },
  { file: "projections/src/SnapshotRunner.ts", once: [] },
  { file: "projections/src/internal/cursor.ts", once: [] },
  { file: "projections/src/internal/helpers.ts", once: [] },
  { file: "projections/src/internal/maintenance.ts", once: ["rescale"] }
]

const indentOf = (line: string) => line.length - line.trimStart().length

/** The declaration (or finalizer) a line sits in: the nearest less-indented line that opens one. */
const ownerOf = (lines: ReadonlyArray<string>, at: number): string => {
  const own = /^\s*(?:export )?const (\w+)\b/.exec(lines[at]!)
  if (own) return own[1]!
  let indent = indentOf(lines[at]!)
  for (let i = at - 1; i >= 0; i--) {
    const line = lines[i]!
    if (line.trim() === "" || indentOf(line) >= indent) continue
    indent = indentOf(line)
    const decl = /^\s*(?:export )?const (\w+)\b/.exec(line)
    if (decl) return decl[1]!
    if (/Effect\.addFinalizer\(/.test(line)) return "finalizer"
    if (/Effect\.onError\(/.test(line)) return "onError"
    if (indent === 0) {
      // a module-level declaration whose signature spans lines: its name is on the nearest `const` line above
      for (let j = i; j >= 0; j--) {
        const top = /^(?:export )?const (\w+)\b/.exec(lines[j]!)
        if (top) return top[1]!
      }
      return "(module)"
    }
  }
  return "(module)"
}

/** Generators made per call: `Effect.gen(function*` as the body of an arrow function or a `return`. */
const perCallGenerators = (text: string): Array<{ readonly line: number; readonly owner: string }> => {
  const lines = text.split("\n")
  const found: Array<{ line: number; owner: string }> = []
  lines.forEach((line, i) => {
    const at = line.indexOf("Effect.gen(function*")
    if (at < 0) return
    const before = line.slice(0, at)
    const previous = (lines[i - 1] ?? "").trimEnd()
    const perCall = before.includes("=>") || /\breturn\b/.test(before) ||
      (before.trim() === "" && previous.endsWith("=>")) || (before.trim().endsWith("(") && previous.endsWith("=>"))
    if (perCall) found.push({ line: i + 1, owner: ownerOf(lines, i) })
  })
  return found
}

describe("hot-path generators", () => {
  it("the detector finds a per-call generator and its owner (it can fail)", () => {
    const sample = [
      "const ok = Effect.gen(function*() {})",
      "const bad = (x: number) =>",
      "  Effect.gen(function*() {",
      "    yield* Effect.log(x)",
      "  })",
      "const alsoBad = (x: number) => Effect.gen(function*() { return x })"
    ].join("\n")
    expect(perCallGenerators(sample)).toEqual([{ line: 3, owner: "bad" }, { line: 6, owner: "alsoBad" }])
  })

  for (const { file, once } of HOT_MODULES) {
    it(`${file}: no generator function made per call outside ${once.length === 0 ? "—" : once.join(", ")}`, () => {
      const text = NFS.readFileSync(Path.join(packages, file), "utf8")
      const offending = perCallGenerators(text).filter((g) => !once.includes(g.owner))
      expect(offending.map((g) => `${file}:${g.line} in ${g.owner}`)).toEqual([])
    })
  }
})
