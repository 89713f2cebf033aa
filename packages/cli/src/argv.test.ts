import { describe, expect, it } from "vitest"
import { asksVersion, hoistLogLevel } from "./argv.js"

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
