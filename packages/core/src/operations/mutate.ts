/**
 * start, stop and restart share one shape: survey the host, plan, say
 * "nothing to do" or print the plan for --dry-run, ask for root only when
 * there is work, hold the host lock, execute (§5-§7, §10).
 */
import { Clock, Deferred, type Duration, Effect, Exit, Fiber, Option, Schedule, type Scope, Stream } from "effect"
import { emit, type Progress, ProgressEvent } from "../events/Progress.js"
import type { ConfigUnreadable } from "../host/errors.js"
import type { TamanuHost } from "../host/TamanuHost.js"
import { type LockFailed, type LockHeld, withHostLock } from "../lock/hostLock.js"
import { displayInstance, type ExpectationGroup, type InstanceRef, type SupervisorKind } from "../model/instance.js"
import { expectedVersionOf, versionPreview } from "../model/version.js"
import type { EnabledUnits } from "../plan/common.js"
import { describeFailure, type Plan, proxiedServices } from "../plan/Plan.js"
import { renderPlan } from "../plan/renderPlan.js"
import { Privileges } from "../privileges/Privileges.js"
import type { Prober } from "../probe/Prober.js"
import { ProbeTargets, targetsOf } from "../probe/ProbeTargets.js"
import { earlierRestore } from "../proxy/decide.js"
import { answeringFor, endpointsOf } from "../proxy/endpoints.js"
import { renderProxyPreview } from "../proxy/preview.js"
import { ReverseProxy } from "../proxy/ReverseProxy.js"
import { Supervisor } from "../supervisor/Supervisor.js"
import { withoutConsoleLoggers } from "../util/logging.js"
import { NeedsRoot, PlanRefused } from "./errors.js"
import { type ExecuteError, type Execution, execute } from "./execute.js"
import type { MutateOptions } from "./options.js"
import { restoreCaddyLockCommand } from "./restoreCaddy.js"
import { type SurveyError, survey } from "./survey.js"
import { hostExpectedVersions } from "./versions.js"

/** The outcome of start, stop or restart, for the CLI and for embedders. */
export interface OperationResult {
  readonly command: string
  readonly ok: boolean
  readonly nothingToDo: boolean
  readonly dryRun: boolean
  readonly plan: Plan
  /** The plan as text, one line per step. */
  readonly planText: string
  readonly execution: Execution | null
  readonly warnings: ReadonlyArray<string>
  readonly elapsedMillis: number
}

export type OperationError = SurveyError | ExecuteError | PlanRefused | NeedsRoot | LockHeld | LockFailed

export type OperationServices = Supervisor | TamanuHost | ProbeTargets | Prober | ReverseProxy | Progress | Privileges

export interface MutateSpec {
  readonly command: "start" | "stop" | "restart"
  readonly options: MutateOptions
  readonly dbWait: Duration.Duration
  readonly probeTimeout: Duration.Duration
  readonly cooldown: Duration.Duration
  /** The settle window of a rolled instance no probe judges (the plan's `Settle` steps carry their own). */
  readonly settle?: Duration.Duration
  /** Plan from the chosen groups and the enabled state the planners asked for. */
  readonly plan: (supervisor: SupervisorKind, groups: ReadonlyArray<ExpectationGroup>, enabled: EnabledUnits) => Plan
  /** Whether instances may be probed (false with `--no-probe-http`): also before a restore of Caddy's own config. */
  readonly probeHttp: boolean
  /** Follow these instances' logs while executing (start --logs). */
  readonly followLogs?: (plan: Plan) => ReadonlyArray<InstanceRef>
}

/** How long the end of `--logs` may take to catch up once the operation is over. */
const followCatchUpLimit = "10 seconds"

/**
 * `--logs`: follow the logs of what the plan starts from a mark taken before
 * the first start call (so the lines of a fast start are there, whenever
 * journalctl attaches), until the execution, settle window included, is
 * over. Returns the effect that ends the following: it lets the follower
 * catch up with what was logged until then, within a bound.
 */
const followLogs = (
  refs: ReadonlyArray<InstanceRef>,
): Effect.Effect<Effect.Effect<void>, never, Supervisor | Progress | Scope.Scope> =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const stop = yield* Deferred.make<void>()
    const warn = (e: { readonly _tag: string }) =>
      emit(ProgressEvent.Warning({ message: `cannot follow logs: ${e._tag}` }))
    const mark = yield* Effect.either(supervisor.logMark(refs))
    if (mark._tag === "Left") {
      yield* warn(mark.left)
      return Effect.void
    }
    const follower = yield* supervisor.logs(refs, { since: mark.right, until: Deferred.await(stop) }).pipe(
      Stream.runForEach((line) => emit(ProgressEvent.Info({ message: line }))),
      Effect.catchAll(warn),
      Effect.forkScoped,
    )
    return Deferred.succeed(stop, undefined).pipe(
      Effect.zipRight(Fiber.join(follower)),
      Effect.timeout(followCatchUpLimit),
      Effect.ignore,
    )
  })

