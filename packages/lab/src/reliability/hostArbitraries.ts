/**
 * Random hosts for the planners' and operations' properties: arbitrary
 * expectations with arbitrary discovered instances (pure planners), and
 * canonical Tamanu hosts (§1.1) in arbitrary states for the real operations
 * over the fake supervisors. Shaped after core's planner fixtures
 * (`plan/fixtures.test.support.ts`, not exported from core).
 */
import {
  type Expectation,
  expected,
  type HostFacts,
  type Instance,
  type Instances,
  requiredRefs,
  type SupervisorKind,
  unitName,
} from "@tamanu-lifecycle/core"
import type { FakeProcessSpec, FakeUnitSpec } from "@tamanu-lifecycle/testing"
import fc from "fast-check"

export interface RandomHost {
  readonly supervisor: SupervisorKind
  readonly expectations: ReadonlyArray<Expectation>
  readonly instances: ReadonlyArray<Instance>
  readonly enabled: ReadonlyMap<string, boolean>
}

const shapeArb: fc.Arbitrary<Instances> = fc.oneof(
  fc.constant<Instances>({ _tag: "Single" }),
  fc.integer({ min: 1, max: 3 }).map((count): Instances => ({ _tag: "NumericAtLeast", count })),
  fc
    .subarray(["a", "b", "c"], { minLength: 1 })
    .map((s): Instances => ({ _tag: "Named", suffixes: [s[0] ?? "a", ...s.slice(1)] })),
)

const expectationArb = (name: string): fc.Arbitrary<Expectation> =>
  fc
    .record({
      instances: shapeArb,
      state: fc.constantFrom("Up", "Down", "Unknown" as const),
      criticality: fc.constantFrom("Critical", "Background" as const),
      behindCaddy: fc.boolean(),
    })
    .map((r) => ({ name, ...r, reason: "random", legacy: false }))

const namesArb = fc.uniqueArray(fc.constantFrom("tamanu-a", "tamanu-b", "tamanu-c", "tamanu-d"), { minLength: 1 })
const suffixes: ReadonlyArray<string | null> = [null, "1", "2", "3", "a", "b", "c", "z"]

/** Any expectations, any units (absent / loaded-stopped / running, enabled or not), plus a stranger unit. */
export const systemdHostArb: fc.Arbitrary<RandomHost> = namesArb.chain((names) =>
  fc
    .tuple(
      fc.tuple(...names.map(expectationArb)),
      fc.array(fc.tuple(fc.constantFrom("absent", "stopped", "running" as const), fc.boolean()), {
        minLength: names.length * suffixes.length,
        maxLength: names.length * suffixes.length,
      }),
    )
    .map(([expectations, states]) => {
      const instances: Array<Instance> = [{ name: "tamanu-stranger", suffix: null, pmId: null, running: true }]
      const enabled = new Map<string, boolean>()
      names.forEach((name, n) => {
        suffixes.forEach((suffix, s) => {
          const [presence, isEnabled] = states[n * suffixes.length + s] ?? ["absent", false]
          if (presence !== "absent") instances.push({ name, suffix, pmId: null, running: presence === "running" })
          enabled.set(unitName({ name, suffix }), isEnabled)
        })
      })
      return { supervisor: "systemd" as const, expectations, instances, enabled }
    }),
)

export const pm2HostArb: fc.Arbitrary<RandomHost> = namesArb.chain((names) =>
  fc
    .tuple(
      fc.tuple(...names.map(expectationArb)),
      fc.tuple(...names.map(() => fc.array(fc.boolean(), { maxLength: 3 }))),
    )
    .map(([expectations, processes]) => {
      let pmId = 0
      const instances = names.flatMap((name, n) =>
        (processes[n] ?? []).map((running): Instance => ({ name, suffix: null, pmId: pmId++, running })),
      )
      return { supervisor: "pm2" as const, expectations, instances, enabled: new Map<string, boolean>() }
    }),
)

export const randomHostArb: fc.Arbitrary<RandomHost> = fc.oneof(systemdHostArb, pm2HostArb)

/**
 * A host that already matches its expectations: every required unit of an
 * Up expectation running, nothing of a Down one loaded or enabled, Unknown
 * ones in any state.
 */
