import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { InstanceRef } from "../model/instance.js"
import {
  alreadyStarted,
  instanceFromProcess,
  logEventLines,
  parsePort,
  parseProcessList,
  pm2Sockets,
  resolvePm2Home,
  resolveTargets,
} from "./pm2Parse.js"

const entry = (name: string, pm_id: unknown, status: string, env: Record<string, unknown> = {}) => ({
  pid: 1,
  name,
  pm_id,
  monit: { memory: 0, cpu: 0 },
  pm2_env: { status, ...env, env },
})

const ref = (name: string, pmId: number | null): InstanceRef => ({ name, suffix: null, pmId })

describe("PM2_HOME and sockets follow pm2's own rules", () => {
  it.each([
    [{ PM2_HOME: "/srv/pm2" }, "/home/u", "/srv/pm2"],
    [{}, "/home/u", "/home/u/.pm2"],
    [{ PM2_HOME: "" }, "/home/u", "/home/u/.pm2"],
  ])("env %j, home %s → %s", (env, home, want) => {
    expect(resolvePm2Home(env, home)).toBe(want)
  })

  it.each([
    ["linux", {}, { rpc: "/h/rpc.sock", pub: "/h/pub.sock" }],
    ["linux", { PM2_DAEMON_RPC_PORT: "/x/r.sock" }, { rpc: "/x/r.sock", pub: "/h/pub.sock" }],
    ["win32", { PM2_DAEMON_RPC_PORT: "/x/r.sock" }, { rpc: "\\\\.\\pipe\\rpc.sock", pub: "\\\\.\\pipe\\pub.sock" }],
  ] as const)("%s with env %j", (platform, env, want) => {
    expect(pm2Sockets(platform, "/h", env)).toEqual(want)
  })
})

describe("PORT from the process environment", () => {
  it.each([
    ["4001", 4001],
    [4001, 4001],
    [" 80 ", 80],
    ["0", null],
    ["65536", null],
    ["3000abc", null],
    ["", null],
    [undefined, null],
    [null, null],
    [{ port: 1 }, null],
  ])("%j → %j", (value, want) => {
    expect(parsePort(value)).toBe(want)
  })
})

describe("the daemon's process list", () => {
  it("keeps only tamanu- processes, running means online, sorted by pm_id, PORT kept", () => {
    const data = [
      entry("tamanu-api", 3, "stopped", { PORT: "4002" }),
      entry("other-app", 0, "online"),
      entry("tamanu-api", 1, "online", { PORT: "4001" }),
      entry("tamanu-tasks", 2, "launching"),
      entry("tamanu-sync", 4, "errored"),
    ]
    // Entries without restart_time, pm_uptime, exit_code or log paths (run-state fields: runState.test.ts).
    const none = { restarts: 0, startedAt: null, exitCode: null, outLog: null, errLog: null, version: null }
    expect(parseProcessList(data)).toEqual(
      Either.right([
        { name: "tamanu-api", pmId: 1, status: "online", running: true, port: 4001, ...none },
        { name: "tamanu-tasks", pmId: 2, status: "launching", running: false, port: null, ...none },
        { name: "tamanu-api", pmId: 3, status: "stopped", running: false, port: 4002, ...none },
        { name: "tamanu-sync", pmId: 4, status: "errored", running: false, port: null, ...none },
      ]),
    )
  })

  it("reads PORT from pm2_env.env first, then pm2_env", () => {
    const onlyTop = { name: "tamanu-api", pm_id: 0, pm2_env: { status: "online", PORT: 5000 } }
    const both = { name: "tamanu-api", pm_id: 1, pm2_env: { status: "online", PORT: "1", env: { PORT: "5001" } } }
    const ports = Either.map(parseProcessList([onlyTop, both]), (ps) => ps.map((p) => p.port))
    expect(ports).toEqual(Either.right([5000, 5001]))
  })

  it("reads the release directory a process runs from: its exec path, else its cwd (issue #22)", () => {
    const at = (pm_id: number, env: Record<string, unknown>) => ({
      name: "tamanu-api",
      pm_id,
      pm2_env: { status: "online", ...env },
    })
    const versions = Either.map(
      parseProcessList([
        at(0, { pm_exec_path: "C:\\Tamanu\\release-v2.64.0\\packages\\central-server\\dist\\index.js" }),
        at(1, { pm_exec_path: "C:\\Program Files\\nodejs\\node.exe", pm_cwd: "C:\\Tamanu\\release-v2.65.0" }),
        at(2, { pm_exec_path: "/srv/app/index.js", pm_cwd: "/srv/app" }),
        at(3, { pm_exec_path: 7 }),
      ]),
      (ps) => ps.map((p) => p.version),
    )
    expect(versions).toEqual(Either.right(["2.64.0", "2.65.0", null, null]))
  })

  it("skips a transient _old_ pm_id during a reload", () => {
    expect(parseProcessList([entry("tamanu-api", "_old_0", "online")])).toEqual(Either.right([]))
  })

  it("a broken foreign process does not break discovery", () => {
    expect(parseProcessList([{ name: "x", pm2_env: null }, { nonsense: true }, 7])).toEqual(Either.right([]))
  })

  it.each([
    ["online", { running: true }],
    ["launching", { running: false }],
    ["waiting restart", { running: false }],
    ["stopping", { running: false }],
    ["stopped", { running: false }],
    ["one-launch-status", { running: false }],
    ["errored", { running: false, failed: true }],
  ])("discovery reports a process in status %s as %j: only errored is failed for good", (status, want) => {
    const listed = Either.getOrThrow(parseProcessList([entry("tamanu-api", 7, status)]))
    expect(listed.map(instanceFromProcess)).toEqual([{ name: "tamanu-api", suffix: null, pmId: 7, ...want }])
  })

  it.each([
    ["not a list", { apps: [] }],
    ["Tamanu entry without status", [{ name: "tamanu-api", pm_id: 0, pm2_env: {} }]],
    ["Tamanu entry with a non-integer pm_id", [entry("tamanu-api", "zero", "online")]],
  ])("fails on %s", (_, data) => {
    expect(Either.isLeft(parseProcessList(data))).toBe(true)
  })
})

