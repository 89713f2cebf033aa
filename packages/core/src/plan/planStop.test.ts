import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  AB,
  exp,
  groups,
  healthyPm2,
  healthySystemd,
  hostArb,
  pmExpectations,
  proc,
  ref,
  S,
  sd,
  sdExpectations,
  stepRefs,
  unit,
  withChanges,
} from "../testSupport/plannerFixtures.js"
import { planStop } from "./planStop.js"

const stopOn = (
  supervisor: "systemd" | "pm2",
  expectations: Parameters<typeof groups>[1],
  instances: Parameters<typeof groups>[2],
) => planStop({ supervisor, groups: groups(supervisor, expectations, instances) })

describe("planStop", () => {
  it("stops every running instance of the chosen Up expectations in ONE call, then waits", () => {
    const host = withChanges(healthySystemd, unit("tamanu-facility-sync", null, false))
    const plan = stopOn("systemd", [sd.frontend, sd.api, sd.sync], host)
    const running = [
      ref("tamanu-frontend", "a"),
      ref("tamanu-frontend", "b"),
      ref("tamanu-facility-api", "1"),
      ref("tamanu-facility-api", "2"),
    ]
    expect(plan.steps).toEqual([
      { _tag: "Stop", refs: running },
      { _tag: "WaitStopped", refs: running },
    ])
  })

  it("leaves a running Down expectation alone (that is start's business)", () => {
    const plan = stopOn("systemd", [sd.legacy], [unit("tamanu-facility")])
    expect(plan.nothingToDo).toBe(true)
  })

  it("leaves an Unknown expectation alone and warns", () => {
    const fhir = exp("tamanu-central-fhir-resolve", S, "Unknown")
    const plan = stopOn("systemd", [fhir], [unit("tamanu-central-fhir-resolve")])
    expect(plan.steps).toEqual([])
    expect(plan.warnings[0]).toContain("tamanu-central-fhir-resolve")
  })

  it("also stops a running leftover singleton of the service", () => {
    const portal = exp("tamanu-patientportal", AB, "Up", "Critical", true)
    const plan = stopOn("systemd", [portal], [unit("tamanu-patientportal"), unit("tamanu-patientportal", "a")])
    expect(plan.steps[0]).toEqual({
      _tag: "Stop",
      refs: [ref("tamanu-patientportal", "a"), ref("tamanu-patientportal")],
    })
  })

  it("addresses pm2 processes by pm_id", () => {
    const host = withChanges(healthyPm2, proc("tamanu-sync", 3, false))
    const plan = stopOn("pm2", pmExpectations, host)
    expect(plan.steps[0]).toEqual({
      _tag: "Stop",
      refs: [ref("tamanu-tasks", null, 0), ref("tamanu-api", null, 1), ref("tamanu-api", null, 2)],
    })
  })

  it("has nothing to do when nothing is running", () => {
    const host = healthySystemd.map((i) => ({ ...i, running: false }))
    expect(stopOn("systemd", sdExpectations, host)).toMatchObject({ nothingToDo: true, steps: [] })
  })

  it("only ever stops running instances of Up expectations, all in one call", () => {
    fc.assert(
      fc.property(hostArb, (host) => {
        const plan = planStop({
          supervisor: host.supervisor,
          groups: groups(host.supervisor, host.expectations, host.instances),
        })
        const up = new Set(host.expectations.filter((e) => e.state === "Up").map((e) => e.name))
        expect(plan.steps.filter((s) => s._tag === "Stop").length).toBeLessThanOrEqual(1)
        for (const step of plan.steps) {
          expect(["Stop", "WaitStopped"]).toContain(step._tag)
          for (const r of stepRefs(step)) {
            expect(up.has(r.name)).toBe(true)
            const found = host.instances.find((i) => i.name === r.name && i.suffix === r.suffix && i.pmId === r.pmId)
            expect(found?.running).toBe(true)
          }
        }
      }),
    )
  })
})
