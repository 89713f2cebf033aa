/**
 * Fault injection over the fake host with the real operations and the real
 * error rendering: whatever fails (a supervisor call, the daemon, a probe,
 * Caddy, the database, sudo, the lock, an interruption), the host is left
 * no less available than it was, the command ends in bounded time, and the
 * operator reads a typed error with the facts and the right exit status.
 */

import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { renderCause } from "@tamanu-lifecycle/cli"
import {
  ConfigUnreadable,
  defaults,
  type HostContext,
  type InstanceRef,
  type OperationServices,
  Privileges,
  PrivilegesFixed,
  PrivilegesLive,
  restart,
  start,
  status,
  stop,
  withHostLock,
} from "@tamanu-lifecycle/core/internal"
import {
  FakeCaddyControl,
  FakeProberControl,
  FakeReverseProxyControl,
  FakeSupervisorControl,
  type FakeUnitSpec,
  fakeUrl,
} from "@tamanu-lifecycle/testing"
import { Duration, Effect, Exit, Fiber, Option, TestClock } from "effect"
import { CapturedOutput, type FaultWorldSpec, faultWorld, runningInstances, runToEnd } from "./faultWorld.js"

const ref = (name: string, suffix: string | null = null, pmId: number | null = null): InstanceRef => ({
  name,
  suffix,
  pmId,
})
const api = (n: number) => ref("tamanu-facility-api", String(n))
const pmApi = (id: number) => ref("tamanu-api", null, id)

const facility: HostContext = {
  root: "/opt/tamanu",
  version: "2.30.0",
  config: { serverFacilityIds: ["f1"] },
  kind: "facility",
  fhirWorkerEnabled: null,
}

const facilityUnits = (over: Readonly<Record<string, Partial<FakeUnitSpec>>> = {}): Array<FakeUnitSpec> =>
  [
    { name: "tamanu-facility-tasks", suffix: null },
    { name: "tamanu-frontend", suffix: "a" },
    { name: "tamanu-frontend", suffix: "b" },
    { name: "tamanu-facility-api", suffix: "1" },
    { name: "tamanu-facility-api", suffix: "2" },
    { name: "tamanu-facility-sync", suffix: null },
  ].map((u) => ({ running: true, enabled: true, ...u, ...over[u.suffix === null ? u.name : `${u.name}@${u.suffix}`] }))

const everyFacility = [
  "tamanu-facility-api@1",
  "tamanu-facility-api@2",
  "tamanu-facility-sync",
  "tamanu-facility-tasks",
  "tamanu-frontend@a",
  "tamanu-frontend@b",
]

/** A systemd facility; API instances take 2 s to come up and answer 3 s after. */
const systemdFacility = (over: Readonly<Record<string, Partial<FakeUnitSpec>>> = {}): FaultWorldSpec => ({
  supervisor: {
    systemd: {
      units: facilityUnits(over),
      unitFiles: ["tamanu-facility.service"],
      defaults: { upAfter: "2 seconds", downAfter: "1 second" },
    },
  },
  host: { context: facility },
  readiness: [api(1), api(2), ref("tamanu-frontend", "a"), ref("tamanu-frontend", "b")].map((instance) => ({
    instance,
    readyAfter: "3 seconds",
  })),
  // Probe faults are scripted on each instance's one address (a pm2-like PORT), not podman's per-start ones.
  addresses: "fixed",
})

const pm2Facility: FaultWorldSpec = {
  supervisor: {
    pm2: {
      processes: [
        { name: "tamanu-tasks", pmId: 0, running: true },
        { name: "tamanu-api", pmId: 1, running: true, port: 4001 },
        { name: "tamanu-api", pmId: 2, running: true, port: 4002 },
        { name: "tamanu-sync", pmId: 3, running: true },
      ],
      defaults: { upAfter: "2 seconds", downAfter: "1 second" },
    },
  },
  host: { context: facility },
  readiness: [pmApi(1), pmApi(2)].map((instance) => ({ instance, readyAfter: "3 seconds" })),
}

