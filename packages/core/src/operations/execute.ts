/**
 * The executor: a thin interpreter of a Plan (plan/Plan.ts). Every decision
 * was made by the planner; this file only makes the calls in order, waits on
 * Schedules, and reports progress. The judgements it keeps are the safety
 * rules of §7.5 and §9.1: a roll goes to the next instance only once the
 * previous one is ready, an interruption never takes a further instance
 * down, and an instance behind Caddy goes down only once Caddy has stopped
 * routing to it.
 */
import { Clock, Duration, Effect, Either, Option, type Scope } from "effect"
import { emit, type Progress, ProgressEvent, type VersionMove } from "../events/Progress.js"
import { displayInstance, type InstanceRef } from "../model/instance.js"
import { isVersionDrift, versionStatus } from "../model/version.js"
import type { Plan, PlanStep } from "../plan/Plan.js"
import { proxiedServices } from "../plan/Plan.js"
import { type Located, locate } from "../probe/locate.js"
import type { Prober } from "../probe/Prober.js"
import {
  type InstanceTarget,
  lookupOnce,
  lookupTarget,
  noTarget,
  ProbeTargets,
  targetsOf,
} from "../probe/ProbeTargets.js"
import { waitReady } from "../probe/readiness.js"
import { addressRequired } from "../proxy/decide.js"
import type { ProxyFailed, ReverseProxy } from "../proxy/ReverseProxy.js"
import { type CaddyOutcome, type CaddyRun, makeCaddyRun } from "../proxy/session.js"
import type { InstanceFailed, SupervisorError, WaitTimeout } from "../supervisor/errors.js"
import { Supervisor } from "../supervisor/Supervisor.js"
import {
  describeEnded,
  failedResults,
  type SettleFailed,
  type SettleResult,
  watchSettle,
  withExitsFromLines,
} from "../supervisor/settle.js"
import { waitUntil } from "../supervisor/wait.js"
import { CheckUrlFailed, NotReady, RollStopped } from "./errors.js"
import { defaultLastLines, emitLastLines, failedInstances, type MarkedStart } from "./lastLines.js"
import { defaults } from "./options.js"

export interface ExecuteOptions {
  readonly command: string
  /** Limit for the supervisor to report instances running / stopped. */
  readonly waitLimit: Duration.Duration
  /** Start: one overall budget for ProbeAll. Restart: the budget of each rolled instance. */
  readonly probeTimeout: Duration.Duration
  /** Wait between rolled instances when no probe is possible. */
  readonly cooldown: Duration.Duration
  /**
   * The settle window of a rolled instance no probe judges: it must stay
   * running this long before the next goes down (the `Settle` steps carry
   * their own). Default 0.
   */
  readonly settle?: Duration.Duration
  /** Lines shown of an instance that failed to start, settle or become ready (default 10). */
  readonly lastLines?: number
  /**
   * The version each service is meant to run (issue #22): a rolled instance
   * that comes back on another is a warning, the roll goes on, and the
   * execution says so (`versionMismatches`). Absent: versions not judged.
   */
  readonly expectedVersion?: (service: string) => string | null
}

/** What happened, for the final report (display names). */
export interface Execution {
  readonly started: ReadonlyArray<string>
  readonly stopped: ReadonlyArray<string>
  readonly restarted: ReadonlyArray<string>
  /** Rolled instances not restarted because the roll stopped or was interrupted. */
  readonly notRestarted: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
  /** What was asked of Caddy (§9); null when the plan did not touch it. */
  readonly caddy: CaddyOutcome | null
  /** What each settle window found, per instance (issue #23). */
  readonly settled: ReadonlyArray<SettledInstance>
  /** Each rolled instance's version before and after, when known (issue #22). */
  readonly versions: ReadonlyArray<{ readonly instance: string } & VersionMove>
  /** Rolled instances that came back on a version other than the expected one: the command exits 1. */
  readonly versionMismatches: ReadonlyArray<string>
}

/** One instance's settle result and the window it was watched for. */
export interface SettledInstance {
  readonly windowMillis: number
  readonly result: SettleResult
}

export type { CaddyOutcome }

export type ExecuteError =
  | SupervisorError
  | WaitTimeout
  | InstanceFailed
  | NotReady
  | RollStopped
  | CheckUrlFailed
  | ProxyFailed
  | SettleFailed

type Services = Supervisor | ProbeTargets | Prober | ReverseProxy | Progress | Scope.Scope

