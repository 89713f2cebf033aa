/**
 * Versions (issue #22): what the host is meant to run against what each
 * instance runs. All pure: the env file's text, an image's label and tag, a
 * pm2 process's paths and the upgrade marker's age come in as values.
 *
 * - Expected: on a systemd host `TAMANU_VERSION` from the env file the units
 *   read (`TAMANU_FRONTEND_VERSION` for the frontend, falling back to
 *   `TAMANU_VERSION`); on pm2 the install root's version (`findRoot`).
 * - Compared as semver after dropping a leading `v`; anything that is not a
 *   version is compared as text (equal or not, never older or newer).
 * - A missing side is `unknown`, which never fails.
 * - While the upgrade marker is younger than 90 minutes, an instance on an
 *   older version than expected is `upgrading`; a newer one is still a
 *   mismatch.
 */
import { Schema } from "effect"
import { compare, valid } from "semver"
import type { SupervisorKind } from "./instance.js"

/** `v2.64.0` → `2.64.0`; surrounding space dropped; empty → null. */
export const normalizeVersion = (raw: string | null | undefined): string | null => {
  if (raw === null || raw === undefined) return null
  const trimmed = raw.trim()
  const text = /^[vV]\d/.test(trimmed) ? trimmed.slice(1) : trimmed
  return text === "" ? null : text
}

/** The strict semver of a text after dropping a leading `v`, else null (`latest`, `sha-1a2b`, `2.64`). */
export const semverOf = (raw: string | null | undefined): string | null => {
  const text = normalizeVersion(raw)
  return text === null ? null : valid(text)
}

/** How an instance's version stands to the expected one. */
export type VersionOrder = "same" | "older" | "newer" | "different"

/**
 * Semver when both sides are versions (build metadata ignored, prereleases
 * before their release); otherwise text after normalising, which can only
 * say same or different.
 */
export const versionOrder = (actual: string, expected: string): VersionOrder => {
  const a = semverOf(actual)
  const e = semverOf(expected)
  if (a !== null && e !== null) {
    const c = compare(a, e)
    return c === 0 ? "same" : c < 0 ? "older" : "newer"
  }
  return normalizeVersion(actual) === normalizeVersion(expected) ? "same" : "different"
}

export const VersionStatus = Schema.Literal("match", "mismatch", "unknown", "upgrading")
export type VersionStatus = typeof VersionStatus.Type

/** Where `/run/tamanu/upgrade-in-progress` stands, read by the host layer. */
export interface UpgradeMarker {
  /** now − the file's mtime; negative when its mtime is in the future (a skewed clock). */
  readonly ageMillis: number
  /** The version its first line names, when it names one. */
  readonly target: string | null
}

export const UPGRADE_MARKER_PATH = "/run/tamanu/upgrade-in-progress"

/** An upgrade that left its marker longer ago than this is over (or died): the marker is ignored. */
export const upgradeWindowMillis = 90 * 60_000

/** The marker counts while it is younger than the window (a future mtime counts: it was just written). */
export const upgradeInProgress = (marker: UpgradeMarker | null): boolean =>
  marker !== null && marker.ageMillis < upgradeWindowMillis

/** One instance's version against the expected one. */
export const versionStatus = (
  expected: string | null,
  actual: string | null,
  marker: UpgradeMarker | null,
): VersionStatus => {
  const e = normalizeVersion(expected)
  const a = normalizeVersion(actual)
  if (e === null || a === null) return "unknown"
  switch (versionOrder(a, e)) {
    case "same":
      return "match"
    case "older":
      return upgradeInProgress(marker) ? "upgrading" : "mismatch"
    case "newer":
    case "different":
      return "mismatch"
  }
}

/** Only a mismatch fails: unknown never does, and upgrading is an upgrade on its way. */
export const isVersionDrift = (status: VersionStatus): boolean => status === "mismatch"

