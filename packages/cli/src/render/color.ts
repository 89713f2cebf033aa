/**
 * When the CLI may colour its output, and the few styles it uses.
 *
 * Colour only helps a person looking at a terminal: a pipe, a log file or a
 * `TERM=dumb` console gets plain text, and `NO_COLOR` (no-color.org: any
 * non-empty value) turns it off. An explicit `--color always|never` says it
 * outright; a re-run under sudo is told the decision its parent made
 * (settings.ts), since sudo does not pass NO_COLOR on. The caller decides
 * once, from the stream it writes to, and passes the answer down;
 * rendering never looks at `process`.
 */
import { FiberRef } from "effect"
import picocolors from "picocolors"

/** `auto`: the rule above, per stream; `always` and `never` say it outright. */
export type ColorChoice = "auto" | "always" | "never"
export const colorChoices = ["auto", "always", "never"] as const

export const colorEnabled = (
  stream: { readonly isTTY?: boolean | undefined },
  env: NodeJS.ProcessEnv,
  choice: ColorChoice = "auto",
): boolean =>
  choice === "auto" ? stream.isTTY === true && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb" : choice === "always"

/** The `--color` of the command running on this fiber, for what renders without being told (the log lines). */
export const currentColorChoice: FiberRef.FiberRef<ColorChoice> = FiberRef.unsafeMake<ColorChoice>("auto")

export type Style = (text: string) => string

/** The styles the renderers use; identity functions when colour is off. */
export interface Palette {
  readonly enabled: boolean
  readonly bold: Style
  readonly dim: Style
  readonly green: Style
  readonly red: Style
  readonly yellow: Style
  readonly cyan: Style
}

export const palette = (enabled: boolean): Palette => {
  const c = picocolors.createColors(enabled)
  return { enabled, bold: c.bold, dim: c.dim, green: c.green, red: c.red, yellow: c.yellow, cyan: c.cyan }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
const ansi = /\u001b\[[0-9;]*m/g

/** The text without colour escapes (for measuring and for tests). */
export const stripAnsi = (text: string): string => text.replace(ansi, "")

/**
 * Columns a string takes in a terminal. Code points, not UTF-16 units, after
 * removing colour: everything we print (service names, `×`, `●`, `✓`, `↻`,
 * `→`) is one column wide, so no East-Asian width table is needed.
 */
export const visibleWidth = (text: string): number => Array.from(stripAnsi(text)).length
