import {
  classify,
  type ExpectationGroup,
  expected,
  groupInstances,
  type HostFacts,
  type Instance,
  rowVersions,
  type StatusRow,
  type SupervisorKind,
  visibleInStatus,
} from "@tamanu-lifecycle/core/internal"
import { proc, unit } from "@tamanu-lifecycle/core/test-support"
import { describe, expect, it } from "vitest"
import { palette, stripAnsi } from "./color.js"
import { caddyLines, renderStatusTable } from "./statusTable.js"

/** Rows exactly as `status` builds them: canonical expectations, grouped, classified, legacy hidden. */
const rowsFor = (
  facts: HostFacts,
  instances: ReadonlyArray<Instance>,
  enabled: ReadonlyMap<string, boolean> = new Map(),
): ReadonlyArray<StatusRow> =>
  groupInstances(facts.supervisor, expected(facts), instances)
    .map((group: ExpectationGroup) => ({ group, classification: classify(group, enabled, facts.supervisor) }))
    .filter((r) => visibleInStatus(r.group, r.classification.outcome, { all: false, namesGiven: false }))

const facility: HostFacts = {
  supervisor: "systemd",
  kind: "facility",
  fhirWorkerEnabled: null,
  patientPortal: null,
  portalTemplateInstalled: false,
}
const central: HostFacts = { ...facility, kind: "central", fhirWorkerEnabled: false, patientPortal: null }
const pm2Facility: HostFacts = { ...facility, supervisor: "pm2" }

const healthyFacility = [
  unit("tamanu-facility-tasks", null, true),
  unit("tamanu-frontend", "a", true),
  unit("tamanu-frontend", "b", true),
  unit("tamanu-facility-api", "1", true),
  unit("tamanu-facility-api", "2", true),
  unit("tamanu-facility-sync", null, true),
]

const render = (rows: ReadonlyArray<StatusRow>, supervisor: SupervisorKind = "systemd", color = false) =>
  renderStatusTable({ rows, supervisor }, { color })

/** The rows with every instance on a version: by display name, else `fallback`. */
const withVersions = (
  rows: ReadonlyArray<StatusRow>,
  expectedVersion: string | null,
  running: Readonly<Record<string, string | null>>,
  fallback: string | null,
  marker: { ageMillis: number; target: string | null } | null = null,
): ReadonlyArray<StatusRow> =>
  rows.map((r) => ({
    ...r,
    versions: rowVersions(
      expectedVersion,
      [...r.group.instances, ...r.group.leftovers].map((i) => {
        const name = i.suffix === null ? i.name : `${i.name}@${i.suffix}`
        return { instance: name, actual: name in running ? (running[name] ?? null) : fallback, problem: null }
      }),
      marker,
    ),
  }))

describe("renderStatusTable: the Version column (issue #22)", () => {
  it("all on the expected version: ok, and the column between Actual and Reason", () => {
    expect(render(withVersions(rowsFor(facility, healthyFacility), "2.65.0", {}, "2.65.0"))).toBe(
      [
        "Service                Expected  Actual       Version    Reason",
        "tamanu-facility-tasks  up        running      2.65.0 ok  always required",
        "tamanu-frontend        up ×2     2/2 running  2.65.0 ok  always required",
        "tamanu-facility-api    up ×2     2/2 running  2.65.0 ok  always required",
        "tamanu-facility-sync   up        running      2.65.0 ok  kind is facility",
        "",
        "all 4 services as expected",
        "",
      ].join("\n"),
    )
  })

  it("instances on different versions get a line each, and drift needs attention", () => {
    const rows = withVersions(
      rowsFor(facility, healthyFacility),
      "2.65.0",
      { "tamanu-facility-api@2": "2.64.0" },
      "2.65.0",
    )
    expect(render(rows)).toBe(
      [
        "Service                Expected  Actual       Version                  Reason",
        "tamanu-facility-tasks  up        running      2.65.0 ok                always required",
        "tamanu-frontend        up ×2     2/2 running  2.65.0 ok                always required",
        "tamanu-facility-api    up ×2     2/2 running  mixed (expected 2.65.0)  always required",
        "  ● tamanu-facility-api@1 running  2.65.0 ok",
        "  ● tamanu-facility-api@2 running  2.64.0 drift (expected 2.65.0)",
        "tamanu-facility-sync   up        running      2.65.0 ok                kind is facility",
        "",
        "1 of 4 services needs attention",
        "",
      ].join("\n"),
    )
  })

  it("during an upgrade the older instances are upgrading, and nothing needs attention", () => {
    const rows = withVersions(rowsFor(facility, healthyFacility), "2.65.0", {}, "2.64.0", {
      ageMillis: 0,
      target: null,
    })
    const text = render(rows)
    expect(text).toContain("tamanu-facility-api    up ×2     2/2 running  2.64.0 upgrading to 2.65.0")
    expect(text).toContain("all 4 services as expected")
  })

  it("notes about versions are lines of the result, not ⚠ warnings (those are for stderr's kind of message)", () => {
    const text = renderStatusTable(
      {
        rows: rowsFor(facility, healthyFacility),
        supervisor: "systemd",
        notes: ["expected version unknown: /etc/tamanu/env is missing"],
      },
      { color: false },
    )
    expect(text).toContain("\nversions: expected version unknown: /etc/tamanu/env is missing\n")
    expect(text).not.toMatch(/^⚠ /m)
  })

  it("a Caddy pins problem is its own red line beside the version notes, before the verdict", () => {
    const text = renderStatusTable(
      {
        rows: rowsFor(facility, healthyFacility),
        supervisor: "systemd",
        notes: ["upgrade to 2.65.0 in progress (marker 10 min old)"],
        caddyProblem: "tamanu's pins name an address no running instance has (tamanu-facility-api → 10.89.0.9:3000)",
      },
      { color: false },
    )
    const lines = text.split("\n")
    const note = lines.indexOf("versions: upgrade to 2.65.0 in progress (marker 10 min old)")
    const caddy = lines.findIndex((l) => l.startsWith("✗ Caddy: tamanu's pins name an address"))
    expect(note).toBeGreaterThan(0)
    expect(caddy).toBeGreaterThan(note)
    expect(lines.findIndex((l) => l.startsWith("all 4 services"))).toBeGreaterThan(caddy)
  })
})