describe("refs to pm_ids", () => {
  const processes = [
    { name: "tamanu-api", pmId: 0 },
    { name: "tamanu-api", pmId: 1 },
    { name: "tamanu-tasks", pmId: 2 },
    { name: "--now", pmId: 3 },
  ]
  it.each([
    ["pmId null = every process of that name", [ref("tamanu-api", null)], [0, 1], []],
    ["an explicit pm_id is taken as is, even unknown", [ref("tamanu-api", 9)], [9], []],
    [
      "duplicates collapse, first-seen order",
      [ref("tamanu-tasks", null), ref("tamanu-api", 1), ref("tamanu-api", null)],
      [2, 1, 0],
      [],
    ],
    ["a name with no process is reported", [ref("tamanu-sync", null), ref("tamanu-sync", null)], [], ["tamanu-sync"]],
    ["names are exact, never substrings", [ref("tamanu-ap", null)], [], ["tamanu-ap"]],
    ["an option-looking name is only ever a name", [ref("--now", null)], [3], []],
    ["no refs, nothing", [], [], []],
  ] as const)("%s", (_, refs, ids, missingNames) => {
    expect(resolveTargets(processes, refs)).toEqual({ ids, missingNames })
  })

  it.each([
    ["online", true],
    ["launching", true],
    ["stopped", false],
    ["stopping", false],
    ["errored", false],
  ])("start leaves %s alone: %s", (status, want) => {
    expect(alreadyStarted(status)).toBe(want)
  })
})

describe("log lines from the bus", () => {
  const event = (name: string, pm_id: unknown, data: unknown) => ({ process: { name, pm_id }, at: 0, data })
  const api0 = [ref("tamanu-api", 0)]
  it.each([
    ["one line", api0, event("tamanu-api", 0, "hello\n"), ["tamanu-api#0 | hello"]],
    ["several lines, CRLF", api0, event("tamanu-api", 0, "a\r\nb\r\n"), ["tamanu-api#0 | a", "tamanu-api#0 | b"]],
    ["no trailing newline", api0, event("tamanu-api", 0, "partial"), ["tamanu-api#0 | partial"]],
    ["another pm_id of the same name", api0, event("tamanu-api", 1, "x\n"), []],
    [
      "pmId null takes every process of the name",
      [ref("tamanu-api", null)],
      event("tamanu-api", 1, "x\n"),
      ["tamanu-api#1 | x"],
    ],
    ["another name", api0, event("tamanu-tasks", 0, "x\n"), []],
    ["a foreign process is never shown", [ref("other", null)], event("other", 0, "x\n"), []],
    ["malformed event", api0, { data: "x" }, []],
  ] as const)("%s", (_, refs, ev, want) => {
    expect(logEventLines(refs, ev)).toEqual(want)
  })
})
