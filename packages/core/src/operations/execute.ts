/**
 * The executor: a thin interpreter of a Plan (plan/Plan.ts). Every decision
 * was made by the planner; this file only makes the calls in order, waits on
 * Schedules, and reports progress. The one judgement it keeps is the safety
 * rule of §7.5: a roll goes to the next instance only once the previous one
 * is ready, and an interruption never takes a further instance down.
 */
import { Clock, Duration, Effect, Option } from "effect"
import { emit, type Progress, ProgressEvent } from "../events/Progress.js"
import { displayInstance, type InstanceRef } from "../model/instance.js"
import type { Plan, PlanStep } from "../plan/Plan.js"
import type { ProbeFailed, Prober } from "../probe/Prober.js"
import { ProbeTargets } from "../probe/ProbeTargets.js"
import { waitReady } from "../probe/readiness.js"
import { ReverseProxy } from "../proxy/ReverseProxy.js"
import type { InstanceFailed, SupervisorError, WaitTimeout } from "../supervisor/errors.js"
import { Supervisor } from "../supervisor/Supervisor.js"
import { waitUntil } from "../supervisor/wait.js"
import { CheckUrlFailed, NotReady, RollStopped } from "./errors.js"
import { defaults } from "./options.js"

export interface ExecuteOptions {
  readonly command: string
  /** Limit for the supervisor to report instances running / stopped. */
  readonly waitLimit: Duration.Duration
  /** Start: one overall budget for ProbeAll. Restart: the budget of each rolled instance. */
  readonly probeTimeout: Duration.Duration
  /** Wait between rolled instances when no probe is possible. */
  readonly cooldown: Duration.Duration
}

/** What happened, for the final report (display names). */
export interface Execution {
  readonly started: ReadonlyArray<string>
  readonly stopped: ReadonlyArray<string>
  readonly restarted: ReadonlyArray<string>
  /** Rolled instances not restarted because the roll stopped or was interrupted. */
  readonly notRestarted: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
}

export type ExecuteError = SupervisorError | WaitTimeout | InstanceFailed | NotReady | RollStopped | CheckUrlFailed

type Services = Supervisor | ProbeTargets | Prober | ReverseProxy | Progress

const names = (refs: ReadonlyArray<InstanceRef>): ReadonlyArray<string> => refs.map(displayInstance)

interface Journal {
  readonly started: Array<string>
  readonly stopped: Array<string>
  readonly restarted: Array<string>
  readonly notRestarted: Array<string>
  readonly warnings: Array<string>
  /** Rolled instances still to go in this and every later roll, so an interruption can say what was not done. */
  pendingRoll: ReadonlyArray<string>
}

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

const reloadProxy = (journal: Journal) =>
  Effect.gen(function* () {
    const proxy = yield* ReverseProxy
    const result = yield* proxy.reload
    yield* emit(ProgressEvent.ProxyReloaded({ reloaded: result.reloaded, warnings: result.warnings }))
    for (const w of result.warnings) journal.warnings.push(w)
  })

/** Probe every instance at once within one overall budget (§5.4). */
const probeAll = (journal: Journal, refs: ReadonlyArray<InstanceRef>, budget: Duration.Duration) =>
  Effect.gen(function* () {
    const targets = yield* ProbeTargets
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(budget)
    yield* Effect.forEach(
      refs,
      (ref) =>
        Effect.gen(function* () {
          const instance = displayInstance(ref)
          const url = yield* targets.urlFor(ref)
          if (Option.isNone(url)) {
            yield* emit(ProgressEvent.ProbeSkipped({ instance, reason: "no probe URL could be built" }))
            yield* warn(journal, `${instance}: no probe URL could be built; not probed`)
            return
          }
          const remaining = Math.max(0, deadline - (yield* Clock.currentTimeMillis))
          const ready = yield* waitReady(url.value, { budget: Duration.millis(remaining) }).pipe(
            Effect.mapError(
              (e: ProbeFailed) =>
                new NotReady({ instance, url: e.url, lastError: e.lastError, budgetMillis: Duration.toMillis(budget) }),
            ),
          )
          yield* emit(ProgressEvent.ProbeReady({ instance, url: ready.url, afterMillis: ready.elapsedMs }))
        }),
      { concurrency: "unbounded", discard: true },
    )
  })