describe("renderStatusTable", () => {
  it("shows a healthy facility as aligned columns and says every service is as expected", () => {
    expect(render(rowsFor(facility, healthyFacility))).toBe(
      [
        "Service                Expected  Actual       Reason",
        "tamanu-facility-tasks  up        running      always required",
        "tamanu-frontend        up ×2     2/2 running  always required",
        "tamanu-facility-api    up ×2     2/2 running  always required",
        "tamanu-facility-sync   up        running      kind is facility",
        "",
        "all 4 services as expected",
        "",
      ].join("\n"),
    )
  })

  it("lists each instance under a short service and counts the services that need attention", () => {
    const instances = healthyFacility
      .filter((i) => !(i.name === "tamanu-facility-api" && i.suffix === "2"))
      .concat(unit("tamanu-facility-api", "2", false))
      .filter((i) => i.name !== "tamanu-facility-sync")
    expect(render(rowsFor(facility, instances))).toBe(
      [
        "Service                Expected  Actual       Reason",
        "tamanu-facility-tasks  up        running      always required",
        "tamanu-frontend        up ×2     2/2 running  always required",
        "tamanu-facility-api    up ×2     1/2 running  always required",
        "  ● tamanu-facility-api@1 running",
        "  ● tamanu-facility-api@2 stopped",
        "tamanu-facility-sync   up        missing      kind is facility",
        "",
        "2 of 4 services need attention",
        "",
      ].join("\n"),
    )
  })

  it("shows a running legacy unit, forbidden workers, an unknown portal, and leftovers beside instances", () => {
    const instances = [
      unit("tamanu-central-tasks", null, true),
      unit("tamanu-frontend", "a", true),
      unit("tamanu-frontend", "b", true),
      unit("tamanu-frontend", null, true),
      unit("tamanu-facility", null, true),
      unit("tamanu-central-api", "1", true),
      unit("tamanu-central-api", "2", true),
      unit("tamanu-central-fhir-resolve", null, true),
      unit("tamanu-central-fhir-refresh", null, false),
    ]
    const enabled = new Map([["tamanu-central-fhir-refresh.service", true]])
    expect(render(rowsFor(central, instances, enabled))).toBe(
      [
        "Service                      Expected  Actual                                         Reason",
        "tamanu-central-tasks         up        running                                        always required",
        "tamanu-frontend              up ×2     2/2 running; leftover tamanu-frontend running  always required",
        "  ● tamanu-frontend@a running",
        "  ● tamanu-frontend@b running",
        "  ● tamanu-frontend running (leftover)",
        "tamanu-facility              absent    running (forbidden)                            legacy layout, replaced by tamanu-facility-api",
        "tamanu-central-api           up ×2     2/2 running                                    always required",
        "tamanu-central-fhir-resolve  absent    running (forbidden)                            config integrations.fhir.worker.enabled is false",
        "tamanu-central-fhir-refresh  absent    enabled, stopped                               config integrations.fhir.worker.enabled is false",
        "tamanu-patientportal         unknown   not loaded                                     database unreachable",
        "",
        "3 of 7 services need attention; 1 unknown (not checked)",
        "",
      ].join("\n"),
    )
  })

  it("names pm2 instances by pm_id and words a single service in the singular", () => {
    const rows = rowsFor(pm2Facility, [proc("tamanu-api", 0, true), proc("tamanu-api", 1, false)]).filter(
      (r) => r.group.expectation.name === "tamanu-api",
    )
    expect(render(rows, "pm2")).toBe(
      [
        "Service     Expected  Actual       Reason",
        "tamanu-api  up ×2     1/2 running  always required",
        "  ● tamanu-api#0 running",
        "  ● tamanu-api#1 stopped",
        "",
        "1 of 1 service needs attention",
        "",
      ].join("\n"),
    )
  })

  it("warns about names that matched nothing and other warnings, before the verdict", () => {
    const rows = rowsFor(facility, healthyFacility).filter((r) => r.group.expectation.name.endsWith("tasks"))
    const text = renderStatusTable(
      { rows, supervisor: "systemd", unmatched: ["fihr"], warnings: ["database unreachable"] },
      { color: false },
    )
    expect(text.split("\n").slice(-5)).toEqual([
      "",
      '⚠ no service matches "fihr"',
      "⚠ database unreachable",
      "1 service as expected",
      "",
    ])
  })

  it("accepts core's StatusResult shape directly", () => {
    const rows = rowsFor(facility, healthyFacility)
    expect(renderStatusTable({ rows, survey: { supervisor: "systemd", unmatched: [] } }, { color: false })).toBe(
      render(rows),
    )
  })

  describe("with colour", () => {
    const GREEN = "\u001b[32m"
    const RED = "\u001b[31m"
    const YELLOW = "\u001b[33m"
    const DIM = "\u001b[2m"
    const BOLD = "\u001b[1m"
    const instances = [
      unit("tamanu-central-tasks", null, true),
      unit("tamanu-central-api", "1", true),
      unit("tamanu-central-api", "2", false),
      unit("tamanu-central-fhir-resolve", null, true),
    ]
    const text = render(rowsFor(central, instances), "systemd", true)
    const lineOf = (start: string) => text.split("\n").find((l) => stripAnsi(l).startsWith(start)) ?? ""

    it("has the same layout as without colour once the escapes are removed", () => {
      expect(stripAnsi(text)).toBe(render(rowsFor(central, instances)))
    })

    it("colours the Actual cell by outcome: up/absent green, short/down/forbidden red, unknown yellow", () => {
      expect(lineOf("tamanu-central-tasks")).toContain(`${GREEN}running`)
      expect(lineOf("tamanu-central-api ")).toContain(`${RED}1/2 running`)
      expect(lineOf("tamanu-central-fhir-resolve")).toContain(`${RED}running (forbidden)`)
      expect(lineOf("tamanu-central-fhir-refresh")).toContain(`${GREEN}not loaded`)
      expect(lineOf("tamanu-patientportal")).toContain(`${YELLOW}not loaded`)
      expect(lineOf("tamanu-frontend")).toContain(`${RED}missing`)
    })

    it("dims the reason, bolds the header and colours each instance dot by whether it is as it should be", () => {
      expect(lineOf("tamanu-central-tasks")).toContain(`${DIM}always required`)
      expect(lineOf("Service")).toContain(`${BOLD}Service`)
      expect(lineOf("  ● tamanu-central-api@1")).toContain(`${GREEN}●`)
      expect(lineOf("  ● tamanu-central-api@2")).toContain(`${RED}●`)
      expect(text.trimEnd().split("\n").at(-1)).toContain(RED)
    })
  })
})

