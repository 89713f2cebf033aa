import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { unitName } from "../model/instance.js"
import {
  apply,
  exp,
  groups,
  type Host,
  healthyPm2,
  healthySystemd,
  hostArb,
  pmExpectations,
  proc,
  ref,
  refsOf,
  S,
  sdExpectations,
  stepRefs,
  tags,
  unit,
  withChanges,
  without,
} from "../testSupport/plannerFixtures.js"
import { refsNeedingEnabledState } from "./common.js"
import { planStart } from "./planStart.js"

const none = new Map<string, boolean>()
const startOn = (
  supervisor: "systemd" | "pm2",
  expectations: Parameters<typeof groups>[1],
  instances: Parameters<typeof groups>[2],
  options: { enabled?: ReadonlyMap<string, boolean>; upOnly?: boolean; probeHttp?: boolean } = {},
) =>
  planStart({
    supervisor,
    groups: groups(supervisor, expectations, instances),
    enabled: options.enabled ?? none,
    upOnly: options.upOnly ?? false,
    probeHttp: options.probeHttp ?? true,
  })

describe("planStart on a host that already matches", () => {
  it("has nothing to do on systemd", () => {
    const plan = startOn("systemd", sdExpectations, healthySystemd)
    expect(plan).toMatchObject({ nothingToDo: true, steps: [], failures: [], warnings: [] })
  })
  it("has nothing to do on pm2", () => {
    expect(startOn("pm2", pmExpectations, healthyPm2).nothingToDo).toBe(true)
  })
  it("has nothing to do when a Down unit is loaded but stopped and disabled", () => {
    const host = [...healthySystemd, unit("tamanu-facility", null, false)]
    const plan = startOn("systemd", sdExpectations, host, { enabled: new Map([["tamanu-facility.service", false]]) })
    expect(plan.nothingToDo).toBe(true)
  })
})

describe("planStart for Down expectations", () => {
  it("stops and disables a running, enabled legacy unit on systemd, then waits for it", () => {
    const host = [...healthySystemd, unit("tamanu-facility")]
    const plan = startOn("systemd", sdExpectations, host, { enabled: new Map([["tamanu-facility.service", true]]) })
    expect(plan.steps).toEqual([
      { _tag: "Stop", refs: [ref("tamanu-facility")] },
      { _tag: "Disable", refs: [ref("tamanu-facility")] },
      { _tag: "WaitStopped", refs: [ref("tamanu-facility")] },
    ])
  })

  it("disables a unit that is enabled but not loaded (no instance discovered)", () => {
    const fhir = exp("tamanu-central-fhir-resolve", S, "Down")
    const plan = startOn("systemd", [fhir], [], {
      enabled: new Map([["tamanu-central-fhir-resolve.service", true]]),
    })
    expect(plan.steps).toEqual([{ _tag: "Disable", refs: [ref("tamanu-central-fhir-resolve")] }])
  })

  it("disables enabled template instances of a Down templated expectation that are not loaded", () => {
    const portal = exp("tamanu-patientportal", { _tag: "Named", suffixes: ["a", "b"] }, "Down", "Critical", true)
    const plan = startOn("systemd", [portal], [], {
      enabled: new Map([
        ["tamanu-patientportal@a.service", false],
        ["tamanu-patientportal@b.service", true],
      ]),
    })
    expect(plan.steps).toEqual([{ _tag: "Disable", refs: [ref("tamanu-patientportal", "b")] }])
  })

  it("stops a stopped-but-enabled unit only by disabling it (nothing to stop or wait for)", () => {
    const plan = startOn("systemd", sdExpectations, [...healthySystemd, unit("tamanu-facility", null, false)], {
      enabled: new Map([["tamanu-facility.service", true]]),
    })
    expect(plan.steps).toEqual([{ _tag: "Disable", refs: [ref("tamanu-facility")] }])
  })

  it("deletes every registered process of a Down expectation on pm2, and never disables", () => {
    const host = [...healthyPm2, proc("tamanu-fhir-resolve", 4, false), proc("tamanu-fhir-resolve", 5)]
    const plan = startOn("pm2", pmExpectations, host)
    expect(plan.steps).toEqual([
      { _tag: "Delete", refs: [ref("tamanu-fhir-resolve", null, 4), ref("tamanu-fhir-resolve", null, 5)] },
      { _tag: "WaitStopped", refs: [ref("tamanu-fhir-resolve", null, 5)] },
    ])
  })

  it("leaves Down expectations alone with --up-only", () => {
    const host = [...healthySystemd, unit("tamanu-facility")]
    const plan = startOn("systemd", sdExpectations, host, {
      upOnly: true,
      enabled: new Map([["tamanu-facility.service", true]]),
    })
    expect(plan.nothingToDo).toBe(true)
  })
})