/**
 * A config only root may read (kept so for its database password): nothing
 * can be planned without it, and root can read it. On the system manager,
 * not root and not --dry-run, the command asks for root at once (§10), so
 * the CLI re-runs it under sudo, whose run plans and says if there is
 * nothing to do. Otherwise the error stands.
 */
const rootCanRead = (
  error: ConfigUnreadable,
  spec: MutateSpec,
): Effect.Effect<never, ConfigUnreadable | NeedsRoot, Privileges> =>
  Effect.gen(function* () {
    const privileges = yield* Privileges
    if (error.permissionDenied === true && !spec.options.dryRun && privileges.required && !(yield* privileges.isRoot))
      return yield* Effect.fail(new NeedsRoot({ command: spec.command }))
    return yield* Effect.fail(error)
  })

/** Writes nothing to stdout or stderr: its log lines reach only loggers the caller installed (util/logging.ts). */
/** The host lock for this command; a scheduled restore of Caddy's own config holds it for seconds (issue #25): waited for, bounded. */
const lockHost = (file: string, command: string) =>
  withHostLock(file, `tamanu ${command}`).pipe(
    Effect.retry({
      while: (e) => e._tag === "LockHeld" && e.command === restoreCaddyLockCommand,
      schedule: Schedule.intersect(Schedule.spaced("250 millis"), Schedule.recurUpTo("30 seconds")),
    }),
  )

