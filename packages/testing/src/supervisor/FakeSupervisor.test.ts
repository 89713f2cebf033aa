import { describe, expect, it } from "@effect/vitest"
import { type InstanceRef, Supervisor, waitUntil } from "@tamanu-lifecycle/core/internal"
import { Chunk, Clock, Duration, Effect, Fiber, Stream, TestClock } from "effect"
import { FakePm2, FakeSupervisorControl, FakeSystemd } from "../index.js"

const ref = (name: string, suffix: string | null = null, pmId: number | null = null): InstanceRef => ({
  name,
  suffix,
  pmId,
})
const api1 = ref("tamanu-facility-api", "1")
const api2 = ref("tamanu-facility-api", "2")
const tasks = ref("tamanu-facility-tasks")

const listed = Effect.flatMap(Supervisor, (s) => s.list)
const runningNames = Effect.map(listed, (instances) =>
  instances
    .filter((i) => i.running)
    .map((i) => (i.suffix === null ? (i.pmId === null ? i.name : `${i.name}#${i.pmId}`) : `${i.name}@${i.suffix}`)),
)

describe("FakeSystemd", () => {
  const layer = FakeSystemd.layer({
    units: [
      { name: "tamanu-facility-api", suffix: "1", running: true, enabled: true },
      { name: "tamanu-facility-api", suffix: "2", running: false, enabled: true, upAfter: "3 seconds" },
      { name: "tamanu-facility-tasks", running: false, enabled: false, loaded: true },
      { name: "caddy", running: true, enabled: true },
    ],
    unitFiles: ["tamanu-patientportal@.service"],
  })

  it.effect("lists loaded Tamanu units only, running or not", () =>
    Effect.gen(function* () {
      const instances = yield* listed
      expect(instances).toEqual([
        { name: "tamanu-facility-api", suffix: "1", pmId: null, running: true },
        { name: "tamanu-facility-api", suffix: "2", pmId: null, running: false },
        { name: "tamanu-facility-tasks", suffix: null, pmId: null, running: false },
      ])
    }).pipe(Effect.provide(layer)),
  )

  it.effect("a started unit is running after its scripted start-up time, and waitUntil sees it", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      yield* supervisor.start([api2])
      expect(yield* runningNames).toEqual(["tamanu-facility-api@1"])
      const wait = yield* Effect.fork(waitUntil([api1, api2], "running"))
      yield* TestClock.adjust("2999 millis")
      expect(wait.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(wait)
      expect(yield* runningNames).toEqual(["tamanu-facility-api@1", "tamanu-facility-api@2"])
    }).pipe(Effect.provide(layer)),
  )

  it.effect("a unit that never comes up makes waitUntil fail after 60 s, naming it", () =>
    Effect.gen(function* () {
      const control = yield* FakeSupervisorControl
      yield* control.script("tamanu-facility-api@2", { upAfter: Duration.infinity })
      yield* (yield* Supervisor).start([api2])
      const wait = yield* Effect.fork(Effect.flip(waitUntil([api1, api2], "running")))
      yield* TestClock.adjust("60 seconds")
      const error = yield* Fiber.join(wait)
      expect(error).toMatchObject({ _tag: "WaitTimeout", pending: ["tamanu-facility-api@2"], limitMillis: 60_000 })
    }).pipe(Effect.provide(layer)),
  )

  it.effect(
    "a unit scripted to crash on start is activating, then failed; waitUntil says so within a poll, not at 60 s",
    () =>
      Effect.gen(function* () {
        const control = yield* FakeSupervisorControl
        yield* control.script("tamanu-facility-api@2", { failAfter: "50 millis" })
        yield* (yield* Supervisor).start([api2])
        const api2Listed = Effect.map(listed, (is) => is.find((i) => i.suffix === "2"))
        expect(yield* api2Listed).toEqual({ name: "tamanu-facility-api", suffix: "2", pmId: null, running: false })
        const wait = yield* Effect.fork(
          Effect.flip(waitUntil([api1, api2], "running")).pipe(Effect.zip(Clock.currentTimeMillis)),
        )
        yield* TestClock.adjust("1 second")
        expect(wait.unsafePoll()).not.toBeNull()
        const [error, at] = yield* Fiber.join(wait)
        expect(error).toMatchObject({
          _tag: "InstanceFailed",
          supervisor: "systemd",
          failed: ["tamanu-facility-api@2"],
        })
        // Crashed at 50 ms; early polls are 25, 50, 100, 200, 250 ms apart.
        expect(at).toBeGreaterThanOrEqual(50)
        expect(at).toBeLessThanOrEqual(300)
        expect(yield* api2Listed).toEqual({
          name: "tamanu-facility-api",
          suffix: "2",
          pmId: null,
          running: false,
          failed: true,
        })
      }).pipe(Effect.provide(layer)),
  )

  it.effect("a failed unit stays failed (and loaded) when stopped, and comes up once started without the crash", () =>
    Effect.gen(function* () {
      const control = yield* FakeSupervisorControl
      const supervisor = yield* Supervisor
      yield* control.script("tamanu-facility-api@2", { failAfter: 0 })
      yield* supervisor.start([api2])
      yield* supervisor.stop([api2])
      const failedNow = Effect.map(listed, (is) => is.filter((i) => i.failed === true).map((i) => i.suffix))
      expect(yield* failedNow).toEqual(["2"])
      yield* control.script("tamanu-facility-api@2", { failAfter: null, upAfter: "1 second" })
      yield* supervisor.start([api2])
      // Starting again: no longer reported failed while it comes up.
      expect(yield* failedNow).toEqual([])
      yield* TestClock.adjust("1 second")
      expect(yield* runningNames).toEqual(["tamanu-facility-api@1", "tamanu-facility-api@2"])
    }).pipe(Effect.provide(layer)),
  )

  it.effect("restart of a stopped unit starts it; stop of a stopped unit is fine", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      yield* supervisor.restart([tasks])
      yield* supervisor.stop([api2])
      expect(yield* runningNames).toEqual(["tamanu-facility-api@1", "tamanu-facility-tasks"])
    }).pipe(Effect.provide(layer)),
  )

  it.effect("stop returns once the unit is down (scripted stop time)", () =>
    Effect.gen(function* () {
      const control = yield* FakeSupervisorControl
      yield* control.script("tamanu-facility-api", { downAfter: "5 seconds" })
      const stop = yield* Effect.fork((yield* Supervisor).stop([api1]))
      yield* TestClock.adjust("4 seconds")
      expect(stop.unsafePoll()).toBeNull()
      expect(yield* runningNames).toEqual([]) // deactivating is not running
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(stop)
    }).pipe(Effect.provide(layer)),
  )

  it.effect("starting an installed template instance loads it; an unknown unit fails like systemctl", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      yield* supervisor.start([ref("tamanu-patientportal", "a")])
      expect(yield* runningNames).toContain("tamanu-patientportal@a")
      const error = yield* Effect.flip(supervisor.start([ref("tamanu-nope"), api2]))
      expect(error).toMatchObject({
        _tag: "SupervisorCallFailed",
        supervisor: "systemd",
        command: ["systemctl", "start", "tamanu-nope.service", "tamanu-facility-api@2.service"],
        stderr: "Failed to start tamanu-nope.service: Unit tamanu-nope.service not found.",
        exitCode: 5,
      })
      // Like systemctl, the units that exist were still started.
      const control = yield* FakeSupervisorControl
      const api2View = (yield* control.instances).find((i) => i.suffix === "2")
      expect(api2View?.phase._tag).toBe("Starting")
    }).pipe(Effect.provide(layer)),
  )

  it.effect("enabled answers for units that are not loaded; disable clears it and unloads a stopped unit", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const control = yield* FakeSupervisorControl
      yield* control.setEnabled(ref("tamanu-patientportal", "b"), true)
      const portalB = ref("tamanu-patientportal", "b")
      const before = yield* supervisor.enabled([api1, tasks, portalB, ref("tamanu-patientportal", "c")])
      expect(Object.fromEntries(before)).toEqual({
        "tamanu-facility-api@1.service": true,
        "tamanu-facility-tasks.service": false,
        "tamanu-patientportal@b.service": true,
        "tamanu-patientportal@c.service": false,
      })
      yield* supervisor.stop([api2])
      yield* supervisor.disable([api1, api2])
      expect(Object.fromEntries(yield* supervisor.enabled([api1, api2]))).toEqual({
        "tamanu-facility-api@1.service": false,
        "tamanu-facility-api@2.service": false,
      })
      // @2 is stopped and no longer wanted by any target: gone from the list; @1 still runs.
      expect((yield* listed).map((i) => i.suffix)).toEqual(["1", null, "b"])
    }).pipe(Effect.provide(layer)),
  )

  it.effect("unitFileExists reports installed unit files", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      expect(yield* supervisor.unitFileExists("tamanu-patientportal@.service")).toBe(true)
      expect(yield* supervisor.unitFileExists("tamanu-facility-api@.service")).toBe(true)
      expect(yield* supervisor.unitFileExists("tamanu-patientportal.service")).toBe(false)
    }).pipe(Effect.provide(layer)),
  )

  it.effect(
    "a scripted failure fails the call with its stderr, acts on the rest of the batch, and heals after `times`",
    () =>
      Effect.gen(function* () {
        const supervisor = yield* Supervisor
        const control = yield* FakeSupervisorControl
        yield* control.failOn({ method: "restart", instance: "tamanu-facility-api@1", stderr: "Job failed", times: 1 })
        yield* TestClock.adjust("1 second")
        const error = yield* Effect.flip(supervisor.restart([api1, tasks]))
        expect(error).toMatchObject({ _tag: "SupervisorCallFailed", stderr: "Job failed", exitCode: 1 })
        const views = yield* control.instances
        expect(views.find((i) => i.name === "tamanu-facility-api" && i.suffix === "1")?.phase).toEqual({
          _tag: "Running",
          since: Number.NEGATIVE_INFINITY,
        })
        expect(views.find((i) => i.name === "tamanu-facility-tasks")?.running).toBe(true)
        yield* supervisor.restart([api1])
        expect(yield* control.runningSince(api1)).toBe(1000)
      }).pipe(Effect.provide(layer)),
  )

  it.effect("journals every call with its refs and clock time, failed ones too", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const control = yield* FakeSupervisorControl
      yield* supervisor.start([api2])
      yield* TestClock.adjust("2 seconds")
      yield* supervisor.restartOne(api1)
      yield* control.setAvailable(false)
      const error = yield* Effect.flip(supervisor.list)
      expect(error._tag).toBe("SupervisorUnavailable")
      expect(yield* control.journal).toEqual([
        { method: "start", refs: [api2], at: 0 },
        { method: "restartOne", refs: [api1], at: 2000 },
        { method: "list", refs: [], at: 2000 },
      ])
    }).pipe(Effect.provide(layer)),
  )

  it.effect("concurrent callers do not lose each other's updates", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const control = yield* FakeSupervisorControl
      const refs = Array.from({ length: 50 }, (_, i) => ref("tamanu-worker", String(i + 1)))
      yield* Effect.forEach(refs, (r) => supervisor.start([r]), { concurrency: "unbounded" })
      expect((yield* runningNames).filter((n) => n.startsWith("tamanu-worker"))).toHaveLength(50)
      expect(yield* control.calls("start")).toHaveLength(50)
    }).pipe(Effect.provide(FakeSystemd.layer({ unitFiles: ["tamanu-worker@.service"] }))),
  )
})