const names = (refs: ReadonlyArray<InstanceRef>): ReadonlyArray<string> => refs.map(displayInstance)

interface Journal {
  readonly started: Array<string>
  readonly stopped: Array<string>
  readonly restarted: Array<string>
  readonly notRestarted: Array<string>
  readonly warnings: Array<string>
  /** Rolled instances still to go in this and every later roll, so an interruption can say what was not done. */
  pendingRoll: ReadonlyArray<string>
  /** The log mark taken before each start/restart call, to show a failed instance's own lines. */
  readonly marks: Array<MarkedStart>
  readonly settled: Array<SettledInstance>
  /** Instances whose last lines were shown (once per run). */
  readonly linesShown: Set<string>
  readonly versions: Array<{ readonly instance: string } & VersionMove>
  readonly versionMismatches: Array<string>
}

/** A warning for the operator: in the result, and published for watching. */
const warn = (journal: Journal, message: string) =>
  Effect.zipRight(
    Effect.sync(() => journal.warnings.push(message)),
    emit(ProgressEvent.Warning({ message })),
  )

const batch = (
  action: string,
  refs: ReadonlyArray<InstanceRef>,
  call: (refs: ReadonlyArray<InstanceRef>) => Effect.Effect<void, SupervisorError>,
) => Effect.zipRight(emit(ProgressEvent.BatchStarted({ action, instances: names(refs) })), call(refs))

const waitFor = (refs: ReadonlyArray<InstanceRef>, wanted: "running" | "stopped", limit: Duration.Duration) =>
  Effect.zipRight(emit(ProgressEvent.Waiting({ wanted, instances: names(refs) })), waitUntil(refs, wanted, { limit }))

/** Where these instances' logs stand before they are started; a mark that cannot be read only loses the failure lines. */
const markLogs = (journal: Journal, refs: ReadonlyArray<InstanceRef>) =>
  Effect.flatMap(Supervisor, (supervisor) =>
    Effect.match(supervisor.logMark(refs), {
      onFailure: () => undefined,
      onSuccess: (mark) => void journal.marks.push({ refs, mark }),
    }),
  )

/**
 * Watch instances no probe judges through the settle window (issue #23):
 * one supervisor read per tick for all of them; the results go to the
 * journal and the progress events, also when one ended.
 */
const settle = (
  journal: Journal,
  refs: ReadonlyArray<InstanceRef>,
  window: Duration.Duration,
  options: ExecuteOptions,
) =>
  Effect.gen(function* () {
    const windowMillis = Duration.toMillis(window)
    yield* emit(ProgressEvent.Settling({ instances: names(refs), windowMillis }))
    const record = (results: ReadonlyArray<SettleResult>) =>
      Effect.zipRight(
        Effect.sync(() => journal.settled.push(...results.map((result) => ({ windowMillis, result })))),
        emit(ProgressEvent.Settled({ windowMillis, results })),
      )
    const outcome = yield* watchSettle(refs, { window }).pipe(
      Effect.catchTag("SettleFailed", (e) =>
        Effect.gen(function* () {
          // Its own words first; they also say how it ended when the reads missed it.
          const lines = yield* emitLastLines(
            journal.marks,
            e.ended.map((x) => x.instance),
            journal.linesShown,
            options.lastLines ?? defaultLastLines,
          )
          const failed = withExitsFromLines(e, lines)
          yield* record(failedResults(failed))
          return yield* Effect.fail(failed)
        }),
      ),
    )
    yield* record(outcome.results)
  })

/**
 * Probe every instance at once within one overall budget (§5.4), each one's
 * address looked up again until it is found (a container may appear after
 * its unit is active); the instances that did not answer, by display name.
 * An instance whose address is never found did not become ready, unless a
 * miss is final (pm2 without a PORT): that one is skipped with a warning.
 */