describe("planStart for Up expectations", () => {
  it("starts every missing or stopped required unit in ONE call (Caddy held on what serves), probes every running behind-Caddy instance, then routes and restores Caddy", () => {
    const host = withChanges(
      without(healthySystemd, ref("tamanu-facility-api", "2")),
      unit("tamanu-frontend", "b", false),
      unit("tamanu-facility-tasks", null, false),
    )
    const plan = startOn("systemd", sdExpectations, host)
    const started = [ref("tamanu-facility-tasks"), ref("tamanu-frontend", "b"), ref("tamanu-facility-api", "2")]
    expect(plan.steps).toEqual([
      {
        _tag: "RouteProxy",
        services: ["tamanu-frontend", "tamanu-facility-api"],
        except: [ref("tamanu-frontend", "b"), ref("tamanu-facility-api", "2")],
      },
      { _tag: "Start", refs: started },
      { _tag: "WaitRunning", refs: started },
      {
        _tag: "ProbeAll",
        refs: [
          ref("tamanu-frontend", "a"),
          ref("tamanu-frontend", "b"),
          ref("tamanu-facility-api", "1"),
          ref("tamanu-facility-api", "2"),
        ],
      },
      { _tag: "RouteProxy", services: ["tamanu-frontend", "tamanu-facility-api"], except: [] },
      { _tag: "RestoreProxy", probe: true },
    ])
  })

  it("routes Caddy but does not probe with --no-probe-http", () => {
    const host = without(healthySystemd, ref("tamanu-facility-api", "1"))
    expect(tags(startOn("systemd", sdExpectations, host, { probeHttp: false }))).toEqual([
      "RouteProxy",
      "Start",
      "WaitRunning",
      "RouteProxy",
      "RestoreProxy",
    ])
  })

  it("leaves Caddy alone when only services Caddy does not proxy were started", () => {
    const host = without(healthySystemd, ref("tamanu-facility-sync"))
    expect(tags(startOn("systemd", sdExpectations, host))).toEqual(["Start", "WaitRunning"])
  })

  it("starts extra stopped instances only when required (API@3 stopped stays stopped)", () => {
    const host = [...healthySystemd, unit("tamanu-facility-api", "3", false)]
    expect(startOn("systemd", sdExpectations, host).nothingToDo).toBe(true)
  })

  it("starts registered-but-stopped pm2 processes by pm_id", () => {
    const host = withChanges(healthyPm2, proc("tamanu-api", 2, false))
    const plan = startOn("pm2", pmExpectations, host)
    expect(refsOf(plan, "Start")).toEqual([ref("tamanu-api", null, 2)])
    expect(refsOf(plan, "ProbeAll")).toEqual([ref("tamanu-api", null, 1), ref("tamanu-api", null, 2)])
  })

  it("fails when pm2 has fewer processes registered than required: registration is the ops playbook's job", () => {
    const host = without(healthyPm2, ref("tamanu-api", null, 2))
    const plan = startOn("pm2", pmExpectations, host)
    expect(plan.failures).toEqual([{ _tag: "Pm2UnderRegistered", service: "tamanu-api", registered: 1, required: 2 }])
    expect(plan.nothingToDo).toBe(false)
  })

  it("takes Down services off before starting Up ones", () => {
    const host = [...without(healthySystemd, ref("tamanu-facility-api", "2")), unit("tamanu-facility")]
    const plan = startOn("systemd", sdExpectations, host, { enabled: new Map([["tamanu-facility.service", true]]) })
    expect(tags(plan)).toEqual([
      "Stop",
      "Disable",
      "WaitStopped",
      "RouteProxy",
      "Start",
      "WaitRunning",
      "ProbeAll",
      "RouteProxy",
      "RestoreProxy",
    ])
  })
})

describe("planStart and Unknown expectations", () => {
  it("leaves an Unknown expectation alone, running or not, and says so", () => {
    const fhir = exp("tamanu-central-fhir-resolve", S, "Unknown")
    const plan = startOn("systemd", [...sdExpectations, fhir], [...healthySystemd], {
      enabled: new Map([["tamanu-central-fhir-resolve.service", true]]),
    })
    expect(plan.nothingToDo).toBe(true)
    expect(plan.warnings).toHaveLength(1)
    expect(plan.warnings[0]).toContain("tamanu-central-fhir-resolve")
  })
})

describe("planStart properties", () => {
  const plan = (host: Host) =>
    planStart({
      supervisor: host.supervisor,
      groups: groups(host.supervisor, host.expectations, host.instances),
      enabled: host.enabled,
      upOnly: false,
      probeHttp: true,
    })

  it("is idempotent: after applying its plan, the next plan has no steps", () => {
    fc.assert(
      fc.property(hostArb, (host) => {
        const first = plan(host)
        const second = plan(apply(host, first))
        expect(second.steps).toEqual([])
        expect(second.failures).toEqual(first.failures)
      }),
    )
  })

  it("never touches an Unknown expectation or a unit no expectation owns", () => {
    fc.assert(
      fc.property(hostArb, (host) => {
        const owned = new Set(host.expectations.filter((e) => e.state !== "Unknown").map((e) => e.name))
        for (const step of plan(host).steps) for (const r of stepRefs(step)) expect(owned.has(r.name)).toBe(true)
      }),
    )
  })

  it("starts in at most one Start step, and only reads the enabled state it asked for", () => {
    fc.assert(
      fc.property(hostArb, (host) => {
        const gs = groups(host.supervisor, host.expectations, host.instances)
        const asked = refsNeedingEnabledState(host.supervisor, gs)
        const onlyAsked = new Map([...host.enabled].filter(([k]) => asked.some((r) => k === unitName(r))))
        const full = plan(host)
        expect(full.steps.filter((s) => s._tag === "Start").length).toBeLessThanOrEqual(1)
        expect(
          planStart({ supervisor: host.supervisor, groups: gs, enabled: onlyAsked, upOnly: false, probeHttp: true }),
        ).toEqual(full)
      }),
    )
  })
})
