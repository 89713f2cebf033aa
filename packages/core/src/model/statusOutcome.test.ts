import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { proc, unit } from "../testSupport/plannerFixtures.js"
import type { Expectation } from "./expectation.js"
import { named, numericAtLeast, single } from "./expectation.js"
import type { ExpectationGroup, Instance, SupervisorKind } from "./instance.js"
import type { Outcome } from "./statusOutcome.js"
import {
  actualCell,
  classify,
  expectedCell,
  instanceLines,
  isFailure,
  StatusJson,
  statusReport,
  visibleInStatus,
} from "./statusOutcome.js"
import { rowVersions, versionCell } from "./version.js"

const exp = (over: Partial<Expectation> & Pick<Expectation, "name" | "instances" | "state">): Expectation => ({
  criticality: "Background",
  reason: "test reason",
  legacy: false,
  behindCaddy: false,
  ...over,
})

const group = (
  expectation: Expectation,
  instances: ReadonlyArray<Instance>,
  leftovers: ReadonlyArray<Instance> = [],
): ExpectationGroup => ({ expectation, instances, leftovers })

const api = exp({ name: "tamanu-central-api", instances: numericAtLeast(2), state: "Up", criticality: "Critical" })
const tasks = exp({ name: "tamanu-central-tasks", instances: single, state: "Up" })
const portalUp = exp({ name: "tamanu-patientportal", instances: named("a", "b"), state: "Up", behindCaddy: true })
const fhirDown = exp({ name: "tamanu-central-fhir-resolve", instances: single, state: "Down" })
const portalDown = exp({ name: "tamanu-patientportal", instances: named("a", "b"), state: "Down" })
const fhirUnknown = exp({ name: "tamanu-central-fhir-refresh", instances: single, state: "Unknown" })
const legacy = exp({ name: "tamanu-facility", instances: single, state: "Down", legacy: true })

const none = new Map<string, boolean>()

interface Case {
  readonly case: string
  readonly group: ExpectationGroup
  readonly enabled?: ReadonlyMap<string, boolean>
  readonly supervisor?: SupervisorKind
  readonly outcome: Outcome
  readonly running: number
  readonly missing: boolean
  readonly actual: string
}

