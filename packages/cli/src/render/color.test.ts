import { describe, expect, it } from "vitest"
import { colorEnabled, palette, stripAnsi, visibleWidth } from "./color.js"

describe("colorEnabled", () => {
  const cases: ReadonlyArray<readonly [string, boolean | undefined, NodeJS.ProcessEnv, boolean]> = [
    ["a TTY with a normal TERM", true, { TERM: "xterm-256color" }, true],
    ["a TTY with no TERM at all", true, {}, true],
    ["a pipe", false, { TERM: "xterm" }, false],
    ["a stream that does not say", undefined, { TERM: "xterm" }, false],
    ["a TTY with NO_COLOR=1", true, { TERM: "xterm", NO_COLOR: "1" }, false],
    ["a TTY with NO_COLOR=0 (any non-empty value counts)", true, { NO_COLOR: "0" }, false],
    ["a TTY with an empty NO_COLOR (treated as unset)", true, { NO_COLOR: "" }, true],
    ["a TTY with TERM=dumb", true, { TERM: "dumb" }, false],
  ]
  for (const [what, isTTY, env, expected] of cases) {
    it(`${expected ? "colours" : "does not colour"} ${what}`, () => {
      expect(colorEnabled(isTTY === undefined ? {} : { isTTY }, env)).toBe(expected)
    })
  }
})

describe("palette", () => {
  it("adds escapes only when enabled", () => {
    expect(palette(false).red("x")).toBe("x")
    expect(palette(true).red("x")).not.toBe("x")
    expect(stripAnsi(palette(true).red("x"))).toBe("x")
  })

  it("measures the symbols the tables use as one column each", () => {
    expect(visibleWidth(palette(true).green("up ×2 ●"))).toBe(7)
  })
})