const probeAll = (journal: Journal, caddy: CaddyRun, refs: ReadonlyArray<InstanceRef>, budget: Duration.Duration) =>
  Effect.gen(function* () {
    const targets = yield* ProbeTargets
    const outcomes = yield* Effect.forEach(
      refs,
      (ref) =>
        Effect.gen(function* () {
          const instance = displayInstance(ref)
          const ready = yield* Effect.either(locate(lookupOnce(targets, ref), { budget, probe: true }))
          if (Either.isRight(ready)) {
            yield* caddy.vouch(instance, { url: ready.right.url, basis: "answered" })
            yield* emit(
              ProgressEvent.ProbeReady({ instance, url: ready.right.url, afterMillis: ready.right.elapsedMs }),
            )
            return Either.right(instance)
          }
          const e = ready.left
          if (e._tag === "AddressNotFound" && e.final) {
            yield* emit(ProgressEvent.ProbeSkipped({ instance, reason: "no probe URL could be built" }))
            yield* warn(journal, `${instance}: no probe URL could be built; not probed`)
            return Either.right(instance)
          }
          return Either.left(
            e._tag === "AddressNotFound"
              ? new NotReady({
                  instance,
                  url: "",
                  lastError: `its address was never found: ${e.reason}`,
                  budgetMillis: Duration.toMillis(budget),
                })
              : new NotReady({ instance, url: e.url, lastError: e.lastError, budgetMillis: Duration.toMillis(budget) }),
          )
        }),
      { concurrency: "unbounded" },
    )
    return outcomes.flatMap((o) => (Either.isLeft(o) ? [o.left] : []))
  })

// ---------------------------------------------------------------- the roll

/** One rolled instance, and what the roll knows around it. */
interface RollAt {
  readonly journal: Journal
  readonly caddy: CaddyRun
  readonly step: Extract<PlanStep, { _tag: "Roll" }>
  readonly options: ExecuteOptions
  readonly ref: InstanceRef
  readonly instance: string
  readonly index: number
  /** Caddy's way for this roll; null when the service is not behind Caddy. */
  readonly mode: "admin" | "reload" | null
  /** Instances of this roll restarted so far (this one once its restart call returned). */
  readonly restartedHere: Array<string>
}

/** The roll stops at this instance: it was restarted, the ones after it were not (§7.3 point 5). */
const stopRoll = (at: RollAt, cause: string, culprit: "instance" | "address" = "instance") =>
  new RollStopped({
    service: at.step.service,
    instance: at.instance,
    cause,
    restarted: at.restartedHere.slice(0, -1),
    notRestarted: names(at.step.instances).slice(at.index + 1),
    culprit,
  })

/**
 * Caddy stops sending it requests before it goes down (§9.1); this same load
 * puts the previous instance's new address in. Refused by the take-down rule
 * (issue #20) or by Caddy: the roll stops with this instance still up.
 */
const drainBefore = (at: RollAt) => {
  const stillUp = (cause: string, culprit: "rule" | "caddy") =>
    new RollStopped({
      service: at.step.service,
      instance: at.instance,
      cause,
      restarted: [...at.restartedHere],
      notRestarted: names(at.step.instances).slice(at.index),
      culprit,
    })
  return at.caddy.drain(at.step.service, at.instance).pipe(
    Effect.catchTags({
      DrainRefused: (refused) =>
        Effect.fail(stillUp(`${refused.reason}. It was not taken down, and Caddy still routes to what serves`, "rule")),
      ProxyFailed: (e) =>
        Effect.fail(
          stillUp(`${e.message}; it was not restarted, so Caddy still routes to instances that serve`, "caddy"),
        ),
    }),
  )
}

/** Restart it and wait until the supervisor says it is running; how long that took. */
const restartAndWait = (at: RollAt) =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const { journal, ref, instance } = at
    yield* emit(ProgressEvent.InstanceRestarting({ instance, index: at.index + 1, total: at.step.instances.length }))
    yield* markLogs(journal, [ref])
    const began = yield* Clock.currentTimeMillis
    // Once asked, the restart call is seen through: never half-sent. Its bookkeeping is part of
    // the same region, so an interruption during the call still reports the instance restarted.
    yield* Effect.uninterruptible(
      Effect.tap(supervisor.restartOne(ref), () =>
        Effect.sync(() => {
          journal.restarted.push(instance)
          at.restartedHere.push(instance)
          journal.pendingRoll = journal.pendingRoll.filter((name) => name !== instance)
        }),
      ),
    )
    yield* waitUntil([ref], "running", { limit: at.options.waitLimit }).pipe(
      Effect.catchTags({
        WaitTimeout: (e) =>
          Effect.fail(stopRoll(at, `the supervisor did not report it running within ${e.limitMillis} ms`)),
        InstanceFailed: (e) =>
          Effect.fail(
            stopRoll(
              at,
              `${e.supervisor === "pm2" ? "pm2 reports it errored" : "systemd reports it failed"} ${e.afterMillis} ms after the restart`,
            ),
          ),
      }),
    )
    return (yield* Clock.currentTimeMillis) - began
  })

