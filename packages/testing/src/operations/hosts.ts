/**
 * Scripted hosts for the operations' end-to-end tests: a Tamanu install, a
 * fake systemd or pm2 holding its units/processes, readiness tied to the
 * fake supervisor, a recording Caddy and a recording Progress, all in one
 * layer. Time is Effect's Clock only, so `settle` runs an operation to its
 * end under TestClock in milliseconds of real time.
 */
import {
  defaults,
  type HostContext,
  type InstanceRef,
  PrivilegesFixed,
  Progress,
  type ProgressEvent,
  type RestartOptions,
  type StartOptions,
  type StatusOptions,
  type StopOptions,
} from "@tamanu-lifecycle/core/internal"
import { Context, type Duration, Effect, Fiber, Layer, Option, Ref, TestClock } from "effect"
import type {
  FakePm2Config,
  FakeProcessSpec,
  FakeReverseProxyConfig,
  FakeSystemdConfig,
  FakeTamanuHostConfig,
  FakeUnitSpec,
  JournalEntry,
  ReadinessSpec,
} from "../index.js"
import {
  type FakeHostServices,
  type FakeVersions,
  fakeHost,
  FakeSupervisorControl as SupervisorControl,
} from "../index.js"

export const ref = (name: string, suffix: string | null = null, pmId: number | null = null): InstanceRef => ({
  name,
  suffix,
  pmId,
})

// ---------------------------------------------------------------------------
// Installs

export const facilityContext: HostContext = {
  root: "/opt/tamanu",
  version: "2.30.0",
  config: { serverFacilityIds: ["facility-1"] },
  kind: "facility",
  fhirWorkerEnabled: null,
}

/** A central server; `fhir` is the config's `integrations.fhir.worker.enabled` (null: no config). */
export const centralContext = (fhir: boolean | null): HostContext => ({
  root: "/opt/tamanu",
  version: "2.30.0",
  config: fhir === null ? null : { integrations: { fhir: { worker: { enabled: fhir } } } },
  kind: "central",
  fhirWorkerEnabled: fhir,
})

// ---------------------------------------------------------------------------
// systemd units

/** A facility's canonical units (§1.1), running and enabled unless overridden (by display name). */
export const facilityUnits = (overrides: Readonly<Record<string, Partial<FakeUnitSpec>>> = {}): Array<FakeUnitSpec> =>
  withOverrides(
    [
      { name: "tamanu-facility-tasks" },
      { name: "tamanu-frontend", suffix: "a" },
      { name: "tamanu-frontend", suffix: "b" },
      { name: "tamanu-facility-api", suffix: "1" },
      { name: "tamanu-facility-api", suffix: "2" },
      { name: "tamanu-facility-sync" },
    ],
    overrides,
  )

/** Unit files a facility has installed, so units that are not loaded can still be started. */
export const facilityUnitFiles = [
  "tamanu-facility-tasks.service",
  "tamanu-frontend@.service",
  "tamanu-facility-api@.service",
  "tamanu-facility-sync.service",
  "tamanu-facility.service",
]

/** A central server's canonical units without FHIR workers and portal; add those per test. */
export const centralUnits = (overrides: Readonly<Record<string, Partial<FakeUnitSpec>>> = {}): Array<FakeUnitSpec> =>
  withOverrides(
    [
      { name: "tamanu-central-tasks" },
      { name: "tamanu-frontend", suffix: "a" },
      { name: "tamanu-frontend", suffix: "b" },
      { name: "tamanu-central-api", suffix: "1" },
      { name: "tamanu-central-api", suffix: "2" },
    ],
    overrides,
  )

export const centralUnitFiles = [
  "tamanu-central-tasks.service",
  "tamanu-frontend@.service",
  "tamanu-central-api@.service",
  "tamanu-central-fhir-resolve.service",
  "tamanu-central-fhir-refresh.service",
]

const display = (u: FakeUnitSpec): string => (u.suffix == null ? u.name : `${u.name}@${u.suffix}`)

