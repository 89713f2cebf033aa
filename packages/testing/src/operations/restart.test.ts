/**
 * `restart` end to end over the fake supervisors (spec §7): the order of the
 * steps, the rolling safety rule (never the next instance before the previous
 * answers), a stopped roll, the cooldown without probes, Caddy after each
 * rolled instance, --check-url.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  CheckUrlFailed,
  type InstanceRef,
  type ProgressEvent,
  RollStopped,
  restart,
} from "@tamanu-lifecycle/core/internal"
import { Duration, Effect } from "effect"
import {
  FakeCaddyControl,
  FakeProberControl,
  FakeReverseProxyControl,
  FakeSupervisorControl,
  type FakeUnitSpec,
  fakeUrl,
  fakeUrlAt,
  type ReadinessSpec,
} from "../index.js"
import {
  centralBehindCaddy,
  centralContext,
  centralUnitFiles,
  centralUnits,
  displayName,
  facilityContext,
  facilityUnits,
  isMutating,
  RecordedEvents,
  readiness,
  ref,
  restartOptions,
  settle,
  type WorldSpec,
  warnings,
  world,
} from "./hosts.js"

/** The steps an operator would see, in the order the operation emitted them. */
const timeline = Effect.map(
  Effect.flatMap(RecordedEvents, (r) => r.events),
  (events: ReadonlyArray<ProgressEvent>) =>
    events.flatMap((e): Array<string> => {
      switch (e._tag) {
        case "BatchStarted":
          return [`${e.action} ${e.instances.join(",")}`]
        case "InstanceRestarting":
          return [`roll ${e.instance}`]
        case "ProbeReady":
          return [`ready ${e.instance}`]
        case "ProxyReloaded":
          return ["reload"]
        case "ProxyRouted":
          return [`route ${e.routes.map((r) => `${r.service}→${r.instances.join("+")}`).join("; ")}`]
        case "ProxyRestored":
          return ["restore"]
        default:
          return []
      }
    }),
)

const restartOneCalls = Effect.flatMap(FakeSupervisorControl, (c) => c.calls("restartOne"))

// ---------------------------------------------------------------------------
// Hosts

const api = (n: number) => ref("tamanu-facility-api", String(n))
const pmApi = (id: number) => ref("tamanu-api", null, id)

/** A facility on systemd with API instances `@1..@n`, each behaving as given; `names: ["api"]` picks them. */
const systemdApis = (
  n: number,
  behaviour: Partial<FakeUnitSpec>,
  ready: (ref: InstanceRef) => Partial<ReadinessSpec>,
): WorldSpec => {
  const apis = Array.from({ length: n }, (_, i) => api(i + 1))
  return {
    supervisor: {
      systemd: {
        units: [
          ...facilityUnits().filter((u) => u.name !== "tamanu-facility-api"),
          ...apis.map((r) => ({ name: r.name, suffix: r.suffix, running: true, enabled: true, ...behaviour })),
        ],
      },
    },
    host: { context: facilityContext },
    readiness: apis.map((instance) => ({ instance, ...ready(instance) })),
  }
}

/** A facility on pm2 with API processes `#1..#n`. */
const pm2Apis = (
  n: number,
  behaviour: Partial<FakeUnitSpec>,
  ready: (ref: InstanceRef) => Partial<ReadinessSpec>,
): WorldSpec => {
  const apis = Array.from({ length: n }, (_, i) => pmApi(i + 1))
  return {
    supervisor: {
      pm2: {
        processes: [
          { name: "tamanu-tasks", pmId: 0, running: true },
          ...apis.map((r) => ({ name: r.name, pmId: r.pmId ?? 0, running: true, ...behaviour })),
          { name: "tamanu-sync", pmId: 10, running: true },
        ],
      },
    },
    host: { context: facilityContext },
    readiness: apis.map((instance) => ({ instance, ...ready(instance) })),
  }
}

/** Where an instance answers after its first restart: podman gives it a new address, pm2 keeps its PORT. */
const both = [
  {
    supervisor: "systemd",
    hosts: systemdApis,
    apiRef: api,
    service: "tamanu-facility-api",
    urlAfterRestart: (r: InstanceRef) => fakeUrlAt(r, 2),
  },
  { supervisor: "pm2", hosts: pm2Apis, apiRef: pmApi, service: "tamanu-api", urlAfterRestart: fakeUrl },
] as const