/** The word in the table: `ok`, `drift`, `unknown`, `upgrading`. */
export const versionWord = (status: VersionStatus): string => {
  switch (status) {
    case "match":
      return "ok"
    case "mismatch":
      return "drift"
    case "unknown":
      return "unknown"
    case "upgrading":
      return "upgrading"
  }
}

// ---------------------------------------------------------------- expected

/**
 * The values of a systemd `EnvironmentFile=`: `KEY=value` lines, `#`/`;`
 * comments, values optionally in single or double quotes. A later line wins.
 */
export const parseEnvFile = (text: string): ReadonlyMap<string, string> => {
  const values = new Map<string, string>()
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
    if (m === null) continue
    const value = (m[2] ?? "").trim()
    const quoted = /^(["'])(.*)\1$/.exec(value)
    values.set(m[1] ?? "", quoted === null ? value : (quoted[2] ?? ""))
  }
  return values
}

/** What the host is meant to run: one version for every service, another for the frontend. */
export interface ExpectedVersions {
  readonly default: string | null
  readonly frontend: string | null
  /** Where they come from (`/etc/tamanu/env`, `the install root`), or why they are unknown. */
  readonly source: string
}

export const FRONTEND = "tamanu-frontend"

/** What the host layer read: the env file's values (null when it has none) and the root's version. */
export interface VersionSources {
  readonly envFile: string
  /** null: the env file is missing or unreadable (`envProblem` says which). */
  readonly env: ReadonlyMap<string, string> | null
  readonly envProblem?: string | undefined
  readonly rootVersion: string | null
}

/** systemd: the env file's versions; pm2: the install root's version for every process. */
export const expectedVersions = (supervisor: SupervisorKind, sources: VersionSources): ExpectedVersions => {
  if (supervisor === "pm2")
    return {
      default: normalizeVersion(sources.rootVersion),
      frontend: normalizeVersion(sources.rootVersion),
      source: sources.rootVersion === null ? "the install root has no version" : "the install root",
    }
  if (sources.env === null)
    return { default: null, frontend: null, source: sources.envProblem ?? `${sources.envFile} is missing` }
  const all = normalizeVersion(sources.env.get("TAMANU_VERSION"))
  const frontend = normalizeVersion(sources.env.get("TAMANU_FRONTEND_VERSION")) ?? all
  return {
    default: all,
    frontend,
    source: all === null && frontend === null ? `${sources.envFile} sets no TAMANU_VERSION` : sources.envFile,
  }
}

/** The expected version of one service. */
export const expectedVersionOf = (versions: ExpectedVersions, service: string): string | null =>
  service === FRONTEND ? versions.frontend : versions.default

/**
 * The env file the units read: `<root>/env` (`/etc/tamanu/env` for the
 * usual root), else `/etc/tamanu/env` for a root below `/etc/tamanu`.
 */
export const envFileCandidates = (root: string): ReadonlyArray<string> => {
  const trimmed = root.replace(/\/+$/, "")
  const own = `${trimmed}/env`
  return trimmed.startsWith("/etc/tamanu/") && own !== "/etc/tamanu/env" ? [own, "/etc/tamanu/env"] : [own]
}

/** The target version on the marker's first line, if it is one (`2.65.0`, `v2.65.0`, `TAMANU_VERSION=2.65.0`). */
export const markerTarget = (text: string): string | null => {
  const first = text.split(/\r?\n/)[0]?.trim() ?? ""
  const value = first.includes("=") ? first.slice(first.indexOf("=") + 1) : first
  return semverOf(value.replace(/^["']|["']$/g, ""))
}

// ---------------------------------------------------------------- running

const releaseSegment = /^(?:release-)?v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$/

/**
 * pm2: the release directory a process runs from, in its exec path, else
 * its cwd (`C:\Tamanu\release-v2.64.0\packages\…` → `2.64.0`). The segment
 * nearest the root wins; null when no segment is a release directory.
 */
export const releaseVersion = (...paths: ReadonlyArray<string | null | undefined>): string | null => {
  for (const path of paths) {
    if (path === null || path === undefined) continue
    for (const segment of path.split(/[\\/]/)) {
      const m = releaseSegment.exec(segment)
      if (m !== null && valid(m[1] ?? "") !== null) return m[1] ?? null
    }
  }
  return null
}

// ---------------------------------------------------------------- one status row

/** One present instance's version (admitted instances, then leftovers: the order of the JSON `instances`). */
export interface InstanceVersion {
  /** Display name (`tamanu-facility-api@1`, `tamanu-api#0`). */
  readonly instance: string
  readonly actual: string | null
  readonly status: VersionStatus
  /** Why `actual` is unknown, when the look-up said. */
  readonly problem: string | null
}

/** The versions of one expectation's instances against the version it is meant to run. */
export interface RowVersions {
  readonly expected: string | null
  readonly instances: ReadonlyArray<InstanceVersion>
}

export interface RunningVersion {
  readonly instance: string
  /** null: stopped, or nothing says (then `problem` may say why). */
  readonly actual: string | null
  readonly problem: string | null
}

/** Judge each instance's running version against the expected one. */
export const rowVersions = (
  expected: string | null,
  running: ReadonlyArray<RunningVersion>,
  marker: UpgradeMarker | null,
): RowVersions => ({
  expected: normalizeVersion(expected),
  instances: running.map((r) => ({
    instance: r.instance,
    actual: normalizeVersion(r.actual),
    status: versionStatus(expected, r.actual, marker),
    problem: r.problem,
  })),
})

/** The instances do not all run the same version with the same verdict: each gets its own line. */
export const versionsDiffer = (v: RowVersions): boolean =>
  new Set(v.instances.map((i) => `${i.actual ?? ""}\u0000${i.status}`)).size > 1

/** Instances that run a version other than the expected one (not unknown, not upgrading). */
export const driftedInstances = (v: RowVersions): ReadonlyArray<InstanceVersion> =>
  v.instances.filter((i) => isVersionDrift(i.status))

/** One instance's version as a line ends: `2.64.0 drift (expected 2.65.0)`. */
export const instanceVersionText = (i: InstanceVersion, expected: string | null): string => {
  switch (i.status) {
    case "match":
      return `${i.actual} ok`
    case "mismatch":
      return `${i.actual} drift (expected ${expected})`
    case "upgrading":
      return `${i.actual} upgrading to ${expected}`
    case "unknown":
      return i.actual === null ? "version unknown" : `${i.actual} unknown (expected version unknown)`
  }
}

/**
 * The Version column: the expected version and, when the instances agree,
 * what they run (`2.65.0 ok`, `2.64.0 drift (expected 2.65.0)`); when they
 * differ, `mixed` and per-instance lines say which runs what.
 */
export const versionCell = (v: RowVersions): string => {
  const first = v.instances[0]
  if (first === undefined) return v.expected ?? "unknown"
  if (versionsDiffer(v)) return `mixed (expected ${v.expected ?? "unknown"})`
  if (first.status === "unknown")
    return first.actual !== null
      ? `${first.actual} (expected unknown)`
      : `unknown (expected ${v.expected ?? "unknown"})`
  return instanceVersionText(first, v.expected)
}

// ---------------------------------------------------------------- --dry-run

/**
 * The lines `--dry-run` adds under the plan: which instance runs which
 * version, against the expected one. Empty when no version is known at all.
 */
export const versionPreview = (
  instances: ReadonlyArray<{
    readonly instance: string
    readonly actual: string | null
    readonly expected: string | null
  }>,
): ReadonlyArray<string> => {
  if (instances.every((i) => i.actual === null && i.expected === null)) return []
  return [
    "versions now:",
    ...instances.map((i) => {
      const status = versionStatus(i.expected, i.actual, null)
      const after = i.expected === null ? "" : status === "match" ? " (already expected)" : ` → ${i.expected}`
      return `  ${i.instance}: ${i.actual ?? "unknown"}${after}`
    }),
  ]
}
