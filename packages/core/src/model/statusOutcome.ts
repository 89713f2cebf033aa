/**
 * How `status` judges one expectation against what the supervisor reports
 * (spec §4), the `--json` document, and the plain text of the table cells.
 * All pure: the CLI only adds colour and layout.
 */
import { Schema } from "effect"
import { CaddyStatusJson } from "./caddyStatusJson.js"
import type { Expectation } from "./expectation.js"
import { minCount } from "./expectation.js"
import type { ExpectationGroup, Instance, SupervisorKind } from "./instance.js"
import { displayInstance, unitName } from "./instance.js"
import {
  driftedInstances,
  instanceVersionText,
  type RowVersions,
  type UpgradeMarker,
  upgradeInProgress,
  VersionStatus,
  versionsDiffer,
} from "./version.js"

export const Outcome = Schema.Literal("up", "short", "down", "absent", "forbidden", "unknown")
export type Outcome = typeof Outcome.Type

export interface Classification {
  readonly outcome: Outcome
  /**
   * Running instances that count: for Up/Unknown the admitted instances only
   * (a leftover never satisfies an expectation); for Down also the leftovers,
   * since any running process of a Down service is a violation.
   */
  readonly running: number
  readonly minCount: number
  /** No unit or process of the expectation is loaded at all. */
  readonly missing: boolean
  /** Down on systemd: unit names still enabled though not running (they would come back at boot). */
  readonly enabledUnits: ReadonlyArray<string>
}

/** The unit names a Down expectation must not leave enabled, loaded or not (§5.1). */
const requiredUnitNames = (e: Expectation): ReadonlyArray<string> => {
  switch (e.instances._tag) {
    case "Single":
      return [unitName({ name: e.name, suffix: null })]
    case "Named":
      return e.instances.suffixes.map((suffix) => unitName({ name: e.name, suffix }))
    // `@1..@n` is open-ended: only loaded units can be checked.
    case "NumericAtLeast":
      return []
  }
}

const countRunning = (instances: ReadonlyArray<Instance>): number => instances.filter((i) => i.running).length

/**
 * Classify one expectation (§4). `enabled` is keyed by systemd unit name
 * (`unitName(ref)`); a unit absent from it counts as disabled. pm2 has no
 * "enabled", so there a stopped process of a Down service is absent.
 */
export const classify = (
  group: ExpectationGroup,
  enabled: ReadonlyMap<string, boolean>,
  supervisor: SupervisorKind,
): Classification => {
  const e = group.expectation
  const min = minCount(e.instances)
  switch (e.state) {
    case "Up":
    case "Unknown": {
      const running = countRunning(group.instances)
      const missing = group.instances.length === 0
      const outcome: Outcome =
        e.state === "Unknown" ? "unknown" : running >= min ? "up" : running > 0 ? "short" : "down"
      return { outcome, running, minCount: min, missing, enabledUnits: [] }
    }
    case "Down": {
      const present = [...group.instances, ...group.leftovers]
      const running = countRunning(present)
      const enabledUnits =
        supervisor === "systemd"
          ? [
              ...new Set([
                ...present.filter((i) => !i.running).map(unitName),
                ...requiredUnitNames(e).filter((u) => !present.some((i) => unitName(i) === u)),
              ]),
            ].filter((u) => enabled.get(u) === true)
          : []
      const outcome: Outcome = running > 0 || enabledUnits.length > 0 ? "forbidden" : "absent"
      return { outcome, running, minCount: min, missing: present.length === 0, enabledUnits }
    }
  }
}

/** Outcomes that make `status` exit 1. `unknown` is shown as a warning, not a failure. */
export const isFailure = (outcome: Outcome): boolean =>
  outcome === "short" || outcome === "down" || outcome === "forbidden"

/**
 * Legacy expectations only exist to catch leftovers: while they comply they
 * are noise, so they show only when they fail, with `--all`, or when the
 * operator named services explicitly.
 */
export const visibleInStatus = (
  group: ExpectationGroup,
  outcome: Outcome,
  options: { readonly all: boolean; readonly namesGiven: boolean },
): boolean => !group.expectation.legacy || options.all || options.namesGiven || isFailure(outcome)