/** One instance at a time; never the next before the previous answers (§7.4, §7.5). */
const roll = (journal: Journal, step: Extract<PlanStep, { _tag: "Roll" }>, options: ExecuteOptions) =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const targets = yield* ProbeTargets
    const all = names(step.instances)
    const restartedHere: Array<string> = []
    for (const [index, ref] of step.instances.entries()) {
      const instance = displayInstance(ref)
      yield* emit(ProgressEvent.InstanceRestarting({ instance, index: index + 1, total: all.length }))
      const began = yield* Clock.currentTimeMillis
      // Once asked, the restart call is seen through: never half-sent. Its bookkeeping is part of
      // the same region, so an interruption during the call still reports the instance restarted.
      yield* Effect.uninterruptible(
        Effect.tap(supervisor.restartOne(ref), () =>
          Effect.sync(() => {
            journal.restarted.push(instance)
            restartedHere.push(instance)
            journal.pendingRoll = journal.pendingRoll.filter((name) => name !== instance)
          }),
        ),
      )
      const stopRoll = (cause: string) =>
        new RollStopped({
          service: step.service,
          instance,
          cause,
          restarted: restartedHere.slice(0, -1),
          notRestarted: all.slice(index + 1),
        })
      yield* waitUntil([ref], "running", { limit: options.waitLimit }).pipe(
        Effect.catchTags({
          WaitTimeout: (e) =>
            Effect.fail(stopRoll(`the supervisor did not report it running within ${e.limitMillis} ms`)),
          InstanceFailed: (e) =>
            Effect.fail(
              stopRoll(
                `${e.supervisor === "pm2" ? "pm2 reports it errored" : "systemd reports it failed"} ${e.afterMillis} ms after the restart`,
              ),
            ),
        }),
      )
      yield* emit(ProgressEvent.InstanceRunning({ instance, afterMillis: (yield* Clock.currentTimeMillis) - began }))

      const url = step.probe ? yield* targets.urlFor(ref) : Option.none<string>()
      if (Option.isSome(url)) {
        const ready = yield* waitReady(url.value, { budget: options.probeTimeout }).pipe(
          Effect.mapError((e) =>
            stopRoll(
              `it did not answer ${e.url} within ${Duration.format(options.probeTimeout)} (last error: ${e.lastError})`,
            ),
          ),
        )
        yield* emit(ProgressEvent.ProbeReady({ instance, url: ready.url, afterMillis: ready.elapsedMs }))
      } else if (step.probe) {
        yield* emit(ProgressEvent.ProbeSkipped({ instance, reason: "no probe URL could be built" }))
        yield* warn(journal, `${instance}: no probe URL could be built; waiting the cooldown instead`)
      }
      if (step.behindCaddy) yield* reloadProxy(journal)
      const last = index === step.instances.length - 1
      if (Option.isNone(url) && !last) {
        yield* emit(ProgressEvent.Cooldown({ millis: Duration.toMillis(options.cooldown) }))
        yield* Effect.sleep(options.cooldown)
      }
    }
  }).pipe(
    Effect.tapError((e) =>
      Effect.sync(() => {
        if (e._tag === "RollStopped") journal.notRestarted.push(...e.notRestarted)
      }),
    ),
  )

const runStep = (journal: Journal, step: PlanStep, options: ExecuteOptions) =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    switch (step._tag) {
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
        yield* batch("start", step.refs, supervisor.start)
        journal.started.push(...names(step.refs))
        return
      case "WaitRunning":
        return yield* waitFor(step.refs, "running", options.waitLimit)
      case "Restart":
        yield* batch("restart", step.refs, supervisor.restart)
        journal.restarted.push(...names(step.refs))
        return
      case "ReloadProxy":
        return yield* reloadProxy(journal)
      case "ProbeAll":
        return yield* probeAll(journal, step.refs, options.probeTimeout)
      case "Roll":
        return yield* roll(journal, step, options)
      case "Retire":
        yield* batch("stop", step.refs, supervisor.stop)
        yield* batch("disable", step.refs, supervisor.disable)
        yield* waitFor(step.refs, "stopped", options.waitLimit)
        journal.stopped.push(...names(step.refs))
        return
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
    }
    yield* Effect.forEach(plan.steps, (step) => runStep(journal, step, options), { discard: true }).pipe(
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
    }
  })
