import * as fs from "node:fs"
import { commandLine, invocationOf } from "@tamanu-lifecycle/core/internal"
import { describe, expect, it } from "vitest"
import { cliVersion, currentRuntime, type Runtime, versionLine } from "./runtime.js"

const script: Runtime = {
  sea: false,
  execPath: "/usr/bin/node",
  nodeVersion: "v20.20.2",
  platform: "linux",
  arch: "x64",
}
const executable: Runtime = {
  sea: true,
  execPath: "/usr/bin/tamanu",
  nodeVersion: "v26.12.1",
  platform: "linux",
  arch: "x64",
}

/** The re-run under sudo (core's invocation, as handlers.ts builds it), for a process with these facts. */
const rerun = (argv: ReadonlyArray<string>, runtime: Runtime) =>
  commandLine(invocationOf({ execPath: runtime.execPath, argv, singleExecutable: runtime.sea }))

describe("the re-run's command line", () => {
  it.each([
    [
      script,
      ["/usr/bin/node", "/usr/local/bin/tamanu", "stop", "sync"],
      ["/usr/bin/node", "/usr/local/bin/tamanu", "stop", "sync"],
    ],
    [executable, ["/usr/bin/tamanu", "tamanu", "stop", "sync"], ["/usr/bin/tamanu", "stop", "sync"]],
    [
      executable,
      ["/usr/bin/tamanu", "./tamanu", "restart", "--", "tamanu"],
      ["/usr/bin/tamanu", "restart", "--", "tamanu"],
    ],
    [executable, ["/usr/bin/tamanu", "/usr/local/bin/t", "start"], ["/usr/bin/tamanu", "start"]],
    [executable, ["/usr/bin/tamanu", "tamanu"], ["/usr/bin/tamanu"]],
  ])("%j, argv %j → %j", (runtime, argv, expected) => {
    expect(rerun(argv, runtime)).toEqual(expected)
  })

  it("a single executable's re-run carries every argument after the name typed, in order, and names the executable", () => {
    const args = ["stop", "--root", "/opt/x y", "--", "--json", ""]
    const line = rerun(["/usr/bin/tamanu", "tamanu", ...args], executable)
    expect(line[0]).toBe("/usr/bin/tamanu")
    expect(line.slice(1)).toEqual(args)
  })
})

describe("--version", () => {
  it("says the CLI's version and the Node it runs on, and whether that Node is built in", () => {
    expect(versionLine(script)).toBe("0.1.0 (Node.js v20.20.2, linux-x64)")
    expect(versionLine(executable)).toBe("0.1.0 (Node.js v26.12.1, linux-x64, built in)")
  })

  it("the CLI's version is the package's", () => {
    const pkg = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
    expect(cliVersion).toBe(pkg.version)
  })

  it("this test process is not a single executable", () => {
    expect(currentRuntime().sea).toBe(false)
  })
})