/**
 * Its address now, and (with `probe`) its answer: a restarted podman
 * container has a new address, and may appear only after the unit is
 * active (Type=simple) or be replaced under it: looked up until the budget
 * runs out. Behind a Caddy that pins, an address never found stops the roll
 * (the pin needs it: never a blind cooldown, §7.3 point 4).
 */
const find = (at: RollAt, probe: boolean) =>
  Effect.gen(function* () {
    const targets = yield* ProbeTargets
    const supervisor = yield* Supervisor
    const budget = at.options.probeTimeout
    return yield* locate(lookupOnce(targets, at.ref), { budget, probe }).pipe(
      Effect.map(Option.some),
      Effect.catchTags({
        ProbeFailed: (e) =>
          Effect.fail(
            stopRoll(at, `it did not answer ${e.url} within ${Duration.format(budget)} (last error: ${e.lastError})`),
          ),
        AddressNotFound: (e) =>
          addressRequired(at.mode, supervisor.kind)
            ? Effect.fail(
                stopRoll(
                  at,
                  `${
                    !e.final
                      ? `its address was not found within ${Duration.format(budget)} (${e.lookups} lookups; last: ${e.reason})`
                      : `its address cannot be found (${e.reason})`
                  }, and Caddy needs it to route ${at.step.service} to it before the next instance goes down`,
                  "address",
                ),
              )
            : Effect.succeed(Option.none<Located>()),
      }),
    )
  })

/**
 * Ready before the next goes down (§7.3 point 4): it answers its probe, or,
 * without one, it stays running through the cooldown and settle window.
 * What the probe found, and the address it serves at (for Caddy).
 */
const becomeReady = (at: RollAt) =>
  Effect.gen(function* () {
    const { step, options, instance, journal, caddy } = at
    const located = step.probe || at.mode !== null ? yield* find(at, step.probe) : Option.none<Located>()
    let url = Option.map(located, (l) => l.url)
    if (step.probe && Option.isSome(located)) {
      yield* emit(
        ProgressEvent.ProbeReady({
          instance,
          url: located.value.url,
          afterMillis: located.value.elapsedMs,
          version: located.value.version,
        }),
      )
      yield* caddy.vouch(instance, { url: located.value.url, basis: "answered" })
      return { located, url }
    }
    if (step.probe) {
      yield* emit(ProgressEvent.ProbeSkipped({ instance, reason: "no probe URL could be built" }))
      yield* warn(journal, `${instance}: no probe URL could be built; waiting the cooldown instead`)
    }
    const last = at.index === step.instances.length - 1
    const cooldown = !last || at.mode !== null ? options.cooldown : Duration.zero
    if (Duration.greaterThan(cooldown, Duration.zero))
      yield* emit(ProgressEvent.Cooldown({ millis: Duration.toMillis(cooldown) }))
    // Not ready unless it stays running through the window (and the cooldown): else its siblings stay up.
    const window = Duration.max(options.settle ?? Duration.zero, cooldown)
    if (Duration.greaterThan(window, Duration.zero))
      yield* settle(journal, [at.ref], window, options).pipe(
        Effect.catchTag("SettleFailed", (e) =>
          Effect.fail(
            stopRoll(
              at,
              `it did not stay running through the settle window: it ${e.ended.map(describeEnded).join("; ")}`,
            ),
          ),
        ),
      )
    // Its container may have been replaced during the window: the pin gets the address it has now.
    if (at.mode !== null && Option.isSome(url)) url = Option.map(yield* find(at, false), (l) => l.url)
    // --no-probe-http: it stayed running through its cooldown at this address.
    if (Option.isSome(url)) yield* caddy.vouch(instance, { url: url.value, basis: "settled" })
    return { located, url }
  })

/**
 * What it came back on against the expected version (issue #22): its
 * `X-Version` when the probe saw one, else what its image says. A drift is
 * a warning; the roll goes on, and the command exits 1 at the end.
 */