// ---------------------------------------------------------------------------

describe("restart order", () => {
  /**
   * A central server with FHIR workers and a templated portal: frontend@b and
   * fhir-resolve missing, a leftover bare portal unit still running.
   */
  const central: WorldSpec = {
    supervisor: {
      systemd: {
        units: [
          ...centralUnits({ "tamanu-frontend@b": { running: false } }),
          { name: "tamanu-central-fhir-resolve", running: false, enabled: true, loaded: false },
          { name: "tamanu-central-fhir-refresh", running: true, enabled: true },
          { name: "tamanu-patientportal", suffix: "a", running: true, enabled: true },
          { name: "tamanu-patientportal", suffix: "b", running: true, enabled: true },
          { name: "tamanu-patientportal", running: true, enabled: true },
        ],
        unitFiles: centralUnitFiles,
        defaults: { upAfter: "1 second", downAfter: "1 second" },
      },
    },
    host: { context: centralContext(true), patientPortal: true },
    readiness: readiness([...centralBehindCaddy, ref("tamanu-patientportal", "a"), ref("tamanu-patientportal", "b")]),
  }

  it.effect(
    "start missing → bulk background → Caddy routed → roll critical → retire leftover → Caddy restored → check URL",
    () =>
      Effect.gen(function* () {
        const prober = yield* FakeProberControl
        yield* prober.script("http://check.test/", { outcomes: [200] })
        yield* settle(restart(restartOptions({ checkUrl: "http://check.test/" })))
        // Caddy is held on what serves while frontend@b starts; the first drain of the roll puts @b in;
        // each later drain puts the previous instance's new address in; Caddy's own config last.
        expect(yield* timeline).toEqual([
          "route tamanu-frontend→tamanu-frontend@a; tamanu-central-api→tamanu-central-api@1+tamanu-central-api@2; tamanu-patientportal→tamanu-patientportal@a+tamanu-patientportal@b",
          "start tamanu-frontend@b,tamanu-central-fhir-resolve",
          "restart tamanu-central-tasks,tamanu-central-fhir-refresh",
          "ready tamanu-frontend@b",
          "route tamanu-frontend→tamanu-frontend@b",
          "roll tamanu-frontend@a",
          "ready tamanu-frontend@a",
          "route tamanu-frontend→tamanu-frontend@b+tamanu-frontend@a; tamanu-central-api→tamanu-central-api@2",
          "roll tamanu-central-api@1",
          "ready tamanu-central-api@1",
          "route tamanu-central-api→tamanu-central-api@1",
          "roll tamanu-central-api@2",
          "ready tamanu-central-api@2",
          "route tamanu-central-api→tamanu-central-api@1+tamanu-central-api@2; tamanu-patientportal→tamanu-patientportal@b",
          "roll tamanu-patientportal@a",
          "ready tamanu-patientportal@a",
          "route tamanu-patientportal→tamanu-patientportal@a",
          "roll tamanu-patientportal@b",
          "ready tamanu-patientportal@b",
          "stop tamanu-patientportal",
          "disable tamanu-patientportal",
          "route tamanu-patientportal→tamanu-patientportal@a+tamanu-patientportal@b",
          "restore",
          "ready check-url",
        ])
        // The supervisor saw the same order, and each call only after the previous one's work was done.
        const journal = (yield* (yield* FakeSupervisorControl).journal).filter(isMutating)
        expect(journal.map((e) => `${e.method} ${e.refs.map(displayName).join(",")}`)).toEqual([
          "start tamanu-frontend@b,tamanu-central-fhir-resolve",
          "restart tamanu-central-tasks,tamanu-central-fhir-refresh",
          "restartOne tamanu-frontend@a",
          "restartOne tamanu-central-api@1",
          "restartOne tamanu-central-api@2",
          "restartOne tamanu-patientportal@a",
          "restartOne tamanu-patientportal@b",
          "stop tamanu-patientportal",
          "disable tamanu-patientportal",
        ])
        const times = journal.map((e) => e.at)
        // Each step waits for the last: start (1 s up), bulk restart (1 s down + 1 s up), each roll (2 s).
        expect(times).toEqual([...times].sort((a, b) => a - b))
        expect(times[1]).toBeGreaterThanOrEqual(1000)
        // The fresh fhir-resolve and the bulk-restarted tasks and fhir-refresh have no probe: they stay
        // running through one 5 s settle window (one for the three) before the first instance is rolled.
        expect(times[2]).toBeGreaterThanOrEqual((times[1] ?? 0) + 2000 + 5000)
        const checks = yield* prober.attemptsFor("http://check.test/")
        expect(checks[0]?.at).toBeGreaterThanOrEqual(times.at(-1) ?? Number.POSITIVE_INFINITY)
      }).pipe(Effect.provide(world(central))),
  )

  it.effect("instances started because they were missing are not restarted again", () =>
    Effect.gen(function* () {
      yield* settle(restart(restartOptions({ names: ["frontend"] })))
      const calls = yield* restartOneCalls
      expect(calls.map((c) => c.refs.map(displayName))).toEqual([["tamanu-frontend@a"]])
    }).pipe(Effect.provide(world(central))),
  )
})