const mutateBase = {
  names: [] as ReadonlyArray<string>,
  ignoreUnmatched: false,
  dryRun: false,
  waitLimit: defaults.waitLimit,
  lockFile: null as string | null,
}
const startOpts = {
  ...mutateBase,
  upOnly: false,
  probeHttp: true,
  // Short budgets: a failing probe is retried every 50 ms, each a TestClock step.
  probeTimeout: Duration.seconds(4),
  dbWait: Duration.zero,
  logs: false,
}
const restartOpts = {
  ...mutateBase,
  probeHttp: true,
  probeTimeout: Duration.seconds(4),
  cooldown: defaults.cooldown,
  checkUrl: null as string | null,
}

/** The rendered failure of an Exit: exit code and message, as the CLI prints them. */
const rendered = <A, E>(exit: Exit.Exit<A, E>) => {
  expect(Exit.isFailure(exit)).toBe(true)
  return Exit.isFailure(exit) ? renderCause(exit.cause) : { exitCode: 0, message: "" }
}

const mutatingCalls = Effect.map(
  Effect.flatMap(FakeSupervisorControl, (c) => c.journal),
  (j) => j.filter((e) => !["list", "enabled", "unitFileExists", "logs"].includes(e.method)),
)

const warningsSaid = Effect.map(
  Effect.flatMap(CapturedOutput, (c) => c.events),
  (events) => events.flatMap((e) => (e._tag === "Warning" ? [e.message] : [])),
)

