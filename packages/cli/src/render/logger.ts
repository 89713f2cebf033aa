/**
 * Log lines for a person: `warning: <sentence>`, on stderr, never on stdout
 * (stdout holds the result, or the one `--json` document).
 *
 * Core logs through Effect's logger (what a service noticed on its way:
 * the database did not answer, no probe URL could be built, each systemctl
 * call at debug level) and never reaches the console by itself; the CLI
 * installs this logger in place of Effect's default one, whose format (a
 * clock time, `WARN`, a fiber id) means nothing to an operator and which
 * wrote to stdout. `--log-level` (@effect/cli's own option) sets which
 * levels get here; the default shows info and above.
 *
 * Colour follows the rule of every other line (color.ts). Credentials are
 * masked as in error messages: a log line may quote a connection URL.
 */
import { Cause, FiberRefs, Logger, type LogLevel } from "effect"
import { colorEnabled, currentColorChoice, type Palette, palette } from "./color.js"
import { redactSecrets } from "./errors.js"
import type { TextSink } from "./progress.js"

/** The word an operator reads for each level. */
export const levelWord = (level: LogLevel.LogLevel): string => {
  switch (level._tag) {
    case "Fatal":
      return "fatal"
    case "Error":
      return "error"
    case "Warning":
      return "warning"
    case "Info":
      return "info"
    case "Debug":
      return "debug"
    case "Trace":
      return "trace"
    default:
      // All and None are thresholds, not levels a line is logged at.
      return level.label.toLowerCase()
  }
}

const part = (m: unknown): string =>
  typeof m === "string" ? m : m instanceof Error ? m.message : (JSON.stringify(m) ?? String(m))

/** Effect passes `Effect.log("a", b)` as an array; one line of text either way. */
const messageText = (message: unknown): string => (Array.isArray(message) ? message : [message]).map(part).join(" ")

export interface LogEntry {
  readonly logLevel: LogLevel.LogLevel
  readonly message: unknown
  readonly cause: Cause.Cause<unknown>
}

/**
 * One log entry as text, without a trailing newline: the level word, then the
 * sentence; any further lines (a multi-line message, a cause) indented under it.
 */
export const renderLogLine = (entry: LogEntry, p: Palette): string => {
  const text = messageText(entry.message)
  const cause = Cause.isEmpty(entry.cause) ? "" : Cause.pretty(entry.cause)
  const [first = "", ...rest] = redactSecrets(cause === "" ? text : `${text}\n${cause}`).split("\n")
  const word = levelWord(entry.logLevel)
  const styled =
    entry.logLevel._tag === "Fatal" || entry.logLevel._tag === "Error"
      ? p.red(`${word}:`)
      : entry.logLevel._tag === "Warning"
        ? p.yellow(`${word}:`)
        : entry.logLevel._tag === "Info"
          ? p.bold(`${word}:`)
          : p.dim(`${word}:`)
  return [`${styled} ${first}`, ...rest.map((line) => `  ${line}`)].join("\n")
}

export interface CliLoggerOptions {
  readonly stream: TextSink & { readonly isTTY?: boolean | undefined }
  /** Asked at each line (with the logging fiber's refs), so a logger made once follows the stream and `--color`. */
  readonly color: (context: FiberRefs.FiberRefs) => boolean
}

/** Carriage return and erase the line: a spinner's line (progress.ts) gives way to the log line. */
const CLEAR_LINE = "\r\u001b[2K"

/** A logger that writes each entry as `level: sentence` to `stream`. */
export const cliLogger = (options: CliLoggerOptions): Logger.Logger<unknown, void> =>
  Logger.make((entry) => {
    const line = renderLogLine(entry, palette(options.color(entry.context)))
    // On a terminal a spinner may be on the current line: clear it first (it redraws below).
    options.stream.write(`${options.stream.isTTY === true ? CLEAR_LINE : ""}${line}\n`)
  })

/**
 * The CLI's logger: stderr, coloured by the stream's own TTY/NO_COLOR rule
 * unless the command's `--color` says otherwise.
 * One instance, so installing it twice (the binary, and each command for
 * when the commands are mounted in another program) still writes each line once.
 */
export const stderrLogger: Logger.Logger<unknown, void> = cliLogger({
  stream: process.stderr,
  color: (context) => colorEnabled(process.stderr, process.env, FiberRefs.getOrDefault(context, currentColorChoice)),
})

/**
 * The CLI's logger beside the program's own loggers, for each command: mounted
 * in another @effect/cli program, a command still says what it noticed on
 * stderr in this format (core never writes to Effect's console loggers).
 */
export const CliLoggerLive = Logger.add(stderrLogger)