describe("FakePm2", () => {
  const layer = FakePm2.layer({
    processes: [
      { name: "tamanu-api", pmId: 0, running: true, port: 4000 },
      { name: "tamanu-api", pmId: 1, running: false, port: 4001, upAfter: "2 seconds" },
      { name: "tamanu-tasks", pmId: 2, running: false },
      { name: "caddy-helper", pmId: 3, running: true },
    ],
  })

  it.effect("start by name with pmId null starts the stopped processes of that name", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const control = yield* FakeSupervisorControl
      yield* supervisor.start([ref("tamanu-api")])
      yield* TestClock.adjust("2 seconds")
      expect(yield* runningNames).toEqual(["tamanu-api#0", "tamanu-api#1"])
      // #0 was already online: untouched, still running since before the test.
      expect(yield* control.runningSince(ref("tamanu-api", null, 0))).toBe(Number.NEGATIVE_INFINITY)
      expect(yield* control.runningSince(ref("tamanu-api", null, 1))).toBe(2000)
    }).pipe(Effect.provide(layer)),
  )

  it.effect("remove deletes the processes from the list; enabled/disable/unitFileExists are inert", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      yield* supervisor.remove([ref("tamanu-api")])
      expect((yield* listed).map((i) => i.pmId)).toEqual([2])
      expect((yield* supervisor.enabled([ref("tamanu-tasks")])).size).toBe(0)
      yield* supervisor.disable([ref("tamanu-tasks")])
      expect(yield* supervisor.unitFileExists("tamanu-api@.service")).toBe(false)
      const error = yield* Effect.flip(supervisor.stop([ref("tamanu-api", null, 0)]))
      expect(error).toMatchObject({ stderr: "[PM2][ERROR] Process or Namespace 0 not found" })
    }).pipe(Effect.provide(layer)),
  )

  it.effect("a failure scripted for one process hits a call addressing its name", () =>
    Effect.gen(function* () {
      const control = yield* FakeSupervisorControl
      yield* control.failOn({ method: "start", instance: "tamanu-api#1", stderr: "spawn EACCES" })
      const error = yield* Effect.flip((yield* Supervisor).start([ref("tamanu-api")]))
      expect(error).toMatchObject({
        _tag: "SupervisorCallFailed",
        command: ["pm2", "start", "tamanu-api"],
        stderr: "spawn EACCES",
      })
    }).pipe(Effect.provide(layer)),
  )

  it.effect("a daemon that is down fails every call with SupervisorUnavailable", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const errors = yield* Effect.all([
        Effect.flip(supervisor.list),
        Effect.flip(supervisor.start([ref("tamanu-tasks")])),
        Effect.flip(Stream.runCollect(supervisor.logs([ref("tamanu-tasks")]))),
      ])
      expect(errors.map((e) => [e._tag, e.supervisor])).toEqual([
        ["SupervisorUnavailable", "pm2"],
        ["SupervisorUnavailable", "pm2"],
        ["SupervisorUnavailable", "pm2"],
      ])
    }).pipe(Effect.provide(FakePm2.layer({ available: false, processes: [{ name: "tamanu-tasks", pmId: 0 }] }))),
  )

  it.effect("logs emits the scripted lines of the addressed processes", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const lines = yield* Stream.runCollect(supervisor.logs([ref("tamanu-api")]))
      expect(Chunk.toReadonlyArray(lines)).toEqual(["api 0 listening", "api 1 listening"])
    }).pipe(
      Effect.provide(
        FakePm2.layer({
          processes: [
            { name: "tamanu-api", pmId: 0, logLines: ["api 0 listening"] },
            { name: "tamanu-api", pmId: 1, logLines: ["api 1 listening"] },
          ],
        }),
      ),
    ),
  )

  it.effect("a process scripted to crash on restart is errored; waitUntil by name fails at once naming it", () =>
    Effect.gen(function* () {
      const control = yield* FakeSupervisorControl
      const supervisor = yield* Supervisor
      yield* control.script("tamanu-api#1", { failAfter: "100 millis" })
      yield* supervisor.restart([ref("tamanu-api")])
      const wait = yield* Effect.fork(Effect.flip(waitUntil([ref("tamanu-api")], "running")))
      yield* TestClock.adjust("1 second")
      expect(wait.unsafePoll()).not.toBeNull()
      expect(yield* Fiber.join(wait)).toMatchObject({
        _tag: "InstanceFailed",
        supervisor: "pm2",
        failed: ["tamanu-api#1"],
      })
      // pm2 stop of an errored process: stopped, no longer errored.
      yield* supervisor.stop([ref("tamanu-api", null, 1)])
      expect((yield* listed).filter((i) => i.failed === true)).toEqual([])
    }).pipe(Effect.provide(layer)),
  )

  it.effect("waitUntil stopped names the pm2 processes of a name still online by pm_id", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(Effect.flip(waitUntil([ref("tamanu-api")], "stopped", { limit: "1 second" })))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toMatchObject({ _tag: "WaitTimeout", pending: ["tamanu-api#0"] })
    }).pipe(Effect.provide(layer)),
  )
})