describe("supervisor faults", () => {
  it.effect("a start batch where one unit fails: the others still start; exit 1 quoting the call and its stderr", () =>
    Effect.gen(function* () {
      const exit = yield* runToEnd(start(startOpts))
      const { exitCode, message } = rendered(exit)
      expect(exitCode).toBe(1)
      expect(message).toContain("systemctl start")
      expect(message).toContain("Job for tamanu-facility-sync.service failed")
      expect(message).toContain("run the command again")
      // systemctl start a b: the unit that could start did; nothing that ran was stopped.
      expect(yield* runningInstances).toEqual(everyFacility.filter((n) => n !== "tamanu-facility-sync"))
    }).pipe(
      Effect.provide(
        faultWorld({
          ...systemdFacility({
            "tamanu-facility-api@2": { running: false },
            "tamanu-facility-sync": { running: false },
          }),
          supervisor: {
            systemd: {
              units: facilityUnits({
                "tamanu-facility-api@2": { running: false },
                "tamanu-facility-sync": { running: false },
              }),
              defaults: { upAfter: "2 seconds" },
              failures: [
                {
                  method: "start",
                  instance: "tamanu-facility-sync",
                  stderr:
                    "Job for tamanu-facility-sync.service failed because the control process exited with error code.",
                },
              ],
            },
          },
        }),
      ),
    ),
  )

  it.effect("a bulk restart call that fails leaves every rolled Critical instance untouched", () =>
    Effect.gen(function* () {
      const exit = yield* runToEnd(restart(restartOpts))
      const { exitCode, message } = rendered(exit)
      expect(exitCode).toBe(1)
      expect(message).toContain("Failed to restart")
      const calls = yield* Effect.flatMap(FakeSupervisorControl, (c) => c.calls("restartOne"))
      expect(calls).toEqual([])
      expect(yield* runningInstances).toEqual(everyFacility)
    }).pipe(
      Effect.provide(
        faultWorld({
          ...systemdFacility(),
          supervisor: {
            systemd: {
              units: facilityUnits(),
              failures: [
                { method: "restart", stderr: "Failed to restart tamanu-facility-tasks.service: Access denied" },
              ],
            },
          },
        }),
      ),
    ),
  )

  for (const [kind, spec, words] of [
    ["systemd", systemdFacility(), "systemd cannot be reached"],
    ["pm2", pm2Facility, "tamanu never starts a pm2 daemon"],
  ] as const) {
    it.effect(`${kind} unavailable: every command fails at once with exit 1, changing nothing`, () =>
      Effect.gen(function* () {
        const control = yield* FakeSupervisorControl
        yield* control.setAvailable(false)
        const ops: ReadonlyArray<Effect.Effect<unknown, unknown, OperationServices>> = [
          status({ names: [], all: false }),
          start(startOpts),
          stop(mutateBase),
          restart(restartOpts),
        ]
        for (const op of ops) {
          const { exitCode, message } = rendered(yield* runToEnd(op, "1 second"))
          expect(exitCode).toBe(1)
          expect(message).toContain(words)
        }
        expect(yield* mutatingCalls).toEqual([])
      }).pipe(Effect.provide(faultWorld(spec))),
    )
  }

  it.effect("the pm2 daemon dies mid-roll: the roll ends, the next API process was never taken down", () =>
    Effect.gen(function* () {
      const control = yield* FakeSupervisorControl
      const fiber = yield* Effect.fork(restart({ ...restartOpts, names: ["api"] }))
      // Let the first process be restarted, then the daemon goes away.
      yield* TestClock.adjust("1500 millis")
      expect((yield* control.calls("restartOne")).map((c) => c.refs[0]?.pmId)).toEqual([1])
      yield* control.setAvailable(false)
      yield* TestClock.adjust("10 minutes")
      const { exitCode, message } = rendered(yield* Fiber.await(fiber))
      expect(exitCode).toBe(1)
      expect(message).toContain("pm2 daemon is not running")
      expect((yield* control.calls("restartOne")).length).toBe(1)
      yield* control.setAvailable(true)
      expect(yield* runningInstances).toEqual(["tamanu-api#1", "tamanu-api#2", "tamanu-sync#3", "tamanu-tasks#0"])
    }).pipe(Effect.provide(faultWorld(pm2Facility))),
  )

  it.effect("a unit that comes up and falls over again stops the roll; its sibling keeps serving", () =>
    Effect.gen(function* () {
      const control = yield* FakeSupervisorControl
      const fiber = yield* Effect.fork(restart({ ...restartOpts, names: ["facility-api"] }))
      yield* TestClock.adjust("1 second") // stop done
      yield* TestClock.adjust("2500 millis") // up for 0.5 s, not yet answering
      expect(yield* runningInstances).toContain("tamanu-facility-api@1")
      yield* control.crash(api(1))
      yield* TestClock.adjust("10 minutes")
      const { exitCode, message } = rendered(yield* Fiber.await(fiber))
      expect(exitCode).toBe(1)
      expect(message).toContain("rolling restart of tamanu-facility-api stopped")
      expect(message).toContain("Not restarted: tamanu-facility-api@2")
      expect(message).toContain("journalctl -u tamanu-facility-api@1")
      expect((yield* control.calls("restartOne")).length).toBe(1)
      expect(yield* runningInstances).toContain("tamanu-facility-api@2")
    }).pipe(Effect.provide(faultWorld(systemdFacility()))),
  )
})