describe("caddyLines", () => {
  const route = {
    service: "tamanu-central-api",
    handler: "apps.http.servers.srv0.routes[1].handle[0]",
    source: "dynamic a api.central.tamanu.internal:3000",
    refresh_ms: 60_000,
    addresses: [
      { address: "10.99.1.3:3000", instance: "tamanu-central-api@1" },
      { address: "10.99.1.9:3000", instance: null },
    ],
  }
  const caddy = {
    admin: "http://localhost:2019",
    reachable: true,
    note: null,
    routes: [route],
    stale: true,
    instances_seen: true,
    restore_pending: null,
  }
  const plain = (lines: ReadonlyArray<string>) => lines.map(stripAnsi).join("\n")

  it("marks an address no running instance has", () => {
    expect(plain(caddyLines(caddy, palette(false)))).toContain(
      "10.99.1.3:3000 (tamanu-central-api@1), 10.99.1.9:3000 ✗ no running instance has it",
    )
  })

  it("leaves addresses unmarked when this run could not see where the instances are", () => {
    const unseen = {
      ...caddy,
      stale: false,
      instances_seen: false,
      routes: [{ ...route, addresses: route.addresses.map((a) => ({ ...a, instance: null })) }],
    }
    const text = plain(caddyLines(unseen, palette(false)))
    expect(text).toContain("→ 10.99.1.3:3000, 10.99.1.9:3000")
    expect(text).not.toContain("✗")
  })
})