const cases: ReadonlyArray<Case> = [
  // Up
  {
    case: "up: a running singleton is up",
    group: group(tasks, [unit("tamanu-central-tasks", null, true)]),
    outcome: "up",
    running: 1,
    missing: false,
    actual: "running",
  },
  {
    case: "up: two of at least two API instances running is up",
    group: group(api, [unit("tamanu-central-api", "1", true), unit("tamanu-central-api", "2", true)]),
    outcome: "up",
    running: 2,
    missing: false,
    actual: "2/2 running",
  },
  {
    case: "up: on pm2 two online processes of one name satisfy NumericAtLeast(2)",
    group: group(api, [proc("tamanu-api", 3, true), proc("tamanu-api", 4, true)]),
    supervisor: "pm2",
    outcome: "up",
    running: 2,
    missing: false,
    actual: "2/2 running",
  },
  {
    case: "short: one of two API instances running is short",
    group: group(api, [unit("tamanu-central-api", "1", true), unit("tamanu-central-api", "2", false)]),
    outcome: "short",
    running: 1,
    missing: false,
    actual: "1/2 running",
  },
  {
    case: "short: a single loaded instance of NumericAtLeast(2) is short",
    group: group(api, [unit("tamanu-central-api", "1", true)]),
    outcome: "short",
    running: 1,
    missing: false,
    actual: "1/2 running",
  },
  {
    case: "down: a loaded but stopped singleton is down, not missing",
    group: group(tasks, [unit("tamanu-central-tasks", null, false)]),
    outcome: "down",
    running: 0,
    missing: false,
    actual: "stopped",
  },
  {
    case: "down: no unit loaded at all is down and missing",
    group: group(api, []),
    outcome: "down",
    running: 0,
    missing: true,
    actual: "missing",
  },
  {
    case: "down: a running leftover singleton never satisfies a templated expectation",
    group: group(portalUp, [], [unit("tamanu-patientportal", null, true)]),
    outcome: "down",
    running: 0,
    missing: true,
    actual: "missing; leftover tamanu-patientportal running",
  },
  // Down
  {
    case: "absent: nothing present under a Down expectation",
    group: group(fhirDown, []),
    outcome: "absent",
    running: 0,
    missing: true,
    actual: "not loaded",
  },
  {
    case: "forbidden: a running instance under a Down expectation",
    group: group(fhirDown, [unit("tamanu-central-fhir-resolve", null, true)]),
    outcome: "forbidden",
    running: 1,
    missing: false,
    actual: "running (forbidden)",
  },
  {
    case: "forbidden: a stopped but still enabled unit under a Down expectation",
    group: group(fhirDown, [unit("tamanu-central-fhir-resolve", null, false)]),
    enabled: new Map([["tamanu-central-fhir-resolve.service", true]]),
    outcome: "forbidden",
    running: 0,
    missing: false,
    actual: "enabled, stopped",
  },
  {
    case: "absent: a stopped and disabled unit under a Down expectation",
    group: group(fhirDown, [unit("tamanu-central-fhir-resolve", null, false)]),
    enabled: new Map([["tamanu-central-fhir-resolve.service", false]]),
    outcome: "absent",
    running: 0,
    missing: false,
    actual: "stopped, disabled",
  },
  {
    case: "forbidden: a required unit enabled without being loaded",
    group: group(portalDown, []),
    enabled: new Map([["tamanu-patientportal@b.service", true]]),
    outcome: "forbidden",
    running: 0,
    missing: true,
    actual: "enabled, not loaded",
  },
  {
    case: "forbidden: a running leftover under a Down expectation",
    group: group(portalDown, [unit("tamanu-patientportal", "a", false)], [unit("tamanu-patientportal", null, true)]),
    outcome: "forbidden",
    running: 1,
    missing: false,
    actual: "running (forbidden)",
  },
  {
    case: "forbidden: two running instances under a Down expectation",
    group: group(portalDown, [unit("tamanu-patientportal", "a", true), unit("tamanu-patientportal", "b", true)]),
    outcome: "forbidden",
    running: 2,
    missing: false,
    actual: "2 running (forbidden)",
  },
  {
    case: "absent: pm2 has no enabled state, so a stopped process of a Down service is absent",
    group: group(fhirDown, [proc("tamanu-fhir-resolve", 7, false)]),
    enabled: new Map([["tamanu-fhir-resolve.service", true]]),
    supervisor: "pm2",
    outcome: "absent",
    running: 0,
    missing: false,
    actual: "stopped",
  },
  // Unknown
  {
    case: "unknown: state Unknown with a running instance",
    group: group(fhirUnknown, [unit("tamanu-central-fhir-refresh", null, true)]),
    outcome: "unknown",
    running: 1,
    missing: false,
    actual: "running",
  },
  {
    case: "unknown: state Unknown with nothing loaded",
    group: group(fhirUnknown, []),
    outcome: "unknown",
    running: 0,
    missing: true,
    actual: "not loaded",
  },
]

describe("classify (spec §4)", () => {
  it.each(cases)("$case", (c) => {
    const supervisor = c.supervisor ?? "systemd"
    const got = classify(c.group, c.enabled ?? none, supervisor)
    expect({ outcome: got.outcome, running: got.running, missing: got.missing }).toEqual({
      outcome: c.outcome,
      running: c.running,
      missing: c.missing,
    })
    expect(actualCell(c.group, got, supervisor)).toBe(c.actual)
  })

  it("reports min_count from the expectation's shape", () => {
    expect(classify(group(api, []), none, "systemd").minCount).toBe(2)
    expect(classify(group(portalUp, []), none, "systemd").minCount).toBe(2)
    expect(classify(group(tasks, []), none, "systemd").minCount).toBe(1)
  })

  it("names the still-enabled units of a Down expectation", () => {
    const g = group(portalDown, [unit("tamanu-patientportal", "a", false)], [unit("tamanu-patientportal", null, false)])
    const enabled = new Map([
      ["tamanu-patientportal@a.service", true],
      ["tamanu-patientportal.service", true],
      ["tamanu-patientportal@b.service", false],
    ])
    expect(classify(g, enabled, "systemd").enabledUnits).toEqual([
      "tamanu-patientportal@a.service",
      "tamanu-patientportal.service",
    ])
  })
})

describe("isFailure", () => {
  it.each([
    ["up", false],
    ["short", true],
    ["down", true],
    ["absent", false],
    ["forbidden", true],
    ["unknown", false],
  ] as const)("%s counts as failure: %s", (outcome, failure) => {
    expect(isFailure(outcome)).toBe(failure)
  })
})

