/**
 * The systemd Supervisor (core/src/supervisor/systemd.ts) against a real
 * systemd user manager started by this harness, one manager per file. It
 * lives here rather than beside systemd.ts because core must not depend on
 * the testing package (testing builds on core).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import {
  type InstanceRef,
  makeSystemdSupervisor,
  Supervisor,
  type SupervisorError,
  SystemdSupervisorLive,
  type SystemdSupervisorOptions,
} from "@tamanu-lifecycle/core/internal"
import { Chunk, Effect, Either, Schedule, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { skipUnless } from "./prerequisites.js"
import {
  cheapUnit,
  failingUnit,
  instancePort,
  startUserManager,
  tamanuSingletonUnit,
  tamanuTemplateUnit,
  type UserManager,
  userManagerPrerequisite,
  userManagerScoped,
} from "./systemdUserManager.js"

const api = (suffix: string): InstanceRef => ({ name: "tamanu-facility-api", suffix, pmId: null })
const single = (name: string): InstanceRef => ({ name, suffix: null, pmId: null })
const tasks = single("tamanu-facility-tasks")

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

const fails = <A>(effect: Effect.Effect<A, SupervisorError>) =>
  Effect.runPromise(Effect.flip(effect)) as Promise<SupervisorError>

describe.skipIf(skipUnless(userManagerPrerequisite()))("systemd Supervisor on a real user manager", () => {
  let manager: UserManager
  let spawned: Array<ReadonlyArray<string>> = []
  let options: SystemdSupervisorOptions
  const supervisor = () => makeSystemdSupervisor(options)
  const run = <A>(effect: Effect.Effect<A, SupervisorError>) => Effect.runPromise(effect)
  const mainPid = async (unit: string) =>
    (await manager.ctl(["show", "-p", "MainPID", "--value", "--", unit])).stdout.trim()
  const runningUnits = async () =>
    (await run(supervisor().list))
      .filter((i) => i.running)
      .map((i) => (i.suffix === null ? i.name : `${i.name}@${i.suffix}`))
      .sort()

  beforeAll(async () => {
    manager = await startUserManager({
      units: [
        tamanuTemplateUnit("tamanu-facility-api", { readyDelayMs: 200 }),
        tamanuSingletonUnit("tamanu-facility-tasks", 0, { readyDelayMs: 200 }),
        tamanuTemplateUnit("tamanu-patientportal"),
        failingUnit("tamanu-broken", "oneshot"),
        failingUnit("tamanu-crashy", "simple"),
        cheapUnit("tamanu-oneshot.service", "oneshot"),
        cheapUnit("other-service.service", "sleep"),
        {
          name: "tamanu-referrer.service",
          text: "[Unit]\nWants=tamanu-gone.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        },
      ],
    })
    options = { ...manager.supervisorOptions, onSpawn: (argv) => spawned.push(argv) }
  })

  afterAll(async () => {
    const pid = manager?.pid
    await manager?.stop()
    if (pid !== undefined) {
      // No `systemd --user` of ours (nor anything it ran) may outlive the suite.
      let managers = ""
      try {
        managers = execFileSync("pgrep", ["-f", "systemd --user"], { encoding: "utf8" })
      } catch {}
      expect(managers.split("\n")).not.toContain(String(pid))
      expect(fs.existsSync(`/proc/${pid}`)).toBe(false)
    }
  })

  it("lists loaded tamanu-*.service units in one call: running, stopped and failed, never not-found or foreign ones", async () => {
    await manager.ctl(["enable", "--", "tamanu-facility-tasks.service"])
    await manager.ctl([
      "start",
      "--",
      "tamanu-facility-api@1.service",
      "tamanu-oneshot.service",
      "other-service.service",
    ])
    await manager.ctl(["start", "--", "tamanu-referrer.service", "tamanu-crashy.service"])
    try {
      // Type=simple: start returns once /bin/false is forked; wait until systemd has seen it fail.
      await Effect.runPromise(
        Effect.tryPromise(() => manager.ctl(["is-failed", "--quiet", "--", "tamanu-crashy.service"])).pipe(
          Effect.filterOrFail((r) => r.exitCode === 0),
          // Bounded in time, far above the few ms it takes (it was 100 tries: ~5 s on a busy machine).
          Effect.retry(Schedule.spaced("50 millis")),
          Effect.timeout("30 seconds"),
        ),
      )
      spawned = []
      const instances = await run(supervisor().list)
      expect(spawned).toHaveLength(1)
      const byName = new Map(instances.map((i) => [i.suffix === null ? i.name : `${i.name}@${i.suffix}`, i]))
      expect(byName.get("tamanu-facility-api@1")).toEqual({
        name: "tamanu-facility-api",
        suffix: "1",
        pmId: null,
        running: true,
      })
      // oneshot + RemainAfterExit: active/exited counts as running.
      expect(byName.get("tamanu-oneshot")).toMatchObject({ running: true })
      // Enabled but never started: loaded, inactive.
      expect(byName.get("tamanu-facility-tasks")).toMatchObject({ running: false })
      // Crashed at once: failed, listed, not running.
      expect(byName.get("tamanu-crashy")).toMatchObject({ running: false })
      // Referenced by Wants= but without a unit file: systemd shows it as not-found; we do not.
      expect(
        (await manager.ctl(["list-units", "--all", "--plain", "--no-legend", "tamanu-gone.service"])).stdout,
      ).toContain("not-found")
      expect(byName.has("tamanu-gone")).toBe(false)
      expect([...byName.keys()].every((k) => k.startsWith("tamanu-"))).toBe(true)
    } finally {
      await manager.ctl([
        "stop",
        "--",
        "tamanu-facility-api@1.service",
        "tamanu-oneshot.service",
        "other-service.service",
        "tamanu-referrer.service",
      ])
      await manager.ctl(["reset-failed"])
    }
  })

  it("starts, stops and restarts many instances with one systemctl call each", async () => {
    const refs = [api("1"), api("2"), tasks]
    spawned = []
    await run(supervisor().start(refs))
    expect(spawned).toHaveLength(1)
    expect(spawned[0]).toEqual([
      ...manager.systemctl,
      "--user",
      "start",
      "--",
      "tamanu-facility-api@1.service",
      "tamanu-facility-api@2.service",
      "tamanu-facility-tasks.service",
    ])
    expect(await runningUnits()).toEqual(["tamanu-facility-api@1", "tamanu-facility-api@2", "tamanu-facility-tasks"])

    const before = await Promise.all(
      refs.map((r) => mainPid(r.suffix === null ? `${r.name}.service` : `${r.name}@${r.suffix}.service`)),
    )
    spawned = []
    await run(supervisor().restart(refs))
    expect(spawned).toHaveLength(1)
    const after = await Promise.all(
      refs.map((r) => mainPid(r.suffix === null ? `${r.name}.service` : `${r.name}@${r.suffix}.service`)),
    )
    after.forEach((pid, i) => {
      expect(pid).not.toBe("0")
      expect(pid).not.toBe(before[i])
    })

    spawned = []
    await run(supervisor().stop(refs))
    expect(spawned).toHaveLength(1)
    expect(await runningUnits()).toEqual([])
  })

  it("restartOne restarts exactly that instance and leaves its siblings alone", async () => {
    await run(supervisor().start([api("1"), api("2")]))
    const one = await mainPid("tamanu-facility-api@1.service")
    const two = await mainPid("tamanu-facility-api@2.service")
    spawned = []
    await run(supervisor().restartOne(api("1")))
    expect(spawned).toHaveLength(1)
    expect(await mainPid("tamanu-facility-api@1.service")).not.toBe(one)
    expect(await mainPid("tamanu-facility-api@2.service")).toBe(two)
    await run(supervisor().stop([api("1"), api("2")]))
  })

  it("an instance listens on the port its drop-in gives it (Tamanu-shaped template)", async () => {
    const port = await freePort()
    const dropIn = instancePort("tamanu-facility-api", "7", port)
    await manager.writeUnit(dropIn.name, dropIn.text)
    await manager.daemonReload()
    await run(supervisor().start([api("7")]))
    const answer = await Effect.runPromise(
      Effect.tryPromise(() =>
        fetch(`http://127.0.0.1:${port}/`).then((r) => r.json() as Promise<{ name: string }>),
      ).pipe(
        // Bounded in time, far above its ~0.5 s boot (it was 50 tries: ~5 s on a busy machine).
        Effect.retry(Schedule.spaced("100 millis")),
        Effect.timeout("30 seconds"),
        Effect.orElseSucceed(() => ({ name: "no answer" })),
      ),
    )
    await run(supervisor().stop([api("7")]))
    expect(answer.name).toBe("tamanu-facility-api@7.service")
  })

  it("enabled answers for loaded, not loaded and missing units in one call; disable turns it off", async () => {
    await manager.ctl(["enable", "--", "tamanu-facility-tasks.service", "tamanu-facility-api@1.service"])
    const refs = [tasks, api("1"), api("9"), single("tamanu-no-such-unit")]
    spawned = []
    const before = await run(supervisor().enabled(refs))
    expect(spawned).toHaveLength(1)
    expect(Object.fromEntries(before)).toEqual({
      "tamanu-facility-tasks.service": true,
      "tamanu-facility-api@1.service": true,
      "tamanu-facility-api@9.service": false,
      "tamanu-no-such-unit.service": false,
    })

    spawned = []
    // A missing unit among them does not make disable fail.
    await run(supervisor().disable([tasks, api("1"), single("tamanu-no-such-unit")]))
    expect(spawned).toHaveLength(1)
    const after = await run(supervisor().enabled(refs))
    expect([...after.values()]).toEqual([false, false, false, false])
    expect(fs.existsSync(path.join(manager.unitDir, "default.target.wants", "tamanu-facility-tasks.service"))).toBe(
      false,
    )
  })

  it("remove is a no-op on systemd and spawns nothing", async () => {
    spawned = []
    await run(supervisor().remove([tasks]))
    expect(spawned).toHaveLength(0)
  })

  it("unitFileExists tells an installed template from a missing one", async () => {
    expect(await run(supervisor().unitFileExists("tamanu-patientportal@.service"))).toBe(true)
    expect(await run(supervisor().unitFileExists("tamanu-nothing@.service"))).toBe(false)
  })

  it("works through the layer too", async () => {
    const names = await Effect.runPromise(
      Effect.flatMap(Supervisor, (s) =>
        Effect.map(s.unitFileExists("tamanu-facility-tasks.service"), (b) => [s.kind, b]),
      ).pipe(Effect.provide(SystemdSupervisorLive(manager.supervisorOptions))),
    )
    expect(names).toEqual(["systemd", true])
  })

  it("a unit whose start job fails is a SupervisorCallFailed carrying argv, stderr and exit code", async () => {
    const error = await fails(supervisor().start([single("tamanu-broken")]))
    expect(error._tag).toBe("SupervisorCallFailed")
    if (error._tag !== "SupervisorCallFailed") return
    expect(error.command).toEqual([...manager.systemctl, "--user", "start", "--", "tamanu-broken.service"])
    expect(error.stderr).toContain("Job for tamanu-broken.service failed")
    expect(error.exitCode).toBe(1)
    await manager.ctl(["reset-failed"])
  })

  it("an unknown unit is a SupervisorCallFailed naming it, and the known ones in the batch still start", async () => {
    const error = await fails(supervisor().start([single("tamanu-unknown"), api("3")]))
    expect(error._tag).toBe("SupervisorCallFailed")
    if (error._tag !== "SupervisorCallFailed") return
    expect(error.stderr).toContain("tamanu-unknown.service not found")
    expect(error.exitCode).toBe(5)
    expect(await runningUnits()).toContain("tamanu-facility-api@3")
    await run(supervisor().stop([api("3")]))
  })

  it("a unit name that looks like an option never reaches systemctl", async () => {
    spawned = []
    const error = await fails(supervisor().stop([single("--now"), { name: "tamanu-x", suffix: "a b", pmId: null }]))
    expect(spawned).toHaveLength(0)
    expect(error._tag).toBe("SupervisorCallFailed")
    if (error._tag === "SupervisorCallFailed") expect(error.exitCode).toBeNull()
    expect(await run(Effect.either(supervisor().unitFileExists("--all")))).toSatisfy(Either.isLeft)
  })

  it("no user manager behind XDG_RUNTIME_DIR is SupervisorUnavailable with systemctl's words", async () => {
    const error = await fails(makeSystemdSupervisor({ scope: "user", env: { XDG_RUNTIME_DIR: "/nonexistent" } }).list)
    expect(error._tag).toBe("SupervisorUnavailable")
    expect(error.message).toContain("Failed to connect to bus")
  })

  it("systemctl missing (PATH without it, or a bad binary path) is SupervisorUnavailable", async () => {
    const viaPath = await fails(makeSystemdSupervisor({ scope: "user", env: { PATH: "/nonexistent" } }).list)
    expect(viaPath._tag).toBe("SupervisorUnavailable")
    const viaBinary = await fails(
      makeSystemdSupervisor({ scope: "system", systemctl: ["/nonexistent/systemctl"] }).start([tasks]),
    )
    expect(viaBinary._tag).toBe("SupervisorUnavailable")
    expect(viaBinary.message).toContain("/nonexistent/systemctl not found")
  })

  it("logs follow journalctl for exactly these units and end when it ends", async () => {
    // journald does not run for the test manager, so stand `true` in for journalctl: the argv it gets is what
    // the supervisor spawned, and the stream ends (with nothing to show) when it exits 0.
    spawned = []
    const lines = await Effect.runPromise(
      Stream.runCollect(makeSystemdSupervisor({ ...options, journalctl: ["true"] }).logs([api("1"), tasks])),
    )
    expect(Chunk.toReadonlyArray(lines)).toEqual([])
    expect(spawned).toEqual([
      [
        "true",
        "--user",
        "--no-pager",
        "--output=json",
        "--follow",
        "--lines=0",
        "--unit=tamanu-facility-api@1.service",
        "--unit=tamanu-facility-tasks.service",
      ],
    ])
  })

  it("logs from the real journalctl stay open until interrupted, and a missing journalctl is SupervisorUnavailable", async () => {
    const open = await Effect.runPromise(
      Stream.runCollect(supervisor().logs([api("1")])).pipe(
        Effect.timeoutTo({ duration: "300 millis", onTimeout: () => "still open", onSuccess: () => "ended" }),
      ),
    )
    expect(open).toBe("still open")
    const error = await fails(
      Stream.runDrain(makeSystemdSupervisor({ ...options, journalctl: ["/nonexistent/journalctl"] }).logs([api("1")])),
    )
    expect(error._tag).toBe("SupervisorUnavailable")
  })

  it("a scoped manager is gone, with its services and files, when the scope fails", async () => {
    let seen: { pid: number; runtimeDir: string; servicePid: string } | undefined
    const outcome = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const m = yield* userManagerScoped({ units: [cheapUnit("tamanu-sleeper.service", "sleep")] })
          const started = yield* Effect.promise(() => m.ctl(["start", "--", "tamanu-sleeper.service"]))
          expect(started.exitCode).toBe(0)
          const servicePid = (yield* Effect.promise(() =>
            m.ctl(["show", "-p", "MainPID", "--value", "--", "tamanu-sleeper.service"]),
          )).stdout.trim()
          seen = { pid: m.pid, runtimeDir: m.runtimeDir, servicePid }
          return yield* Effect.fail("the test body failed")
        }),
      ).pipe(Effect.either),
    )
    expect(Either.isLeft(outcome)).toBe(true)
    expect(seen?.servicePid).toMatch(/^[1-9]\d*$/)
    expect(fs.existsSync(`/proc/${seen?.pid}`)).toBe(false)
    expect(fs.existsSync(`/proc/${seen?.servicePid}`)).toBe(false)
    expect(fs.existsSync(seen?.runtimeDir ?? "/")).toBe(false)
  })
})
