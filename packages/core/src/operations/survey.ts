/**
 * The read-only first step of every operation: what the host should run
 * (expectations from the Tamanu install and, when it matters, the database),
 * which of it the operator chose (NAMES), and what the supervisor reports.
 *
 * A constant number of supervisor calls whatever the number of instances:
 * one list, at most one unit-file check, at most one enabled query.
 */
import { type Duration, Effect, Either } from "effect"
import { emit, type Progress, ProgressEvent } from "../events/Progress.js"
import type { HostError } from "../host/errors.js"
import { TamanuHost } from "../host/TamanuHost.js"
import type { Expectation } from "../model/expectation.js"
import { expected } from "../model/expectations.js"
import { groupInstances } from "../model/grouping.js"
import type { HostFacts } from "../model/hostFacts.js"
import type { ExpectationGroup, Instance, SupervisorKind } from "../model/instance.js"
import { matchNames, type UnmatchedNames } from "../model/matchNames.js"
import { refsNeedingEnabledState } from "../plan/common.js"
import type { SupervisorError } from "../supervisor/errors.js"
import { Supervisor } from "../supervisor/Supervisor.js"

export const PORTAL_TEMPLATE = "tamanu-patientportal@.service"
const isPortal = (e: Expectation): boolean => e.name.endsWith("patientportal")

export interface Survey {
  readonly supervisor: SupervisorKind
  readonly facts: HostFacts
  /** Every expectation of the host, for "available names". */
  readonly expectations: ReadonlyArray<Expectation>
  /** The chosen expectations' groups, in expectation order. */
  readonly groups: ReadonlyArray<ExpectationGroup>
  /** NAMES that matched nothing (only with ignoreUnmatched). */
  readonly unmatched: ReadonlyArray<string>
  /** Every discovered Tamanu instance, chosen or not. */
  readonly instances: ReadonlyArray<Instance>
  /** systemd enabled state of the units the planners and status ask about (`refsNeedingEnabledState`), by unit name. */
  readonly enabled: ReadonlyMap<string, boolean>
}

export interface SurveyOptions {
  readonly names: ReadonlyArray<string>
  readonly ignoreUnmatched: boolean
  /** How long to wait for the database (start: --db-wait; others: zero, one try). */
  readonly dbWait: Duration.Duration
}

export type SurveyError = UnmatchedNames | SupervisorError | HostError

export const survey = (
  options: SurveyOptions,
): Effect.Effect<Survey, SurveyError, Supervisor | TamanuHost | Progress> =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const host = yield* TamanuHost
    // The install and the supervisor are independent: ask both at once.
    const [context, instances] = yield* Effect.all([host.context, supervisor.list], { concurrency: 2 })

    // Names first, with the DB-gated facts unknown: the names do not depend on
    // them, so a typo is reported without touching the database, and the
    // database is only asked when the patient portal is among the chosen.
    const provisional: HostFacts = {
      supervisor: supervisor.kind,
      kind: context.kind,
      fhirWorkerEnabled: context.fhirWorkerEnabled,
      patientPortal: null,
      portalTemplateInstalled: false,
    }
    const selection = yield* Either.match(
      matchNames(expected(provisional), options.names, { ignoreUnmatched: options.ignoreUnmatched }),
      { onLeft: Effect.fail, onRight: Effect.succeed },
    )
    for (const pattern of selection.unmatched) {
      yield* emit(ProgressEvent.Warning({ message: `no service matches "${pattern}"; going on with what matched` }))
    }

    const portalChosen = selection.selected.some(isPortal)
    const [patientPortal, portalTemplateInstalled] = portalChosen
      ? yield* Effect.all(
          [
            host.patientPortal(options.dbWait),
            supervisor.kind === "systemd" ? supervisor.unitFileExists(PORTAL_TEMPLATE) : Effect.succeed(false),
          ],
          { concurrency: 2 },
        )
      : [null, false]
    const facts: HostFacts = { ...provisional, patientPortal, portalTemplateInstalled }
    const expectations = expected(facts)
    const chosenNames = new Set(selection.selected.map((e) => e.name))
    const chosen = expectations.filter((e) => chosenNames.has(e.name))
    const groups = groupInstances(supervisor.kind, chosen, instances)

    const refs = refsNeedingEnabledState(supervisor.kind, groups)
    const enabled = refs.length > 0 ? yield* supervisor.enabled(refs) : new Map<string, boolean>()

    return {
      supervisor: supervisor.kind,
      facts,
      expectations,
      groups,
      unmatched: selection.unmatched,
      instances,
      enabled,
    }
  })
