/**
 * `start` end to end over the fake supervisors (spec §5): one batched start,
 * idempotence, Down services taken off, Unknown left alone, Caddy and the
 * readiness probes, --dry-run, sudo only when there is work.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  NeedsRoot,
  NotReady,
  PlanRefused,
  PrivilegesFixed,
  restart,
  SupervisorCallFailed,
  start,
  WaitTimeout,
} from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Option } from "effect"
import {
  FakeCaddyControl,
  FakeProberControl,
  FakeReverseProxyControl,
  FakeSupervisorControl,
  FakeTamanuHostControl,
  fakeUrl,
  fakeUrlAt,
} from "../index.js"
import {
  centralContext,
  centralUnitFiles,
  centralUnits,
  displayName,
  facilityBehindCaddy,
  facilityContext,
  facilityInstanceNames,
  facilityUnitFiles,
  facilityUnits,
  instanceNow,
  mutatingCalls,
  pm2BehindCaddy,
  pm2FacilityProcesses,
  RecordedEvents,
  readiness,
  ref,
  restartOptions,
  runningNow,
  settle,
  startOptions,
  type WorldSpec,
  warnings,
  world,
} from "./hosts.js"

const facilityRequired = facilityInstanceNames

/** A facility on systemd where nothing is loaded yet, only the unit files are installed. */
const emptyFacility: WorldSpec = {
  supervisor: { systemd: { units: [], unitFiles: facilityUnitFiles } },
  host: { context: facilityContext },
  readiness: readiness(facilityBehindCaddy),
}

const facility = (units = facilityUnits(), readyAfter: Duration.DurationInput = 0): WorldSpec => ({
  supervisor: { systemd: { units, unitFiles: facilityUnitFiles } },
  host: { context: facilityContext },
  readiness: readiness(facilityBehindCaddy, readyAfter),
})

const pm2Facility = (processes = pm2FacilityProcesses()): WorldSpec => ({
  supervisor: { pm2: { processes } },
  host: { context: facilityContext },
  readiness: readiness(pm2BehindCaddy),
})

const allStopped = pm2FacilityProcesses({
  "tamanu-tasks#0": { running: false },
  "tamanu-api#1": { running: false },
  "tamanu-api#2": { running: false },
  "tamanu-sync#3": { running: false },
})

describe("start from nothing", () => {
  it.effect(
    "systemd: one batched Start with every required unit, then all run; Caddy, which served nothing, is left alone",
    () =>
      Effect.gen(function* () {
        const result = yield* settle(start(startOptions()))
        const calls = yield* mutatingCalls
        expect(calls.map((c) => c.method)).toEqual(["start"])
        expect(calls[0]?.refs.map(displayName)).toEqual(facilityRequired)
        expect((yield* runningNow).sort()).toEqual([...facilityRequired].sort())
        // Nothing served before: nothing to hold Caddy on, and nothing it cached can be stale because of us.
        expect(yield* (yield* FakeCaddyControl).loads).toEqual([])
        expect(yield* (yield* FakeReverseProxyControl).reloads).toEqual([])
        expect(result).toMatchObject({ ok: true, nothingToDo: false })
        expect(result.execution?.started).toEqual(facilityRequired)
      }).pipe(Effect.provide(world(emptyFacility))),
  )

  it.effect("pm2: one batched start of every registered-but-stopped process", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions()))
      const calls = yield* mutatingCalls
      expect(calls.map((c) => c.method)).toEqual(["start"])
      expect(calls[0]?.refs.map(displayName)).toEqual([
        "tamanu-tasks#0",
        "tamanu-api#1",
        "tamanu-api#2",
        "tamanu-sync#3",
      ])
      expect((yield* runningNow).length).toBe(4)
    }).pipe(Effect.provide(world(pm2Facility(allStopped)))),
  )
})

