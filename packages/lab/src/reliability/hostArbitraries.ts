/**
 * Random hosts for the planners' and operations' properties: arbitrary
 * expectations with arbitrary discovered instances (pure planners), and
 * canonical Tamanu hosts (§1.1) in arbitrary states for the real operations
 * over the fake supervisors. The random hosts are core's own
 * (`@tamanu-lifecycle/core/test-support`), which core's planner suites use too.
 */
import { expected, type HostFacts, type Instance, requiredRefs } from "@tamanu-lifecycle/core/internal"
import { type Host, hostArb, pm2HostArb, systemdHostArb } from "@tamanu-lifecycle/core/test-support"
import type { FakeProcessSpec, FakeUnitSpec } from "@tamanu-lifecycle/testing"
import fc from "fast-check"

/** A host for the pure planners: core's random hosts, one copy for core's planner suites and these properties. */
export type RandomHost = Host

export { hostArb as randomHostArb, pm2HostArb, systemdHostArb }

/**
 * A host that already matches its expectations: every required unit of an
 * Up expectation running, nothing of a Down one loaded or enabled, Unknown
 * ones in any state.
 */
export const compliantHostArb: fc.Arbitrary<RandomHost> = hostArb.map((host) => {
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