export const compliantHostArb: fc.Arbitrary<RandomHost> = randomHostArb.map((host) => {
  const byName = new Map(host.expectations.map((e) => [e.name, e]))
  const instances: Array<Instance> = host.instances.filter((i) => {
    const e = byName.get(i.name)
    return e === undefined || e.state === "Unknown" || (e.state === "Up" && i.running)
  })
  let pmId = 1000
  for (const e of host.expectations) {
    if (e.state !== "Up") continue
    const required = requiredRefs(host.supervisor, e)
    if (host.supervisor === "pm2") {
      const have = instances.filter((i) => i.name === e.name).length
      const want =
        e.instances._tag === "NumericAtLeast"
          ? e.instances.count
          : e.instances._tag === "Named"
            ? e.instances.suffixes.length
            : 1
      for (let k = have; k < want; k++) instances.push({ name: e.name, suffix: null, pmId: pmId++, running: true })
    } else {
      for (const r of required) {
        if (!instances.some((i) => i.name === r.name && i.suffix === r.suffix)) instances.push({ ...r, running: true })
      }
    }
  }
  const enabled = new Map(
    [...host.enabled].map(([unit, on]) => [
      unit,
      on && byName.get(unit.replace(/(@.*)?\.service$/, ""))?.state !== "Down",
    ]),
  )
  return { ...host, instances, enabled }
})

// ---------------------------------------------------------------------------
// Canonical hosts for the real operations

export interface CanonicalHost {
  readonly facts: HostFacts
  readonly units: ReadonlyArray<FakeUnitSpec>
  readonly unitFiles: ReadonlyArray<string>
  readonly processes: ReadonlyArray<FakeProcessSpec>
}

const stateArb = fc.record({
  presence: fc.constantFrom("absent", "stopped", "running" as const),
  enabled: fc.boolean(),
})

/**
 * A Tamanu host of either supervisor and kind, config and DB flag of any
 * value (null: unreadable), and every canonical unit (plus a leftover bare
 * singleton of each templated service) in a random state.
 */
export const canonicalHostArb: fc.Arbitrary<CanonicalHost> = fc
  .record({
    supervisor: fc.constantFrom("systemd", "pm2" as const),
    kind: fc.constantFrom("central", "facility" as const),
    fhirWorkerEnabled: fc.constantFrom(true, false, null),
    patientPortal: fc.constantFrom(true, false, null),
    portalTemplateInstalled: fc.boolean(),
  })
  .chain((f) => {
    const facts: HostFacts = { ...f, portalTemplateInstalled: f.supervisor === "systemd" && f.portalTemplateInstalled }
    // Every expectation of the host at its widest: Up, so each required unit is a candidate.
    const all = expected({ ...facts, fhirWorkerEnabled: true, patientPortal: true })
    const candidates = all.flatMap((e) => [
      ...requiredRefs(facts.supervisor, e),
      ...(facts.supervisor === "systemd" && e.instances._tag !== "Single"
        ? [{ name: e.name, suffix: null, pmId: null }]
        : []),
      ...(facts.supervisor === "pm2" ? [{ name: e.name, suffix: null, pmId: null }] : []),
    ])
    return fc.array(stateArb, { minLength: candidates.length, maxLength: candidates.length }).map((states) => {
      const units: Array<FakeUnitSpec> = []
      const processes: Array<FakeProcessSpec> = []
      candidates.forEach((c, i) => {
        const s = states[i] ?? { presence: "absent", enabled: false }
        if (facts.supervisor === "systemd") {
          if (s.presence !== "absent" || s.enabled)
            units.push({ name: c.name, suffix: c.suffix, running: s.presence === "running", enabled: s.enabled })
        } else if (s.presence !== "absent") {
          processes.push({ name: c.name, pmId: processes.length, running: s.presence === "running" })
        }
      })
      const unitFiles = all.map((e) => (e.instances._tag === "Single" ? `${e.name}.service` : `${e.name}@.service`))
      return {
        facts,
        units,
        unitFiles: [...unitFiles, ...(facts.portalTemplateInstalled ? ["tamanu-patientportal@.service"] : [])],
        processes,
      }
    })
  })