const judgeVersion = (
  at: RollAt,
  before: InstanceTarget,
  after: InstanceTarget | null,
  move: VersionMove,
  located: Option.Option<Located>,
  expected: string | null,
) =>
  Effect.gen(function* () {
    const targets = yield* ProbeTargets
    const { journal, instance } = at
    const served = Option.flatMap(located, (l) => Option.fromNullable(l.version))
    // Without a header: what its image says. A Type=simple unit's container may not have existed
    // yet when its image was asked right after "running": asked once more now that it was found.
    const image =
      Option.isNone(served) && move.after === null && Option.isSome(located)
        ? (yield* lookupTarget(targets, at.ref)).version
        : (after?.version ?? Option.none<string>())
    const final = versionMove(
      before.version,
      Option.orElse(served, () => image),
      expected,
    )
    journal.versions.push({ instance, ...final })
    if (isVersionDrift(final.status)) {
      journal.versionMismatches.push(instance)
      // Its siblings run the same unit: the roll goes on, and the command exits 1 at the end.
      yield* warn(
        journal,
        `${instance} came back on ${final.after}, expected ${final.expected}; the roll goes on (the env file or the image tag may be wrong)`,
      )
    }
  })

/**
 * A rolling service, one instance at a time in the plan's order (spec §7.3
 * point 4): Caddy stops routing to it, restart it, wait until the
 * supervisor says it is running, probe it until it answers, and give Caddy
 * its new address; never the next before the previous is ready (§7.4,
 * §7.5), never one Caddy still routes to (§9.1).
 */
const roll = (journal: Journal, caddy: CaddyRun, step: Extract<PlanStep, { _tag: "Roll" }>, options: ExecuteOptions) =>
  Effect.gen(function* () {
    const targets = yield* ProbeTargets
    const restartedHere: Array<string> = []
    // Caddy routes by the addresses tamanu pins (its admin API): the take-down rule and the new
    // addresses are what keep it serving. The old way (a reload) leaves the routing to Caddy's own config.
    const mode = step.behindCaddy ? yield* caddy.open : null
    const expected = options.expectedVersion?.(step.service) ?? null
    // What each instance runs before it goes down: one look-up for the whole service (one podman ps +
    // inspect) before the first take-down, not one per instance between its drain and its restart.
    const runsBefore = options.expectedVersion === undefined ? null : yield* targetsOf(targets, step.instances)
    for (const [index, ref] of step.instances.entries()) {
      const at: RollAt = {
        journal,
        caddy,
        step,
        options,
        ref,
        instance: displayInstance(ref),
        index,
        mode,
        restartedHere,
      }
      if (mode !== null) yield* drainBefore(at)
      const before = runsBefore === null ? null : (runsBefore.get(at.instance) ?? noTarget)
      const runningAfter = yield* restartAndWait(at)
      // What it runs now, by the same look-up as before it went down (one podman ps + inspect).
      const after = before === null ? null : yield* lookupTarget(targets, ref)
      const move =
        before === null || after === null || options.expectedVersion === undefined
          ? undefined
          : versionMove(before.version, after.version, expected)
      yield* emit(ProgressEvent.InstanceRunning({ instance: at.instance, afterMillis: runningAfter, version: move }))
      const ready = yield* becomeReady(at)
      // The next drain routes to its new address: the next instance goes down only once Caddy routes to this one.
      if (mode !== null && Option.isSome(ready.url)) yield* caddy.movedTo(step.service, at.instance, ready.url.value)
      if (move !== undefined && before !== null) yield* judgeVersion(at, before, after, move, ready.located, expected)
    }
  }).pipe(
    Effect.tapError((e) =>
      Effect.sync(() => {
        if (e._tag === "RollStopped") journal.notRestarted.push(...e.notRestarted)
      }),
    ),
  )

// ---------------------------------------------------------------- the steps