describe("rolling restart safety", () => {
  for (const { supervisor, hosts, apiRef, urlAfterRestart } of both) {
    it.effect(`${supervisor}: restart never takes down a second API instance before the first is ready`, () =>
      Effect.gen(function* () {
        yield* settle(restart(restartOptions({ names: ["api"] })))
        const [first, second] = yield* restartOneCalls
        expect([first, second].map((c) => c?.refs.map(displayName))).toEqual([
          [displayName(apiRef(1))],
          [displayName(apiRef(2))],
        ])
        // Down 100 ms + up 200 ms + ready 700 ms after coming up: 1 s before the first answers.
        const firstReady = (yield* (yield* FakeProberControl).attemptsFor(urlAfterRestart(apiRef(1)))).find(
          (a) => a.ready,
        )
        expect(firstReady).toBeDefined()
        expect(firstReady?.at).toBeGreaterThanOrEqual((first?.at ?? 0) + 1000)
        expect(second?.at).toBeGreaterThanOrEqual(firstReady?.at ?? Number.POSITIVE_INFINITY)
        // The probe is the signal: no fixed sleep on top (one probe gap at most).
        expect((second?.at ?? 0) - (firstReady?.at ?? 0)).toBeLessThanOrEqual(200)
      }).pipe(
        Effect.provide(
          world(hosts(2, { upAfter: "200 millis", downAfter: "100 millis" }, () => ({ readyAfter: "700 millis" }))),
        ),
      ),
    )

    it.effect(`${supervisor}: a probe timeout stops the roll, naming restarted and not-restarted instances`, () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          settle(restart(restartOptions({ names: ["api"], probeTimeout: Duration.seconds(1) }))),
        )
        expect(error).toBeInstanceOf(RollStopped)
        expect(error).toMatchObject({
          instance: displayName(apiRef(2)),
          restarted: [displayName(apiRef(1))],
          notRestarted: [displayName(apiRef(3))],
        })
        expect((error as RollStopped).cause).toContain(urlAfterRestart(apiRef(2)))
        // The third instance was never taken down.
        expect((yield* restartOneCalls).map((c) => c.refs.map(displayName))).toEqual([
          [displayName(apiRef(1))],
          [displayName(apiRef(2))],
        ])
      }).pipe(
        Effect.provide(
          world(
            hosts(3, {}, (r) =>
              r.pmId === 2 || r.suffix === "2" ? { readyAfter: Duration.infinity } : { readyAfter: "300 millis" },
            ),
          ),
        ),
      ),
    )
  }
})

describe("a rolled instance the supervisor never reports running", () => {
  it.effect("stops the roll with RollStopped after --wait-limit, the later instances untouched", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        settle(restart(restartOptions({ names: ["api"], waitLimit: Duration.seconds(5) }))),
      )
      expect(error).toMatchObject({
        _tag: "RollStopped",
        instance: "tamanu-facility-api@1",
        restarted: [],
        notRestarted: ["tamanu-facility-api@2", "tamanu-facility-api@3"],
      })
      expect((error as RollStopped).cause).toContain("5000 ms")
      expect((yield* restartOneCalls).length).toBe(1)
    }).pipe(
      Effect.provide(
        world({
          ...systemdApis(3, {}, () => ({})),
          supervisor: {
            systemd: {
              units: [1, 2, 3].map((n) => ({ name: "tamanu-facility-api", suffix: String(n), running: true })),
              behaviours: { "tamanu-facility-api@1": { upAfter: Duration.infinity } },
            },
          },
        }),
      ),
    ),
  )
})

