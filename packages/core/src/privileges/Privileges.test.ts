import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Invocation } from "./invocation.js"
import { commandLine } from "./invocation.js"
import { sudoArgv, suggestedSudoersRule, underSudo, unsafeProgram } from "./Privileges.js"

const node: Invocation = { executable: "/usr/bin/node", script: "/usr/local/bin/tamanu", args: ["stop", "tasks"] }
const sea: Invocation = { executable: "/usr/bin/tamanu", script: null, args: ["stop", "tasks"] }

const invocations = fc.record({
  executable: fc.string({ minLength: 1, maxLength: 20 }),
  script: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: null }),
  args: fc.array(fc.string({ maxLength: 12 }), { maxLength: 8 }),
})

describe("sudo re-exec", () => {
  it("passes exactly the command line after --, so nothing in it is read as a sudo option", () => {
    const argv = { ...node, args: ["restart", "-H", "host", "--now", "api; rm -rf /"] }
    expect(sudoArgv(argv)).toEqual([
      "--",
      "/usr/bin/node",
      "/usr/local/bin/tamanu",
      "restart",
      "-H",
      "host",
      "--now",
      "api; rm -rf /",
    ])
  })

  it("a single executable is run as itself, never with its own path again as an argument", () => {
    expect(sudoArgv(sea)).toEqual(["--", "/usr/bin/tamanu", "stop", "tasks"])
  })

  it("never asks sudo to set or keep any environment, whatever the command line (1000 generated)", () => {
    fc.assert(
      fc.property(invocations, (invocation) => {
        const args = sudoArgv(invocation)
        expect(args[0]).toBe("--")
        expect(args.slice(1)).toEqual(commandLine(invocation))
      }),
      { numRuns: 1000 },
    )
  })

  it("a run under sudo (SUDO_UID set) never asks again", () => {
    expect(underSudo({ SUDO_UID: "1000" })).toBe(true)
    expect(underSudo({ SUDO_UID: "" })).toBe(false)
    expect(underSudo({})).toBe(false)
  })
})

describe("the sudoers rule tamanu suggests", () => {
  const table: ReadonlyArray<readonly [string, Invocation, string]> = [
    ["node and its script", node, "op ALL=(root) NOPASSWD: /usr/bin/node /usr/local/bin/tamanu *"],
    ["a single executable, named once", sea, "op ALL=(root) NOPASSWD: /usr/bin/tamanu *"],
    [
      "sudoers' special characters escaped",
      { executable: "/opt/my node/node", script: "/opt/a,b:c=d\\e", args: [] },
      "op ALL=(root) NOPASSWD: /opt/my\\ node/node /opt/a\\,b\\:c\\=d\\\\e *",
    ],
  ]
  for (const [what, invocation, rule] of table) {
    it(what, () => {
      expect(suggestedSudoersRule("op", invocation)).toBe(rule)
    })
  }

  it("never SETENV, never an argument of the operator's (1000 generated invocations)", () => {
    fc.assert(
      fc.property(invocations, (invocation) => {
        const rule = suggestedSudoersRule("op", invocation)
        expect(rule).not.toMatch(/SETENV|env_keep/)
        expect(rule.startsWith("op ALL=(root) NOPASSWD: ")).toBe(true)
        expect(rule.endsWith(" *")).toBe(true)
      }),
      { numRuns: 1000 },
    )
  })

  it("no rule for a program the operator can change: the first file that is not safe, and why", () => {
    const trust = (file: string) => (file.startsWith("/home/") ? "/home/op belongs to the user" : null)
    expect(unsafeProgram(node, trust)).toBeNull()
    expect(unsafeProgram({ ...node, executable: "/home/op/.nvm/node" }, trust)).toBe(
      "/home/op/.nvm/node: /home/op belongs to the user",
    )
    expect(unsafeProgram({ ...node, script: "/home/op/bin/tamanu" }, trust)).toBe(
      "/home/op/bin/tamanu: /home/op belongs to the user",
    )
    expect(unsafeProgram({ ...sea, executable: "/home/op/tamanu" }, trust)).toMatch(/^\/home\/op\/tamanu: /)
  })
})
