/**
 * Test support for the planners, one copy for core's planner suites and lab's
 * property tests (`@tamanu-lifecycle/core/test-support`, never part of the
 * SDK's own entry point; it needs fast-check, an optional peer): hosts shaped
 * like Tamanu's, random hosts for properties, and a tiny simulator that
 * applies a plan to a host so idempotence can be checked by planning twice.
 */
import fc from "fast-check"
import type { Expectation, Instances } from "../model/expectation.js"
import { groupInstances } from "../model/grouping.js"
import type { ExpectationGroup, Instance, InstanceRef, SupervisorKind } from "../model/instance.js"
import { unitName } from "../model/instance.js"
import type { Plan, PlanStep } from "../plan/Plan.js"

export const S: Instances = { _tag: "Single" }
export const N2: Instances = { _tag: "NumericAtLeast", count: 2 }
export const AB: Instances = { _tag: "Named", suffixes: ["a", "b"] }

export const exp = (
  name: string,
  instances: Instances,
  state: Expectation["state"],
  criticality: Expectation["criticality"] = "Background",
  behindCaddy = false,
): Expectation => ({ name, instances, state, criticality, reason: "test", legacy: false, behindCaddy })

/** systemd facility host, spec §1.1 rows. */
export const sd = {
  tasks: exp("tamanu-facility-tasks", S, "Up"),
  frontend: exp("tamanu-frontend", AB, "Up", "Critical", true),
  legacy: { ...exp("tamanu-facility", S, "Down"), legacy: true },
  api: exp("tamanu-facility-api", N2, "Up", "Critical", true),
  sync: exp("tamanu-facility-sync", S, "Up"),
}
export const sdExpectations = [sd.tasks, sd.frontend, sd.legacy, sd.api, sd.sync]

/** pm2 facility host. */
export const pm = {
  tasks: exp("tamanu-tasks", S, "Up"),
  api: exp("tamanu-api", N2, "Up", "Critical", true),
  sync: exp("tamanu-sync", S, "Up"),
  fhir: exp("tamanu-fhir-resolve", S, "Down"),
}
export const pmExpectations = [pm.tasks, pm.api, pm.sync, pm.fhir]

export const unit = (name: string, suffix: string | null = null, running = true): Instance => ({
  name,
  suffix,
  pmId: null,
  running,
})
export const proc = (name: string, pmId: number, running = true): Instance => ({ name, suffix: null, pmId, running })
export const ref = (name: string, suffix: string | null = null, pmId: number | null = null): InstanceRef => ({
  name,
  suffix,
  pmId,
})

/** Every unit of the systemd facility host, running. */
export const healthySystemd: ReadonlyArray<Instance> = [
  unit("tamanu-facility-tasks"),
  unit("tamanu-frontend", "a"),
  unit("tamanu-frontend", "b"),
  unit("tamanu-facility-api", "1"),
  unit("tamanu-facility-api", "2"),
  unit("tamanu-facility-sync"),
]
export const healthyPm2: ReadonlyArray<Instance> = [
  proc("tamanu-tasks", 0),
  proc("tamanu-api", 1),
  proc("tamanu-api", 2),
  proc("tamanu-sync", 3),
]

/** Replaces instances (matched by name, suffix and pm_id) in a host. */
export const withChanges = (host: ReadonlyArray<Instance>, ...changes: ReadonlyArray<Instance>): Array<Instance> => {
  const same = (a: InstanceRef, b: InstanceRef) => a.name === b.name && a.suffix === b.suffix && a.pmId === b.pmId
  return [...host.filter((i) => !changes.some((c) => same(c, i))), ...changes]
}
export const without = (host: ReadonlyArray<Instance>, ...gone: ReadonlyArray<InstanceRef>): Array<Instance> =>
  host.filter((i) => !gone.some((g) => g.name === i.name && g.suffix === i.suffix && g.pmId === i.pmId))

export const groups = (
  supervisor: SupervisorKind,
  expectations: ReadonlyArray<Expectation>,
  instances: ReadonlyArray<Instance>,
): ReadonlyArray<ExpectationGroup> => groupInstances(supervisor, expectations, instances)

export const tags = (plan: Plan): ReadonlyArray<PlanStep["_tag"]> => plan.steps.map((s) => s._tag)

/** Every ref a step addresses (Roll's instances included). */
export const stepRefs = (step: PlanStep): ReadonlyArray<InstanceRef> =>
  step._tag === "Roll"
    ? step.instances
    : step._tag === "RouteProxy" || step._tag === "RestoreProxy" || step._tag === "CheckUrl"
      ? []
      : step.refs

export const refsOf = (plan: Plan, tag: PlanStep["_tag"]): ReadonlyArray<InstanceRef> =>
  plan.steps.filter((s) => s._tag === tag).flatMap(stepRefs)

// ---------------------------------------------------------------------------
// Random hosts