describe("rolling restart without probes", () => {
  it.effect("--no-probe-http waits exactly the cooldown after each instance; Caddy gets each back only after it", () =>
    Effect.gen(function* () {
      yield* settle(restart(restartOptions({ names: ["api"], probeHttp: false, cooldown: Duration.seconds(30) })))
      const calls = yield* restartOneCalls
      expect(calls.map((c) => c.at)).toEqual([0, 30_000, 60_000])
      expect(yield* (yield* FakeProberControl).attempts).toEqual([])
      const events = yield* Effect.flatMap(RecordedEvents, (r) => r.events)
      expect(events.filter((e) => e._tag === "Cooldown").length).toBe(3)
      // The last one's address goes into Caddy's routes only once its cooldown is over.
      const loads = yield* (yield* FakeCaddyControl).loads
      expect(loads.map((l) => l.at).filter((at) => at > 60_000)[0]).toBeGreaterThanOrEqual(90_000)
    }).pipe(Effect.provide(world(systemdApis(3, {}, () => ({}))))),
  )

  it.effect("pm2 without a PORT behind Caddy: no blind cooldown, the roll stops before any take-down", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        settle(restart(restartOptions({ names: ["api"], cooldown: Duration.seconds(12) }))),
      )
      // No address of any instance is known, so Caddy could not be told where either serves.
      expect(error).toBeInstanceOf(RollStopped)
      expect(error).toMatchObject({ instance: "tamanu-api#1", notRestarted: ["tamanu-api#1", "tamanu-api#2"] })
      expect((error as RollStopped).cause).toContain("tamanu-api#1's own address is not known")
      expect(yield* restartOneCalls).toEqual([])
    }).pipe(Effect.provide(world(pm2Apis(2, {}, () => ({ probeable: false }))))),
  )

  it.effect("systemd: a restarted instance whose address is never found stops the roll before the next goes down", () =>
    Effect.gen(function* () {
      const control = yield* FakeSupervisorControl
      // The container of @1 is found when the roll begins, and not within the budget after its restart.
      const error = yield* Effect.flip(
        settle(restart(restartOptions({ names: ["api"], probeTimeout: Duration.seconds(20) }))),
      )
      expect(error).toBeInstanceOf(RollStopped)
      expect(error).toMatchObject({ instance: "tamanu-facility-api@1", notRestarted: ["tamanu-facility-api@2"] })
      expect((error as RollStopped).cause).toContain("its address was not found within 20s")
      expect((error as RollStopped).cause).toContain("no running podman container")
      expect((yield* restartOneCalls).length).toBe(1)
      expect((yield* control.calls("restartOne")).map((c) => c.at)).toEqual([0])
    }).pipe(
      Effect.provide(
        world(systemdApis(2, {}, (r) => (r.suffix === "1" ? { container: { foundAfter: "1 hour" } } : {}))),
      ),
    ),
  )

  it.effect(
    "the old way (no admin API): Caddy's own dynamic a routes by address too, so a never-found address stops the roll, never a cooldown",
    () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          settle(
            restart(
              restartOptions({ names: ["api"], probeTimeout: Duration.seconds(20), cooldown: Duration.seconds(30) }),
            ),
          ),
        )
        expect(error).toBeInstanceOf(RollStopped)
        expect(error).toMatchObject({ instance: "tamanu-facility-api@1", notRestarted: ["tamanu-facility-api@2"] })
        expect((error as RollStopped).cause).toContain("its address was not found within 20s")
        // @2 never went down: one restart call, and no cooldown waited instead.
        expect((yield* restartOneCalls).length).toBe(1)
        expect((yield* warnings).some((w) => w.includes("admin API cannot be used"))).toBe(true)
      }).pipe(
        Effect.provide(
          world({
            ...systemdApis(2, {}, (r) => (r.suffix === "1" ? { container: { foundAfter: "1 hour" } } : {})),
            caddy: { reachable: false },
          }),
        ),
      ),
  )

  it.effect(
    "systemd: a unit whose container carries no PODMAN_SYSTEMD_UNIT label stops the roll before any take-down",
    () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(settle(restart(restartOptions({ names: ["api"] }))))
        expect(error).toBeInstanceOf(RollStopped)
        expect(error).toMatchObject({
          instance: "tamanu-facility-api@1",
          restarted: [],
          notRestarted: ["tamanu-facility-api@1", "tamanu-facility-api@2"],
        })
        expect((error as RollStopped).cause).toContain("tamanu-facility-api@1's own address is not known")
        expect(yield* restartOneCalls).toEqual([])
        expect((yield* warnings).some((w) => w.includes("Caddy"))).toBe(false)
      }).pipe(
        Effect.provide(world(systemdApis(2, {}, (r) => (r.suffix === "1" ? { container: { labelled: false } } : {})))),
      ),
  )

  it.effect(
    "systemd Type=simple: a container that appears 800 ms after the unit is active is found, and the roll goes on",
    () =>
      Effect.gen(function* () {
        yield* settle(restart(restartOptions({ names: ["api"] })))
        const calls = yield* restartOneCalls
        expect(calls.length).toBe(2)
        // @1 running at 1 s, its container at 1.8 s, answering 0.5 s after running: found, then answers at once.
        expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(800)
        expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeLessThanOrEqual(1_000)
      }).pipe(
        Effect.provide(
          world(systemdApis(2, {}, () => ({ readyAfter: "500 millis", container: { foundAfter: "800 millis" } }))),
        ),
      ),
  )

  it.effect("systemd: a container replaced while it boots is looked up again at its new address", () =>
    Effect.gen(function* () {
      const prober = yield* FakeProberControl
      yield* settle(restart(restartOptions({ names: ["api"] })))
      expect((yield* restartOneCalls).length).toBe(2)
      // @1's first container (g2) never answered; it answered at the replacement's address (g3).
      const answered = (yield* prober.attempts).filter((a) => a.ready).map((a) => a.url)
      expect(answered).toContain(fakeUrlAt(api(1), 3))
      expect(answered).not.toContain(fakeUrlAt(api(1), 2))
    }).pipe(
      Effect.provide(
        world(
          systemdApis(2, {}, (r) =>
            r.suffix === "1" ? { readyAfter: "3 seconds", container: { replacedAfter: "1 second" } } : {},
          ),
        ),
      ),
    ),
  )

  it.effect("with a probe there is no cooldown: the next instance goes as soon as the previous answers", () =>
    Effect.gen(function* () {
      yield* settle(restart(restartOptions({ names: ["api"], cooldown: Duration.seconds(30) })))
      const calls = yield* restartOneCalls
      expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(500)
      expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeLessThanOrEqual(600)
      const events = yield* Effect.flatMap(RecordedEvents, (r) => r.events)
      expect(events.filter((e) => e._tag === "Cooldown")).toEqual([])
    }).pipe(Effect.provide(world(systemdApis(2, {}, () => ({ readyAfter: "500 millis" }))))),
  )
})