/** The Expected column: `up`, `up ×2`, `absent`, `unknown`. */
export const expectedCell = (e: Expectation): string => {
  switch (e.state) {
    case "Up": {
      const n = minCount(e.instances)
      return n === 1 ? "up" : `up ×${n}`
    }
    case "Down":
      return "absent"
    case "Unknown":
      return "unknown"
  }
}

const stateWord = (i: Instance): string => (i.running ? "running" : "stopped")

/** The Actual column: what the supervisor reports, in the words of §4. */
export const actualCell = (group: ExpectationGroup, c: Classification, supervisor: SupervisorKind): string => {
  const ratio = `${c.running}/${c.minCount} running`
  const main = ((): string => {
    switch (c.outcome) {
      case "up":
        return c.minCount === 1 && c.running === 1 ? "running" : ratio
      case "short":
        return ratio
      case "down":
        return c.missing ? "missing" : "stopped"
      case "absent":
        return c.missing ? "not loaded" : supervisor === "systemd" ? "stopped, disabled" : "stopped"
      case "forbidden":
        if (c.running > 0) return c.running === 1 ? "running (forbidden)" : `${c.running} running (forbidden)`
        return c.missing ? "enabled, not loaded" : "enabled, stopped"
      case "unknown":
        return c.running > 0
          ? c.running === 1
            ? "running"
            : `${c.running} running`
          : c.missing
            ? "not loaded"
            : "stopped"
    }
  })()
  // Down already counts leftovers in `running`; elsewhere they are worth naming, as restart retires them.
  const leftovers =
    group.expectation.state === "Down"
      ? []
      : group.leftovers.map((l) => `leftover ${displayInstance(l)} ${stateWord(l)}`)
  return [main, ...leftovers].join("; ")
}

/**
 * Per-instance lines under a row, when the Actual cell alone does not say
 * which instance is in which state (several present and not all fine, or
 * leftovers beside the instances). Empty otherwise.
 */
export const instanceLines = (
  group: ExpectationGroup,
  c: Classification,
  versions?: RowVersions,
): ReadonlyArray<string> => {
  const present = [...group.instances, ...group.leftovers]
  const allFine = c.outcome === "up" || c.outcome === "absent" || c.outcome === "unknown"
  // Instances on different versions (issue #22) also need a line each, even when all run.
  const differ = versions !== undefined && versionsDiffer(versions)
  if (present.length <= 1 || (allFine && group.leftovers.length === 0 && !differ)) return []
  const version = (n: number): string => {
    const v = versions?.instances[n]
    return v === undefined || versions === undefined ? "" : `  ${instanceVersionText(v, versions.expected)}`
  }
  return [
    ...group.instances.map((i, n) => `${displayInstance(i)} ${stateWord(i)}${version(n)}`),
    ...group.leftovers.map(
      (l, n) => `${displayInstance(l)} ${stateWord(l)} (leftover)${version(group.instances.length + n)}`,
    ),
  ]
}

/** The `--json` document (§4). Snake_case names match the tool this replaces; keep them. */
export const StatusJsonInstance = Schema.Struct({
  /** Base name (unit base name or pm2 process name). */
  name: Schema.String,
  /** systemd suffix, null for a singleton and on pm2. */
  instance: Schema.NullOr(Schema.String),
  pm_id: Schema.NullOr(Schema.Int),
  running: Schema.Boolean,
  /** What it runs (image label or tag, pm2 release directory); null when stopped or nothing says (issue #22). */
  version_actual: Schema.NullOr(Schema.String),
  /** Against the expectation's `expected_version`: `match`, `mismatch` (exit 1), `unknown`, `upgrading`. */
  version_status: VersionStatus,
})
export type StatusJsonInstance = typeof StatusJsonInstance.Type

