/**
 * `npm run demo` end to end, as a person runs it: the built
 * `dist/demo/main.js` as a child process against a real supervisor and a
 * real Caddy. It must end with a result line reporting zero failed requests,
 * and leave nothing behind, also when interrupted with Ctrl+C (SIGINT).
 */
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Schedule } from "effect"
import { describe, expect, it } from "vitest"
import { pidsWithCommandLine, spawnChild } from "../e2e/sandboxHost.js"
import { caddyPrerequisite } from "../harness/caddy.js"
import { pm2Prerequisite } from "../harness/pm2Daemon.js"
import { podmanPrerequisite } from "../harness/podman.js"
import { isRoot, skipUnless } from "../harness/prerequisites.js"
import { userManagerPrerequisite } from "../harness/systemdUserManager.js"

const demoMain = fileURLToPath(new URL("../../dist/demo/main.js", import.meta.url))
const demoSource = fileURLToPath(new URL("./main.ts", import.meta.url))

/** The demo that ships is the built one; a stale build would test old code. */
const requireBuiltDemo = () => {
  if (!fs.existsSync(demoMain)) throw new Error(`${demoMain} does not exist: run npm run build`)
  if (fs.statSync(demoSource).mtimeMs > fs.statSync(demoMain).mtimeMs)
    throw new Error(`${demoMain} is older than ${demoSource}: run npm run build`)
}

interface DemoState {
  readonly dir: string
  readonly pids: ReadonlyArray<number>
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return false
  }
}

// The systemd flavour's roll ends with a minute's wait for Caddy's DNS cache.
const startDemo = (stateFile: string) =>
  spawnChild(
    [process.execPath, demoMain],
    { ...process.env, NO_COLOR: "1", DEMO_STATE_FILE: stateFile },
    {
      timeoutMs: 300_000,
    },
  )

/** Network interfaces of the host whose name starts with `prefix` (a sandbox's bridge is `tl<pid>n<n>`). */
const interfaces = (prefix: string): ReadonlyArray<string> => {
  try {
    return fs.readdirSync("/sys/class/net").filter((name) => name.startsWith(prefix))
  } catch {
    return []
  }
}

/**
 * Nothing the demo's sandbox started is running (services, containers and
 * their conmon carry the sandbox directory in their command line), no bridge
 * of its podman network is left, and its directory is gone.
 */
const expectNothingLeft = (state: DemoState, demoPid: number | undefined) => {
  expect(state.pids.length).toBeGreaterThan(0)
  expect(state.pids.filter(alive)).toEqual([])
  expect(pidsWithCommandLine(state.dir)).toEqual([])
  if (demoPid !== undefined) expect(interfaces(`tl${demoPid}n`.slice(-15))).toEqual([])
  expect(fs.existsSync(state.dir)).toBe(false)
}

/** Resolves once `file` exists or the child has exited (bounded at 60 s). */
const waitForFile = (file: string, child: ChildProcess) =>
  Effect.runPromise(
    Effect.sync(() => fs.existsSync(file) || child.exitCode !== null).pipe(
      Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (done) => done }),
      Effect.timeout("60 seconds"),
      Effect.ignore,
    ),
  )

/** As root the demo runs the real shape of a Linux host: in CI its prerequisites must be there, not fall back to pm2. */
const realShape = isRoot()

describe.skipIf(
  skipUnless(
    caddyPrerequisite(),
    pm2Prerequisite(),
    ...(realShape ? [userManagerPrerequisite(), podmanPrerequisite()] : []),
  ),
)("npm run demo", () => {
  it("walks through status, a stopped instance, start and a restart under load, ends with zero failed requests and leaves no process behind", async () => {
    requireBuiltDemo()
    const stateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "demo-test-")), "state.json")
    const demo = startDemo(stateFile)
    const { code, stdout, stderr } = await demo.exited
    const said = `exit ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`
    const lines = stdout.trimEnd().split("\n")
    const last = lines.at(-1) ?? ""
    const result =
      /^Result: (\d+) requests served, (\d+) failed(?: \((\d+) of them Caddy's own 503 during a forced reload\))?; roll ([\d.]+) s against ([\d.]+) s of boot/.exec(
        last,
      )
    expect(result, said).not.toBeNull()
    // Only Caddy's own reload 503 (reported on the line) may be among the failed, at most one per
    // Caddy reload (the demo rolls 4 instances behind Caddy, one reload each).
    const caddyReload503 = Number(result?.[3] ?? 0)
    expect(Number(result?.[2]) - caddyReload503, said).toBe(0)
    expect(caddyReload503, said).toBeLessThanOrEqual(4)
    expect(Number(result?.[1])).toBeGreaterThan(0)
    // A roll waits for each boot in turn: it cannot be shorter than the boots in sequence.
    expect(Number(result?.[4])).toBeGreaterThanOrEqual(Number(result?.[5]))
    expect(code, said).toBe(0)
    if (realShape) expect(stdout, said).toContain("one podman container per instance")
    for (const command of ["$ tamanu status", "$ tamanu start", "$ tamanu restart"])
      expect(stdout, command).toContain(command)
    // The stopped instance showed up in status, which exited 1.
    expect(stdout).toMatch(/1\/2 running/)
    expect(stdout).toContain("(exit 1,")
    expectNothingLeft(JSON.parse(fs.readFileSync(stateFile, "utf8")) as DemoState, demo.child.pid)
    fs.rmSync(path.dirname(stateFile), { recursive: true, force: true })
  }, 330_000)

  it("Ctrl+C in the middle stops everything the demo started and exits 130", async () => {
    requireBuiltDemo()
    const stateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "demo-test-")), "state.json")
    const demo = startDemo(stateFile)
    await waitForFile(stateFile, demo.child)
    expect(fs.existsSync(stateFile), demo.output()).toBe(true)
    demo.child.kill("SIGINT")
    const { code } = await demo.exited
    expect(code, demo.output()).toBe(130)
    expectNothingLeft(JSON.parse(fs.readFileSync(stateFile, "utf8")) as DemoState, demo.child.pid)
    fs.rmSync(path.dirname(stateFile), { recursive: true, force: true })
  }, 150_000)
})