export const mutate = (spec: MutateSpec): Effect.Effect<OperationResult, OperationError, OperationServices> =>
  Effect.gen(function* () {
    const began = yield* Clock.currentTimeMillis
    const { options } = spec
    const s = yield* survey({
      names: options.names,
      ignoreUnmatched: options.ignoreUnmatched,
      dbWait: spec.dbWait,
    }).pipe(Effect.catchTag("ConfigUnreadable", (e) => rootCanRead(e, spec)))
    const plan = spec.plan(s.supervisor, s.groups, s.enabled)
    const planText = renderPlan(plan, s.supervisor)
    // Said once: a run that goes on under sudo leaves the plan to the re-run (§10).
    const announce = Effect.gen(function* () {
      yield* emit(ProgressEvent.PlanComputed({ command: spec.command, steps: plan.steps.length, text: planText }))
      for (const warning of plan.warnings) yield* emit(ProgressEvent.Warning({ message: warning }))
    })
    const warnings = [...s.unmatched.map((p) => `no service matches "${p}"`), ...plan.warnings]
    const result = (execution: Execution | null): Effect.Effect<OperationResult> =>
      Effect.map(Clock.currentTimeMillis, (now) => ({
        command: spec.command,
        // An instance that came back on another version than expected: the roll went on, the command exits 1.
        ok: execution === null || execution.versionMismatches.length === 0,
        nothingToDo: plan.nothingToDo,
        dryRun: options.dryRun,
        plan,
        planText,
        execution,
        warnings: [...warnings, ...(execution?.warnings ?? [])],
        elapsedMillis: now - began,
      }))

    if (plan.failures.length > 0 && !options.dryRun) {
      yield* announce
      return yield* Effect.fail(new PlanRefused({ command: spec.command, reasons: plan.failures.map(describeFailure) }))
    }
    /** Which instances answer within the probe budget, for a restore of Caddy's own config (only once none is silent). */
    const answering = answeringFor(spec.probeHttp, spec.probeTimeout)
    // An earlier run may have left Caddy's own config to put back (§9.3): due now, that is work.
    const proxy = yield* ReverseProxy
    const pending = yield* proxy.pendingRestore
    const earlier = earlierRestore({
      dueAt: pending?.dueAt ?? null,
      now: yield* Clock.currentTimeMillis,
      nothingToDo: plan.nothingToDo,
      dryRun: options.dryRun,
      routesCaddy: proxiedServices(plan.steps).length > 0,
    })
    if (earlier._tag === "Idle") {
      yield* announce
      yield* emit(ProgressEvent.Info({ message: "nothing to do: the host already matches" }))
      // Under the host lock, as every restore (issue #25): the scheduled restore must not refresh the pins
      // while this run waits for them. A lock this run cannot take leaves the restore to its holder, or to the timer.
      if (earlier.resume)
        yield* Effect.scoped(
          Effect.gen(function* () {
            if (options.lockFile !== null) {
              const locked = yield* Effect.either(lockHost(options.lockFile, spec.command))
              if (locked._tag === "Left") {
                yield* emit(
                  ProgressEvent.Info({
                    message: `Caddy's own config is left to its pending restore: ${locked.left._tag === "LockHeld" ? `another tamanu run (pid ${locked.left.pid}, ${locked.left.command}) holds the host lock` : locked.left.message}.`,
                  }),
                )
                return
              }
            }
            yield* proxy.resume(yield* answering)
          }),
        )
      return yield* result(null)
    }
    const expected = yield* hostExpectedVersions(s.supervisor).pipe(Effect.option)
    if (options.dryRun) {
      // Which version each instance the plan touches runs now (issue #22): read-only, one batched look-up.
      const touched = touchedRefs(plan)
      const versionLines =
        touched.length === 0
          ? []
          : yield* Effect.gen(function* () {
              const found = yield* targetsOf(yield* ProbeTargets, touched)
              return versionPreview(
                touched.map((ref) => ({
                  instance: displayInstance(ref),
                  actual: Option.getOrNull(
                    Option.flatMap(Option.fromNullable(found.get(displayInstance(ref))), (t) => t.version),
                  ),
                  expected: Option.match(expected, {
                    onNone: () => null,
                    onSome: (v) => expectedVersionOf(v, ref.name),
                  }),
                })),
              )
            })
      // Which way Caddy will be driven and the exact loads (§9.5): read-only.
      const proxied = proxiedServices(plan.steps)
      const preview =
        proxied.length === 0
          ? []
          : yield* Effect.gen(function* () {
              const services = yield* endpointsOf(proxied, s.instances)
              return renderProxyPreview(plan, yield* proxy.inspect(services), services)
            })
      yield* emit(
        ProgressEvent.PlanComputed({
          command: spec.command,
          steps: plan.steps.length,
          text: [planText, ...versionLines, ...preview].join("\n"),
        }),
      )
      for (const warning of plan.warnings) yield* emit(ProgressEvent.Warning({ message: warning }))
      if (earlier.wouldRestore)
        yield* emit(ProgressEvent.Info({ message: "would put Caddy's own config back (an earlier run left it)" }))
      return yield* result(null)
    }

    // Root only now: usage errors and "nothing to do" never ask for sudo (§10).
    const privileges = yield* Privileges
    if (privileges.required && !(yield* privileges.isRoot)) {
      return yield* Effect.fail(new NeedsRoot({ command: spec.command }))
    }
    yield* announce

    const execution = yield* Effect.scoped(
      Effect.gen(function* () {
        if (options.lockFile !== null) yield* lockHost(options.lockFile, spec.command)
        const stopFollowing = spec.followLogs === undefined ? Effect.void : yield* followLogs(spec.followLogs(plan))
        // A plan that routes Caddy adopts an unfinished restore itself; any other finishes it if due.
        if (earlier.restoreFirst) yield* proxy.resume(yield* answering)
        return yield* execute(plan, {
          command: spec.command,
          waitLimit: options.waitLimit,
          probeTimeout: spec.probeTimeout,
          cooldown: spec.cooldown,
          ...(spec.settle === undefined ? {} : { settle: spec.settle }),
          ...Option.match(expected, {
            onNone: () => ({}),
            onSome: (v) => ({ expectedVersion: (service: string) => expectedVersionOf(v, service) }),
          }),
        }).pipe(
          // The logs run until the execution, settle window included, is over; an interruption just ends them.
          Effect.onExit((exit) => (Exit.isInterrupted(exit) ? Effect.void : stopFollowing)),
        )
      }),
    )
    const done = yield* result(execution)
    yield* emit(ProgressEvent.Done({ command: spec.command, ok: done.ok, elapsedMillis: done.elapsedMillis }))
    return done
  }).pipe(withoutConsoleLoggers)

/** Everything the plan starts or restarts (for --logs). */
export const touchedRefs = (plan: Plan): ReadonlyArray<InstanceRef> =>
  plan.steps.flatMap((step) =>
    step._tag === "Start" || step._tag === "Restart" ? step.refs : step._tag === "Roll" ? step.instances : [],
  )
