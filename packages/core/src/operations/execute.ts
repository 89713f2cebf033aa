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
import { emit, Progress, ProgressEvent, type VersionMove } from "../events/Progress.js"
import { displayInstance, type InstanceRef } from "../model/instance.js"
import { isVersionDrift, versionStatus } from "../model/version.js"
import type { Plan, PlanStep } from "../plan/Plan.js"
import { proxiedServices } from "../plan/Plan.js"
import { type Located, locate } from "../probe/locate.js"
import { Prober } from "../probe/Prober.js"
import { lookupOnce, lookupTarget, ProbeTargets } from "../probe/ProbeTargets.js"
import { waitReady } from "../probe/readiness.js"
import type { Endpoint, ServiceEndpoints } from "../proxy/caddyConfig.js"
import { type ProxyFailed, type ProxySession, ReverseProxy } from "../proxy/ReverseProxy.js"
import type { Desired } from "../proxy/routing.js"
import { mayTakeDown, type Vouched } from "../proxy/takeDown.js"
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
import { answeringWithin, endpointsOf as serviceEndpoints, trustAll } from "./endpoints.js"
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

export interface CaddyOutcome {
  /** Through its admin API, or the old way (a reload after each instance). */
  readonly mode: "admin" | "reload"
  /** Config loads through the admin API (routing changes and the restore). */
  readonly configLoads: number
  /** Reloads of the old way. */
  readonly reloads: number
  /** Caddy runs its own config again. */
  readonly restored: boolean
  /** How long the run waited for Caddy's cache before the restore. */
  readonly waitedMillis: number
}

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
  /** Counted from the session's events. */
  caddy: { configLoads: number; reloads: number; restored: boolean; waitedMillis: number }
  /** The log mark taken before each start/restart call, to show a failed instance's own lines. */
  readonly marks: Array<MarkedStart>
  readonly settled: Array<SettledInstance>
  /** Instances whose last lines were shown (once per run). */
  readonly linesShown: Set<string>
  readonly versions: Array<{ readonly instance: string } & VersionMove>
  readonly versionMismatches: Array<string>
}

/**
 * Caddy's side of the run: the session (opened at the first step that
 * routes) and where each instance behind Caddy serves now. An instance is in
 * `endpoints` while it runs at a known address and is not known to be
 * unready; its entry changes when it restarts.
 */
interface Routing {
  /** Services behind Caddy the plan routes or rolls. */
  readonly services: ReadonlyArray<string>
  session: ProxySession | null
  /** Service → instance display name → URL. */
  readonly endpoints: Map<string, Map<string, string>>
  /** Instances a probe found not answering: never routed to. */
  readonly unready: Set<string>
  /**
   * Instances known to serve, at which address: found running when the
   * session opened, or answered (settled, without probes) in this run; an
   * instance leaves it when it is drained. What `mayTakeDown` is asked with.
   */
  readonly vouched: Map<string, Vouched>
}

/** A warning for the operator; `execute` keeps every warning emitted during the run in the journal. */
const warn = (_journal: Journal, message: string) => emit(ProgressEvent.Warning({ message }))

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

// ---------------------------------------------------------------- Caddy

/** Where the running instances of these services serve now: one supervisor list, one address look-up each. */
const discoverEndpoints = (routing: Routing, services: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const found = yield* serviceEndpoints(services, yield* supervisor.list)
    for (const { service, endpoints } of found)
      routing.endpoints.set(
        service,
        new Map(endpoints.filter((e) => !routing.unready.has(e.instance)).map((e) => [e.instance, e.url])),
      )
  })

const endpointsOf = (routing: Routing, service: string, except: ReadonlySet<string> = new Set()): Array<Endpoint> =>
  [...(routing.endpoints.get(service) ?? new Map<string, string>())]
    .filter(([instance]) => !except.has(instance))
    .map(([instance, url]) => ({ instance, url }))

/** Every routed service at its current endpoints, `service` without `except` and marked draining when it loses one. */
const desiredRoutes = (routing: Routing, leaveOut: ReadonlySet<string>, draining: boolean): ReadonlyArray<Desired> =>
  routing.services.map((service) => {
    const endpoints = endpointsOf(routing, service, leaveOut)
    return {
      service,
      endpoints,
      draining: draining && endpoints.length < endpointsOf(routing, service).length,
    }
  })