describe("probe faults", () => {
  const cases = [
    { what: "answers 503", script: { outcomes: [503] }, said: "HTTP 503" },
    {
      what: "resets the connection",
      script: { outcomes: ["connection reset (ECONNRESET)"] },
      said: "connection reset",
    },
    { what: "times out every attempt", script: { outcomes: ["timed out after 5s"] }, said: "timed out after 5s" },
    {
      what: "hangs (an attempt never answers)",
      script: { outcomes: [200], takes: "10 hours" },
      said: "no answer within 4s",
    },
  ] as const

  for (const c of cases) {
    it.effect(`an instance that ${c.what} stops the roll within --probe-timeout; the next is not taken down`, () =>
      Effect.gen(function* () {
        const prober = yield* FakeProberControl
        yield* prober.script(fakeUrl(api(1)), c.script)
        const began = yield* TestClock.currentTimeMillis
        const fiber = yield* Effect.fork(restart({ ...restartOpts, names: ["facility-api"] }))
        yield* TestClock.adjust("10 minutes")
        const exit = yield* Fiber.await(fiber)
        const { exitCode, message } = rendered(exit)
        expect(exitCode).toBe(1)
        expect(message).toContain(c.said)
        expect(message).toContain(fakeUrl(api(1)))
        expect(message).toContain("Not restarted: tamanu-facility-api@2")
        const calls = yield* Effect.flatMap(FakeSupervisorControl, (s) => s.calls("restartOne"))
        expect(calls.map((e) => e.refs[0]?.suffix)).toEqual(["1"])

        const events = yield* Effect.flatMap(CapturedOutput, (o) => o.events)
        expect(events.some((e) => e._tag === "InstanceRunning")).toBe(true)
        expect(began).toBe(0)
        expect(yield* runningInstances).toEqual(everyFacility)
      }).pipe(Effect.provide(faultWorld(systemdFacility()))),
    )
  }

  it.effect("a hanging probe ends the command within the budget (checked on the clock)", () =>
    Effect.gen(function* () {
      const prober = yield* FakeProberControl
      yield* prober.script(fakeUrl(api(1)), { outcomes: [200], takes: "10 hours" })
      const fiber = yield* Effect.fork(restart({ ...restartOpts, names: ["facility-api"] }))
      // Bounded: restart (1 s) + up (2 s + a poll) + the 4 s budget, not the 10 hours an attempt hangs.
      yield* TestClock.adjust("5 seconds")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("5 seconds")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(false)
    }).pipe(Effect.provide(faultWorld(systemdFacility()))),
  )

  it.effect("start: an instance that never answers fails naming it, after everything was started", () =>
    Effect.gen(function* () {
      const prober = yield* FakeProberControl
      yield* prober.script(fakeUrl(api(2)), { outcomes: [502] })
      const { exitCode, message } = rendered(yield* runToEnd(start(startOpts)))
      expect(exitCode).toBe(1)
      expect(message).toContain("tamanu-facility-api@2 did not become ready within 4s")
      expect(message).toContain("HTTP 502")
      expect(yield* runningInstances).toEqual(everyFacility)
    }).pipe(Effect.provide(faultWorld(systemdFacility({ "tamanu-facility-api@2": { running: false } })))),
  )
})

