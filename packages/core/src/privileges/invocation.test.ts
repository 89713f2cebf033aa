import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { commandLine, type Invocation, invocationOf, programOf, withOptions } from "./invocation.js"

describe("the invocation of this process", () => {
  const table: ReadonlyArray<{
    readonly what: string
    readonly facts: Parameters<typeof invocationOf>[0]
    readonly invocation: Invocation
  }> = [
    {
      what: "node running the script: the script is argv[1], the arguments follow",
      facts: {
        execPath: "/usr/bin/node",
        argv: ["/usr/bin/node", "/usr/local/bin/tamanu", "restart", "api"],
        singleExecutable: false,
      },
      invocation: { executable: "/usr/bin/node", script: "/usr/local/bin/tamanu", args: ["restart", "api"] },
    },
    {
      what: "a single executable: argv[1] is the executable again, not a script",
      facts: {
        execPath: "/usr/bin/tamanu",
        argv: ["/usr/bin/tamanu", "tamanu", "restart", "api"],
        singleExecutable: true,
      },
      invocation: { executable: "/usr/bin/tamanu", script: null, args: ["restart", "api"] },
    },
    {
      what: "no arguments at all",
      facts: { execPath: "/usr/bin/tamanu", argv: ["/usr/bin/tamanu", "/usr/bin/tamanu"], singleExecutable: true },
      invocation: { executable: "/usr/bin/tamanu", script: null, args: [] },
    },
  ]
  for (const row of table) {
    it(row.what, () => {
      expect(invocationOf(row.facts)).toEqual(row.invocation)
    })
  }

  it("the program a rule names: the executable, and the script a Node executable runs", () => {
    expect(programOf({ executable: "/usr/bin/node", script: "/usr/local/bin/tamanu", args: ["x"] })).toEqual([
      "/usr/bin/node",
      "/usr/local/bin/tamanu",
    ])
    expect(programOf({ executable: "/usr/bin/tamanu", script: null, args: ["x"] })).toEqual(["/usr/bin/tamanu"])
  })
})

describe("the re-run: the same arguments plus the carried options", () => {
  const sea = (args: ReadonlyArray<string>): Invocation => ({ executable: "/usr/bin/tamanu", script: null, args })
  const table: ReadonlyArray<readonly [string, ReadonlyArray<string>, ReadonlyArray<string>, ReadonlyArray<string>]> = [
    ["nothing carried: unchanged", ["stop", "tasks"], [], ["stop", "tasks"]],
    [
      "appended after the arguments",
      ["stop", "tasks"],
      ["--root=/etc/tamanu"],
      ["stop", "tasks", "--root=/etc/tamanu"],
    ],
    [
      "before the first --, after which every argument is a NAME",
      ["restart", "--wait", "30s", "--", "api", "--", "x"],
      ["--kind=central", "--color=never"],
      ["restart", "--wait", "30s", "--kind=central", "--color=never", "--", "api", "--", "x"],
    ],
    ["a -- first", ["--", "api"], ["--kind=central"], ["--kind=central", "--", "api"]],
    ["no arguments", [], ["--kind=central"], ["--kind=central"]],
  ]
  for (const [what, args, options, rerun] of table) {
    it(what, () => {
      expect(withOptions(sea(args), options)).toEqual(sea(rerun))
      expect(commandLine(withOptions(sea(args), options))).toEqual(["/usr/bin/tamanu", ...rerun])
    })
  }

  it("keeps every original argument, in order, and the program; options land before the first -- (1000 generated)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant("--"), fc.string({ maxLength: 8 })), { maxLength: 10 }),
        fc.array(
          fc.string({ minLength: 1, maxLength: 8 }).map((s) => `--${s}`),
          { maxLength: 4 },
        ),
        fc.option(fc.constant("/usr/local/bin/tamanu"), { nil: null }),
        (args, options, script) => {
          const rerun = withOptions({ executable: "/usr/bin/node", script, args }, options)
          expect(rerun.executable).toBe("/usr/bin/node")
          expect(rerun.script).toBe(script)
          const end = args.indexOf("--")
          const at = end === -1 ? args.length : end
          expect(rerun.args).toEqual([...args.slice(0, at), ...options, ...args.slice(at)])
        },
      ),
      { numRuns: 1000 },
    )
  })
})
