/**
 * Text formats shared by command lines built on binlog (the `binlog` bin and `@binlog/projections`'
 * `ProjectionsCli`): JSON with exact 64-bit integers, and plain text tables.
 *
 * @since 0.1.0
 */

/**
 * JSON with bigints written as decimal strings (indexes are unsigned 64-bit and do not fit a JSON number).
 *
 * @since 0.1.0
 * @category formatting
 */
export const json = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v))

/**
 * Left-aligned text columns, two spaces apart, a header line first, each line ending in a newline. The last column
 * is not padded, and trailing spaces are trimmed.
 *
 * @since 0.1.0
 * @category formatting
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd()
  return [line(header), ...rows.map(line)].join("\n") + "\n"
}