describe("Caddy and database faults", () => {
  it.effect(
    "without Caddy's admin API, a failed reload of the old way is a warning: restart still succeeds (exit 0) and says so",
    () =>
      Effect.gen(function* () {
        const proxy = yield* FakeReverseProxyControl
        yield* proxy.answer({
          reloaded: false,
          warnings: ["systemctl reload caddy failed: Unit caddy.service not loaded."],
        })
        const exit = yield* runToEnd(restart(restartOpts))
        expect(Exit.isSuccess(exit)).toBe(true)
        if (Exit.isSuccess(exit)) {
          expect(exit.value.ok).toBe(true)
          expect(exit.value.warnings.some((w) => w.includes("caddy.service not loaded"))).toBe(true)
        }
        expect((yield* proxy.reloads).length).toBeGreaterThan(0)
        expect(yield* runningInstances).toEqual(everyFacility)
      }).pipe(
        Effect.provide(faultWorld({ ...systemdFacility(), addresses: "per-start", caddy: { reachable: false } })),
      ),
    // Hundreds of simulated probe attempts under TestClock: seconds of CPU on a busy machine, not of the clock.
    30_000,
  )

  it.effect(
    "Caddy refusing the route before a bulk start: exit 1 in Caddy's own words (not a bug in tamanu), nothing started",
    () =>
      Effect.gen(function* () {
        const caddy = yield* FakeCaddyControl
        yield* caddy.failNextLoad(400, '{"error":"loading config: bad"}')
        const { exitCode, message } = rendered(yield* runToEnd(start(startOpts)))
        expect(exitCode).toBe(1)
        expect(message).toContain("Caddy (")
        expect(message).toContain("did not take the routing change")
        expect(message).toContain("HTTP 400")
        expect(message).not.toContain("bug in tamanu")
        expect(yield* runningInstances).toEqual(everyFacility.filter((i) => i !== "tamanu-facility-api@2"))
        expect(yield* caddy.config).toEqual(yield* caddy.ownConfig)
      }).pipe(
        Effect.provide(
          faultWorld({ ...systemdFacility({ "tamanu-facility-api@2": { running: false } }), addresses: "per-start" }),
        ),
      ),
    30_000,
  )

  const central = (dbReachableAfter: Duration.DurationInput): FaultWorldSpec => ({
    supervisor: {
      systemd: {
        units: [
          { name: "tamanu-central-tasks", running: true, enabled: true },
          { name: "tamanu-frontend", suffix: "a", running: true, enabled: true },
          { name: "tamanu-frontend", suffix: "b", running: true, enabled: true },
          { name: "tamanu-central-api", suffix: "1", running: true, enabled: true },
          { name: "tamanu-central-api", suffix: "2", running: true, enabled: true },
        ],
        unitFiles: ["tamanu-patientportal@.service"],
      },
    },
    host: {
      context: { ...facility, config: {}, kind: "central", fhirWorkerEnabled: false },
      patientPortal: true,
      dbReachableAfter,
    },
    readiness: [ref("tamanu-patientportal", "a"), ref("tamanu-patientportal", "b")].map((instance) => ({ instance })),
  })

  it.effect("database refusing: status shows the portal as unknown, not a guess, and does not fail for it", () =>
    Effect.gen(function* () {
      const exit = yield* runToEnd(status({ names: [], all: false }))
      expect(Exit.isSuccess(exit)).toBe(true)
      if (Exit.isSuccess(exit)) {
        const portal = exit.value.json.expectations.find((e) => e.name === "tamanu-patientportal")
        expect(portal?.status).toBe("unknown")
        expect(portal?.expected_state).toBe("unknown")
        expect(exit.value.failed).toBe(false)
      }
    }).pipe(Effect.provide(faultWorld(central(Duration.infinity)))),
  )

  it.effect(
    "database refusing past --db-wait: start leaves the portal alone with a warning, bounded by --db-wait",
    () =>
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(start({ ...startOpts, dbWait: Duration.seconds(10) }))
        yield* TestClock.adjust("12 seconds")
        const exit = yield* Fiber.await(fiber)
        expect(Exit.isSuccess(exit)).toBe(true)
        expect((yield* warningsSaid).some((w) => w.includes("tamanu-patientportal") && w.includes("left alone"))).toBe(
          true,
        )
        expect(yield* mutatingCalls).toEqual([])
      }).pipe(Effect.provide(faultWorld(central(Duration.infinity)))),
  )

  it.effect("a slow database within --db-wait: start waits for it and then starts the portal", () =>
    Effect.gen(function* () {
      const exit = yield* runToEnd(start({ ...startOpts, dbWait: Duration.minutes(2) }))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(yield* runningInstances).toContain("tamanu-patientportal@a")
      expect(yield* runningInstances).toContain("tamanu-patientportal@b")
    }).pipe(Effect.provide(faultWorld(central("30 seconds")))),
  )
})