export interface Host {
  readonly supervisor: SupervisorKind
  readonly expectations: ReadonlyArray<Expectation>
  readonly instances: ReadonlyArray<Instance>
  readonly enabled: ReadonlyMap<string, boolean>
}

const shapeArb: fc.Arbitrary<Instances> = fc.oneof(
  fc.constant(S),
  fc.integer({ min: 1, max: 3 }).map((count): Instances => ({ _tag: "NumericAtLeast", count })),
  fc
    .subarray(["a", "b", "c"], { minLength: 1 })
    .map((s): Instances => ({ _tag: "Named", suffixes: [s[0]!, ...s.slice(1)] })),
)

const expectationArb = (name: string): fc.Arbitrary<Expectation> =>
  fc
    .record({
      instances: shapeArb,
      state: fc.constantFrom("Up", "Down", "Unknown" as const),
      criticality: fc.constantFrom("Critical", "Background" as const),
      behindCaddy: fc.boolean(),
    })
    .map(({ instances, state, criticality, behindCaddy }) => exp(name, instances, state, criticality, behindCaddy))

const namesArb = fc.uniqueArray(fc.constantFrom("tamanu-a", "tamanu-b", "tamanu-c", "tamanu-d", "tamanu-e"), {
  minLength: 1,
})

const candidateSuffixes: ReadonlyArray<string | null> = [null, "1", "2", "3", "4", "a", "b", "c", "z"]

export const systemdHostArb: fc.Arbitrary<Host> = namesArb.chain((names) =>
  fc
    .tuple(
      fc.tuple(...names.map(expectationArb)),
      // Each candidate unit is absent, loaded-stopped or running; and enabled or not.
      fc.array(
        fc.tuple(fc.constantFrom<"absent" | "stopped" | "running">("absent", "stopped", "running"), fc.boolean()),
        { minLength: names.length * candidateSuffixes.length, maxLength: names.length * candidateSuffixes.length },
      ),
      // One name outside every expectation, to show it is never touched.
      fc.boolean(),
    )
    .map(([expectations, states, stranger]) => {
      const instances: Array<Instance> = []
      const enabled = new Map<string, boolean>()
      names.forEach((name, n) => {
        candidateSuffixes.forEach((suffix, s) => {
          const [presence, isEnabled] = states[n * candidateSuffixes.length + s]!
          if (presence !== "absent") instances.push(unit(name, suffix, presence === "running"))
          enabled.set(unitName({ name, suffix }), isEnabled)
        })
      })
      if (stranger) instances.push(unit("tamanu-stranger", null, true))
      return { supervisor: "systemd" as const, expectations, instances, enabled }
    }),
)

export const pm2HostArb: fc.Arbitrary<Host> = namesArb.chain((names) =>
  fc
    .tuple(
      fc.tuple(...names.map(expectationArb)),
      fc.tuple(...names.map(() => fc.array(fc.boolean(), { maxLength: 3 }))),
    )
    .map(([expectations, processes]) => {
      let pmId = 0
      const instances = names.flatMap((name, n) => processes[n]!.map((running) => proc(name, pmId++, running)))
      return { supervisor: "pm2" as const, expectations, instances, enabled: new Map<string, boolean>() }
    }),
)

export const hostArb: fc.Arbitrary<Host> = fc.oneof(systemdHostArb, pm2HostArb)

// ---------------------------------------------------------------------------
// Simulator

/**
 * Applies a plan to a host the way a well-behaved supervisor would, so a
 * second plan can be computed from the result. Waits, probes and reloads
 * change nothing here.
 */
export const apply = (host: Host, plan: Plan): Host => {
  let instances = [...host.instances]
  const enabled = new Map(host.enabled)
  const matches = (i: InstanceRef, r: InstanceRef) =>
    host.supervisor === "pm2"
      ? i.name === r.name && (r.pmId === null || i.pmId === r.pmId)
      : i.name === r.name && i.suffix === r.suffix
  const setRunning = (refs: ReadonlyArray<InstanceRef>, running: boolean) => {
    for (const r of refs) {
      const known = instances.some((i) => matches(i, r))
      if (known) instances = instances.map((i) => (matches(i, r) ? { ...i, running } : i))
      // systemd can start a template instance that was not loaded yet.
      else if (running && host.supervisor === "systemd") instances.push({ ...r, running })
    }
  }
  for (const step of plan.steps) {
    switch (step._tag) {
      case "Stop":
        setRunning(step.refs, false)
        break
      case "Start":
      case "Restart":
        setRunning(step.refs, true)
        break
      case "Disable":
        for (const r of step.refs) enabled.set(unitName(r), false)
        break
      case "Delete":
        instances = instances.filter((i) => !step.refs.some((r) => matches(i, r)))
        break
      case "Retire":
        setRunning(step.refs, false)
        for (const r of step.refs) enabled.set(unitName(r), false)
        break
      default:
        break
    }
  }
  return { ...host, instances, enabled }
}