describe("restart and Caddy", () => {
  for (const { supervisor, hosts } of both) {
    it.effect(
      `${supervisor}: Caddy stops routing to each rolled instance before it goes down, and the previous one is back in the same load`,
      () =>
        Effect.gen(function* () {
          yield* settle(restart(restartOptions({ names: ["api"] })))
          const calls = yield* restartOneCalls
          const loads = (yield* (yield* FakeCaddyControl).loads).map((l) => l.at)
          // A drain before each of the 3 instances, the last one's address, Caddy's own config.
          expect(loads.length).toBe(supervisor === "pm2" ? 4 : 5)
          for (const [i, call] of calls.entries()) {
            expect(loads[i]).toBeLessThanOrEqual(call.at)
            if (i > 0) expect(loads[i]).toBeGreaterThanOrEqual((calls[i - 1]?.at ?? 0) + 2000)
          }
          expect(yield* (yield* FakeReverseProxyControl).reloads).toEqual([])
        }).pipe(Effect.provide(world(hosts(3, { upAfter: "2 seconds" }, () => ({}))))),
    )
  }

  it.effect("background services only: restarted in one batch and Caddy is not reloaded", () =>
    Effect.gen(function* () {
      const result = yield* settle(restart(restartOptions({ names: ["tasks", "sync"] })))
      const calls = (yield* (yield* FakeSupervisorControl).journal).filter((e) => e.method === "restart")
      expect(calls.map((c) => c.refs.map(displayName))).toEqual([["tamanu-facility-tasks", "tamanu-facility-sync"]])
      expect(yield* (yield* FakeReverseProxyControl).reloads).toEqual([])
      expect(yield* (yield* FakeCaddyControl).loads).toEqual([])
      expect(result.execution?.restarted).toEqual(["tamanu-facility-tasks", "tamanu-facility-sync"])
    }).pipe(Effect.provide(world(systemdApis(2, {}, () => ({}))))),
  )

  it.effect(
    "a singleton patient portal behind Caddy is restarted in bulk, probed, then routed by its new address until Caddy's cache expires",
    () =>
      Effect.gen(function* () {
        yield* settle(restart(restartOptions({ names: ["portal"] })))
        expect(yield* timeline).toEqual([
          "restart tamanu-patientportal",
          "ready tamanu-patientportal",
          "route tamanu-patientportal→tamanu-patientportal",
          "restore",
        ])
        expect(yield* restartOneCalls).toEqual([])
      }).pipe(
        Effect.provide(
          world({
            supervisor: {
              systemd: { units: [...centralUnits(), { name: "tamanu-patientportal", running: true, enabled: true }] },
            },
            host: { context: centralContext(false), patientPortal: true },
            readiness: readiness([ref("tamanu-patientportal")]),
          }),
        ),
      ),
  )
})

