/**
 * `status [NAMES...]` (spec §4): read only. No sudo, no probes, no changes.
 */
import { Duration, Effect } from "effect"
import type { Progress } from "../events/Progress.js"
import type { TamanuHost } from "../host/TamanuHost.js"
import {
  classify,
  isFailure,
  type StatusJson,
  type StatusRow,
  statusReport,
  visibleInStatus,
} from "../model/statusOutcome.js"
import type { Supervisor } from "../supervisor/Supervisor.js"
import { withoutConsoleLoggers } from "../util/logging.js"
import type { StatusOptions } from "./options.js"
import { type Survey, type SurveyError, survey } from "./survey.js"

export interface StatusResult {
  readonly survey: Survey
  /** The rows to show (compliant legacy rows hidden unless --all or NAMES). */
  readonly rows: ReadonlyArray<StatusRow>
  /** Any shown outcome is a failure: the command exits 1. */
  readonly failed: boolean
  readonly json: StatusJson
}

/** Writes nothing to stdout or stderr: its log lines reach only loggers the caller installed (util/logging.ts). */
export const status = (
  options: StatusOptions,
): Effect.Effect<StatusResult, SurveyError, Supervisor | TamanuHost | Progress> =>
  Effect.gen(function* () {
    // status tries the database once (§5.7).
    const s = yield* survey({ names: options.names, ignoreUnmatched: false, dbWait: Duration.zero })
    const namesGiven = options.names.length > 0
    const rows = s.groups
      .map((group) => ({ group, classification: classify(group, s.enabled, s.supervisor) }))
      .filter((row) => visibleInStatus(row.group, row.classification.outcome, { all: options.all, namesGiven }))
    const failed = rows.some((r) => isFailure(r.classification.outcome))
    return { survey: s, rows, failed, json: statusReport(rows) }
  }).pipe(withoutConsoleLoggers)
