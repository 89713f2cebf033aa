/**
 * `status [NAMES...]` (spec §4): read only. No sudo, no probes, no changes.
 * For the services behind Caddy it also reads, without changing anything,
 * where Caddy routes them (its admin API) against where their running
 * instances are (podman, pm2).
 */
import { Clock, Duration, Effect } from "effect"
import type { Progress } from "../events/Progress.js"
import type { TamanuHost } from "../host/TamanuHost.js"
import type { CaddyStatusJson } from "../model/caddyStatusJson.js"
import {
  classify,
  isFailure,
  type StatusJson,
  type StatusRow,
  statusReport,
  visibleInStatus,
} from "../model/statusOutcome.js"
import { ProbeTargets } from "../probe/ProbeTargets.js"
import type { ServiceEndpoints } from "../proxy/caddyConfig.js"
import { caddyStatus, pinsProblem } from "../proxy/caddyStatus.js"
import { ReverseProxy } from "../proxy/ReverseProxy.js"
import type { Supervisor } from "../supervisor/Supervisor.js"
import { withoutConsoleLoggers } from "../util/logging.js"
import { endpointsOf } from "./endpoints.js"
import type { StatusOptions } from "./options.js"
import { type Survey, type SurveyError, survey } from "./survey.js"

export interface StatusResult {
  readonly survey: Survey
  /** The rows to show (compliant legacy rows hidden unless --all or NAMES). */
  readonly rows: ReadonlyArray<StatusRow>
  /** Any shown outcome is a failure: the command exits 1. */
  readonly failed: boolean
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
    const rows = s.groups
      .map((group) => ({ group, classification: classify(group, s.enabled, s.supervisor) }))
      .filter((row) => visibleInStatus(row.group, row.classification.outcome, { all: options.all, namesGiven }))
    const failed = rows.some((r) => isFailure(r.classification.outcome))
    const caddy = yield* caddyOf(
      rows.filter((r) => r.group.expectation.behindCaddy && r.group.expectation.state === "Up"),
    )
    const caddyProblem = pinsProblem(caddy, yield* Clock.currentTimeMillis)
    return {
      survey: s,
      rows,
      failed: failed || caddyProblem !== null,
      json: { ...statusReport(rows), caddy },
      caddy,
      caddyProblem,
    }
  }).pipe(withoutConsoleLoggers)

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