describe("visibleInStatus", () => {
  const legacyGroup = group(legacy, [])
  it.each([
    {
      case: "a complying legacy row is hidden by default",
      g: legacyGroup,
      o: "absent",
      all: false,
      names: false,
      want: false,
    },
    {
      case: "a complying legacy row shows with --all",
      g: legacyGroup,
      o: "absent",
      all: true,
      names: false,
      want: true,
    },
    {
      case: "a complying legacy row shows when NAMES are given",
      g: legacyGroup,
      o: "absent",
      all: false,
      names: true,
      want: true,
    },
    {
      case: "a violated legacy row always shows",
      g: legacyGroup,
      o: "forbidden",
      all: false,
      names: false,
      want: true,
    },
    {
      case: "a non-legacy row always shows",
      g: group(fhirDown, []),
      o: "absent",
      all: false,
      names: false,
      want: true,
    },
  ] as const)("$case", ({ g, o, all, names, want }) => {
    expect(visibleInStatus(g, o, { all, namesGiven: names })).toBe(want)
  })
})

describe("expectedCell", () => {
  it.each([
    [tasks, "up"],
    [api, "up ×2"],
    [portalUp, "up ×2"],
    [fhirDown, "absent"],
    [fhirUnknown, "unknown"],
  ] as const)("%#: %s", (e, want) => {
    expect(expectedCell(e)).toBe(want)
  })
})

describe("instanceLines", () => {
  it("lists each instance when capacity is short", () => {
    const g = group(api, [unit("tamanu-central-api", "1", true), unit("tamanu-central-api", "2", false)])
    expect(instanceLines(g, classify(g, none, "systemd"))).toEqual([
      "tamanu-central-api@1 running",
      "tamanu-central-api@2 stopped",
    ])
  })

  it("stays quiet when every instance is fine", () => {
    const g = group(api, [unit("tamanu-central-api", "1", true), unit("tamanu-central-api", "2", true)])
    expect(instanceLines(g, classify(g, none, "systemd"))).toEqual([])
  })

  it("lists each instance with its version when the instances run different versions (issue #22)", () => {
    const g = group(api, [unit("tamanu-central-api", "1", true), unit("tamanu-central-api", "2", true)])
    const at = (a1: string | null, a2: string | null, marker: { ageMillis: number; target: null } | null = null) =>
      rowVersions(
        "2.65.0",
        [
          { instance: "tamanu-central-api@1", actual: a1, problem: null },
          { instance: "tamanu-central-api@2", actual: a2, problem: null },
        ],
        marker,
      )
    expect(instanceLines(g, classify(g, none, "systemd"), at("2.65.0", "2.64.0"))).toEqual([
      "tamanu-central-api@1 running  2.65.0 ok",
      "tamanu-central-api@2 running  2.64.0 drift (expected 2.65.0)",
    ])
    expect(
      instanceLines(g, classify(g, none, "systemd"), at("2.65.0", "2.64.0", { ageMillis: 0, target: null })),
    ).toEqual(["tamanu-central-api@1 running  2.65.0 ok", "tamanu-central-api@2 running  2.64.0 upgrading to 2.65.0"])
    expect(instanceLines(g, classify(g, none, "systemd"), at("2.65.0", null))).toEqual([
      "tamanu-central-api@1 running  2.65.0 ok",
      "tamanu-central-api@2 running  version unknown",
    ])
    // All on one version: the Version cell says it; no lines.
    expect(instanceLines(g, classify(g, none, "systemd"), at("2.64.0", "2.64.0"))).toEqual([])
    expect(versionCell(at("2.64.0", "2.64.0"))).toBe("2.64.0 drift (expected 2.65.0)")
    expect(versionCell(at("2.65.0", "v2.65.0"))).toBe("2.65.0 ok")
    expect(versionCell(at("2.65.0", "2.64.0"))).toBe("mixed (expected 2.65.0)")
    expect(versionCell(at(null, null))).toBe("unknown (expected 2.65.0)")
    expect(versionCell(rowVersions("2.65.0", [], null))).toBe("2.65.0")
    expect(versionCell(rowVersions(null, [{ instance: "x", actual: "2.64.0", problem: null }], null))).toBe(
      "2.64.0 (expected unknown)",
    )
  })

  it("names pm2 processes by pm_id and marks leftovers", () => {
    const pm = group(api, [proc("tamanu-api", 0, true), proc("tamanu-api", 1, false)])
    expect(instanceLines(pm, classify(pm, none, "pm2"))).toEqual(["tamanu-api#0 running", "tamanu-api#1 stopped"])
    const lo = group(
      portalUp,
      [unit("tamanu-patientportal", "a", true), unit("tamanu-patientportal", "b", true)],
      [unit("tamanu-patientportal", null, true)],
    )
    expect(instanceLines(lo, classify(lo, none, "systemd"))).toEqual([
      "tamanu-patientportal@a running",
      "tamanu-patientportal@b running",
      "tamanu-patientportal running (leftover)",
    ])
  })
})

