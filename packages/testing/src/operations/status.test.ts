/**
 * `status` end to end over the fake supervisors (spec §4): every outcome,
 * legacy rows, the `--json` document, the failure flag, NAMES.
 */

import { describe, expect, it } from "@effect/vitest"
import {
  type Outcome,
  ProbeTargets,
  restart,
  StatusJson,
  status,
  UnmatchedNames,
} from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Layer, Option, Schema } from "effect"
import { FakeSupervisorControl, FakeTamanuHostControl } from "../index.js"
import {
  centralContext,
  centralUnitFiles,
  centralUnits,
  facilityContext,
  facilityUnitFiles,
  facilityUnits,
  isMutating,
  pm2FacilityProcesses,
  readiness,
  ref,
  restartOptions,
  settle,
  statusOptions,
  type WorldSpec,
  world,
} from "./hosts.js"

const outcomes = (options = statusOptions()) =>
  Effect.map(status(options), (r) =>
    Object.fromEntries(r.rows.map((row) => [row.group.expectation.name, row.classification.outcome])),
  )

const facility = (units = facilityUnits()): WorldSpec => ({
  supervisor: { systemd: { units, unitFiles: facilityUnitFiles } },
  host: { context: facilityContext },
})

describe("status on systemd", () => {
  it.effect("a facility running everything is up everywhere, hides the compliant legacy unit and does not fail", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(Object.fromEntries(result.rows.map((r) => [r.group.expectation.name, r.classification.outcome]))).toEqual({
        "tamanu-facility-tasks": "up",
        "tamanu-frontend": "up",
        "tamanu-facility-api": "up",
        "tamanu-facility-sync": "up",
      })
      expect(result.failed).toBe(false)
    }).pipe(Effect.provide(world(facility()))),
  )

  it.effect("one of two API instances stopped is short, and short fails", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      const api = result.rows.find((r) => r.group.expectation.name === "tamanu-facility-api")
      expect(api?.classification).toMatchObject({ outcome: "short", running: 1, minCount: 2 })
      expect(result.failed).toBe(true)
    }).pipe(
      Effect.provide(world(facility(facilityUnits({ "tamanu-facility-api@2": { running: false, loaded: true } })))),
    ),
  )

  it.effect("an Up service with nothing loaded is down and missing, and fails", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      const sync = result.rows.find((r) => r.group.expectation.name === "tamanu-facility-sync")
      expect(sync?.classification).toMatchObject({ outcome: "down", running: 0, missing: true })
      expect(result.failed).toBe(true)
    }).pipe(
      Effect.provide(
        world(facility(facilityUnits({ "tamanu-facility-sync": { running: false, enabled: false, loaded: false } }))),
      ),
    ),
  )

  it.effect("an Up service whose units are loaded but stopped is down, not missing", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      const sync = result.rows.find((r) => r.group.expectation.name === "tamanu-facility-sync")
      expect(sync?.classification).toMatchObject({ outcome: "down", missing: false })
      expect(result.failed).toBe(true)
    }).pipe(Effect.provide(world(facility(facilityUnits({ "tamanu-facility-sync": { running: false } }))))),
  )

  it.effect("Down services with nothing present, or stopped and disabled, are absent and do not fail", () =>
    Effect.gen(function* () {
      expect(yield* outcomes(statusOptions({ names: ["fhir"] }))).toEqual({
        "tamanu-central-fhir-resolve": "absent",
        "tamanu-central-fhir-refresh": "absent",
      })
      expect((yield* status(statusOptions())).failed).toBe(false)
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            systemd: {
              units: [
                ...centralUnits(),
                // Loaded (e.g. failed state) but stopped and disabled: absent.
                { name: "tamanu-central-fhir-refresh", running: false, enabled: false, loaded: true },
              ],
              unitFiles: centralUnitFiles,
            },
          },
          host: { context: centralContext(false) },
        }),
      ),
    ),
  )

  it.effect("a running Down service is forbidden, and forbidden fails", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions({ names: ["fhir-resolve"] }))
      expect(result.rows[0]?.classification).toMatchObject({ outcome: "forbidden", running: 1 })
      expect(result.failed).toBe(true)
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            systemd: {
              units: [...centralUnits(), { name: "tamanu-central-fhir-resolve", running: true, enabled: false }],
            },
          },
          host: { context: centralContext(false) },
        }),
      ),
    ),
  )

  it.effect("a stopped Down service that is still enabled is forbidden, loaded or not", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions({ names: ["fhir"] }))
      expect(result.rows.map((r) => [r.classification.outcome, r.classification.enabledUnits])).toEqual([
        ["forbidden", ["tamanu-central-fhir-resolve.service"]],
        ["forbidden", ["tamanu-central-fhir-refresh.service"]],
      ])
      expect(result.failed).toBe(true)
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            systemd: {
              units: [
                ...centralUnits(),
                { name: "tamanu-central-fhir-resolve", running: false, enabled: true, loaded: true },
                // Enabled but not loaded: only the enabled query can see it.
                { name: "tamanu-central-fhir-refresh", running: false, enabled: true, loaded: false },
              ],
            },
          },
          host: { context: centralContext(false) },
        }),
      ),
    ),
  )

  it.effect("an unreachable database makes the patient portal unknown, which does not fail", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      const portal = result.rows.find((r) => r.group.expectation.name === "tamanu-patientportal")
      expect(portal?.classification.outcome).toBe("unknown")
      expect(result.failed).toBe(false)
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            systemd: { units: [...centralUnits(), { name: "tamanu-patientportal", running: true, enabled: true }] },
          },
          host: { context: centralContext(false), dbReachableAfter: Duration.infinity },
        }),
      ),
    ),
  )

  it.effect("without a config the FHIR workers are unknown, whatever runs", () =>
    Effect.gen(function* () {
      expect(yield* outcomes(statusOptions({ names: ["fhir"] }))).toEqual({
        "tamanu-central-fhir-resolve": "unknown",
        "tamanu-central-fhir-refresh": "unknown",
      })
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            systemd: { units: [...centralUnits(), { name: "tamanu-central-fhir-resolve", running: true }] },
          },
          host: { context: centralContext(null) },
        }),
      ),
    ),
  )

  it.effect("the compliant legacy singleton shows with --all and when NAMES are given", () =>
    Effect.gen(function* () {
      const names = (r: { rows: ReadonlyArray<{ group: { expectation: { name: string } } }> }) =>
        r.rows.map((row) => row.group.expectation.name)
      expect(names(yield* status(statusOptions()))).not.toContain("tamanu-facility")
      expect(names(yield* status(statusOptions({ all: true })))).toContain("tamanu-facility")
      expect(names(yield* status(statusOptions({ names: ["tamanu-facility"] })))).toContain("tamanu-facility")
    }).pipe(Effect.provide(world(facility()))),
  )

  it.effect("a running legacy singleton is shown without --all, as forbidden", () =>
    Effect.gen(function* () {
      const result = yield* outcomes()
      expect(result["tamanu-facility"]).toBe("forbidden")
    }).pipe(
      Effect.provide(world(facility([...facilityUnits(), { name: "tamanu-facility", running: true, enabled: true }]))),
    ),
  )

  it.effect("--json: one document with the old tool's snake_case fields, per instance", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions({ names: ["api"] }))
      // It is exactly the schema's shape, and survives encoding as JSON.
      const encoded = JSON.parse(JSON.stringify(Schema.encodeSync(StatusJson)(result.json)))
      expect(Schema.decodeUnknownSync(StatusJson)(encoded)).toEqual(result.json)
      expect(encoded).toEqual({
        any_short: true,
        // No env file in this world: the expected version is unknown, and unknown never fails.
        expected_version: null,
        version_drift: false,
        upgrade: null,
        expectations: [
          {
            name: "tamanu-facility-api",
            expected_state: "up",
            running: 1,
            min_count: 2,
            status: "short",
            reason: "always required",
            legacy: false,
            behind_caddy: true,
            criticality: "critical",
            expected_version: null,
            instances: [
              {
                name: "tamanu-facility-api",
                instance: "1",
                pm_id: null,
                running: true,
                version_actual: null,
                version_status: "unknown",
              },
              {
                name: "tamanu-facility-api",
                instance: "2",
                pm_id: null,
                running: false,
                version_actual: null,
                version_status: "unknown",
              },
            ],
          },
        ],
        // Read-only: where Caddy routes the API (its alias resolves to the one running instance).
        caddy: {
          admin: "http://caddy.test:2019",
          reachable: true,
          note: "dynamic a: what the name resolves to now; Caddy keeps an answer for up to 1m",
          routes: [
            {
              service: "tamanu-facility-api",
              handler: "apps.http.servers.srv0.routes[0].handle[0].routes[0].handle[0]",
              source: "dynamic a api.facility.tamanu.internal:3000",
              refresh_ms: 60000,
              addresses: [{ address: "tamanu-facility-api-1.g1.test:3000", instance: "tamanu-facility-api@1" }],
            },
          ],
          stale: false,
          instances_seen: true,
          restore_pending: null,
        },
      })
    }).pipe(
      Effect.provide(
        world({
          ...facility(facilityUnits({ "tamanu-facility-api@2": { running: false, loaded: true } })),
          readiness: readiness([ref("tamanu-facility-api", "1"), ref("tamanu-facility-api", "2")]),
        }),
      ),
    ),
  )

  it.effect(
    "a run that cannot see where instances are (not root, root's containers) shows Caddy's routes unmatched, not stale",
    () =>
      Effect.gen(function* () {
        const result = yield* status(statusOptions({ names: ["api"] }))
        expect(result.caddy?.stale).toBe(false)
        expect(result.caddy?.instances_seen).toBe(false)
        expect(result.caddy?.note).toContain("addresses not matched to instances: root's containers")
        expect(result.caddy?.routes[0]?.addresses).toEqual([
          { address: "tamanu-facility-api-1.g1.test:3000", instance: null },
          { address: "tamanu-facility-api-2.g1.test:3000", instance: null },
        ])
      }).pipe(
        Effect.provide(
          Layer.succeed(ProbeTargets, {
            urlFor: () => Effect.succeed(Option.none()),
            unavailable: "root's containers",
          }),
        ),
        Effect.provide(
          world({
            ...facility(facilityUnits()),
            readiness: readiness([ref("tamanu-facility-api", "1"), ref("tamanu-facility-api", "2")]),
          }),
        ),
      ),
  )

  it.effect(
    "Caddy pinned by an unfinished roll to an instance that has since died is flagged (stale), with the pending restore",
    () =>
      Effect.gen(function* () {
        // A roll that stops at @1 (never ready) leaves Caddy routing the API to @2 only...
        const failed = yield* Effect.either(
          settle(restart(restartOptions({ names: ["api"], probeTimeout: Duration.seconds(5) }))),
        )
        expect(failed._tag).toBe("Left")
        // ...and then @2 crashes.
        yield* (yield* FakeSupervisorControl).crash(ref("tamanu-facility-api", "2"))
        const result = yield* status(statusOptions({ names: ["api"] }))
        expect(result.caddy?.stale).toBe(true)
        expect(result.caddy?.routes[0]?.source).toBe("static")
        expect(result.caddy?.routes[0]?.addresses).toEqual([
          { address: "tamanu-facility-api-2.g1.test:3000", instance: null },
        ])
        expect(result.caddy?.restore_pending).not.toBeNull()
        // Pins past due or to a dead address fail status (issue #25): one of the reasons it exits 1 (model/statusExit.ts).
        expect(result.caddyProblem).toMatch(/^tamanu's pins /)
        expect(result.failures).toContain(`Caddy: ${result.caddyProblem}`)
        expect(result.failed).toBe(true)
      }).pipe(
        Effect.provide(
          world({
            ...facility(facilityUnits()),
            readiness: readiness([ref("tamanu-facility-api", "1"), ref("tamanu-facility-api", "2")], 0, {
              "tamanu-facility-api@1": { readyAfter: Duration.infinity },
            }),
          }),
        ),
      ),
  )

  it.effect("a NAME that matches nothing fails with UnmatchedNames listing every available name", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(status(statusOptions({ names: ["api", "tamanu-facilty-sync"] })))
      expect(error).toBeInstanceOf(UnmatchedNames)
      expect(error).toMatchObject({
        patterns: ["tamanu-facilty-sync"],
        available: [
          "tamanu-facility-tasks",
          "tamanu-frontend",
          "tamanu-facility",
          "tamanu-facility-api",
          "tamanu-facility-sync",
        ],
      })
    }).pipe(Effect.provide(world(facility()))),
  )

  it.effect("the database is not queried when the patient portal is not among the chosen names", () =>
    Effect.gen(function* () {
      const db = yield* FakeTamanuHostControl
      const supervisor = yield* FakeSupervisorControl
      yield* status(statusOptions({ names: ["api"] }))
      expect(yield* db.dbAttempts).toEqual([])
      expect(yield* supervisor.calls("unitFileExists")).toEqual([])
      // Chosen: asked exactly once (status tries the database once, §5.7).
      yield* status(statusOptions({ names: ["portal"] }))
      expect((yield* db.dbAttempts).length).toBe(1)
    }).pipe(
      Effect.provide(
        world({
          supervisor: { systemd: { units: centralUnits() } },
          host: { context: centralContext(false), patientPortal: true },
        }),
      ),
    ),
  )

  it.effect("status is read only: no mutating supervisor call, whatever the outcomes", () =>
    Effect.gen(function* () {
      const control = yield* FakeSupervisorControl
      const result = yield* status(statusOptions({ all: true }))
      expect(result.failed).toBe(true)
      expect((yield* control.journal).filter(isMutating)).toEqual([])
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            systemd: {
              units: [
                ...centralUnits({ "tamanu-central-api@2": { running: false } }),
                { name: "tamanu-central-fhir-resolve", running: true },
              ],
            },
          },
          host: { context: centralContext(false) },
        }),
      ),
    ),
  )
})