/** The session, opened on first use over every service the plan routes, at the addresses they serve now. */
const sessionOf = (routing: Routing) =>
  Effect.gen(function* () {
    if (routing.session !== null) return routing.session
    yield* discoverEndpoints(routing, routing.services)
    const proxy = yield* ReverseProxy
    const services: ReadonlyArray<ServiceEndpoints> = routing.services.map((service) => ({
      service,
      endpoints: endpointsOf(routing, service),
    }))
    const session = yield* proxy.open(services)
    routing.session = session
    for (const { endpoints } of services)
      for (const e of endpoints)
        if (!routing.vouched.has(e.instance)) routing.vouched.set(e.instance, { url: e.url, basis: "serving" })
    return session
  })

/**
 * Probe every instance at once within one overall budget (§5.4), each one's
 * address looked up again until it is found (a container may appear after
 * its unit is active); the instances that did not answer, by display name.
 * An instance whose address is never found did not become ready, unless a
 * miss is final (pm2 without a PORT): that one is skipped with a warning.
 */
const probeAll = (journal: Journal, routing: Routing, refs: ReadonlyArray<InstanceRef>, budget: Duration.Duration) =>
  Effect.gen(function* () {
    const targets = yield* ProbeTargets
    const outcomes = yield* Effect.forEach(
      refs,
      (ref) =>
        Effect.gen(function* () {
          const instance = displayInstance(ref)
          const ready = yield* Effect.either(locate(lookupOnce(targets, ref), { budget, probe: true }))
          if (Either.isRight(ready)) {
            routing.vouched.set(instance, { url: ready.right.url, basis: "answered" })
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

/** One instance at a time; never the next before the previous answers (§7.4, §7.5), never one Caddy still routes to (§9.1). */
const roll = (journal: Journal, routing: Routing, step: Extract<PlanStep, { _tag: "Roll" }>, options: ExecuteOptions) =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const targets = yield* ProbeTargets
    const all = names(step.instances)
    const restartedHere: Array<string> = []
    const session = step.behindCaddy ? yield* sessionOf(routing) : null
    // Caddy routes by the addresses tamanu pins (its admin API): the take-down rule and the new
    // addresses are what keep it serving. The old way (a reload) leaves the routing to Caddy's own config.
    const pins = session !== null && session.mode === "admin"
    for (const [index, ref] of step.instances.entries()) {
      const instance = displayInstance(ref)
      const stopRoll = (
        cause: string,
        restarted: ReadonlyArray<string>,
        culprit: "instance" | "address" = "instance",
      ) =>
        new RollStopped({
          service: step.service,
          instance,
          cause,
          restarted,
          notRestarted: all.slice(index + 1),
          culprit,
        })

      // Caddy first stops sending it requests; this same change puts the previous one's new address in.
      if (session !== null) {
        const desired = desiredRoutes(routing, new Set([instance]), true)
        // The one rule (issue #20): another instance that serves must carry the service before this one goes.
        const verdict = mayTakeDown({
          instance,
          service: step.service,
          routed: desired.find((d) => d.service === step.service)?.endpoints ?? [],
          vouched: routing.vouched,
        })
        if (pins && verdict._tag === "Refused")
          return yield* Effect.fail(
            new RollStopped({
              service: step.service,
              instance,
              cause: `${verdict.reason}. It was not taken down, and Caddy still routes to what serves`,
              restarted: [...restartedHere],
              notRestarted: all.slice(index),
              culprit: "rule",
            }),
          )
        yield* session.route(desired).pipe(
          Effect.mapError(
            (e) =>
              new RollStopped({
                service: step.service,
                instance,
                cause: `${e.message}; it was not restarted, so Caddy still routes to instances that serve`,
                restarted: [...restartedHere],
                notRestarted: all.slice(index),
                culprit: "caddy",
              }),
          ),
        )
        routing.endpoints.get(step.service)?.delete(instance)
        routing.vouched.delete(instance)
      }

      // What it runs before it goes down (the same look-up as its address: one podman ps + inspect).
      const before = options.expectedVersion === undefined ? null : yield* lookupTarget(targets, ref)
      yield* emit(ProgressEvent.InstanceRestarting({ instance, index: index + 1, total: all.length }))
      yield* markLogs(journal, [ref])
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
      yield* waitUntil([ref], "running", { limit: options.waitLimit }).pipe(
        Effect.catchTags({
          WaitTimeout: (e) =>
            Effect.fail(
              stopRoll(
                `the supervisor did not report it running within ${e.limitMillis} ms`,
                restartedHere.slice(0, -1),
              ),
            ),
          InstanceFailed: (e) =>
            Effect.fail(
              stopRoll(
                `${e.supervisor === "pm2" ? "pm2 reports it errored" : "systemd reports it failed"} ${e.afterMillis} ms after the restart`,
                restartedHere.slice(0, -1),
              ),
            ),
        }),
      )
      const runningAfter = (yield* Clock.currentTimeMillis) - began

      // What it runs now, by the same look-up as before it went down (one podman ps + inspect).
      const after = before === null ? null : yield* lookupTarget(targets, ref)
      const move =
        before === null || after === null || options.expectedVersion === undefined
          ? undefined
          : versionMove(before.version, after.version, options.expectedVersion(step.service))
      yield* emit(ProgressEvent.InstanceRunning({ instance, afterMillis: runningAfter, version: move }))

      // Its address now: a restarted podman container has a new one, and may appear only after
      // the unit is active (Type=simple) or be replaced under it: looked up until the budget runs out.
      const find = (probe: boolean) =>
        locate(lookupOnce(targets, ref), {
          budget: options.probeTimeout,
          probe,
        }).pipe(
          Effect.map(Option.some),
          Effect.catchTags({
            ProbeFailed: (e) =>
              Effect.fail(
                stopRoll(
                  `it did not answer ${e.url} within ${Duration.format(options.probeTimeout)} (last error: ${e.lastError})`,
                  restartedHere.slice(0, -1),
                ),
              ),
            AddressNotFound: (e) =>
              // Behind Caddy the pin needs the new address: never a blind cooldown (§7.4).
              pins
                ? Effect.fail(
                    stopRoll(
                      `${
                        !e.final
                          ? `its address was not found within ${Duration.format(options.probeTimeout)} (${e.lookups} lookups; last: ${e.reason})`
                          : `its address cannot be found (${e.reason})`
                      }, and Caddy needs it to route ${step.service} to it before the next instance goes down`,
                      restartedHere.slice(0, -1),
                      "address",
                    ),
                  )
                : Effect.succeed(Option.none<Located>()),
          }),
        )
      const located = step.probe || session !== null ? yield* find(step.probe) : Option.none<Located>()
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
        routing.vouched.set(instance, { url: located.value.url, basis: "answered" })
      } else {
        if (step.probe) {
          yield* emit(ProgressEvent.ProbeSkipped({ instance, reason: "no probe URL could be built" }))
          yield* warn(journal, `${instance}: no probe URL could be built; waiting the cooldown instead`)
        }
        const last = index === step.instances.length - 1
        const cooldown = !last || session !== null ? options.cooldown : Duration.zero
        if (Duration.greaterThan(cooldown, Duration.zero))
          yield* emit(ProgressEvent.Cooldown({ millis: Duration.toMillis(cooldown) }))
        // Not ready unless it stays running through the window (and the cooldown): else its siblings stay up.
        const window = Duration.max(options.settle ?? Duration.zero, cooldown)
        if (Duration.greaterThan(window, Duration.zero))
          yield* settle(journal, [ref], window, options).pipe(
            Effect.catchTag("SettleFailed", (e) =>
              Effect.fail(
                stopRoll(
                  `it did not stay running through the settle window: it ${e.ended.map(describeEnded).join("; ")}`,
                  restartedHere.slice(0, -1),
                ),
              ),
            ),
          )
        // Its container may have been replaced during the window: the pin gets the address it has now.
        if (session !== null && Option.isSome(url)) url = Option.map(yield* find(false), (l) => l.url)
        // --no-probe-http: it stayed running through its cooldown at this address.
        if (Option.isSome(url)) routing.vouched.set(instance, { url: url.value, basis: "settled" })
      }
      if (session !== null && Option.isSome(url)) routing.endpoints.get(step.service)?.set(instance, url.value)
      if (move !== undefined && before !== null && options.expectedVersion !== undefined) {
        /** What it serves: its `X-Version` when the probe saw one, else what its image says. */
        const served = Option.flatMap(located, (l) => Option.fromNullable(l.version))
        // Without a header: what its image says. A Type=simple unit's container may not have existed
        // yet when its image was asked right after "running": asked once more now that it was found.
        const image =
          Option.isNone(served) && move.after === null && Option.isSome(located)
            ? (yield* lookupTarget(targets, ref)).version
            : (after?.version ?? Option.none<string>())
        const final = versionMove(
          before.version,
          Option.orElse(served, () => image),
          options.expectedVersion(step.service),
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
      }
    }
  }).pipe(
    Effect.tapError((e) =>
      Effect.sync(() => {
        if (e._tag === "RollStopped") journal.notRestarted.push(...e.notRestarted)
      }),
    ),
  )

// ---------------------------------------------------------------- the steps

/**
 * Route the listed services to what serves, without `except`; a failure fails the step only when
 * instances are about to change. `deferred`: the next step is a roll behind Caddy or the restore,
 * which load these routes anyway (one load instead of two).
 */
const routeProxy = (
  journal: Journal,
  routing: Routing,
  step: Extract<PlanStep, { _tag: "RouteProxy" }>,
  deferred: boolean,
) =>
  Effect.gen(function* () {
    const opened = routing.session !== null
    const session = yield* sessionOf(routing)
    const leaving = new Set(names(step.except))
    // Instances started or restarted since the last look: where they serve now, unless a probe said they do not.
    if (opened) yield* discoverEndpoints(routing, step.services)
    if (deferred && step.except.length === 0) return
    const result = yield* Effect.either(session.route(desiredRoutes(routing, leaving, true)))
    if (Either.isLeft(result)) {
      if (step.except.length > 0) return yield* Effect.fail(result.left)
      yield* warn(journal, `${result.left.message}; Caddy keeps routing as before`)
      return
    }
    for (const service of step.services) for (const name of leaving) routing.endpoints.get(service)?.delete(name)
  })

const runStep = (
  journal: Journal,
  routing: Routing,
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
        // A roll's first drain, or the restore, loads these routes anyway: one load instead of two.
        return yield* routeProxy(
          journal,
          routing,
          step,
          (next?._tag === "Roll" && next.behindCaddy) || next?._tag === "RestoreProxy",
        )
      case "ProbeAll": {
        const failed = yield* probeAll(journal, routing, step.refs, options.probeTimeout)
        if (failed.length === 0) return
        // Caddy routes to the ones that answer before the command fails (§5.4).
        for (const f of failed) routing.unready.add(f.instance)
        if (routing.session !== null) {
          yield* discoverEndpoints(routing, routing.services)
          yield* Effect.either(routing.session.route(desiredRoutes(routing, new Set(), false)))
        }
        return yield* Effect.fail(failed[0] as NotReady)
      }
      case "Roll":
        return yield* roll(journal, routing, step, options)
      case "Retire":
        yield* batch("stop", step.refs, supervisor.stop)
        yield* batch("disable", step.refs, supervisor.disable)
        yield* waitFor(step.refs, "stopped", options.waitLimit)
        journal.stopped.push(...names(step.refs))
        return
      case "RestoreProxy":
        if (routing.session !== null)
          yield* routing.session.restore(
            desiredRoutes(routing, new Set(), false),
            step.probe
              ? answeringWithin(yield* Supervisor, yield* ProbeTargets, yield* Prober, options.probeTimeout)
              : trustAll,
          )
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
      caddy: { configLoads: 0, reloads: 0, restored: false, waitedMillis: 0 },
      marks: [],
      settled: [],
      linesShown: new Set(),
      versions: [],
      versionMismatches: [],
    }
    const routing: Routing = {
      services: proxiedServices(plan.steps),
      session: null,
      endpoints: new Map(),
      unready: new Set(),
      vouched: new Map(),
    }
    yield* Effect.forEach(
      plan.steps,
      (step, i) =>
        runStep(journal, routing, step, plan.steps[i + 1], options).pipe(
          // The unit's own words: what a failed instance logged since its start call.
          Effect.tapError((e) =>
            emitLastLines(journal.marks, failedInstances(e), journal.linesShown, options.lastLines ?? defaultLastLines),
          ),
        ),
      { discard: true },
    ).pipe(
      // Every warning said during the run (by the steps, Caddy's session, the probe targets) is in the result too.
      Effect.updateService(Progress, (progress) => ({
        emit: (event: ProgressEvent) =>
          Effect.zipRight(
            Effect.sync(() => {
              if (event._tag === "Warning") journal.warnings.push(event.message)
              if (event._tag === "ProxyReloaded") {
                journal.warnings.push(...event.warnings)
                journal.caddy.reloads += 1
              }
              if (event._tag === "ProxyRouted") journal.caddy.configLoads += 1
              if (event._tag === "ProxyRestored") {
                journal.caddy.configLoads += 1
                journal.caddy.restored = true
              }
              if (event._tag === "ProxyRestoreWaiting") journal.caddy.waitedMillis += event.inMillis
            }),
            progress.emit(event),
          ),
      })),
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
      caddy: routing.session === null ? null : { mode: routing.session.mode, ...journal.caddy },
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
