/**
 * Caddy's side of one run, as the executor sees it (spec §7.3, §9): the
 * executor calls these at its steps and knows nothing else of Caddy. It
 * holds what decide.ts decides with (the `Book` of endpoints), opens the
 * ReverseProxy session at the first step that routes, and adds up what each
 * session call returned (`ProxyTally`): `outcome` is the run's Caddy result
 * as a value, never rebuilt from progress events.
 */
import { type Duration, Effect, Either, Ref, type Scope } from "effect"
import { emit, type Progress, ProgressEvent } from "../events/Progress.js"
import type { PlanStep } from "../plan/Plan.js"
import type { Prober } from "../probe/Prober.js"
import type { ProbeTargets } from "../probe/ProbeTargets.js"
import type { SupervisorError } from "../supervisor/errors.js"
import { Supervisor } from "../supervisor/Supervisor.js"
import {
  type Book,
  desiredRoutes,
  discovered,
  drained,
  drainFor,
  emptyBook,
  leftOut,
  markUnready,
  movedTo,
  openedOver,
  routeDeferred,
  routeFailureFatal,
  routeLeaving,
  vouch,
  vouchServing,
} from "./decide.js"
import { answeringFor, endpointsOf as serviceEndpoints } from "./endpoints.js"
import {
  addTally,
  noTally,
  type ProxyFailed,
  type ProxyMode,
  type ProxySession,
  type ProxyTally,
  ReverseProxy,
} from "./ReverseProxy.js"
import type { Vouched } from "./takeDown.js"

/** What was asked of Caddy in a run (§9), for its result. */
export interface CaddyOutcome {
  /** Through its admin API, or the old way (a reload after each instance). */
  readonly mode: ProxyMode
  /** Config loads through the admin API (routing changes and the restore). */
  readonly configLoads: number
  /** Reloads of the old way. */
  readonly reloads: number
  /** Caddy runs its own config again. */
  readonly restored: boolean
  /** How long the run waited for Caddy's cache before the restore. */
  readonly waitedMillis: number
}

/** The take-down rule said no (issue #20): the instance stays up, Caddy still routes to what serves. */
export interface DrainRefused {
  readonly _tag: "DrainRefused"
  readonly reason: string
}

type Needs = Supervisor | ProbeTargets | ReverseProxy | Progress | Scope.Scope

export interface CaddyRun {
  /**
   * The session, opened on first use over every service the plan routes at
   * the addresses they serve now; its mode. `admin`: Caddy routes by
   * tamanu's pins, so the take-down rule binds and a restarted instance's
   * new address is needed.
   */
  readonly open: Effect.Effect<ProxyMode, SupervisorError, Needs>
  /** A `RouteProxy` step (`next`: the step after it, which may load these routes anyway). */
  readonly routeStep: (
    step: Extract<PlanStep, { _tag: "RouteProxy" }>,
    next: PlanStep | undefined,
  ) => Effect.Effect<void, ProxyFailed | SupervisorError, Needs>
  /** These instances did not answer their probe: Caddy routes to the ones that do, before the command fails (§5.4). */
  readonly routeAround: (unready: ReadonlyArray<string>) => Effect.Effect<void, SupervisorError, Needs>
  /** An instance this run saw serve at an address (the take-down rule's input). */
  readonly vouch: (instance: string, vouched: Vouched) => Effect.Effect<void>
  /**
   * Before `instance` goes down: the take-down rule, then one load routing
   * its service to the others (and any previous instance's new address).
   */
  readonly drain: (
    service: string,
    instance: string,
  ) => Effect.Effect<void, DrainRefused | ProxyFailed | SupervisorError, Needs>
  /** A restarted instance's new address, routed to from the next load on. */
  readonly movedTo: (service: string, instance: string, url: string) => Effect.Effect<void>
  /** A `RestoreProxy` step: Caddy's own config back, once due and (with `probe`) once every instance answers. */
  readonly restore: (probe: boolean, budget: Duration.Duration) => Effect.Effect<void, never, Needs | Prober>
  /** What was asked of Caddy; null when no step opened the session. */
  readonly outcome: Effect.Effect<CaddyOutcome | null>
  /**
   * The warnings said about Caddy since the last call of this, in order
   * (the session's, and a route that failed without failing its step): the
   * executor adds them to the run's after each step.
   */
  readonly takeWarnings: Effect.Effect<ReadonlyArray<string>>
}