describe("status on pm2", () => {
  const pm2 = (processes = pm2FacilityProcesses()): WorldSpec => ({
    supervisor: { pm2: { processes } },
    host: { context: facilityContext },
  })

  it.effect("a facility running every process is up everywhere and does not fail", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(Object.fromEntries(result.rows.map((r) => [r.group.expectation.name, r.classification.outcome]))).toEqual({
        "tamanu-tasks": "up",
        "tamanu-api": "up",
        "tamanu-sync": "up",
      })
      expect(result.failed).toBe(false)
      expect(result.json.expectations[1]?.instances).toEqual([
        {
          name: "tamanu-api",
          instance: null,
          pm_id: 1,
          running: true,
          version_actual: null,
          version_status: "unknown",
        },
        {
          name: "tamanu-api",
          instance: null,
          pm_id: 2,
          running: true,
          version_actual: null,
          version_status: "unknown",
        },
      ])
    }).pipe(Effect.provide(world(pm2()))),
  )

  it.effect("one API process stopped is short; a process never registered is down and missing", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      const byName = Object.fromEntries(result.rows.map((r) => [r.group.expectation.name, r.classification]))
      expect(byName["tamanu-api"]?.outcome satisfies Outcome | undefined).toBe("short")
      expect(byName["tamanu-sync"]).toMatchObject({ outcome: "down", missing: true })
      expect(result.failed).toBe(true)
      expect(result.json.any_short).toBe(true)
    }).pipe(
      Effect.provide(
        world(
          pm2(pm2FacilityProcesses({ "tamanu-api#2": { running: false } }).filter((p) => p.name !== "tamanu-sync")),
        ),
      ),
    ),
  )

  it.effect("on pm2 a stopped process of a Down service is absent, a running one forbidden", () =>
    Effect.gen(function* () {
      expect(yield* outcomes(statusOptions({ names: ["fhir"] }))).toEqual({
        "tamanu-fhir-resolve": "absent",
        "tamanu-fhir-refresh": "forbidden",
      })
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            pm2: {
              processes: [
                { name: "tamanu-tasks", pmId: 0, running: true },
                { name: "tamanu-fhir-resolve", pmId: 5, running: false },
                { name: "tamanu-fhir-refresh", pmId: 6, running: true },
              ],
            },
          },
          host: { context: centralContext(false) },
        }),
      ),
    ),
  )
})
