import { describe, expect, it } from "vitest"
import { asksVersion, colorFromArgv, hoistLogLevel, refusedBuiltIn } from "./argv.js"

const argv = (...args: ReadonlyArray<string>) => ["node", "tamanu", ...args]

describe("hoistLogLevel", () => {
  it.each([
    [argv("status", "--json", "--log-level", "debug"), argv("--log-level", "debug", "status", "--json")],
    [
      argv("restart", "--dry-run", "--log-level=error", "api"),
      argv("--log-level=error", "restart", "--dry-run", "api"),
    ],
    [argv("--log-level", "info", "status"), argv("--log-level", "info", "status")],
    [
      argv("status", "--log-level", "debug", "--", "--log-level"),
      argv("--log-level", "debug", "status", "--", "--log-level"),
    ],
  ])("moves --log-level before the command: %j", (input, expected) => {
    expect(hoistLogLevel(input)).toEqual(expected)
  })

  it.each([[argv("status", "--json")], [argv("status", "--log-level")], [argv("status", "--", "--log-level", "x")]])(
    "leaves everything else as it was: %j",
    (input) => {
      expect(hoistLogLevel(input)).toEqual(input)
    },
  )
})

describe("colorFromArgv (for what prints before parsing)", () => {
  it.each([
    [argv("status"), "auto"],
    [argv("status", "--color", "never"), "never"],
    [argv("status", "--color=always"), "always"],
    [argv("stop", "tasks", "--color=never", "--color", "always"), "always"],
    [argv("status", "--color", "sometimes"), "auto"],
    [argv("status", "--color"), "auto"],
    [argv("status", "--", "--color=never"), "auto"],
  ] as const)("%j: %s", (input, expected) => {
    expect(colorFromArgv(input)).toBe(expected)
  })
})

describe("refusedBuiltIn: @effect/cli's own options a run under sudo refuses", () => {
  it.each([
    [argv("--wizard"), 1001, "--wizard"],
    [argv("restart", "--wizard"), 1001, "--wizard"],
    [argv("restart", "--wizard=true"), 1001, "--wizard"],
    [argv("restart", "--", "--wizard"), 1001, "--wizard"],
    [argv("--wizard"), null, null],
    [argv("restart", "--help"), 1001, null],
    [argv("--completions", "bash"), 1001, null],
    [argv("restart", "--wizardry"), 1001, null],
  ] as const)("%j for %s: %s", (input, caller, refused) => {
    expect(refusedBuiltIn(input, caller)?.setting ?? null).toBe(refused)
  })
})

describe("asksVersion", () => {
  it.each([
    [argv("--version"), true],
    [argv("--log-level", "debug", "--version"), true],
    [argv("--version", "--log-level=debug"), true],
    [argv(), false],
    [argv("status", "--version"), false],
    [argv("--version", "--help"), false],
    [argv("--", "--version"), false],
    [argv("--versions"), false],
  ])("%j → %s", (input, expected) => {
    expect(asksVersion(input)).toBe(expected)
  })
})