describe("start is idempotent", () => {
  it.effect("systemd: a second start has nothing to do, makes no mutating call and needs no root", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions()))
      const before = (yield* mutatingCalls).length
      // Not root this time: nothing to do must not ask for sudo (§5.6, §10).
      const again = yield* settle(start(startOptions())).pipe(Effect.provide(PrivilegesFixed(false, true)))
      expect(again).toMatchObject({ ok: true, nothingToDo: true, execution: null })
      expect((yield* mutatingCalls).length).toBe(before)
      expect(yield* (yield* FakeCaddyControl).loads).toEqual([])
    }).pipe(Effect.provide(world(emptyFacility))),
  )

  it.effect("pm2: a second start has nothing to do and makes no mutating call", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions()))
      const before = (yield* mutatingCalls).length
      const again = yield* settle(start(startOptions()))
      expect(again.nothingToDo).toBe(true)
      expect((yield* mutatingCalls).length).toBe(before)
    }).pipe(Effect.provide(world(pm2Facility(allStopped)))),
  )
})

describe("start takes Down services off the host", () => {
  const centralWithFhirLeftovers: WorldSpec = {
    supervisor: {
      systemd: {
        units: [
          ...centralUnits(),
          { name: "tamanu-central-fhir-resolve", running: true, enabled: true },
          // Enabled but not loaded: only the enabled query of the required unit names finds it (§5.1).
          { name: "tamanu-central-fhir-refresh", running: false, enabled: true, loaded: false },
        ],
        unitFiles: centralUnitFiles,
      },
    },
    host: { context: centralContext(false) },
  }

  it.effect("systemd: a running Down unit is stopped and disabled", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions()))
      const calls = yield* mutatingCalls
      expect(calls.find((c) => c.method === "stop")?.refs.map(displayName)).toEqual(["tamanu-central-fhir-resolve"])
      expect(yield* instanceNow("tamanu-central-fhir-resolve")).toEqual(
        Option.some(expect.objectContaining({ running: false, enabled: false })),
      )
    }).pipe(Effect.provide(world(centralWithFhirLeftovers))),
  )

  it.effect("systemd: a Down unit that is enabled but not loaded is disabled", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions()))
      const disable = (yield* mutatingCalls).filter((c) => c.method === "disable")
      expect(disable.length).toBe(1)
      expect(disable[0]?.refs.map(displayName)).toContain("tamanu-central-fhir-refresh")
      const refresh = yield* instanceNow("tamanu-central-fhir-refresh")
      expect(Option.map(refresh, (i) => i.enabled)).toEqual(Option.some(false))
    }).pipe(Effect.provide(world(centralWithFhirLeftovers))),
  )

  it.effect("systemd: a running legacy singleton is stopped and disabled", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions()))
      expect(yield* instanceNow("tamanu-facility")).toEqual(
        Option.some(expect.objectContaining({ running: false, enabled: false })),
      )
    }).pipe(
      Effect.provide(world(facility([...facilityUnits(), { name: "tamanu-facility", running: true, enabled: true }]))),
    ),
  )

  it.effect("pm2: the processes of a Down service are deleted, running or not", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions()))
      const calls = yield* mutatingCalls
      expect(calls.map((c) => c.method)).toEqual(["remove"])
      expect(calls[0]?.refs.map(displayName)).toEqual(["tamanu-fhir-resolve#5", "tamanu-fhir-refresh#6"])
      const names = (yield* (yield* FakeSupervisorControl).instances).map((i) => i.name)
      expect(names).not.toContain("tamanu-fhir-resolve")
      expect(names).not.toContain("tamanu-fhir-refresh")
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            pm2: {
              processes: [
                { name: "tamanu-tasks", pmId: 0, running: true },
                { name: "tamanu-api", pmId: 1, running: true },
                { name: "tamanu-api", pmId: 2, running: true },
                { name: "tamanu-fhir-resolve", pmId: 5, running: true },
                { name: "tamanu-fhir-refresh", pmId: 6, running: false },
              ],
            },
          },
          host: { context: centralContext(false) },
        }),
      ),
    ),
  )

  it.effect("--up-only leaves Down services alone while starting the Up ones", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions({ upOnly: true })))
      const calls = yield* mutatingCalls
      expect(calls.map((c) => c.method)).toEqual(["start"])
      expect(calls[0]?.refs.map(displayName)).toEqual(["tamanu-central-api@2"])
      expect(yield* instanceNow("tamanu-central-fhir-resolve")).toEqual(
        Option.some(expect.objectContaining({ running: true, enabled: true })),
      )
    }).pipe(
      Effect.provide(
        world({
          ...centralWithFhirLeftovers,
          supervisor: {
            systemd: {
              units: [
                ...centralUnits({ "tamanu-central-api@2": { running: false } }),
                { name: "tamanu-central-fhir-resolve", running: true, enabled: true },
              ],
              unitFiles: centralUnitFiles,
            },
          },
        }),
      ),
    ),
  )
})

