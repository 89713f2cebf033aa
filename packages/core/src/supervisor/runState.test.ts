import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { InstanceRef } from "../model/instance.js"
import { logFileLines, parseProcessList, pm2RunPhase, runStateOfProcess } from "./pm2Parse.js"
import { exitOfMain, parseShowRunStates, runPhaseOf } from "./systemdParse.js"

const unit = (name: string, suffix: string | null = null): InstanceRef => ({ name, suffix, pmId: null })

describe("systemd run states", () => {
  // `systemctl show -p Id,ActiveState,SubState,NRestarts,ExecMain…` as systemd 252 printed it (user manager,
  // 1.3 s after starting a Restart=always unit that exits 3 after a second, and one without Restart=):
  // its own property order, not the order asked for.
  const shown = `MainPID=11052
NRestarts=1
ExecMainStartTimestampMonotonic=731572289
ExecMainExitTimestampMonotonic=0
ExecMainCode=0
ExecMainStatus=0
Id=tamanu-loop.service
ActiveState=active
SubState=running

NRestarts=0
ExecMainStartTimestampMonotonic=730288595
ExecMainExitTimestampMonotonic=731301331
ExecMainCode=1
ExecMainStatus=3
Id=tamanu-once.service
ActiveState=failed
SubState=failed

NRestarts=2
ExecMainStartTimestampMonotonic=731572289
ExecMainExitTimestampMonotonic=732587355
ExecMainCode=2
ExecMainStatus=9
Id=tamanu-kill@a.service
ActiveState=activating
SubState=auto-restart

NRestarts=0
ExecMainStartTimestampMonotonic=0
ExecMainExitTimestampMonotonic=0
ExecMainCode=0
ExecMainStatus=0
Id=tamanu-nothere.service
ActiveState=inactive
SubState=dead
`
  const refs = [unit("tamanu-loop"), unit("tamanu-once"), unit("tamanu-kill", "a"), unit("tamanu-nothere")]

  it("reads each unit's block by position, whatever order systemd prints the properties in", () => {
    expect(parseShowRunStates(shown, refs)).toEqual([
      {
        ...refs[0],
        phase: "running",
        restarts: 1,
        startedAt: 731572.289,
        exitedAt: null,
        exit: null,
      },
      {
        ...refs[1],
        phase: "failed",
        restarts: 0,
        startedAt: 730288.595,
        exitedAt: 731301.331,
        exit: { _tag: "Exited", code: 3 },
      },
      {
        ...refs[2],
        phase: "restarting",
        restarts: 2,
        startedAt: 731572.289,
        exitedAt: 732587.355,
        exit: { _tag: "Killed", signal: "SIGKILL", coreDumped: false },
      },
      { ...refs[3], phase: "stopped", restarts: 0, startedAt: null, exitedAt: null, exit: null },
    ])
  })

  it("is null when the block count does not match the request", () => {
    expect(parseShowRunStates(shown, refs.slice(0, 3))).toBeNull()
    expect(parseShowRunStates("", refs)).toBeNull()
  })

  it.each([
    ["active", "running", "running"],
    ["active", "exited", "running"],
    ["reloading", "reload", "running"],
    ["activating", "start", "starting"],
    ["activating", "auto-restart", "restarting"],
    ["deactivating", "stop-sigterm", "stopping"],
    ["inactive", "dead", "stopped"],
    ["failed", "failed", "failed"],
    ["maintenance", "x", "stopping"],
    ["something-new", "x", "stopped"],
  ] as const)("%s/%s → %s", (active, sub, phase) => {
    expect(runPhaseOf(active, sub)).toBe(phase)
  })

  it.each([
    [0, 0, null],
    [1, 0, { _tag: "Exited", code: 0 }],
    [1, 3, { _tag: "Exited", code: 3 }],
    [2, 15, { _tag: "Killed", signal: "SIGTERM", coreDumped: false }],
    [3, 11, { _tag: "Killed", signal: "SIGSEGV", coreDumped: true }],
    [2, 77, { _tag: "Killed", signal: "signal 77", coreDumped: false }],
  ] as const)("ExecMainCode %i, ExecMainStatus %i → %o", (code, status, exit) => {
    expect(exitOfMain(code, status)).toEqual(exit)
  })
})

