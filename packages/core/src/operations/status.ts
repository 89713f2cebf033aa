/**
 * `status [NAMES...]` (spec §4): read only. No sudo, no probes, no changes.
 * For the services behind Caddy it also reads, without changing anything,
 * where Caddy routes them (its admin API) against where their running
 * instances are (podman, pm2).
 */
import { Clock, Duration, Effect, Option } from "effect"
import type { Progress } from "../events/Progress.js"
import { TamanuHost } from "../host/TamanuHost.js"
import type { CaddyStatusJson } from "../model/caddyStatusJson.js"
import { displayInstance, type Instance, type InstanceRef } from "../model/instance.js"
import { statusExitCode, statusFailureReasons } from "../model/statusExit.js"
import {
  classify,
  isFailure,
  type StatusJson,
  type StatusRow,
  statusReport,
  visibleInStatus,
} from "../model/statusOutcome.js"
import {
  driftedInstances,
  type ExpectedVersions,
  expectedVersionOf,
  rowVersions,
  type UpgradeMarker,
  upgradeInProgress,
} from "../model/version.js"
import { type InstanceTarget, ProbeTargets, type ProbeTargetsShape, targetsOf, urlsOf } from "../probe/ProbeTargets.js"
import type { ServiceEndpoints } from "../proxy/caddyConfig.js"
import { caddyStatus, pinsProblem } from "../proxy/caddyStatus.js"
import { endpointsOf } from "../proxy/endpoints.js"
import { ReverseProxy } from "../proxy/ReverseProxy.js"
import type { Supervisor } from "../supervisor/Supervisor.js"
import { withoutConsoleLoggers } from "../util/logging.js"
import type { StatusOptions } from "./options.js"
import { type Survey, type SurveyError, survey } from "./survey.js"
import { hostExpectedVersions } from "./versions.js"

export interface StatusResult {
  readonly survey: Survey
  /** The rows to show (compliant legacy rows hidden unless --all or NAMES). */
  readonly rows: ReadonlyArray<StatusRow>
  /**
   * Any shown outcome is a failure, an instance runs another version than
   * expected, or tamanu's Caddy pins are overdue or name a dead address: the command exits 1.
   */
  readonly failed: boolean
  /** Why it exits 1, one line each (empty when it exits 0): `statusFailureReasons`. */
  readonly failures: ReadonlyArray<string>
  /** What the host is meant to run, and where that comes from (issue #22). */
  readonly expectedVersions: ExpectedVersions
  /** The upgrade marker, when there is one. */
  readonly upgrade: UpgradeMarker | null
  /** Why versions are unknown, and the upgrade in progress: for the operator to read, never a failure. */
  readonly versionNotes: ReadonlyArray<string>
  readonly json: StatusJson
  /** Where Caddy routes the shown services behind it; null when none is. */
  readonly caddy: CaddyStatusJson | null
  /** tamanu's pins past due, or naming an address no instance has (`pinsProblem`): a failure too. */
  readonly caddyProblem: string | null
}

/** Writes nothing to stdout or stderr: its log lines reach only loggers the caller installed (util/logging.ts). */
export const status = (
  options: StatusOptions,
): Effect.Effect<StatusResult, SurveyError, Supervisor | TamanuHost | ProbeTargets | ReverseProxy | Progress> =>
  Effect.gen(function* () {
    // status tries the database once (§5.7).
    const s = yield* survey({ names: options.names, ignoreUnmatched: false, dbWait: Duration.zero })
    const namesGiven = options.names.length > 0
    const host = yield* TamanuHost
    const expected = yield* hostExpectedVersions(s.supervisor)
    const upgrade = yield* host.upgradeMarker
    const shown = s.groups
      .map((group) => ({ group, classification: classify(group, s.enabled, s.supervisor) }))
      .filter((row) => visibleInStatus(row.group, row.classification.outcome, { all: options.all, namesGiven }))

    // One batched look-up of the running instances of the shown services (podman: one ps and one
    // inspect, whatever their number): each one's version, and its address for Caddy below.
    const targets = yield* ProbeTargets
    const wanted = shown.flatMap((r) =>
      r.group.expectation.state === "Down" ? [] : [...r.group.instances, ...r.group.leftovers],
    )
    const found = yield* targetsOf(
      targets,
      wanted.filter((i) => i.running),
    )
    const rows: ReadonlyArray<StatusRow> = shown.map((row) =>
      row.group.expectation.state === "Down"
        ? row
        : {
            ...row,
            versions: rowVersions(
              expectedVersionOf(expected, row.group.expectation.name),
              [...row.group.instances, ...row.group.leftovers].map((i) => runningVersion(i, found)),
              upgrade,
            ),
          },
    )
    const drifted = rows.flatMap((r) =>
      r.versions === undefined
        ? []
        : driftedInstances(r.versions).map((d) => ({ ...d, expected: r.versions?.expected ?? null })),
    )
    const caddy = yield* caddyOf(
      rows.filter((r) => r.group.expectation.behindCaddy && r.group.expectation.state === "Up"),
    ).pipe(Effect.provideService(ProbeTargets, alreadyFound(found, targets)))
    const caddyProblem = pinsProblem(caddy, yield* Clock.currentTimeMillis)
    const failures = statusFailureReasons({
      unmet: rows.filter((r) => isFailure(r.classification.outcome)).map((r) => r.group.expectation.name),
      drifted,
      caddy: caddyProblem,
    })
    return {
      survey: s,
      rows,
      failed: statusExitCode(failures) === 1,
      failures,
      expectedVersions: expected,
      upgrade,
      versionNotes: versionNotes(expected, upgrade, rows),
      json: { ...statusReport(rows, { expectedVersion: expected.default, upgrade }), caddy },
      caddy,
      caddyProblem,
    }
  }).pipe(withoutConsoleLoggers)