const runStep = (
  journal: Journal,
  caddy: CaddyRun,
  step: PlanStep,
  next: PlanStep | undefined,
  options: ExecuteOptions,
) =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    switch (step._tag) {
      case "Settle":
        return yield* settle(journal, step.refs, Duration.millis(step.millis), options)
      case "Stop":
        yield* batch("stop", step.refs, supervisor.stop)
        journal.stopped.push(...names(step.refs))
        return
      case "Disable":
        return yield* batch("disable", step.refs, supervisor.disable)
      case "Delete":
        yield* batch("delete", step.refs, supervisor.remove)
        journal.stopped.push(...names(step.refs))
        return
      case "WaitStopped":
        return yield* waitFor(step.refs, "stopped", options.waitLimit)
      case "Start":
        yield* markLogs(journal, step.refs)
        yield* batch("start", step.refs, supervisor.start)
        journal.started.push(...names(step.refs))
        return
      case "WaitRunning":
        return yield* waitFor(step.refs, "running", options.waitLimit)
      case "Restart":
        yield* markLogs(journal, step.refs)
        yield* batch("restart", step.refs, supervisor.restart)
        journal.restarted.push(...names(step.refs))
        return
      case "RouteProxy":
        return yield* caddy.routeStep(step, next)
      case "ProbeAll": {
        const failed = yield* probeAll(journal, caddy, step.refs, options.probeTimeout)
        if (failed.length === 0) return
        // Caddy routes to the ones that answer before the command fails (§5.4).
        yield* caddy.routeAround(failed.map((f) => f.instance))
        return yield* Effect.fail(failed[0] as NotReady)
      }
      case "Roll":
        return yield* roll(journal, caddy, step, options)
      case "Retire":
        yield* batch("stop", step.refs, supervisor.stop)
        yield* batch("disable", step.refs, supervisor.disable)
        yield* waitFor(step.refs, "stopped", options.waitLimit)
        journal.stopped.push(...names(step.refs))
        return
      case "RestoreProxy":
        return yield* caddy.restore(step.probe, options.probeTimeout)
      case "CheckUrl": {
        const result = yield* waitReady(step.url, { budget: defaults.checkUrlBudget }).pipe(
          Effect.mapError((e) => new CheckUrlFailed({ url: e.url, lastError: e.lastError })),
        )
        yield* emit(ProgressEvent.ProbeReady({ instance: "check-url", url: result.url, afterMillis: result.elapsedMs }))
        return
      }
    }
  })

/** Carry out the plan's steps in order; stop at the first failure. */
export const execute = (plan: Plan, options: ExecuteOptions): Effect.Effect<Execution, ExecuteError, Services> =>
  Effect.gen(function* () {
    const journal: Journal = {
      started: [],
      stopped: [],
      restarted: [],
      notRestarted: [],
      warnings: [],
      pendingRoll: plan.steps.flatMap((step) => (step._tag === "Roll" ? names(step.instances) : [])),
      marks: [],
      settled: [],
      linesShown: new Set(),
      versions: [],
      versionMismatches: [],
    }
    // Caddy's side of the run: the executor knows of Caddy only through it.
    const caddy = yield* makeCaddyRun(proxiedServices(plan.steps))
    yield* Effect.forEach(
      plan.steps,
      (step, i) =>
        runStep(journal, caddy, step, plan.steps[i + 1], options).pipe(
          // What Caddy's session said in this step, in the result's warnings after the step's own.
          Effect.zipLeft(Effect.flatMap(caddy.takeWarnings, (w) => Effect.sync(() => journal.warnings.push(...w)))),
          // The unit's own words: what a failed instance logged since its start call.
          Effect.tapError((e) =>
            emitLastLines(journal.marks, failedInstances(e), journal.linesShown, options.lastLines ?? defaultLastLines),
          ),
        ),
      { discard: true },
    ).pipe(
      // A failure loses the journal with the error; say what had been done first.
      Effect.tapError(() =>
        emit(
          ProgressEvent.ExecutionFailed({
            started: [...journal.started],
            stopped: [...journal.stopped],
            restarted: [...journal.restarted],
            notRestarted: [...journal.notRestarted],
          }),
        ),
      ),
      Effect.onInterrupt(() =>
        // No further instance is taken down; say what was and was not done.
        emit(
          ProgressEvent.Warning({
            message: `interrupted: restarted ${journal.restarted.join(", ") || "nothing"}; not restarted ${
              journal.pendingRoll.join(", ") || "nothing"
            }`,
          }),
        ),
      ),
    )
    return {
      started: journal.started,
      stopped: journal.stopped,
      restarted: journal.restarted,
      notRestarted: journal.notRestarted,
      warnings: journal.warnings,
      caddy: yield* caddy.outcome,
      settled: journal.settled,
      versions: journal.versions,
      versionMismatches: journal.versionMismatches,
    }
  })

/** Before and after against the expected version; a restarted instance is not exempted by an upgrade marker. */
export const versionMove = (
  before: Option.Option<string>,
  after: Option.Option<string>,
  expected: string | null,
): VersionMove => {
  const a = Option.getOrNull(after)
  return { before: Option.getOrNull(before), after: a, expected, status: versionStatus(expected, a, null) }
}
