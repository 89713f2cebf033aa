import { describe, expect, it } from "vitest"
import type { Expectation } from "./expectation.js"
import { expected } from "./expectations.js"
import type { HostFacts } from "./hostFacts.js"

// The expected rows are written out literally from spec §1.1, not derived from `expected()`.
const S = { _tag: "Single" } as const
const AB = { _tag: "Named", suffixes: ["a", "b"] } as const
const N2 = { _tag: "NumericAtLeast", count: 2 } as const

const row = (
  name: string,
  instances: Expectation["instances"],
  state: Expectation["state"],
  criticality: Expectation["criticality"],
  reason: string,
  behindCaddy: boolean,
  legacy = false,
): Expectation => ({ name, instances, state, criticality, reason, legacy, behindCaddy })

const legacyFacility = row(
  "tamanu-facility",
  S,
  "Down",
  "Background",
  "legacy layout, replaced by tamanu-facility-api",
  false,
  true,
)
const frontend = row("tamanu-frontend", AB, "Up", "Critical", "always required", true)

/** The rows that do not depend on config or DB, per supervisor × kind, split where FHIR/sync and the portal go. */
const fixed = {
  "systemd/facility": {
    head: [
      row("tamanu-facility-tasks", S, "Up", "Background", "always required", false),
      frontend,
      legacyFacility,
      row("tamanu-facility-api", N2, "Up", "Critical", "always required", true),
    ],
    tail: [row("tamanu-facility-sync", S, "Up", "Background", "kind is facility", false)],
  },
  "systemd/central": {
    head: [
      row("tamanu-central-tasks", S, "Up", "Background", "always required", false),
      frontend,
      legacyFacility,
      row("tamanu-central-api", N2, "Up", "Critical", "always required", true),
    ],
    tail: [],
  },
  "pm2/facility": {
    head: [
      row("tamanu-tasks", S, "Up", "Background", "always required", false),
      row("tamanu-api", N2, "Up", "Critical", "always required", true),
    ],
    tail: [row("tamanu-sync", S, "Up", "Background", "kind is facility", false)],
  },
  "pm2/central": {
    head: [
      row("tamanu-tasks", S, "Up", "Background", "always required", false),
      row("tamanu-api", N2, "Up", "Critical", "always required", true),
    ],
    tail: [],
  },
} as const

const fhirReason = {
  true: "config integrations.fhir.worker.enabled is true",
  false: "config integrations.fhir.worker.enabled is false",
  null: "no config loaded",
} as const
const fhirStateOf = { true: "Up", false: "Down", null: "Unknown" } as const
const fhirRows = (prefix: string, flag: "true" | "false" | "null"): Array<Expectation> => [
  row(`${prefix}fhir-resolve`, S, fhirStateOf[flag], "Background", fhirReason[flag], false),
  row(`${prefix}fhir-refresh`, S, fhirStateOf[flag], "Background", fhirReason[flag], false),
]

const portalReason = {
  true: "DB setting features.patientPortal is true",
  false: "DB setting features.patientPortal is false or missing",
  null: "database unreachable",
} as const
const portalStateOf = { true: "Up", false: "Down", null: "Unknown" } as const
const portalRow = (flag: "true" | "false" | "null", template: boolean): Expectation =>
  template
    ? row("tamanu-patientportal", AB, portalStateOf[flag], "Critical", portalReason[flag], true)
    : row("tamanu-patientportal", S, portalStateOf[flag], "Background", portalReason[flag], true)

const key = (v: boolean | null) => String(v) as "true" | "false" | "null"

/** The §1.1 table for one cell, spelled out per column. */
const table = (f: HostFacts): Array<Expectation> => {
  const col = fixed[`${f.supervisor}/${f.kind}`]
  const middle =
    f.kind === "central"
      ? fhirRows(f.supervisor === "systemd" ? "tamanu-central-" : "tamanu-", key(f.fhirWorkerEnabled))
      : []
  const portal =
    f.supervisor === "systemd" && f.kind === "central"
      ? [portalRow(key(f.patientPortal), f.portalTemplateInstalled)]
      : []
  return [...col.head, ...middle, ...col.tail, ...portal]
}

const tri = [true, false, null] as const
const cells: Array<HostFacts> = (["systemd", "pm2"] as const).flatMap((supervisor) =>
  (["central", "facility"] as const).flatMap((kind) =>
    tri.flatMap((fhirWorkerEnabled) =>
      tri.flatMap((patientPortal) =>
        [true, false].map((portalTemplateInstalled) => ({
          supervisor,
          kind,
          fhirWorkerEnabled,
          patientPortal,
          portalTemplateInstalled,
        })),
      ),
    ),
  ),
)

describe("expected (spec §1.1)", () => {
  it("covers all 72 combinations of the inputs", () => {
    expect(cells).toHaveLength(72)
  })

  it.each(cells.map((f) => [JSON.stringify(f), f] as const))("gives the canonical set for %s", (_, facts) => {
    expect(expected(facts)).toEqual(table(facts))
  })

  it("names the systemd central host's services in the table's row order", () => {
    const facts: HostFacts = {
      supervisor: "systemd",
      kind: "central",
      fhirWorkerEnabled: true,
      patientPortal: true,
      portalTemplateInstalled: true,
    }
    expect(expected(facts).map((e) => e.name)).toEqual([
      "tamanu-central-tasks",
      "tamanu-frontend",
      "tamanu-facility",
      "tamanu-central-api",
      "tamanu-central-fhir-resolve",
      "tamanu-central-fhir-refresh",
      "tamanu-patientportal",
    ])
  })

  it("never expects the frontend, the legacy unit or the patient portal on pm2", () => {
    const names = cells.filter((f) => f.supervisor === "pm2").flatMap((f) => expected(f).map((e) => e.name))
    expect(
      names.filter((n) => n === "tamanu-frontend" || n === "tamanu-facility" || n === "tamanu-patientportal"),
    ).toEqual([])
  })

  it("makes the patient portal Critical only when it has two instances", () => {
    const portals = cells.flatMap((f) => expected(f).filter((e) => e.name === "tamanu-patientportal"))
    expect(portals.length).toBeGreaterThan(0)
    for (const p of portals) {
      expect(p.criticality).toBe(p.instances._tag === "Named" ? "Critical" : "Background")
    }
  })
})
