// The `--cycles N` flag of the torture scripts (exits with a usage line when it is not a positive integer).
export const cyclesArg = (script: string, fallback: number): number => {
  const args = process.argv.slice(2)
  const at = args.indexOf("--cycles")
  const cycles = at >= 0 ? Number(args[at + 1]) : fallback
  if (!Number.isInteger(cycles) || cycles < 1) {
    process.stderr.write(`usage: ${script} --cycles N\n`)
    process.exit(2)
  }
  return cycles
}