const runningVersion = (i: Instance, found: ReadonlyMap<string, InstanceTarget>) => {
  const target = found.get(displayInstance(i))
  return {
    instance: displayInstance(i),
    actual: target === undefined ? null : Option.getOrNull(target.version),
    problem: i.running ? (target?.versionProblem ?? null) : "not running",
  }
}

/** The targets with the addresses this run already looked up; any other is asked for as before. */
const alreadyFound = (found: ReadonlyMap<string, InstanceTarget>, targets: ProbeTargetsShape): ProbeTargetsShape => {
  const urlFor = (ref: InstanceRef) => {
    const known = found.get(displayInstance(ref))
    return known === undefined ? targets.urlFor(ref) : Effect.succeed(known.url)
  }
  return {
    ...targets,
    urlFor,
    urlsFor: (refs) =>
      Effect.gen(function* () {
        const others = refs.filter((ref) => !found.has(displayInstance(ref)))
        const more = yield* urlsOf(targets, others)
        return new Map(
          refs.flatMap((ref) => {
            const instance = displayInstance(ref)
            const known = found.get(instance)
            const url = known === undefined ? more.get(instance) : Option.getOrUndefined(known.url)
            return url === undefined ? [] : [[instance, url] as const]
          }),
        )
      }),
  }
}

/**
 * Notes for the operator: an expected version that is unknown (and why),
 * running versions nothing says (grouped by reason), an upgrade in progress
 * or a marker too old to count.
 */
export const versionNotes = (
  expected: ExpectedVersions,
  upgrade: UpgradeMarker | null,
  rows: ReadonlyArray<StatusRow>,
): ReadonlyArray<string> => {
  const notes: Array<string> = []
  const running = rows.some((r) => r.group.expectation.state !== "Down" && r.group.instances.some((i) => i.running))
  if (running && expected.default === null && expected.frontend === null)
    notes.push(`expected version unknown: ${expected.source}`)
  const byProblem = new Map<string, Array<string>>()
  for (const r of rows)
    for (const v of r.versions?.instances ?? [])
      if (v.actual === null && v.problem !== null && v.problem !== "not running")
        byProblem.set(v.problem, [...(byProblem.get(v.problem) ?? []), v.instance])
  for (const [problem, instances] of byProblem) notes.push(`version unknown for ${instances.join(", ")}: ${problem}`)
  if (upgrade !== null) {
    const minutes = Math.floor(upgrade.ageMillis / 60_000)
    const to = upgrade.target === null ? "" : ` to ${upgrade.target}`
    notes.push(
      upgradeInProgress(upgrade)
        ? `upgrade${to} in progress (marker ${minutes} min old): instances on an older version are upgrading, not drift`
        : `an upgrade marker${to} is ${minutes} min old (over 90): ignored, older instances count as drift`,
    )
  }
  return notes
}

/** Caddy's routes for these services against where their running instances are (read-only). */
const caddyOf = (rows: ReadonlyArray<StatusRow>) =>
  Effect.gen(function* () {
    if (rows.length === 0) return null
    const targets = yield* ProbeTargets
    const unseen = targets.unavailable ?? null
    const services: ReadonlyArray<ServiceEndpoints> = yield* endpointsOf(
      rows.map((r) => r.group.expectation.name),
      unseen === null ? rows.flatMap((r) => r.group.instances) : [],
    )
    const proxy = yield* ReverseProxy
    return caddyStatus(yield* proxy.inspect(services), services, unseen)
  })
