/**
 * The pm2 supervisor and pm2 probe targets against a real pm2 daemon (the
 * npm package) in a throwaway PM2_HOME, with Tamanu's pm2 layout registered.
 * Lives here, not beside pm2.ts, because it needs this package's harness and
 * core cannot depend on the testing package.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import {
  type InstanceRef,
  makePm2ProbeTargets,
  Pm2SupervisorLive,
  Supervisor,
  SupervisorCallFailed,
  SupervisorUnavailable,
} from "@tamanu-lifecycle/core/internal"
import { Chunk, Duration, Effect, Either, Fiber, Option, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePorts, type Pm2DaemonHandle, pm2Prerequisite, startPm2Daemon, tamanuPm2Apps } from "./pm2Daemon.js"
import { skipUnless } from "./prerequisites.js"

interface Jlist {
  readonly name: string
  readonly pm_id: number
  readonly pid: number
  readonly pm2_env: { readonly status: string; readonly restart_time: number }
}

describe.skipIf(skipUnless(pm2Prerequisite()))("pm2 supervisor against a real pm2 daemon", () => {
  let daemon: Pm2DaemonHandle | undefined
  let apiPorts: ReadonlyArray<number> = []

  const home = () => {
    if (daemon === undefined) throw new Error("daemon not started")
    return daemon
  }
  const run = <A, E>(effect: Effect.Effect<A, E, Supervisor>) =>
    Effect.runPromise(Effect.either(Effect.provide(effect, Pm2SupervisorLive({ pm2Home: home().pm2Home }))))
  const ok = async <A, E>(effect: Effect.Effect<A, E, Supervisor>): Promise<A> => {
    const result = await run(effect)
    if (Either.isLeft(result)) throw new Error(`unexpected failure: ${JSON.stringify(result.left)}`)
    return result.right
  }
  const sup = Supervisor
  const jlist = async (): Promise<ReadonlyArray<Jlist>> =>
    JSON.parse(await home().pm2(["jlist"])) as ReadonlyArray<Jlist>
  const byId = async (id: number) => {
    const found = (await jlist()).find((p) => p.pm_id === id)
    if (found === undefined) throw new Error(`no pm_id ${id}`)
    return found
  }
  const ref = (name: string, pmId: number | null): InstanceRef => ({ name, suffix: null, pmId })
  const ids = async (name: string) =>
    (await ok(Effect.flatMap(sup, (s) => s.list))).filter((i) => i.name === name).map((i) => i.pmId ?? -1)

  beforeAll(async () => {
    daemon = await startPm2Daemon()
    const ports = await freePorts(4)
    apiPorts = ports.slice(0, 2)
    await daemon.register([
      ...tamanuPm2Apps({
        api: [ports[0] ?? 0, ports[1] ?? 0],
        tasks: ports[2] ?? 0,
        sync: ports[3] ?? 0,
      }),
      // Not Tamanu's: must never be listed or touched.
      { name: "other-app", script: "/bin/sleep", args: ["100000"], interpreter: "none" },
      // Tamanu-named but without PORT: no probe URL.
      { name: "tamanu-fhir-resolve", script: "/bin/sleep", args: ["100000"], interpreter: "none" },
    ])
  })
  afterAll(async () => {
    await daemon?.kill()
  })

  it("lists only tamanu- processes, two tamanu-api told apart by pm_id, running = online", async () => {
    const list = await ok(Effect.flatMap(sup, (s) => s.list))
    expect(list.map((i) => i.name).sort()).toEqual([
      "tamanu-api",
      "tamanu-api",
      "tamanu-fhir-resolve",
      "tamanu-sync",
      "tamanu-tasks",
    ])
    const api = list.filter((i) => i.name === "tamanu-api")
    expect(new Set(api.map((i) => i.pmId)).size).toBe(2)
    const online = new Set((await jlist()).filter((p) => p.pm2_env.status === "online").map((p) => p.pm_id))
    for (const i of list) {
      expect(i.suffix).toBeNull()
      expect(i.running).toBe(online.has(i.pmId ?? -1))
    }
    expect(list.every((i) => i.running)).toBe(true)
  })

  it("stop and start by pm_id touch that one process only", async () => {
    const [first, second] = await ids("tamanu-api")
    if (first === undefined || second === undefined) throw new Error("two api processes expected")
    await ok(Effect.flatMap(sup, (s) => s.stop([ref("tamanu-api", first)])))
    expect((await byId(first)).pm2_env.status).toBe("stopped")
    expect((await byId(second)).pm2_env.status).toBe("online")
    await ok(Effect.flatMap(sup, (s) => s.start([ref("tamanu-api", first)])))
    expect((await byId(first)).pm2_env.status).toBe("online")
  })

  it("stop and start by name (pmId null) reach every process of that name", async () => {
    const api = await ids("tamanu-api")
    await ok(Effect.flatMap(sup, (s) => s.stop([ref("tamanu-api", null)])))
    for (const id of api) expect((await byId(id)).pm2_env.status).toBe("stopped")
    await ok(Effect.flatMap(sup, (s) => s.start([ref("tamanu-api", null)])))
    for (const id of api) expect((await byId(id)).pm2_env.status).toBe("online")
  })

  it("start leaves an online process alone (idempotent, no restart)", async () => {
    const [id] = await ids("tamanu-tasks")
    if (id === undefined) throw new Error("tasks expected")
    const before = await byId(id)
    await ok(Effect.flatMap(sup, (s) => s.start([ref("tamanu-tasks", null)])))
    const after = await byId(id)
    expect(after.pid).toBe(before.pid)
    expect(after.pm2_env.status).toBe("online")
  })

  it("restart of many restarts exactly those; restartOne exactly one", async () => {
    const before = await jlist()
    const restarts = (l: ReadonlyArray<Jlist>, name: string) =>
      l.filter((p) => p.name === name).map((p) => p.pm2_env.restart_time)
    await ok(Effect.flatMap(sup, (s) => s.restart([ref("tamanu-tasks", null), ref("tamanu-sync", null)])))
    const mid = await jlist()
    expect(restarts(mid, "tamanu-tasks")).toEqual(restarts(before, "tamanu-tasks").map((n) => n + 1))
    expect(restarts(mid, "tamanu-sync")).toEqual(restarts(before, "tamanu-sync").map((n) => n + 1))
    expect(restarts(mid, "tamanu-api")).toEqual(restarts(before, "tamanu-api"))
    expect(restarts(mid, "other-app")).toEqual(restarts(before, "other-app"))

    const [first, second] = await ids("tamanu-api")
    if (first === undefined || second === undefined) throw new Error("two api processes expected")
    await ok(Effect.flatMap(sup, (s) => s.restartOne(ref("tamanu-api", first))))
    const after = await jlist()
    const count = (id: number, l: ReadonlyArray<Jlist>) => l.find((p) => p.pm_id === id)?.pm2_env.restart_time
    expect(count(first, after)).toBe((count(first, mid) ?? 0) + 1)
    expect(count(second, after)).toBe(count(second, mid))
    expect((await byId(first)).pm2_env.status).toBe("online")
  })

  it("an unknown pm_id is a SupervisorCallFailed carrying the method, the id and the daemon's words", async () => {
    const result = await run(Effect.flatMap(sup, (s) => s.restartOne(ref("tamanu-api", 999))))
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left).toBeInstanceOf(SupervisorCallFailed)
      const failed = result.left as SupervisorCallFailed
      expect(failed.command).toContain("restartProcessId")
      expect(failed.command.join(" ")).toContain("999")
      expect(failed.stderr).toMatch(/unknown/i)
    }
    const start = await run(Effect.flatMap(sup, (s) => s.start([ref("tamanu-api", 999)])))
    expect(Either.isLeft(start) && start.left._tag).toBe("SupervisorCallFailed")
  })

  it("an option-looking name is only a name: starting `--now` starts nothing and fails", async () => {
    await ok(Effect.flatMap(sup, (s) => s.stop([ref("tamanu-sync", null)])))
    const result = await run(Effect.flatMap(sup, (s) => s.start([ref("--now", null)])))
    expect(Either.isLeft(result) && result.left._tag).toBe("SupervisorCallFailed")
    const sync = (await jlist()).filter((p) => p.name === "tamanu-sync")
    expect(sync.map((p) => p.pm2_env.status)).toEqual(["stopped"])
    await ok(Effect.flatMap(sup, (s) => s.start([ref("tamanu-sync", null)])))
  })

  it("enabled is empty, disable is a no-op, no unit files on pm2", async () => {
    const before = await jlist()
    const all = [ref("tamanu-api", null)]
    expect((await ok(Effect.flatMap(sup, (s) => s.enabled(all)))).size).toBe(0)
    await ok(Effect.flatMap(sup, (s) => s.disable(all)))
    expect(await ok(Effect.flatMap(sup, (s) => s.unitFileExists("tamanu-patientportal@.service")))).toBe(false)
    expect((await jlist()).map((p) => [p.pm_id, p.pid])).toEqual(before.map((p) => [p.pm_id, p.pid]))
  })

  it("probe targets read PORT from each process's pm2 env, none without PORT", async () => {
    const targets = makePm2ProbeTargets({ pm2Home: home().pm2Home })
    const api = await ids("tamanu-api")
    const urls = await Promise.all(api.map((id) => Effect.runPromise(targets.urlFor(ref("tamanu-api", id)))))
    expect(urls.map(Option.getOrNull).sort()).toEqual(apiPorts.map((p) => `http://127.0.0.1:${p}/`).sort())
    const [fhir] = await ids("tamanu-fhir-resolve")
    expect(Option.isNone(await Effect.runPromise(targets.urlFor(ref("tamanu-fhir-resolve", fhir ?? -1))))).toBe(true)
  })

  it("logs follow the chosen instance's output as `name#pm_id | line`", async () => {
    const [id] = await ids("tamanu-tasks")
    if (id === undefined) throw new Error("tasks expected")
    const lines = await ok(
      Effect.gen(function* () {
        const s = yield* sup
        const fiber = yield* Effect.fork(
          s.logs([ref("tamanu-tasks", id)]).pipe(
            Stream.filter((l) => l.includes("listening on")),
            Stream.take(1),
            Stream.runCollect,
          ),
        )
        // The bus subscription is set up in the fiber; output that comes before it is not seen. Rather
        // than guess how long that takes (it was a 200 ms sleep), restart the process every 2 s, each
        // start printing "listening on", until the subscriber has had one line.
        const restartEvery2s = s
          .restartOne(ref("tamanu-tasks", id))
          .pipe(Effect.zipRight(Effect.sleep(Duration.seconds(2))), Effect.forever)
        return yield* Effect.raceFirst(Fiber.join(fiber), restartEvery2s).pipe(Effect.timeout(Duration.seconds(60)))
      }),
    )
    expect(Chunk.toReadonlyArray(lines)).toEqual([expect.stringMatching(new RegExp(`^tamanu-tasks#${id} \\| `))])
  })

  it("runStates: one list for all; a process that exits 3 and is restarted by pm2 shows the counter moved and its exit code", async () => {
    const [port] = await freePorts(1)
    await home().register([
      {
        name: "tamanu-crashy",
        env: { PORT: String(port ?? 0), READY_DELAY_MS: "50", EXIT_AFTER_MS: "500", EXIT_CODE: "3" },
      },
    ])
    const crashy = ref("tamanu-crashy", null)
    const calls: Array<string> = []
    const layer = Pm2SupervisorLive({ pm2Home: home().pm2Home, onCall: (m) => calls.push(m) })
    const read = () =>
      Effect.runPromise(
        Effect.provide(
          Effect.flatMap(sup, (s) => s.runStates([crashy, ref("tamanu-tasks", null)])),
          layer,
        ),
      )
    const first = await read()
    expect(calls).toEqual(["getMonitorData"])
    expect(first.instances.map((i) => i.name).sort()).toEqual(["tamanu-crashy", "tamanu-tasks"])
    const before = first.instances.find((i) => i.name === "tamanu-crashy")
    // Wait (bounded) until pm2 has restarted it at least once after an exit.
    let after = before
    for (let i = 0; i < 60 && (after?.restarts ?? 0) <= (before?.restarts ?? 0); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      after = (await read()).instances.find((i) => i.name === "tamanu-crashy")
    }
    expect(after?.restarts ?? 0).toBeGreaterThan(before?.restarts ?? 0)
    expect(after?.exit).toEqual({ _tag: "Exited", code: 3 })
    expect(after?.startedAt ?? 0).toBeGreaterThan(before?.startedAt ?? 0)
    await ok(Effect.flatMap(sup, (s) => s.remove([crashy])))
  })

  it("logMark and logLines: only what a process wrote after the mark, stdout then stderr, as `name#id | line`", async () => {
    const [id] = await ids("tamanu-tasks")
    if (id === undefined) throw new Error("tasks expected")
    const tasks = ref("tamanu-tasks", id)
    await ok(Effect.flatMap(sup, (s) => s.stop([tasks])))
    const mark = await ok(Effect.flatMap(sup, (s) => s.logMark([tasks])))
    expect(Object.keys(mark.files).length).toBe(2)
    await ok(Effect.flatMap(sup, (s) => s.start([tasks])))
    // The fixture says `ready` then `listening` once it is up (READY_DELAY_MS 300).
    let lines: ReadonlyArray<string> = []
    for (let i = 0; i < 50 && !lines.some((l) => l.includes("listening on")); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      lines = await ok(Effect.flatMap(sup, (s) => s.logLines([tasks], mark, 10)))
    }
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^tamanu-tasks#${id} \\| tamanu-tasks ready after \\d+ ms$`)),
      expect.stringMatching(new RegExp(`^tamanu-tasks#${id} \\| tamanu-tasks listening on `)),
    ])
    // The earlier runs' lines (before the mark) are not there; a limit keeps the newest.
    expect(await ok(Effect.flatMap(sup, (s) => s.logLines([tasks], mark, 1)))).toEqual([lines[1]])
  })

  it("logs from a mark: a start's first lines are shown though the follower began after it, and the stream ends on `until`", async () => {
    const [id] = await ids("tamanu-tasks")
    if (id === undefined) throw new Error("tasks expected")
    const tasks = ref("tamanu-tasks", id)
    await ok(Effect.flatMap(sup, (s) => s.stop([tasks])))
    const mark = await ok(Effect.flatMap(sup, (s) => s.logMark([tasks])))
    await ok(Effect.flatMap(sup, (s) => s.start([tasks])))
    // Well after the start: by then pm2's bus would have carried the first lines past a late subscriber.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const lines = await ok(
      Effect.flatMap(sup, (s) =>
        Stream.runCollect(s.logs([tasks], { since: mark, until: Effect.sleep(Duration.millis(300)) })),
      ),
    )
    expect(Chunk.toReadonlyArray(lines).map((l) => l.replace(/\d+ ms/, "N ms").replace(/:\d+$/, ":PORT"))).toEqual([
      `tamanu-tasks#${id} | tamanu-tasks ready after N ms`,
      `tamanu-tasks#${id} | tamanu-tasks listening on 127.0.0.1:PORT`,
    ])
  })

  it("remove deletes the processes of that name from pm2 (and again is nothing to do)", async () => {
    await ok(Effect.flatMap(sup, (s) => s.remove([ref("tamanu-fhir-resolve", null)])))
    expect((await jlist()).some((p) => p.name === "tamanu-fhir-resolve")).toBe(false)
    await ok(Effect.flatMap(sup, (s) => s.remove([ref("tamanu-fhir-resolve", null)])))
    expect((await jlist()).some((p) => p.name === "other-app")).toBe(true)
  })

  it("once the daemon is gone every call is SupervisorUnavailable naming PM2_HOME, and none revives it", async () => {
    const scratch = await startPm2Daemon()
    const layer = Pm2SupervisorLive({ pm2Home: scratch.pm2Home })
    const pidFile = path.join(scratch.pm2Home, "pm2.pid")
    expect(fs.existsSync(pidFile)).toBe(true)
    await scratch.pm2(["kill"])
    const calls: ReadonlyArray<Effect.Effect<unknown, unknown, Supervisor>> = [
      Effect.flatMap(sup, (s) => s.list),
      Effect.flatMap(sup, (s) => s.start([ref("tamanu-api", null)])),
      Effect.flatMap(sup, (s) => s.stop([ref("tamanu-api", 0)])),
      Effect.flatMap(sup, (s) => s.restartOne(ref("tamanu-api", 0))),
      Effect.flatMap(sup, (s) => Stream.runDrain(Stream.take(s.logs([ref("tamanu-api", null)]), 1))),
    ]
    for (const call of calls) {
      const result = await Effect.runPromise(Effect.either(Effect.provide(call, layer)))
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left).toBeInstanceOf(SupervisorUnavailable)
        expect((result.left as SupervisorUnavailable).message).toBe(`pm2 is not running (PM2_HOME=${scratch.pm2Home})`)
      }
    }
    expect(fs.existsSync(pidFile)).toBe(false)
    expect(fs.existsSync(path.join(scratch.pm2Home, "rpc.sock"))).toBe(false)
    await scratch.kill()
    expect(fs.existsSync(scratch.pm2Home)).toBe(false)
  })
})