const withOverrides = (
  units: ReadonlyArray<FakeUnitSpec>,
  overrides: Readonly<Record<string, Partial<FakeUnitSpec>>>,
): Array<FakeUnitSpec> =>
  units.map((u) => ({ running: true, enabled: true, ...u, ...overrides[display(u)] }) as FakeUnitSpec)

/** The display names of a facility's canonical instances, in unit order (`tamanu-frontend@a`, ...). */
export const facilityInstanceNames: ReadonlyArray<string> = facilityUnits().map(display)

// ---------------------------------------------------------------------------
// pm2 processes

/** A pm2 facility's processes (§1.1): tasks #0, api #1 #2, sync #3, running unless overridden (by `name#id`). */
export const pm2FacilityProcesses = (
  overrides: Readonly<Record<string, Partial<FakeProcessSpec>>> = {},
): Array<FakeProcessSpec> =>
  [
    { name: "tamanu-tasks", pmId: 0 },
    { name: "tamanu-api", pmId: 1, port: 4001 },
    { name: "tamanu-api", pmId: 2, port: 4002 },
    { name: "tamanu-sync", pmId: 3 },
  ].map((p) => ({ running: true, ...p, ...overrides[`${p.name}#${p.pmId}`] }) as FakeProcessSpec)

// ---------------------------------------------------------------------------
// Behind-Caddy instances of the canonical hosts, for readiness

export const facilityBehindCaddy: ReadonlyArray<InstanceRef> = [
  ref("tamanu-frontend", "a"),
  ref("tamanu-frontend", "b"),
  ref("tamanu-facility-api", "1"),
  ref("tamanu-facility-api", "2"),
]
export const centralBehindCaddy: ReadonlyArray<InstanceRef> = [
  ref("tamanu-frontend", "a"),
  ref("tamanu-frontend", "b"),
  ref("tamanu-central-api", "1"),
  ref("tamanu-central-api", "2"),
]
export const pm2BehindCaddy: ReadonlyArray<InstanceRef> = [ref("tamanu-api", null, 1), ref("tamanu-api", null, 2)]

/** Every instance answers `readyAfter` after it comes up, except those overridden by display name. */
export const readiness = (
  refs: ReadonlyArray<InstanceRef>,
  readyAfter: Duration.DurationInput = 0,
  overrides: Readonly<Record<string, Partial<ReadinessSpec>>> = {},
): Array<ReadinessSpec> => refs.map((instance) => ({ instance, readyAfter, ...overrides[displayName(instance)] }))

const displayName = (r: InstanceRef): string =>
  r.suffix !== null ? `${r.name}@${r.suffix}` : r.pmId !== null ? `${r.name}#${r.pmId}` : r.name

// ---------------------------------------------------------------------------
// Progress recorder

export interface RecordedEventsShape {
  readonly events: Effect.Effect<ReadonlyArray<ProgressEvent>>
}
export class RecordedEvents extends Context.Tag("@tamanu-lifecycle/testing/operations/RecordedEvents")<
  RecordedEvents,
  RecordedEventsShape
>() {}

const recordingProgress: Layer.Layer<Progress | RecordedEvents> = Layer.effectContext(
  Effect.gen(function* () {
    const events = yield* Ref.make<ReadonlyArray<ProgressEvent>>([])
    return Context.make(Progress, { emit: (e) => Ref.update(events, (all) => [...all, e]) }).pipe(
      Context.add(RecordedEvents, { events: Ref.get(events) }),
    )
  }),
)

/** The messages of the Warning events so far. */
export const warnings = Effect.map(
  Effect.flatMap(RecordedEvents, (r) => r.events),
  (events) => events.flatMap((e) => (e._tag === "Warning" ? [e.message] : [])),
)

// ---------------------------------------------------------------------------
// The whole host