export const StatusJsonExpectation = Schema.Struct({
  name: Schema.String,
  expected_state: Schema.Literal("up", "down", "unknown"),
  running: Schema.Int.pipe(Schema.nonNegative()),
  min_count: Schema.Int.pipe(Schema.positive()),
  status: Outcome,
  reason: Schema.String,
  legacy: Schema.Boolean,
  behind_caddy: Schema.Boolean,
  criticality: Schema.Literal("critical", "background"),
  /** The version this service is meant to run (the frontend may have its own); null when unknown or Down. */
  expected_version: Schema.NullOr(Schema.String),
  /** Admitted instances, then leftovers. */
  instances: Schema.Array(StatusJsonInstance),
})
export type StatusJsonExpectation = typeof StatusJsonExpectation.Type

export const StatusJson = Schema.Struct({
  /**
   * True when any outcome is a failure (short, down or forbidden). The name
   * comes from the old tool, which only had "short"; a script testing it
   * should keep failing on every unmet expectation, not only on partial
   * capacity. status exits 1 when this or `version_drift` is true.
   */
  any_short: Schema.Boolean,
  expectations: Schema.Array(StatusJsonExpectation),
  /** `TAMANU_VERSION` of the env file the units read (systemd), the install root's version (pm2); null when unknown. */
  expected_version: Schema.NullOr(Schema.String),
  /** Some instance runs another version than expected (a mismatch): status exits 1. */
  version_drift: Schema.Boolean,
  /** `/run/tamanu/upgrade-in-progress`, when present: older instances are `upgrading` while it is younger than 90 minutes. */
  upgrade: Schema.NullOr(
    Schema.Struct({
      in_progress: Schema.Boolean,
      age_seconds: Schema.Int,
      target: Schema.NullOr(Schema.String),
    }),
  ),
  /** Where Caddy routes the shown services behind it (null when none is); read-only. */
  caddy: Schema.NullOr(CaddyStatusJson),
})
export type StatusJson = typeof StatusJson.Type

export interface StatusRow {
  readonly group: ExpectationGroup
  readonly classification: Classification
  /** Its instances' versions (issue #22); absent for a Down service and where versions were not read. */
  readonly versions?: RowVersions | undefined
}

const jsonInstance = (i: Instance, n: number, versions: RowVersions | undefined): StatusJsonInstance => {
  const v = versions?.instances[n]
  return {
    name: i.name,
    instance: i.suffix,
    pm_id: i.pmId,
    running: i.running,
    version_actual: v?.actual ?? null,
    version_status: v?.status ?? "unknown",
  }
}

/** What the report says about versions beyond the rows. */
export interface StatusVersionFacts {
  readonly expectedVersion: string | null
  readonly upgrade: UpgradeMarker | null
}

/** Rows whose instances run another version than expected. */
export const anyVersionDrift = (rows: ReadonlyArray<StatusRow>): boolean =>
  rows.some((r) => r.versions !== undefined && driftedInstances(r.versions).length > 0)

/** The `--json` document for the rows given (the caller decides which rows are shown). */
export const statusReport = (
  rows: ReadonlyArray<StatusRow>,
  versions: StatusVersionFacts = { expectedVersion: null, upgrade: null },
): Omit<StatusJson, "caddy"> => ({
  any_short: rows.some((r) => isFailure(r.classification.outcome)),
  expected_version: versions.expectedVersion,
  version_drift: anyVersionDrift(rows),
  upgrade:
    versions.upgrade === null
      ? null
      : {
          in_progress: upgradeInProgress(versions.upgrade),
          age_seconds: Math.floor(versions.upgrade.ageMillis / 1000),
          target: versions.upgrade.target,
        },
  expectations: rows.map(({ group, classification: c, versions: v }) => {
    const e = group.expectation
    return {
      name: e.name,
      expected_state: e.state === "Up" ? "up" : e.state === "Down" ? "down" : "unknown",
      running: c.running,
      min_count: c.minCount,
      status: c.outcome,
      reason: e.reason,
      legacy: e.legacy,
      behind_caddy: e.behindCaddy,
      criticality: e.criticality === "Critical" ? "critical" : "background",
      expected_version: v?.expected ?? null,
      instances: [...group.instances, ...group.leftovers].map((i, n) => jsonInstance(i, n, v)),
    }
  }),
})
