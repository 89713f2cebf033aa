import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { cliReference } from "./cliReference.js"

describe("docs/cli.md", () => {
  it("is the reference generated from the command tree (run `npm run docs` when this fails)", () => {
    const onDisk = readFileSync(new URL("../../../../docs/cli.md", import.meta.url), "utf8")
    expect(onDisk).toBe(cliReference())
  })

  it("documents every option of every command", () => {
    const text = cliReference()
    for (const option of [
      "--root",
      "--supervisor",
      "--systemd-scope",
      "--kind",
      "--json",
      "--all",
      "--ignore-unmatched",
      "--up-only",
      "--no-probe-http",
      "--probe-timeout",
      "--cooldown",
      "--check-url",
      "--logs",
      "--db-wait",
      "--dry-run",
      "--wait",
    ]) {
      expect(text).toContain(option)
    }
  })
})