export interface WorldSpec {
  /** `{ systemd: … }` or `{ pm2: … }`. */
  readonly supervisor: { readonly systemd: FakeSystemdConfig } | { readonly pm2: FakePm2Config }
  readonly host?: FakeTamanuHostConfig
  readonly readiness?: ReadonlyArray<ReadinessSpec>
  /** Instance addresses: default per-start on systemd (podman), fixed on pm2. */
  readonly addresses?: "fixed" | "per-start"
  /** What each instance runs (issue #22). */
  readonly versions?: FakeVersions
  /** The fake Caddy (default: what `fakeHost` puts in front of this supervisor). */
  readonly caddy?: FakeReverseProxyConfig
  /** Default true: we are root. */
  readonly root?: boolean
  /** Default: systemd needs root, pm2 does not (§10). */
  readonly rootRequired?: boolean
}

export type World = FakeHostServices | Progress | RecordedEvents

export const world = (spec: WorldSpec): Layer.Layer<World> =>
  Layer.merge(
    fakeHost({
      supervisor: spec.supervisor,
      ...(spec.host === undefined ? {} : { host: spec.host }),
      ...(spec.readiness === undefined ? {} : { readiness: spec.readiness }),
      ...(spec.addresses === undefined ? {} : { addresses: spec.addresses }),
      ...(spec.versions === undefined ? {} : { versions: spec.versions }),
      ...(spec.caddy === undefined ? {} : { caddy: spec.caddy }),
      privileges: PrivilegesFixed(spec.root ?? true, spec.rootRequired ?? "systemd" in spec.supervisor),
    }),
    recordingProgress,
  )

// ---------------------------------------------------------------------------
// Options with the CLI's defaults; no lock unless a test asks for one

const mutateDefaults = {
  names: [],
  ignoreUnmatched: false,
  dryRun: false,
  waitLimit: defaults.waitLimit,
  lockFile: null,
} as const

export const statusOptions = (o: Partial<StatusOptions> = {}): StatusOptions => ({ names: [], all: false, ...o })

export const startOptions = (o: Partial<StartOptions> = {}): StartOptions => ({
  ...mutateDefaults,
  upOnly: false,
  probeHttp: true,
  probeTimeout: defaults.startProbeTimeout,
  dbWait: defaults.dbWait,
  logs: false,
  ...o,
})

export const stopOptions = (o: Partial<StopOptions> = {}): StopOptions => ({ ...mutateDefaults, ...o })

export const restartOptions = (o: Partial<RestartOptions> = {}): RestartOptions => ({
  ...mutateDefaults,
  probeHttp: true,
  probeTimeout: defaults.restartProbeTimeout,
  cooldown: defaults.cooldown,
  checkUrl: null,
  ...o,
})

// ---------------------------------------------------------------------------
// Running under TestClock

/**
 * Run an operation to its end: fork it, move the TestClock far enough for
 * every wait, probe and cooldown it may make, and join it (failures surface
 * as the operation's own errors).
 */
export const settle = <A, E, R>(
  operation: Effect.Effect<A, E, R>,
  horizon: Duration.DurationInput = "2 hours",
): Effect.Effect<A, E, R> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(operation)
    yield* TestClock.adjust(horizon)
    return yield* Fiber.join(fiber)
  })

const readOnlyMethods: ReadonlySet<JournalEntry["method"]> = new Set([
  "list",
  "enabled",
  "unitFileExists",
  "runStates",
  "logMark",
  "logLines",
  "logs",
])

/** The supervisor calls that change something (not list/enabled/unitFileExists/runStates/the log reads). */
export const isMutating = (e: JournalEntry): boolean => !readOnlyMethods.has(e.method)

export const mutatingCalls = Effect.map(
  Effect.flatMap(SupervisorControl, (c) => c.journal),
  (journal) => journal.filter(isMutating),
)

/** Display names of the instances the fake reports running now. */
export const runningNow = Effect.map(
  Effect.flatMap(SupervisorControl, (c) => c.instances),
  (instances) => instances.filter((i) => i.running).map(displayName),
)

/** The view of one instance now (by display name). */
export const instanceNow = (name: string) =>
  Effect.map(
    Effect.flatMap(SupervisorControl, (c) => c.instances),
    (instances) => Option.fromNullable(instances.find((i) => displayName(i) === name)),
  )

export { displayName }
