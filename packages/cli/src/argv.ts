/**
 * @effect/cli reads its built-in `--log-level` only before the command's own
 * options: `tamanu status --log-level debug --json` works, but
 * `tamanu status --json --log-level debug` fails as an unknown option, and
 * `tamanu restart --dry-run --log-level=debug` too, although `--help` lists
 * `--log-level` among every command's options. So the binary moves each
 * `--log-level LEVEL` / `--log-level=LEVEL` to the front of the arguments
 * (`tamanu --log-level debug status --json`, a form @effect/cli accepts)
 * before parsing. Nothing after a `--` is touched: that is NAMES.
 */
export const hoistLogLevel = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const [runtime, script, ...args] = argv
  if (runtime === undefined || script === undefined) return argv
  const end = args.indexOf("--")
  const head = end === -1 ? args : args.slice(0, end)
  const tail = end === -1 ? [] : args.slice(end)
  const hoisted: Array<string> = []
  const rest: Array<string> = []
  for (let i = 0; i < head.length; i++) {
    const arg = head[i] ?? ""
    const value = head[i + 1]
    if (arg.startsWith("--log-level=")) hoisted.push(arg)
    else if (arg === "--log-level" && value !== undefined) {
      hoisted.push(arg, value)
      i++
    } else rest.push(arg)
  }
  return hoisted.length === 0 ? argv : [runtime, script, ...hoisted, ...rest, ...tail]
}

/**
 * Whether the command line is `tamanu --version` (with at most a
 * `--log-level`): the CLI answers that itself, with its version and its
 * Node's (runtime.ts), where @effect/cli would print only the version it was
 * given, which also heads every `--help`, the same whichever Node runs it.
 */
export const asksVersion = (argv: ReadonlyArray<string>): boolean => {
  const args = hoistLogLevel(argv).slice(2)
  const rest = args[0] === "--log-level" ? args.slice(2) : args[0]?.startsWith("--log-level=") ? args.slice(1) : args
  return rest.length === 1 && rest[0] === "--version"
}