describe("start and Unknown services", () => {
  it.effect("an Unknown service is never started or stopped, and a warning says so", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions({ dbWait: Duration.zero })))
      const calls = yield* mutatingCalls
      expect(calls.map((c) => c.method)).toEqual(["start"])
      expect(calls[0]?.refs.map(displayName)).toEqual(["tamanu-central-api@2"])
      expect(yield* instanceNow("tamanu-patientportal")).toEqual(
        Option.some(expect.objectContaining({ running: false })),
      )
      expect((yield* warnings).some((w) => w.includes("tamanu-patientportal") && w.includes("unknown"))).toBe(true)
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            systemd: {
              units: [
                ...centralUnits({ "tamanu-central-api@2": { running: false } }),
                { name: "tamanu-patientportal", running: false, enabled: true, loaded: true },
              ],
              unitFiles: centralUnitFiles,
            },
          },
          host: { context: centralContext(false), dbReachableAfter: Duration.infinity },
          readiness: readiness([]),
        }),
      ),
    ),
  )
})

describe("start and Unknown services on pm2", () => {
  it.effect(
    "without a config the FHIR workers are unknown: their stopped processes are not started, with a warning",
    () =>
      Effect.gen(function* () {
        yield* settle(start(startOptions()))
        const calls = yield* mutatingCalls
        expect(calls.map((c) => `${c.method} ${c.refs.map(displayName).join(",")}`)).toEqual(["start tamanu-tasks#0"])
        expect((yield* warnings).some((w) => w.includes("tamanu-fhir-resolve") && w.includes("unknown"))).toBe(true)
      }).pipe(
        Effect.provide(
          world({
            supervisor: {
              pm2: {
                processes: [
                  { name: "tamanu-tasks", pmId: 0, running: false },
                  { name: "tamanu-api", pmId: 1, running: true },
                  { name: "tamanu-api", pmId: 2, running: true },
                  { name: "tamanu-fhir-resolve", pmId: 5, running: false },
                  { name: "tamanu-fhir-refresh", pmId: 6, running: false },
                ],
              },
            },
            host: { context: centralContext(null) },
          }),
        ),
      ),
  )
})

describe("start refuses pm2 under-registration", () => {
  it.effect("fewer registered API processes than required: PlanRefused naming the ops playbook, nothing changed", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(settle(start(startOptions())))
      expect(error).toBeInstanceOf(PlanRefused)
      expect((error as PlanRefused).reasons.join(" ")).toMatch(/tamanu-api: pm2 has 1 of the 2 .*ops playbook/)
      expect(yield* mutatingCalls).toEqual([])
    }).pipe(
      Effect.provide(
        world(
          pm2Facility(
            pm2FacilityProcesses({ "tamanu-tasks#0": { running: false } }).filter(
              (p) => !(p.name === "tamanu-api" && p.pmId === 2),
            ),
          ),
        ),
      ),
    ),
  )
})

