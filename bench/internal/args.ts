/**
 * Command-line flags of the bench child processes: `--name value` pairs.
 *
 * @since 0.1.0
 */

/**
 * The value after `--name` in this process's arguments, else `fallback`; throws when neither is there.
 *
 * @since 0.1.0
 * @category parsing
 */
export const arg = (name: string, fallback?: string): string => {
  const args = process.argv.slice(2)
  const i = args.indexOf(`--${name}`)
  const v = i >= 0 ? args[i + 1] : fallback
  if (v === undefined) throw new Error(`--${name} is required`)
  return v
}