describe("pm2 run states", () => {
  const entry = (status: string, env: Record<string, unknown> = {}) => ({
    name: "tamanu-sync",
    pm_id: 3,
    pm2_env: {
      status,
      restart_time: 2,
      pm_uptime: 1_700_000_000_123,
      exit_code: 3,
      pm_out_log_path: "/root/.pm2/logs/tamanu-sync-out-3.log",
      pm_err_log_path: "/root/.pm2/logs/tamanu-sync-error-3.log",
      ...env,
    },
  })

  it("reads restart_time, pm_uptime, exit_code and the log paths", () => {
    const list = parseProcessList([entry("online")])
    expect(Either.getOrThrow(list)).toEqual([
      {
        name: "tamanu-sync",
        pmId: 3,
        status: "online",
        running: true,
        port: null,
        version: null,
        restarts: 2,
        startedAt: 1_700_000_000_123,
        exitCode: 3,
        outLog: "/root/.pm2/logs/tamanu-sync-out-3.log",
        errLog: "/root/.pm2/logs/tamanu-sync-error-3.log",
      },
    ])
  })

  it("tolerates missing or odd fields: no count is 0, the rest null", () => {
    const list = parseProcessList([
      entry("stopped", {
        restart_time: "x",
        pm_uptime: undefined,
        exit_code: null,
        pm_out_log_path: 7,
        pm_err_log_path: "",
      }),
    ])
    expect(Either.getOrThrow(list)[0]).toMatchObject({
      restarts: 0,
      startedAt: null,
      exitCode: null,
      outLog: null,
      errLog: null,
    })
  })

  it("a process back up after an exit keeps that exit; a clean exit code 0 while up is no exit", () => {
    const [up] = Either.getOrThrow(parseProcessList([entry("online")]))
    const [clean] = Either.getOrThrow(parseProcessList([entry("online", { exit_code: 0 })]))
    const [down] = Either.getOrThrow(parseProcessList([entry("stopped", { exit_code: 0 })]))
    if (up === undefined || clean === undefined || down === undefined) throw new Error("parsed nothing")
    expect(runStateOfProcess(up)).toEqual({
      name: "tamanu-sync",
      suffix: null,
      pmId: 3,
      phase: "running",
      restarts: 2,
      startedAt: 1_700_000_000_123,
      exitedAt: null,
      exit: { _tag: "Exited", code: 3 },
    })
    expect(runStateOfProcess(clean).exit).toBeNull()
    expect(runStateOfProcess(down).exit).toEqual({ _tag: "Exited", code: 0 })
  })

  it.each([
    ["online", "running"],
    ["launching", "starting"],
    ["waiting restart", "restarting"],
    ["stopping", "stopping"],
    ["stopped", "stopped"],
    ["errored", "failed"],
    ["one-launch-status", "starting"],
    ["what", "stopped"],
  ] as const)("pm2 %s → %s", (status, phase) => {
    expect(pm2RunPhase(status)).toBe(phase)
  })

  it("log file text becomes prefixed lines; an unfinished last line waits for the next read unless final", () => {
    expect(logFileLines("tamanu-sync#3", "a\r\nb\nc", false)).toEqual({
      lines: ["tamanu-sync#3 | a", "tamanu-sync#3 | b"],
      rest: "c",
    })
    expect(logFileLines("tamanu-sync#3", "a\nb\n", true)).toEqual({
      lines: ["tamanu-sync#3 | a", "tamanu-sync#3 | b"],
      rest: "",
    })
    expect(logFileLines("tamanu-sync#3", "c", true)).toEqual({ lines: ["tamanu-sync#3 | c"], rest: "" })
    expect(logFileLines("x#1", "", true)).toEqual({ lines: [], rest: "" })
  })
})
