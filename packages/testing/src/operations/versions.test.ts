/**
 * Versions over the fake host (issue #22): one test per rule. What the
 * host expects comes from the context's env file (systemd) or root version
 * (pm2); what each instance runs from the fake targets' `targetsFor`, where a
 * start or restart brings up the `afterStart` version, as a unit that takes
 * its image tag from the env file does.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  type HostContext,
  Prober,
  type ProgressEvent,
  parseEnvFile,
  restart,
  rootfulContainersUnseen,
  status,
  upgradeWindowMillis,
} from "@tamanu-lifecycle/core/internal"
import { Effect } from "effect"
import type { FakeVersions } from "../probe/FakeProbeTargets.js"
import {
  facilityContext,
  facilityInstanceNames,
  facilityUnitFiles,
  facilityUnits,
  pm2FacilityProcesses,
  RecordedEvents,
  ref,
  restartOptions,
  settle,
  statusOptions,
  type WorldSpec,
  world,
} from "./hosts.js"

const withEnv = (text: string | null, rootVersion: string | null = "2.64.0"): HostContext => ({
  ...facilityContext,
  version: rootVersion,
  versions: {
    envFile: "/etc/tamanu/env",
    env: text === null ? null : parseEnvFile(text),
    envProblem: text === null ? "/etc/tamanu/env is missing" : undefined,
    rootVersion,
  },
})

const facilityInstances = facilityInstanceNames
const allOn = (version: string, overrides: Readonly<Record<string, string>> = {}): FakeVersions["running"] => ({
  ...Object.fromEntries(facilityInstances.map((i) => [i, version])),
  ...overrides,
})

const facility = (
  env: string | null,
  versions: FakeVersions,
  marker: { ageMillis: number; target: string | null } | null = null,
): WorldSpec => ({
  supervisor: { systemd: { units: facilityUnits(), unitFiles: facilityUnitFiles } },
  host: { context: withEnv(env), upgradeMarker: marker },
  versions,
})

const instanceVersions = (json: { expectations: ReadonlyArray<{ name: string; instances: ReadonlyArray<object> }> }) =>
  Object.fromEntries(
    json.expectations.flatMap((e) =>
      e.instances.map((i) => {
        const x = i as { name: string; instance: string | null; version_actual: string | null; version_status: string }
        return [x.instance === null ? x.name : `${x.name}@${x.instance}`, `${x.version_actual} ${x.version_status}`]
      }),
    ),
  )

describe("status: versions (issue #22)", () => {
  it.effect("every instance on the env file's version: match, exit 0", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(result.failed).toBe(false)
      expect(result.json.expected_version).toBe("2.65.0")
      expect(result.json.version_drift).toBe(false)
      expect(new Set(Object.values(instanceVersions(result.json)))).toEqual(new Set(["2.65.0 match"]))
      expect(result.versionNotes).toEqual([])
    }).pipe(Effect.provide(world(facility("TAMANU_VERSION=2.65.0", { running: allOn("v2.65.0") })))),
  )

  it.effect("the env file says 2.65.0 while 2.64.0 runs: drift, exit 1, a reason per instance", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(result.failed).toBe(true)
      expect(result.json.any_short).toBe(false)
      expect(result.json.version_drift).toBe(true)
      expect(instanceVersions(result.json)["tamanu-facility-api@1"]).toBe("2.64.0 mismatch")
      expect(result.failures).toContain("tamanu-facility-api@1 runs 2.64.0, expected 2.65.0")
      expect(result.failures).toHaveLength(facilityInstances.length)
    }).pipe(Effect.provide(world(facility("TAMANU_VERSION=2.65.0", { running: allOn("2.64.0") })))),
  )

  it.effect("a newer instance is drift too", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(result.failures).toEqual(["tamanu-facility-api@2 runs 2.66.0, expected 2.65.0"])
    }).pipe(
      Effect.provide(
        world(facility("TAMANU_VERSION=2.65.0", { running: allOn("2.65.0", { "tamanu-facility-api@2": "2.66.0" }) })),
      ),
    ),
  )

  it.effect("the frontend is judged against TAMANU_FRONTEND_VERSION", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(result.failed).toBe(false)
      const frontend = result.json.expectations.find((e) => e.name === "tamanu-frontend")
      expect(frontend?.expected_version).toBe("2.65.1")
      expect(result.json.expected_version).toBe("2.65.0")
    }).pipe(
      Effect.provide(
        world(
          facility("TAMANU_VERSION=2.65.0\nTAMANU_FRONTEND_VERSION=2.65.1", {
            running: allOn("2.65.0", { "tamanu-frontend@a": "2.65.1", "tamanu-frontend@b": "2.65.1" }),
          }),
        ),
      ),
    ),
  )

  it.effect("with the upgrade marker, older instances are upgrading and status exits 0; a newer one still fails", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(instanceVersions(result.json)["tamanu-facility-api@1"]).toBe("2.64.0 upgrading")
      expect(instanceVersions(result.json)["tamanu-facility-api@2"]).toBe("2.66.0 mismatch")
      expect(result.failures).toEqual(["tamanu-facility-api@2 runs 2.66.0, expected 2.65.0"])
      expect(result.json.upgrade).toEqual({ in_progress: true, age_seconds: 600, target: "2.65.0" })
      expect(result.versionNotes.some((n) => n.startsWith("upgrade to 2.65.0 in progress (marker 10 min old)"))).toBe(
        true,
      )
    }).pipe(
      Effect.provide(
        world(
          facility(
            "TAMANU_VERSION=2.65.0",
            { running: allOn("2.64.0", { "tamanu-facility-api@2": "2.66.0" }) },
            { ageMillis: 600_000, target: "2.65.0" },
          ),
        ),
      ),
    ),
  )

  it.effect("a marker 90 minutes old is ignored: drift again, and the note says so", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(result.failed).toBe(true)
      expect(result.json.upgrade?.in_progress).toBe(false)
      expect(result.versionNotes.some((n) => n.includes("90 min old (over 90): ignored"))).toBe(true)
    }).pipe(
      Effect.provide(
        world(
          facility(
            "TAMANU_VERSION=2.65.0",
            { running: allOn("2.64.0") },
            { ageMillis: upgradeWindowMillis, target: null },
          ),
        ),
      ),
    ),
  )

  it.effect("a missing env file: every version unknown, exit 0, and the note says which file", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(result.failed).toBe(false)
      expect(result.json.expected_version).toBeNull()
      expect(instanceVersions(result.json)["tamanu-facility-api@1"]).toBe("2.64.0 unknown")
      expect(result.versionNotes).toContain("expected version unknown: /etc/tamanu/env is missing")
    }).pipe(Effect.provide(world(facility(null, { running: allOn("2.64.0") })))),
  )

  it.effect("a running version nothing says (an unparsable tag): unknown, exit 0, the reason once for all", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(result.failed).toBe(false)
      expect(instanceVersions(result.json)["tamanu-facility-api@2"]).toBe("null unknown")
      expect(result.versionNotes).toEqual([
        "version unknown for tamanu-facility-api@2: no version scripted for tamanu-facility-api@2",
      ])
    }).pipe(
      Effect.provide(
        world(
          facility("TAMANU_VERSION=2.65.0", {
            running: Object.fromEntries(
              facilityInstances.filter((i) => i !== "tamanu-facility-api@2").map((i) => [i, "2.65.0"]),
            ),
          }),
        ),
      ),
    ),
  )

  it.effect(
    "images with no version label and tags that are not versions: unknown, exit 0, podman's reason once per image",
    () =>
      Effect.gen(function* () {
        const result = yield* status(statusOptions())
        expect(result.failed).toBe(false)
        expect(result.json.version_drift).toBe(false)
        const versions = instanceVersions(result.json)
        expect(versions["tamanu-facility-api@1"]).toBe("null unknown")
        expect(versions["tamanu-facility-api@2"]).toBe("null unknown")
        expect(versions["tamanu-frontend@a"]).toBe("null unknown")
        expect(versions["tamanu-facility-sync"]).toBe("2.65.0 match")
        expect(result.versionNotes).toEqual([
          'version unknown for tamanu-frontend@a: image localhost/tamanu-frontend:sha-1a2b3c has no org.opencontainers.image.version label and its tag "sha-1a2b3c" is not a version',
          'version unknown for tamanu-facility-api@1, tamanu-facility-api@2: image localhost/tamanu:latest has no org.opencontainers.image.version label and its tag "latest" is not a version',
        ])
      }).pipe(
        Effect.provide(
          world(
            facility("TAMANU_VERSION=2.65.0", {
              running: allOn("2.65.0"),
              images: {
                "tamanu-facility-api@1": "localhost/tamanu:latest",
                "tamanu-facility-api@2": "localhost/tamanu:latest",
                "tamanu-frontend@a": "localhost/tamanu-frontend:sha-1a2b3c",
              },
            }),
          ),
        ),
      ),
  )

  it.effect(
    "podman unreadable without root (the system manager's rootful containers): every version unknown, exit 0, the reason once",
    () =>
      Effect.gen(function* () {
        const result = yield* status(statusOptions())
        expect(result.failed).toBe(false)
        expect(result.json.expected_version).toBe("2.65.0")
        expect(result.json.version_drift).toBe(false)
        for (const [instance, version] of Object.entries(instanceVersions(result.json)))
          expect(version, instance).toBe("null unknown")
        expect(result.versionNotes).toHaveLength(1)
        expect(result.versionNotes[0]).toMatch(
          /^version unknown for tamanu-.*: the Tamanu units' podman containers are root's, and this run is not root \(sudo tamanu status shows them\)$/,
        )
      }).pipe(
        Effect.provide(
          world(facility("TAMANU_VERSION=2.65.0", { running: allOn("2.64.0"), unreadable: rootfulContainersUnseen })),
        ),
      ),
  )

  it.effect("a stopped instance has no running version: unknown, and only its short capacity fails", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(instanceVersions(result.json)["tamanu-facility-api@2"]).toBe("null unknown")
      expect(result.failures).toEqual(["tamanu-facility-api is not as expected"])
    }).pipe(
      Effect.provide(
        world({
          ...facility("TAMANU_VERSION=2.65.0", { running: allOn("2.65.0") }),
          supervisor: {
            systemd: {
              units: facilityUnits({ "tamanu-facility-api@2": { running: false, loaded: true } }),
              unitFiles: facilityUnitFiles,
            },
          },
        }),
      ),
    ),
  )

  it.effect("pm2: the install root's version against each process's release directory", () =>
    Effect.gen(function* () {
      const result = yield* status(statusOptions())
      expect(result.json.expected_version).toBe("2.65.0")
      expect(instanceVersions(result.json)).toMatchObject({ "tamanu-api": "2.64.0 mismatch" })
      expect(result.failures).toEqual(["tamanu-api#2 runs 2.64.0, expected 2.65.0"])
    }).pipe(
      Effect.provide(
        world({
          supervisor: { pm2: { processes: pm2FacilityProcesses() } },
          host: { context: { ...withEnv(null, "2.65.0") } },
          versions: {
            running: { "tamanu-api#1": "2.65.0", "tamanu-api#2": "2.64.0", "tamanu-tasks#0": "2.65.0" },
          },
        }),
      ),
    ),
  )
})

const facilityWithReadiness = (
  env: string,
  versions: FakeVersions,
  marker: { ageMillis: number; target: string | null } | null = null,
): WorldSpec => ({
  ...facility(env, versions, marker),
  readiness: [
    ref("tamanu-facility-api", "1"),
    ref("tamanu-facility-api", "2"),
    ref("tamanu-frontend", "a"),
    ref("tamanu-frontend", "b"),
  ].map((instance) => ({ instance, readyAfter: "2 seconds" })),
})

const moves = Effect.map(
  Effect.flatMap(RecordedEvents, (r) => r.events),
  (events: ReadonlyArray<ProgressEvent>) =>
    events.flatMap((e) =>
      e._tag === "InstanceRunning" && e.version !== undefined
        ? [`${e.instance} ${e.version.before} → ${e.version.after} ${e.version.status}`]
        : [],
    ),
)

describe("restart: versions (issue #22)", () => {
  it.effect("the upgrade: status drift → restart api frontend, each line with its move → status 0", () =>
    Effect.gen(function* () {
      expect((yield* status(statusOptions())).failed).toBe(true)
      const result = yield* settle(restart(restartOptions({ names: ["api", "frontend"] })))
      expect(result.ok).toBe(true)
      expect(yield* moves).toEqual([
        "tamanu-frontend@a 2.64.0 → 2.65.0 match",
        "tamanu-frontend@b 2.64.0 → 2.65.0 match",
        "tamanu-facility-api@1 2.64.0 → 2.65.0 match",
        "tamanu-facility-api@2 2.64.0 → 2.65.0 match",
      ])
      expect(result.execution?.versionMismatches).toEqual([])
      // Only api and frontend were restarted: tasks and sync still run 2.64.0 and are still drift.
      const after = yield* status(statusOptions({ names: ["api", "frontend"] }))
      expect(after.failed).toBe(false)
      expect(after.json.version_drift).toBe(false)
    }).pipe(
      Effect.provide(
        world(facilityWithReadiness("TAMANU_VERSION=2.65.0", { running: allOn("2.64.0"), afterStart: "2.65.0" })),
      ),
    ),
  )

  it.effect(
    "an instance that comes back on another version: a warning, the roll goes on, the command fails at the end",
    () =>
      Effect.gen(function* () {
        const result = yield* settle(restart(restartOptions({ names: ["api"] })))
        expect(result.ok).toBe(false)
        expect(result.execution?.restarted).toEqual(["tamanu-facility-api@1", "tamanu-facility-api@2"])
        expect(result.execution?.versionMismatches).toEqual(["tamanu-facility-api@1"])
        expect(result.warnings).toContain(
          "tamanu-facility-api@1 came back on 2.64.0, expected 2.65.0; the roll goes on (the env file or the image tag may be wrong)",
        )
        expect(yield* moves).toEqual([
          "tamanu-facility-api@1 2.64.0 → 2.64.0 mismatch",
          "tamanu-facility-api@2 2.64.0 → 2.65.0 match",
        ])
        const events = yield* Effect.flatMap(RecordedEvents, (r) => r.events)
        expect(events.filter((e) => e._tag === "Done")).toMatchObject([{ ok: false }])
      }).pipe(
        Effect.provide(
          world(
            facilityWithReadiness("TAMANU_VERSION=2.65.0", {
              running: allOn("2.64.0"),
              afterStart: { "tamanu-facility-api@1": "2.64.0", "tamanu-facility-api@2": "2.65.0" },
            }),
          ),
        ),
      ),
  )

  it.effect("a version nothing says after the restart is unknown: no warning, no failure", () =>
    Effect.gen(function* () {
      const result = yield* settle(restart(restartOptions({ names: ["api"] })))
      expect(result.ok).toBe(true)
      expect(yield* moves).toEqual([
        "tamanu-facility-api@1 2.64.0 → null unknown",
        "tamanu-facility-api@2 2.64.0 → null unknown",
      ])
    }).pipe(
      Effect.provide(
        world(facilityWithReadiness("TAMANU_VERSION=2.65.0", { running: allOn("2.64.0"), afterStart: {} })),
      ),
    ),
  )

  it.effect("--dry-run shows which instance runs which version, and changes nothing", () =>
    Effect.gen(function* () {
      const result = yield* restart(restartOptions({ names: ["api"], dryRun: true }))
      expect(result.execution).toBeNull()
      const events = yield* Effect.flatMap(RecordedEvents, (r) => r.events)
      const text = events.flatMap((e) => (e._tag === "PlanComputed" ? [e.text] : [])).join("\n")
      expect(text).toContain(
        [
          "versions now:",
          "  tamanu-facility-api@1: 2.64.0 → 2.65.0",
          "  tamanu-facility-api@2: 2.65.0 (already expected)",
        ].join("\n"),
      )
    }).pipe(
      Effect.provide(
        world(
          facilityWithReadiness("TAMANU_VERSION=2.65.0", {
            running: allOn("2.64.0", { "tamanu-facility-api@2": "2.65.0" }),
          }),
        ),
      ),
    ),
  )

  it.effect("what the probe's X-Version says wins over the image: the ready line carries it, and it is judged", () =>
    Effect.gen(function* () {
      const result = yield* settle(
        restart(restartOptions({ names: ["api"] })).pipe(
          // Instance @1 answers X-Version 2.66.0 although its image says 2.65.0; @2 sends no header.
          Effect.updateService(Prober, (p) => ({
            ...p,
            answer: (url: string) =>
              Effect.map(p.probeOnce(url), (status) => ({
                status,
                version: url.includes("tamanu-facility-api-1") ? "2.66.0" : null,
              })),
          })),
        ),
      )
      expect(result.ok).toBe(false)
      expect(result.execution?.versions).toEqual([
        {
          instance: "tamanu-facility-api@1",
          before: "2.64.0",
          after: "2.66.0",
          expected: "2.65.0",
          status: "mismatch",
        },
        { instance: "tamanu-facility-api@2", before: "2.64.0", after: "2.65.0", expected: "2.65.0", status: "match" },
      ])
      const events = yield* Effect.flatMap(RecordedEvents, (r) => r.events)
      expect(events.flatMap((e) => (e._tag === "ProbeReady" ? [`${e.instance} ${e.version ?? "none"}`] : []))).toEqual([
        "tamanu-facility-api@1 2.66.0",
        "tamanu-facility-api@2 none",
      ])
    }).pipe(
      Effect.provide(
        world(facilityWithReadiness("TAMANU_VERSION=2.65.0", { running: allOn("2.64.0"), afterStart: "2.65.0" })),
      ),
    ),
  )
})