describe("privileges and the lock", () => {
  it.effect("not root: the command asks for root before changing anything (NeedsRoot → sudo re-exec)", () =>
    Effect.gen(function* () {
      const { exitCode, message } = rendered(yield* runToEnd(start(startOpts)))
      expect(exitCode).toBe(1)
      expect(message).toContain("needs root")
      expect(yield* mutatingCalls).toEqual([])
    }).pipe(
      Effect.provide(
        faultWorld({
          ...systemdFacility({ "tamanu-facility-sync": { running: false } }),
          privileges: PrivilegesFixed(false),
        }),
      ),
    ),
  )

  it.effect("not root but nothing to do: no sudo is asked for, exit 0", () =>
    Effect.gen(function* () {
      const exit = yield* runToEnd(start(startOpts))
      expect(Exit.isSuccess(exit)).toBe(true)
    }).pipe(Effect.provide(faultWorld({ ...systemdFacility(), privileges: PrivilegesFixed(false) }))),
  )

  describe("a config only root may read (EACCES for the operator)", () => {
    const rootOnly = (root: boolean): FaultWorldSpec => ({
      ...systemdFacility({ "tamanu-facility-sync": { running: false } }),
      host: {
        context: new ConfigUnreadable({
          file: "/etc/tamanu/default.json5",
          message: "cannot read: EACCES: permission denied",
          line: null,
          column: null,
          permissionDenied: true,
        }),
      },
      privileges: PrivilegesFixed(root),
    })

    for (const [command, run] of [
      ["start", start(startOpts)],
      ["stop", stop(mutateBase)],
      ["restart", restart(restartOpts)],
    ] as const)
      it.effect(`${command} asks for root at once (the re-run under sudo can read it), changing nothing`, () =>
        Effect.gen(function* () {
          const { exitCode, message } = rendered(yield* runToEnd(run))
          expect(exitCode).toBe(1)
          expect(message).toContain(`tamanu ${command}`)
          expect(message).toContain("needs root")
          expect(yield* mutatingCalls).toEqual([])
        }).pipe(Effect.provide(faultWorld(rootOnly(false)))),
      )

    const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, OperationServices>, boolean]> = [
      ["status (never sudo)", status({ names: [], all: false }), false],
      ["start --dry-run (never sudo)", start({ ...startOpts, dryRun: true }), false],
      ["start as root", start(startOpts), true],
    ]
    for (const [what, run, root] of cases)
      it.effect(`${what}: the permission error, naming the fix`, () =>
        Effect.gen(function* () {
          const { exitCode, message } = rendered(yield* runToEnd(run))
          expect(exitCode).toBe(1)
          expect(message).toContain("permission denied for this user")
          expect(message).toContain("chmod 640 /etc/tamanu/default.json5")
          expect(yield* mutatingCalls).toEqual([])
        }).pipe(Effect.provide(faultWorld(rootOnly(root)))),
      )
  })

  it.effect("sudo refused inside the re-run child (still not root): SudoFailed, exit 1, no loop", () =>
    Effect.gen(function* () {
      // What sudo sets in the environment of what it runs.
      const before = process.env.SUDO_UID
      process.env.SUDO_UID = "1000"
      const exit = yield* Effect.exit(
        Effect.flatMap(Privileges, (p) =>
          p.reexecUnderSudo({ executable: "node", script: "tamanu", args: ["start"] }),
        ).pipe(Effect.provide(PrivilegesLive(true))),
      )
      if (before === undefined) delete process.env.SUDO_UID
      else process.env.SUDO_UID = before
      const { exitCode, message } = rendered(exit)
      expect(exitCode).toBe(1)
      expect(message).toContain("already re-run under sudo and still not root")
    }),
  )

  it.effect("sudo missing from PATH: SudoFailed naming why, exit 1", () =>
    Effect.gen(function* () {
      const before = process.env.PATH
      process.env.PATH = "/nonexistent-for-tamanu-test"
      const exit = yield* Effect.exit(
        Effect.flatMap(Privileges, (p) =>
          p.reexecUnderSudo({ executable: "node", script: "tamanu", args: ["start"] }),
        ).pipe(Effect.provide(PrivilegesLive(true))),
      )
      process.env.PATH = before
      const { exitCode, message } = rendered(exit)
      expect(exitCode).toBe(1)
      expect(message).toContain("could not run sudo")
    }),
  )

  const tmpLock = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-lock-")), "tamanu-lifecycle.lock")

  it.effect("the lock held by a live process: exit 1 naming its pid and command; nothing changed", () =>
    Effect.gen(function* () {
      const file = tmpLock()
      fs.writeFileSync(
        file,
        JSON.stringify({ pid: process.ppid, command: "tamanu restart", since: "2024-01-01T00:00:00Z" }),
      )
      const { exitCode, message } = rendered(yield* runToEnd(start({ ...startOpts, lockFile: file })))
      expect(exitCode).toBe(1)
      expect(message).toContain(`pid ${process.ppid}`)
      expect(message).toContain("tamanu restart")
      expect(yield* mutatingCalls).toEqual([])
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.provide(faultWorld(systemdFacility({ "tamanu-facility-sync": { running: false } })))),
  )

  it.effect("the lock left by a dead process is taken over; the command runs and releases it", () =>
    Effect.gen(function* () {
      const file = tmpLock()
      fs.writeFileSync(file, JSON.stringify({ pid: 4_194_301, command: "tamanu start", since: "2024-01-01T00:00:00Z" }))
      const exit = yield* runToEnd(start({ ...startOpts, lockFile: file }))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(yield* runningInstances).toEqual(everyFacility)
      expect(fs.existsSync(file)).toBe(false)
    }).pipe(Effect.provide(faultWorld(systemdFacility({ "tamanu-facility-sync": { running: false } })))),
  )

  it.effect("the lock file is 0644: readable by all, writable by its owner only", () =>
    Effect.gen(function* () {
      const file = tmpLock()
      const mode = yield* Effect.scoped(
        Effect.zipRight(
          withHostLock(file, "tamanu start"),
          Effect.sync(() => fs.statSync(file).mode & 0o777),
        ),
      )
      // The process umask can only remove bits: never group/other write.
      expect(mode & 0o022).toBe(0)
      expect(mode & 0o200).toBe(0o200)
      expect(mode).toBe(0o644 & ~process.umask())
    }),
  )
})

