import { SudoRefused } from "@tamanu-lifecycle/core/internal"
import { type ColorChoice, colorChoices } from "./render/color.js"

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
 * The `--color` the arguments give (`--color X` or `--color=X`, before any
 * `--`), for what the binary prints before @effect/cli has parsed them (its
 * own help and usage errors); `auto` when none or not a choice (the parser
 * then says so).
 */
export const colorFromArgv = (argv: ReadonlyArray<string>): ColorChoice => {
  const args = argv.slice(2)
  const end = args.indexOf("--")
  const head = end === -1 ? args : args.slice(0, end)
  let found: string | undefined
  for (let i = 0; i < head.length; i++) {
    const arg = head[i] ?? ""
    if (arg.startsWith("--color=")) found = arg.slice("--color=".length)
    else if (arg === "--color") found = head[++i]
  }
  return (colorChoices as ReadonlyArray<string>).includes(found ?? "") ? (found as ColorChoice) : "auto"
}

/**
 * @effect/cli's built-in options a run as root for another user refuses:
 * `--wizard` prompts for each option, and its file and directory prompts
 * list the filesystem as root sees it. Looked for in every argument (a
 * NAME cannot start with `-` anyway). null: none, or not such a run.
 */
export const refusedBuiltIn = (argv: ReadonlyArray<string>, sudoCaller: number | null): SudoRefused | null =>
  sudoCaller !== null && argv.slice(2).some((arg) => /^--wizard(=|$)/.test(arg))
    ? new SudoRefused({
        setting: "--wizard",
        reason:
          "its prompts browse the filesystem as root (the file and directory prompts list what they find); give the options on the command line instead",
      })
    : null

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