describe("statusReport (--json)", () => {
  const apiGroup = group({ ...api, behindCaddy: true, reason: "always required" }, [
    unit("tamanu-central-api", "1", true),
    unit("tamanu-central-api", "2", true),
  ])
  const pmGroup = group(tasks, [proc("tamanu-tasks", 5, true)])
  const unknownGroup = group(fhirUnknown, [])
  const row = (g: ExpectationGroup, supervisor: SupervisorKind = "systemd") => ({
    group: g,
    classification: classify(g, none, supervisor),
  })

  it("writes the snake_case document of the tool it replaces, versions included (issue #22)", () => {
    const versions = rowVersions(
      "2.65.0",
      [
        { instance: "tamanu-central-api@1", actual: "v2.65.0", problem: null },
        { instance: "tamanu-central-api@2", actual: "2.64.0", problem: null },
      ],
      null,
    )
    const report = statusReport([{ ...row(apiGroup), versions }, row(pmGroup, "pm2"), row(unknownGroup)], {
      expectedVersion: "2.65.0",
      upgrade: { ageMillis: 125_000, target: "2.65.0" },
    })
    expect(report).toEqual({
      any_short: false,
      expected_version: "2.65.0",
      version_drift: true,
      upgrade: { in_progress: true, age_seconds: 125, target: "2.65.0" },
      expectations: [
        {
          name: "tamanu-central-api",
          expected_state: "up",
          running: 2,
          min_count: 2,
          status: "up",
          reason: "always required",
          legacy: false,
          behind_caddy: true,
          criticality: "critical",
          expected_version: "2.65.0",
          instances: [
            {
              name: "tamanu-central-api",
              instance: "1",
              pm_id: null,
              running: true,
              version_actual: "2.65.0",
              version_status: "match",
            },
            {
              name: "tamanu-central-api",
              instance: "2",
              pm_id: null,
              running: true,
              version_actual: "2.64.0",
              version_status: "mismatch",
            },
          ],
        },
        {
          name: "tamanu-central-tasks",
          expected_state: "up",
          running: 1,
          min_count: 1,
          status: "up",
          reason: "test reason",
          legacy: false,
          behind_caddy: false,
          criticality: "background",
          expected_version: null,
          instances: [
            {
              name: "tamanu-tasks",
              instance: null,
              pm_id: 5,
              running: true,
              version_actual: null,
              version_status: "unknown",
            },
          ],
        },
        {
          name: "tamanu-central-fhir-refresh",
          expected_state: "unknown",
          running: 0,
          min_count: 1,
          status: "unknown",
          reason: "test reason",
          legacy: false,
          behind_caddy: false,
          criticality: "background",
          expected_version: null,
          instances: [],
        },
      ],
    })
  })

  it("sets any_short when any outcome is a failure, forbidden included", () => {
    const forbidden = group(fhirDown, [unit("tamanu-central-fhir-resolve", null, true)])
    expect(statusReport([row(apiGroup), row(forbidden)]).any_short).toBe(true)
    expect(statusReport([row(apiGroup), row(unknownGroup)]).any_short).toBe(false)
  })

  it("round-trips through the StatusJson schema and rejects a malformed document", () => {
    const doc = { ...statusReport([row(apiGroup), row(unknownGroup)]), caddy: null }
    const decode = Schema.decodeUnknownEither(StatusJson)
    expect(decode(JSON.parse(JSON.stringify(doc)))).toEqual(Either.right(doc))
    expect(Either.isLeft(decode({ ...doc, expectations: [{ ...doc.expectations[0], status: "ok" }] }))).toBe(true)
  })
})