describe("start, Caddy and readiness probes", () => {
  it.effect("Caddy is not reloaded when nothing behind Caddy was started", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions()))
      expect((yield* mutatingCalls).map((c) => c.refs.map(displayName))).toEqual([["tamanu-facility-sync"]])
      expect(yield* (yield* FakeReverseProxyControl).reloads).toEqual([])
      expect(yield* (yield* FakeProberControl).attempts).toEqual([])
    }).pipe(Effect.provide(world(facility(facilityUnits({ "tamanu-facility-sync": { running: false } }))))),
  )

  it.effect(
    "Caddy is held on the running instances while the started ones boot, and gets its own config back once they answer",
    () =>
      Effect.gen(function* () {
        yield* settle(start(startOptions()))
        const startCall = (yield* mutatingCalls)[0]
        const caddy = yield* FakeCaddyControl
        const loads = yield* caddy.loads
        expect(loads.length).toBe(2)
        expect(loads[0]?.at).toBeLessThanOrEqual(startCall?.at ?? 0)
        // After the started units are running (2 s start-up), not before.
        expect(loads[1]?.at).toBeGreaterThanOrEqual((startCall?.at ?? 0) + 2000)
        expect(loads[1]?.config).toEqual(yield* caddy.ownConfig)
      }).pipe(
        Effect.provide(
          world(
            facility(
              facilityUnits({
                "tamanu-frontend@b": { running: false, upAfter: "2 seconds" },
                "tamanu-facility-api@2": { running: false, upAfter: "2 seconds" },
              }),
            ),
          ),
        ),
      ),
  )

  it.effect("every running behind-Caddy instance is probed, within one overall budget", () =>
    Effect.gen(function* () {
      const result = yield* settle(start(startOptions({ probeTimeout: Duration.seconds(1) })))
      const attempts = yield* (yield* FakeProberControl).attempts
      const probed = new Set(attempts.map((a) => a.url))
      expect([...probed].sort()).toEqual(facilityBehindCaddy.map((r) => fakeUrlAt(r, 1)).sort())
      // Two instances needing 800 ms each pass a 1 s budget: they are probed at once, not one after the other.
      expect(result.ok).toBe(true)
      expect(result.elapsedMillis).toBeGreaterThanOrEqual(800)
      expect(result.elapsedMillis).toBeLessThan(1000)
    }).pipe(
      Effect.provide(
        world({
          ...facility(
            facilityUnits({ "tamanu-frontend@b": { running: false }, "tamanu-facility-api@2": { running: false } }),
          ),
          readiness: readiness(facilityBehindCaddy, 0, {
            "tamanu-frontend@b": { readyAfter: "800 millis" },
            "tamanu-facility-api@2": { readyAfter: "800 millis" },
          }),
        }),
      ),
    ),
  )

  it.effect("an instance that never becomes ready fails the start with NotReady naming it, after the budget", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(settle(start(startOptions({ probeTimeout: Duration.seconds(1) }))))
      expect(error).toBeInstanceOf(NotReady)
      expect(error).toMatchObject({
        instance: "tamanu-facility-api@2",
        url: fakeUrlAt(ref("tamanu-facility-api", "2"), 1),
        lastError: "connect ECONNREFUSED",
        budgetMillis: 1000,
      })
      // It was tried for the whole budget, and no longer.
      const tried = yield* (yield* FakeProberControl).attemptsFor(fakeUrlAt(ref("tamanu-facility-api", "2"), 1))
      expect(tried.at(-1)?.at).toBeGreaterThanOrEqual(900)
      expect(tried.at(-1)?.at).toBeLessThanOrEqual(1000)
    }).pipe(
      Effect.provide(
        world({
          ...facility(facilityUnits({ "tamanu-facility-api@2": { running: false } })),
          readiness: readiness(facilityBehindCaddy, 0, { "tamanu-facility-api@2": { readyAfter: Duration.infinity } }),
        }),
      ),
    ),
  )

  it.effect("pm2: the API processes are probed, and Caddy sends nothing to the started one before it answers", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions()))
      const probed = new Set((yield* (yield* FakeProberControl).attempts).map((a) => a.url))
      expect([...probed].sort()).toEqual([fakeUrl(ref("tamanu-api", null, 1)), fakeUrl(ref("tamanu-api", null, 2))])
      // Held on #1 while #2 starts, then Caddy's own static upstreams again.
      const loads = yield* (yield* FakeCaddyControl).loads
      expect(loads.length).toBe(2)
      expect(loads[1]?.config).toEqual(yield* (yield* FakeCaddyControl).ownConfig)
    }).pipe(Effect.provide(world(pm2Facility(pm2FacilityProcesses({ "tamanu-api#2": { running: false } }))))),
  )

  it.effect("--no-probe-http routes Caddy but probes nothing", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions({ probeHttp: false })))
      expect(yield* (yield* FakeProberControl).attempts).toEqual([])
      expect((yield* (yield* FakeCaddyControl).loads).length).toBe(2)
    }).pipe(Effect.provide(world(facility(facilityUnits({ "tamanu-facility-api@2": { running: false } }))))),
  )
})