describe("interruption at every step of a roll", () => {
  // Facility API roll: restartOne @1 at 0 (down 1 s, up at 3 s, answers at 6 s), then @2 likewise.
  const moments = [0, 500, 1500, 3500, 6500, 7500, 9500, 11_500]
  for (const at of moments) {
    it.effect(
      `interrupted ${at} ms in: never both API instances down, nothing further taken down, the host heals`,
      () =>
        Effect.gen(function* () {
          const control = yield* FakeSupervisorControl
          const fiber = yield* Effect.fork(restart({ ...restartOpts, names: ["facility-api"] }))
          let bothDown = false
          for (let t = 0; t < at; t += 250) {
            yield* TestClock.adjust("250 millis")
            const running = yield* runningInstances
            if (!running.includes("tamanu-facility-api@1") && !running.includes("tamanu-facility-api@2"))
              bothDown = true
          }
          // Forked: a restart call in flight is seen through (uninterruptible), which takes clock time.
          yield* Fiber.interruptFork(fiber)
          yield* TestClock.adjust("1 second")
          const callsAtInterrupt = (yield* control.calls("restartOne")).length
          yield* TestClock.adjust("10 minutes")
          const exit = yield* Fiber.await(fiber)
          expect(bothDown).toBe(false)
          // After the interruption no further instance is restarted.
          expect((yield* control.calls("restartOne")).length).toBe(callsAtInterrupt)
          expect(callsAtInterrupt).toBeLessThanOrEqual(2)
          // A restart already sent is seen through by the supervisor: everything runs again.
          expect(yield* runningInstances).toEqual(everyFacility)
          const { exitCode, message } = rendered(exit)
          expect(exitCode).toBe(1)
          expect(message).toContain("Interrupted")
          if (callsAtInterrupt > 0) {
            const said = yield* warningsSaid
            expect(said.some((w) => w.startsWith("interrupted: restarted tamanu-facility-api@1"))).toBe(true)
          }
        }).pipe(Effect.provide(faultWorld(systemdFacility()))),
    )
  }
})