/** Caddy's side of a run over these services (the ones behind Caddy the plan routes or rolls). */
export const makeCaddyRun = (services: ReadonlyArray<string>): Effect.Effect<CaddyRun> =>
  Effect.gen(function* () {
    const book = yield* Ref.make<Book>(emptyBook(services))
    const session = yield* Ref.make<ProxySession | null>(null)
    const tally = yield* Ref.make<ProxyTally>(noTally)
    /** Warnings not yet taken by the executor. */
    const said = yield* Ref.make<ReadonlyArray<string>>([])
    const say = (warnings: ReadonlyArray<string>) => Ref.update(said, (list) => [...list, ...warnings])
    const count = (t: ProxyTally) =>
      Effect.zipRight(
        Ref.update(tally, (sum) => addTally(sum, t)),
        say(t.warnings),
      )

    /** Where the running instances of these services serve now: one supervisor list, one address look-up each. */
    const discover = (which: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const supervisor = yield* Supervisor
        const found = yield* serviceEndpoints(which, yield* supervisor.list)
        yield* Ref.update(book, (b) => discovered(b, found))
      })

    const sessionOf = Effect.gen(function* () {
      const open = yield* Ref.get(session)
      if (open !== null) return open
      yield* discover(services)
      const over = openedOver(yield* Ref.get(book))
      const opened = yield* (yield* ReverseProxy).open(over)
      yield* Ref.set(session, opened)
      yield* say(opened.openWarnings)
      yield* Ref.update(book, (b) => vouchServing(b, over))
      return opened
    })

    const route = (s: ProxySession, leaveOut: ReadonlySet<string>, draining: boolean) =>
      Effect.gen(function* () {
        const result = yield* s.route(desiredRoutes(yield* Ref.get(book), leaveOut, draining))
        yield* count(result)
      })

    const run: CaddyRun = {
      open: Effect.map(sessionOf, (s) => s.mode),
      routeStep: (step, next) =>
        Effect.gen(function* () {
          const opened = (yield* Ref.get(session)) !== null
          const s = yield* sessionOf
          const leaving = routeLeaving(step)
          // Instances started or restarted since the last look: where they serve now, unless a probe said they do not.
          if (opened) yield* discover(step.services)
          if (routeDeferred(step, next)) return
          const result = yield* Effect.either(route(s, leaving, true))
          if (Either.isLeft(result)) {
            if (routeFailureFatal(step)) return yield* Effect.fail(result.left)
            const message = `${result.left.message}; Caddy keeps routing as before`
            yield* emit(ProgressEvent.Warning({ message }))
            yield* say([message])
            return
          }
          yield* Ref.update(book, (b) => leftOut(b, step.services, leaving))
        }),
      routeAround: (unready) =>
        Effect.gen(function* () {
          yield* Ref.update(book, (b) => markUnready(b, unready))
          const s = yield* Ref.get(session)
          if (s === null) return
          yield* discover(services)
          yield* Effect.ignore(route(s, new Set(), false))
        }),
      vouch: (instance, vouched) => Ref.update(book, (b) => vouch(b, instance, vouched)),
      drain: (service, instance) =>
        Effect.gen(function* () {
          const s = yield* sessionOf
          const { desired, verdict } = drainFor(yield* Ref.get(book), service, instance)
          // The reload way routes by Caddy's own config: the rule cannot bind there.
          if (s.mode === "admin" && verdict._tag === "Refused")
            return yield* Effect.fail<DrainRefused>({ _tag: "DrainRefused", reason: verdict.reason })
          yield* count(yield* s.route(desired))
          yield* Ref.update(book, (b) => drained(b, service, instance))
        }),
      movedTo: (service, instance, url) => Ref.update(book, (b) => movedTo(b, service, instance, url)),
      restore: (probe, budget) =>
        Effect.gen(function* () {
          const s = yield* Ref.get(session)
          if (s === null) return
          const answering = yield* answeringFor(probe, budget)
          yield* count(yield* s.restore(desiredRoutes(yield* Ref.get(book), new Set(), false), answering))
        }),
      outcome: Effect.gen(function* () {
        const s = yield* Ref.get(session)
        if (s === null) return null
        const { configLoads, reloads, restored, waitedMillis } = yield* Ref.get(tally)
        return { mode: s.mode, configLoads, reloads, restored, waitedMillis }
      }),
      takeWarnings: Ref.getAndSet(said, []),
    }
    return run
  })
