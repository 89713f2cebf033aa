import { Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { isRolling } from "../model/expectation.js"
import { unitName } from "../model/instance.js"
import { requiredRefs } from "../model/unitNames.js"
import {
  AB,
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
  sd,
  sdExpectations,
  stepRefs,
  tags,
  unit,
  withChanges,
  without,
} from "../testSupport/plannerFixtures.js"
import { refsNeedingEnabledState } from "./common.js"
import type { PlanStep } from "./Plan.js"
import { Plan } from "./Plan.js"
import { planRestart } from "./planRestart.js"

const restartOn = (
  supervisor: "systemd" | "pm2",
  expectations: Parameters<typeof groups>[1],
  instances: Parameters<typeof groups>[2],
  options: { enabled?: ReadonlyMap<string, boolean>; probeHttp?: boolean; checkUrl?: string } = {},
) =>
  planRestart({
    supervisor,
    groups: groups(supervisor, expectations, instances),
    enabled: options.enabled ?? new Map(),
    probeHttp: options.probeHttp ?? true,
    checkUrl: options.checkUrl ?? null,
  })

const roll = (service: string, instances: ReturnType<typeof ref>[], probe = true) => ({
  _tag: "Roll" as const,
  service,
  instances,
  behindCaddy: true,
  probe,
})

describe("planRestart on a healthy systemd facility host", () => {
  const plan = restartOn("systemd", sdExpectations, healthySystemd)

  it("restarts Background services in ONE bulk call and rolls each Critical service in stable order", () => {
    expect(plan.steps).toEqual([
      { _tag: "Restart", refs: [ref("tamanu-facility-tasks"), ref("tamanu-facility-sync")] },
      { _tag: "WaitRunning", refs: [ref("tamanu-facility-tasks"), ref("tamanu-facility-sync")] },
      roll("tamanu-frontend", [ref("tamanu-frontend", "a"), ref("tamanu-frontend", "b")]),
      roll("tamanu-facility-api", [ref("tamanu-facility-api", "1"), ref("tamanu-facility-api", "2")]),
      { _tag: "RestoreProxy", probe: true },
    ])
    expect(plan.warnings).toEqual([])
  })

  it("routes Caddy only within the rolls when nothing behind it was started or bulk-restarted", () => {
    expect(tags(plan)).not.toContain("RouteProxy")
  })

  it("leaves the Down legacy expectation alone", () => {
    const withLegacy = restartOn("systemd", sdExpectations, [...healthySystemd, unit("tamanu-facility")])
    expect(withLegacy.steps).toEqual(plan.steps)
  })

  it("rolls @10 after @2", () => {
    const host = [...healthySystemd, unit("tamanu-facility-api", "10")]
    expect(restartOn("systemd", [sd.api], host).steps).toEqual([
      roll("tamanu-facility-api", [
        ref("tamanu-facility-api", "1"),
        ref("tamanu-facility-api", "2"),
        ref("tamanu-facility-api", "10"),
      ]),
      { _tag: "RestoreProxy", probe: true },
    ])
  })
})

describe("planRestart brings capacity back before taking anything down", () => {
  it("starts missing units first (Caddy held off them), probes them, routes Caddy to them, then rolls only the instances that were running", () => {
    const host = without(healthySystemd, ref("tamanu-facility-api", "2"))
    const plan = restartOn("systemd", [sd.api], host)
    expect(plan.steps).toEqual([
      { _tag: "RouteProxy", services: ["tamanu-facility-api"], except: [ref("tamanu-facility-api", "2")] },
      { _tag: "Start", refs: [ref("tamanu-facility-api", "2")] },
      { _tag: "WaitRunning", refs: [ref("tamanu-facility-api", "2")] },
      { _tag: "ProbeAll", refs: [ref("tamanu-facility-api", "2")] },
      { _tag: "RouteProxy", services: ["tamanu-facility-api"], except: [] },
      roll("tamanu-facility-api", [ref("tamanu-facility-api", "1")]),
      { _tag: "RestoreProxy", probe: true },
    ])
  })

  it("without probes, rolls wait the cooldown instead and nothing is probed", () => {
    const host = without(healthySystemd, ref("tamanu-facility-api", "2"))
    const plan = restartOn("systemd", [sd.api], host, { probeHttp: false })
    expect(tags(plan)).toEqual(["RouteProxy", "Start", "WaitRunning", "RouteProxy", "Roll", "RestoreProxy"])
    expect(plan.steps[4]).toEqual(roll("tamanu-facility-api", [ref("tamanu-facility-api", "1")], false))
  })

  it("a Background service that is down is started, not started and then restarted", () => {
    const host = withChanges(healthySystemd, unit("tamanu-facility-sync", null, false))
    const plan = restartOn("systemd", [sd.tasks, sd.sync], host)
    expect(refsOf(plan, "Start")).toEqual([ref("tamanu-facility-sync")])
    expect(refsOf(plan, "Restart")).toEqual([ref("tamanu-facility-tasks")])
  })
})

describe("planRestart of Critical singletons", () => {
  const portal = exp("tamanu-patientportal", S, "Up", "Critical", true)

  it("restarts a Critical singleton in bulk with a warning, then routes Caddy to its new address", () => {
    const plan = restartOn("systemd", [sd.tasks, portal], [...healthySystemd, unit("tamanu-patientportal")])
    expect(plan.steps).toEqual([
      { _tag: "RouteProxy", services: ["tamanu-patientportal"], except: [ref("tamanu-patientportal")] },
      { _tag: "Restart", refs: [ref("tamanu-facility-tasks"), ref("tamanu-patientportal")] },
      { _tag: "WaitRunning", refs: [ref("tamanu-facility-tasks"), ref("tamanu-patientportal")] },
      { _tag: "ProbeAll", refs: [ref("tamanu-patientportal")] },
      { _tag: "RouteProxy", services: ["tamanu-patientportal"], except: [] },
      { _tag: "RestoreProxy", probe: true },
    ])
    expect(plan.warnings).toHaveLength(1)
    expect(plan.warnings[0]).toContain("tamanu-patientportal")
    expect(plan.warnings[0]).toContain("bulk")
  })
})

describe("planRestart retires stale singletons last", () => {
  const portal = exp("tamanu-patientportal", AB, "Up", "Critical", true)
  const host = [
    unit("tamanu-patientportal"),
    unit("tamanu-patientportal", "a"),
    unit("tamanu-patientportal", "b"),
    unit("tamanu-facility-tasks"),
  ]

  it("after the roll, and then the end-to-end check: start → bulk → roll → retire → check", () => {
    const withApi1 = [...without(host, ref("tamanu-patientportal", "b")), unit("tamanu-facility-api", "1")]
    const plan = restartOn("systemd", [sd.tasks, portal, sd.api], withApi1, {
      checkUrl: "https://tamanu.example/api",
    })
    expect(tags(plan)).toEqual([
      "RouteProxy",
      "Start",
      "WaitRunning",
      "Restart",
      "WaitRunning",
      "ProbeAll",
      "RouteProxy",
      "Roll",
      "Roll",
      "Retire",
      "RestoreProxy",
      "CheckUrl",
    ])
    expect(refsOf(plan, "Start")).toEqual([ref("tamanu-patientportal", "b"), ref("tamanu-facility-api", "2")])
    expect(refsOf(plan, "Roll")).toEqual([ref("tamanu-patientportal", "a"), ref("tamanu-facility-api", "1")])
    expect(refsOf(plan, "Retire")).toEqual([ref("tamanu-patientportal")])
    expect(plan.steps.at(-1)).toEqual({ _tag: "CheckUrl", url: "https://tamanu.example/api" })
  })

  it("the leftover is never rolled or restarted in bulk", () => {
    const plan = restartOn("systemd", [portal], host)
    expect(refsOf(plan, "Roll")).toEqual([ref("tamanu-patientportal", "a"), ref("tamanu-patientportal", "b")])
    expect(refsOf(plan, "Restart")).toEqual([])
  })

  const rows: ReadonlyArray<[string, boolean, boolean | undefined, boolean]> = [
    ["running", true, false, true],
    ["stopped but enabled", false, true, true],
    ["stopped, enabled state not read", false, undefined, true],
    ["stopped and disabled", false, false, false],
  ]
  it.each(rows)("a %s leftover is retired: %s", (_, running, enabled, retired) => {
    const plan = restartOn("systemd", [portal], withChanges(host, unit("tamanu-patientportal", null, running)), {
      enabled: enabled === undefined ? new Map() : new Map([["tamanu-patientportal.service", enabled]]),
    })
    expect(refsOf(plan, "Retire")).toEqual(retired ? [ref("tamanu-patientportal")] : [])
  })
})

describe("planRestart on pm2", () => {
  it("rolls the API processes by pm_id and bulk-restarts the rest", () => {
    const plan = restartOn("pm2", pmExpectations, [...healthyPm2, proc("tamanu-api", 7)].reverse())
    expect(plan.steps).toEqual([
      { _tag: "Restart", refs: [ref("tamanu-tasks", null, 0), ref("tamanu-sync", null, 3)] },
      { _tag: "WaitRunning", refs: [ref("tamanu-tasks", null, 0), ref("tamanu-sync", null, 3)] },
      roll("tamanu-api", [ref("tamanu-api", null, 1), ref("tamanu-api", null, 2), ref("tamanu-api", null, 7)]),
      { _tag: "RestoreProxy", probe: true },
    ])
  })

  it("warns (does not fail) when fewer processes are registered than required", () => {
    const plan = restartOn("pm2", pmExpectations, without(healthyPm2, ref("tamanu-api", null, 2)))
    expect(plan.failures).toEqual([])
    expect(plan.warnings).toHaveLength(1)
    expect(plan.warnings[0]).toContain("tamanu-api")
    expect(plan.warnings[0]).toContain("ops playbook")
    expect(refsOf(plan, "Roll")).toEqual([ref("tamanu-api", null, 1)])
  })
})

describe("planRestart with nothing to restart", () => {
  it("has nothing to do (and skips the check URL) when only Down and Unknown expectations are chosen", () => {
    const fhir = exp("tamanu-central-fhir-resolve", S, "Unknown")
    const plan = restartOn("systemd", [sd.legacy, fhir], [unit("tamanu-central-fhir-resolve")], {
      checkUrl: "http://127.0.0.1:1/",
    })
    expect(plan.nothingToDo).toBe(true)
    expect(plan.steps).toEqual([])
    expect(plan.warnings[0]).toContain("tamanu-central-fhir-resolve")
  })
})

describe("planRestart properties", () => {
  const plan = (host: Host, probeHttp = true) =>
    planRestart({
      supervisor: host.supervisor,
      groups: groups(host.supervisor, host.expectations, host.instances),
      enabled: host.enabled,
      probeHttp,
      checkUrl: null,
    })

  it("never puts a Critical rolling service in a bulk Restart", () => {
    fc.assert(
      fc.property(hostArb, (host) => {
        const rolling = new Set(host.expectations.filter(isRolling).map((e) => e.name))
        for (const r of refsOf(plan(host), "Restart")) expect(rolling.has(r.name)).toBe(false)
      }),
    )
  })

  it("never touches an Unknown expectation", () => {
    fc.assert(
      fc.property(hostArb, (host) => {
        const unknown = new Set(host.expectations.filter((e) => e.state === "Unknown").map((e) => e.name))
        for (const step of plan(host).steps) {
          if (step._tag === "Roll") expect(unknown.has(step.service)).toBe(false)
          for (const r of stepRefs(step)) expect(unknown.has(r.name)).toBe(false)
        }
      }),
    )
  })

  it("starts every Up expectation's missing required units exactly once, and restarts none of them", () => {
    fc.assert(
      fc.property(hostArb, (host) => {
        const p = plan(host)
        const started = refsOf(p, "Start")
        const restarted = [...refsOf(p, "Restart"), ...refsOf(p, "Roll")]
        const key = (r: { name: string; suffix: string | null; pmId: number | null }) => `${unitName(r)}#${r.pmId}`
        const missing = host.expectations
          .filter((e) => e.state === "Up")
          .flatMap((e) =>
            host.supervisor === "systemd"
              ? requiredRefs("systemd", e).filter(
                  (r) => !host.instances.some((i) => i.running && unitName(i) === unitName(r)),
                )
              : host.instances.filter((i) => i.name === e.name && !i.running),
          )
        expect(started.map(key).sort()).toEqual(missing.map(key).sort())
        for (const m of missing) expect(restarted.map(key)).not.toContain(key(m))
      }),
    )
  })

  it("orders its steps hold Caddy → start → bulk restart → probe → route Caddy → roll → retire → restore Caddy", () => {
    const rank = (step: PlanStep, i: number, steps: ReadonlyArray<PlanStep>): number => {
      switch (step._tag) {
        case "RouteProxy":
          // The hold before the batches has the touched instances left out; the route after them has none.
          return i === 0 && step.except.length > 0 ? 0 : 4
        case "Start":
          return 1
        case "Restart":
          return 2
        case "ProbeAll":
          return 3
        case "Roll":
          return 5
        case "Retire":
          return 6
        case "RestoreProxy":
          return i === steps.length - 1 || steps[i + 1]?._tag === "CheckUrl" ? 7 : -1
        default:
          return -1
      }
    }
    fc.assert(
      fc.property(hostArb, fc.boolean(), (host, probeHttp) => {
        const steps = plan(host, probeHttp).steps.filter((s) => s._tag !== "WaitRunning")
        const ranks = steps.map((s, i) => rank(s, i, steps))
        expect(ranks).not.toContain(-1)
        expect(ranks).toEqual([...ranks].sort((a, b) => a - b))
      }),
    )
  })

  it("restores Caddy exactly when it routes it: a RestoreProxy step if and only if a RouteProxy or a Roll behind Caddy", () => {
    fc.assert(
      fc.property(hostArb, fc.boolean(), (host, probeHttp) => {
        const steps = plan(host, probeHttp).steps
        const routes = steps.some((s) => s._tag === "RouteProxy" || (s._tag === "Roll" && s.behindCaddy))
        expect(steps.filter((s) => s._tag === "RestoreProxy").length).toBe(routes ? 1 : 0)
      }),
    )
  })

  it("only reads the enabled state refsNeedingEnabledState asked for", () => {
    fc.assert(
      fc.property(hostArb, (host) => {
        const gs = groups(host.supervisor, host.expectations, host.instances)
        const asked = new Set(refsNeedingEnabledState(host.supervisor, gs).map(unitName))
        const onlyAsked = new Map([...host.enabled].filter(([k]) => asked.has(k)))
        const input = { supervisor: host.supervisor, groups: gs, probeHttp: true, checkUrl: null }
        expect(planRestart({ ...input, enabled: onlyAsked })).toEqual(planRestart({ ...input, enabled: host.enabled }))
      }),
    )
  })

  it("encodes to JSON and decodes back to the same plan", () => {
    fc.assert(
      fc.property(hostArb, (host) => {
        const p = plan(host)
        const json = JSON.stringify(Schema.encodeSync(Plan)(p))
        expect(Schema.decodeUnknownSync(Plan)(JSON.parse(json))).toEqual(p)
      }),
    )
  })
})