describe("start --dry-run, privileges and NAMES", () => {
  it.effect("--dry-run prints the plan and changes nothing: only reads reach the supervisor", () =>
    Effect.gen(function* () {
      const result = yield* settle(start(startOptions({ dryRun: true })))
      expect(result).toMatchObject({ dryRun: true, nothingToDo: false, execution: null })
      expect(result.planText).toContain("tamanu-facility-api@1")
      expect(yield* mutatingCalls).toEqual([])
      expect(yield* (yield* FakeCaddyControl).loads).toEqual([])
      expect(yield* (yield* FakeProberControl).attempts).toEqual([])
    }).pipe(Effect.provide(world({ ...emptyFacility, root: false }))),
  )

  it.effect("pm2 --dry-run changes nothing", () =>
    Effect.gen(function* () {
      const result = yield* settle(start(startOptions({ dryRun: true })))
      expect(result.planText).toContain("tamanu-api")
      expect(yield* mutatingCalls).toEqual([])
      expect(yield* runningNow).toEqual([])
    }).pipe(Effect.provide(world(pm2Facility(allStopped)))),
  )

  it.effect("systemd, not root, with work to do: NeedsRoot before any change", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(settle(start(startOptions())))
      expect(error).toBeInstanceOf(NeedsRoot)
      expect(yield* mutatingCalls).toEqual([])
    }).pipe(Effect.provide(world({ ...emptyFacility, root: false }))),
  )

  it.effect("systemd, not root, nothing to do: succeeds without NeedsRoot", () =>
    Effect.gen(function* () {
      const result = yield* settle(start(startOptions()))
      expect(result.nothingToDo).toBe(true)
    }).pipe(Effect.provide(world({ ...facility(), root: false }))),
  )

  it.effect("pm2 never needs root", () =>
    Effect.gen(function* () {
      const result = yield* settle(start(startOptions()))
      expect(result.execution?.started.length).toBe(4)
    }).pipe(Effect.provide(world({ ...pm2Facility(allStopped), root: false }))),
  )

  it.effect("--ignore-unmatched with nothing matching does nothing, never everything", () =>
    Effect.gen(function* () {
      const result = yield* settle(start(startOptions({ names: ["tamanu-nope"], ignoreUnmatched: true })))
      expect(result.nothingToDo).toBe(true)
      expect(result.warnings).toContain('no service matches "tamanu-nope"')
      expect(yield* mutatingCalls).toEqual([])
      expect(yield* runningNow).toEqual([])
    }).pipe(Effect.provide(world(emptyFacility))),
  )

  it.effect("NAMES choose what is started: only the matching services", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions({ names: ["sync", "tasks"] })))
      const calls = yield* mutatingCalls
      expect(calls.map((c) => c.refs.map(displayName))).toEqual([["tamanu-facility-tasks", "tamanu-facility-sync"]])
      expect(yield* (yield* FakeReverseProxyControl).reloads).toEqual([])
    }).pipe(Effect.provide(world(emptyFacility))),
  )
})