describe("restart --check-url", () => {
  it.effect("a check URL that never answers below 500 fails with CheckUrlFailed and its last error", () =>
    Effect.gen(function* () {
      const prober = yield* FakeProberControl
      yield* prober.script("http://check.test/", { outcomes: [503], takes: "5 seconds" })
      const error = yield* Effect.flip(
        settle(restart(restartOptions({ names: ["api"], checkUrl: "http://check.test/" }))),
      )
      expect(error).toBeInstanceOf(CheckUrlFailed)
      expect(error).toMatchObject({ url: "http://check.test/", lastError: "HTTP 503" })
      // After the roll, bounded by 60 s.
      const attempts = yield* prober.attemptsFor("http://check.test/")
      expect(attempts.length).toBeGreaterThan(1)
      expect((attempts.at(-1)?.at ?? 0) - (attempts[0]?.at ?? 0)).toBeLessThan(60_000)
      expect(attempts[0]?.at).toBeGreaterThanOrEqual((yield* restartOneCalls).at(-1)?.at ?? 0)
    }).pipe(Effect.provide(world(systemdApis(2, {}, () => ({}))))),
  )

  it.effect("a failure after the roll still says, as an event, every instance that was restarted", () =>
    Effect.gen(function* () {
      const prober = yield* FakeProberControl
      yield* prober.script("http://check.test/", { outcomes: [503], takes: "5 seconds" })
      yield* Effect.flip(settle(restart(restartOptions({ names: ["api"], checkUrl: "http://check.test/" }))))
      const events = yield* Effect.flatMap(RecordedEvents, (r) => r.events)
      expect(events.filter((e) => e._tag === "ExecutionFailed")).toEqual([
        expect.objectContaining({
          started: [],
          stopped: [],
          restarted: ["tamanu-facility-api@1", "tamanu-facility-api@2"],
          notRestarted: [],
        }),
      ])
    }).pipe(Effect.provide(world(systemdApis(2, {}, () => ({}))))),
  )

  it.effect("nothing to restart: the check URL is not probed", () =>
    Effect.gen(function* () {
      const result = yield* settle(
        restart(restartOptions({ names: ["nope"], ignoreUnmatched: true, checkUrl: "http://check.test/" })),
      )
      expect(result.nothingToDo).toBe(true)
      expect(yield* (yield* FakeProberControl).attempts).toEqual([])
    }).pipe(Effect.provide(world(systemdApis(2, {}, () => ({}))))),
  )
})
