/**
 * The planners' safety invariants over arbitrary hosts (any expectations,
 * any mix of running, stopped, missing, enabled units or pm2 processes).
 */
import {
  type ExpectationGroup,
  groupInstances,
  type InstanceRef,
  isRolling,
  type Plan,
  type PlanStep,
  planRestart,
  planStart,
  planStop,
  requiredRefs,
  unitName,
} from "@tamanu-lifecycle/core/internal"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { compliantHostArb, type RandomHost, randomHostArb } from "./hostArbitraries.js"
import { RUNS } from "./runs.js"

const runs = { numRuns: RUNS.planner }

const groupsOf = (host: RandomHost): ReadonlyArray<ExpectationGroup> =>
  groupInstances(host.supervisor, host.expectations, host.instances)

const plans = (host: RandomHost, probeHttp: boolean): ReadonlyArray<Plan> => {
  const groups = groupsOf(host)
  const { supervisor, enabled } = host
  return [
    planStart({ supervisor, groups, enabled, upOnly: false, probeHttp }),
    planStart({ supervisor, groups, enabled, upOnly: true, probeHttp }),
    planStop({ supervisor, groups }),
    planRestart({ supervisor, groups, enabled, probeHttp, checkUrl: null }),
    planRestart({ supervisor, groups, enabled, probeHttp, checkUrl: "http://127.0.0.1/" }),
  ]
}

const stepRefs = (step: PlanStep): ReadonlyArray<InstanceRef> =>
  step._tag === "Roll"
    ? step.instances
    : step._tag === "RouteProxy" || step._tag === "RestoreProxy" || step._tag === "CheckUrl"
      ? []
      : step.refs

const key = (r: InstanceRef) => `${unitName(r)}#${r.pmId ?? ""}`

describe("planner invariants", () => {
  it("no plan ever addresses an Unknown expectation, and each one is named in a warning", () => {
    fc.assert(
      fc.property(randomHostArb, fc.boolean(), (host, probe) => {
        const unknown = host.expectations.filter((e) => e.state === "Unknown")
        for (const plan of plans(host, probe)) {
          const touched = plan.steps.flatMap(stepRefs).map((r) => r.name)
          for (const e of unknown) {
            expect(touched).not.toContain(e.name)
            expect(plan.warnings.some((w) => w.startsWith(`${e.name}:`))).toBe(true)
          }
          // Units of no expectation are not ours to touch either.
          expect(touched).not.toContain("tamanu-stranger")
        }
      }),
      runs,
    )
  })

  it("restart never stops or restarts an instance of a rolled Critical service outside its Roll; a Roll lists each running instance once", () => {
    fc.assert(
      fc.property(randomHostArb, fc.boolean(), (host, probe) => {
        const groups = groupsOf(host)
        const plan = planRestart({
          supervisor: host.supervisor,
          groups,
          enabled: host.enabled,
          probeHttp: probe,
          checkUrl: null,
        })
        for (const g of groups) {
          if (g.expectation.state !== "Up" || !isRolling(g.expectation)) continue
          const mine = new Set(g.instances.map(key))
          for (const step of plan.steps) {
            if (step._tag === "Stop" || step._tag === "Restart" || step._tag === "Retire")
              expect(step.refs.filter((r) => mine.has(key(r)))).toEqual([])
          }
          const rolls = plan.steps.filter(
            (s): s is Extract<PlanStep, { _tag: "Roll" }> => s._tag === "Roll" && s.service === g.expectation.name,
          )
          const running = g.instances.filter((i) => i.running).map(key)
          expect(rolls.length).toBe(running.length > 0 ? 1 : 0)
          for (const roll of rolls) {
            const listed = roll.instances.map(key)
            expect(new Set(listed).size).toBe(listed.length)
            expect(listed).toEqual(running)
            expect(roll.probe).toBe(probe)
          }
        }
        // Nothing but a Critical service's roll takes down a second instance of it; a Critical singleton is bulk-restarted with a warning.
        for (const g of groups) {
          const e = g.expectation
          if (e.state === "Up" && e.criticality === "Critical" && !isRolling(e) && g.instances.some((i) => i.running))
            expect(plan.warnings.some((w) => w.startsWith(`${e.name} is Critical`))).toBe(true)
        }
      }),
      runs,
    )
  })

  it("start starts every missing required unit of an Up expectation exactly once, in one batch", () => {
    fc.assert(
      fc.property(randomHostArb, fc.boolean(), (host, upOnly) => {
        const groups = groupsOf(host)
        const plan = planStart({ supervisor: host.supervisor, groups, enabled: host.enabled, upOnly, probeHttp: true })
        const starts = plan.steps.filter((s) => s._tag === "Start")
        expect(starts.length).toBeLessThanOrEqual(1)
        const started = starts.flatMap(stepRefs).map(key)
        expect(new Set(started).size).toBe(started.length)
        for (const g of groups) {
          if (g.expectation.state !== "Up") continue
          const missing =
            host.supervisor === "pm2"
              ? g.instances.filter((i) => !i.running)
              : requiredRefs(host.supervisor, g.expectation).filter(
                  (r) => !g.instances.some((i) => i.running && i.suffix === r.suffix),
                )
          for (const m of missing) expect(started.filter((s) => s === key(m)).length).toBe(1)
        }
        // Nothing else is started: only refs of Up expectations.
        const up = new Set(groups.filter((g) => g.expectation.state === "Up").map((g) => g.expectation.name))
        for (const r of starts.flatMap(stepRefs)) expect(up.has(r.name)).toBe(true)
      }),
      runs,
    )
  })

  it("start on a host that already matches is nothing to do (and so asks for no sudo)", () => {
    fc.assert(
      fc.property(compliantHostArb, fc.boolean(), (host, probe) => {
        const plan = planStart({
          supervisor: host.supervisor,
          groups: groupsOf(host),
          enabled: host.enabled,
          upOnly: false,
          probeHttp: probe,
        })
        expect(plan.steps).toEqual([])
        expect(plan.failures).toEqual([])
        expect(plan.nothingToDo).toBe(true)
      }),
      runs,
    )
  })

  it("stop addresses only running instances of Up expectations, in one batch, and never starts anything", () => {
    fc.assert(
      fc.property(randomHostArb, (host) => {
        const groups = groupsOf(host)
        const plan = planStop({ supervisor: host.supervisor, groups })
        expect(plan.steps.map((s) => s._tag).filter((t) => t === "Start" || t === "Restart" || t === "Roll")).toEqual(
          [],
        )
        expect(plan.steps.filter((s) => s._tag === "Stop").length).toBeLessThanOrEqual(1)
        const running = new Set(host.instances.filter((i) => i.running).map(key))
        for (const r of plan.steps.flatMap(stepRefs)) expect(running.has(key(r))).toBe(true)
      }),
      runs,
    )
  })
})