describe("start at boot, logs and failures", () => {
  /** A central server whose portal is enabled in a database that answers only after 5 s. */
  const slowDb: WorldSpec = {
    supervisor: {
      systemd: { units: centralUnits(), unitFiles: [...centralUnitFiles, "tamanu-patientportal.service"] },
    },
    host: { context: centralContext(false), patientPortal: true, dbReachableAfter: "5 seconds" },
  }

  it.effect("start waits for the database (every 2 s, up to --db-wait) and then starts the DB-gated portal", () =>
    Effect.gen(function* () {
      const result = yield* settle(start(startOptions({ dbWait: Duration.minutes(2) })))
      expect(yield* (yield* FakeTamanuHostControl).dbAttempts).toEqual([0, 2000, 4000, 6000])
      expect(result.execution?.started).toEqual(["tamanu-patientportal"])
      expect(yield* runningNow).toContain("tamanu-patientportal")
    }).pipe(Effect.provide(world(slowDb))),
  )

  it.effect("restart tries the database once: the portal is unknown and left alone", () =>
    Effect.gen(function* () {
      yield* settle(restart(restartOptions({ names: ["portal"] })))
      expect(yield* (yield* FakeTamanuHostControl).dbAttempts).toEqual([0])
      expect(yield* mutatingCalls).toEqual([])
      expect((yield* warnings).some((w) => w.includes("tamanu-patientportal") && w.includes("unknown"))).toBe(true)
    }).pipe(Effect.provide(world(slowDb))),
  )

  it.effect("--logs follows the started instances' logs while starting", () =>
    Effect.gen(function* () {
      yield* settle(start(startOptions({ logs: true })))
      const events = yield* Effect.flatMap(RecordedEvents, (r) => r.events)
      expect(events.filter((e) => e._tag === "Info").map((e) => (e._tag === "Info" ? e.message : ""))).toContain(
        "sync: listening",
      )
      expect((yield* (yield* FakeSupervisorControl).calls("logs")).map((c) => c.refs.map(displayName))).toEqual([
        ["tamanu-facility-sync"],
      ])
    }).pipe(
      Effect.provide(
        world(facility(facilityUnits({ "tamanu-facility-sync": { running: false, logLines: ["sync: listening"] } }))),
      ),
    ),
  )

  it.effect("a failing start call fails with SupervisorCallFailed carrying the supervisor's stderr", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(settle(start(startOptions())))
      expect(error).toBeInstanceOf(SupervisorCallFailed)
      expect(error).toMatchObject({ stderr: "Job for tamanu-facility-sync.service failed." })
    }).pipe(
      Effect.provide(
        world({
          ...facility(facilityUnits({ "tamanu-facility-sync": { running: false } })),
          supervisor: {
            systemd: {
              units: facilityUnits({ "tamanu-facility-sync": { running: false } }),
              failures: [{ method: "start", stderr: "Job for tamanu-facility-sync.service failed." }],
            },
          },
        }),
      ),
    ),
  )

  it.effect("a unit that never comes up fails the start with WaitTimeout naming it after --wait-limit", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(settle(start(startOptions({ waitLimit: Duration.seconds(5) }))))
      expect(error).toBeInstanceOf(WaitTimeout)
      expect(error).toMatchObject({ wanted: "running", pending: ["tamanu-facility-sync"], limitMillis: 5000 })
    }).pipe(
      Effect.provide(
        world(facility(facilityUnits({ "tamanu-facility-sync": { running: false, upAfter: Duration.infinity } }))),
      ),
    ),
  )
})
