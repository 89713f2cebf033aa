/**
 * The scheduled restore (issue #25): what `tamanu restore-caddy` runs when
 * the service manager's timer fires (proxy/restoreSchedule.ts). The same
 * rules as a command's restore: the host lock (a run that holds it restores
 * itself, or leaves the state for this one), the saved state read again
 * under the lock, Caddy's config compared before anything is loaded (the
 * admin layer's `resume`), every pinned service's instances probed. The
 * outcome says what the caller schedules next.
 */
import { Clock, type Duration, Effect, Either } from "effect"
import type { Progress } from "../events/Progress.js"
import { withHostLock } from "../lock/hostLock.js"
import type { Prober } from "../probe/Prober.js"
import type { ProbeTargets } from "../probe/ProbeTargets.js"
import { dueSlackMillis, isDue, retryMillis } from "../proxy/decide.js"
import { answeringFor } from "../proxy/endpoints.js"
import { ReverseProxy } from "../proxy/ReverseProxy.js"
import type { Supervisor } from "../supervisor/Supervisor.js"

export type RestoreCaddyOutcome =
  /** No run left Caddy pinned (or the run that held the lock restored it). */
  | { readonly _tag: "NothingPending" }
  /** Pinned, not due before `dueAt`: run again then. */
  | { readonly _tag: "NotDue"; readonly dueAt: number }
  /** Another tamanu run holds the host lock: it finishes the restore itself, or leaves it for a later try. */
  | { readonly _tag: "LockHeld"; readonly why: string }
  | { readonly _tag: "Restored" }
  /** Still pinned (an instance runs without answering, Caddy unreachable, its config changed): try again later. */
  | { readonly _tag: "StillPinned" }

export interface RestoreCaddyOptions {
  readonly lockFile: string
  /** Each running instance of a pinned service gets this long to answer before it counts as silent. */
  readonly probeTimeout: Duration.Duration
}

/** What the scheduled restore writes in the host lock: a run that finds it there waits for it (mutate.ts). */
export const restoreCaddyLockCommand = "tamanu restore-caddy"

export const restoreCaddy = (
  options: RestoreCaddyOptions,
): Effect.Effect<RestoreCaddyOutcome, never, Supervisor | ProbeTargets | Prober | ReverseProxy | Progress> =>
  Effect.scoped(
    Effect.gen(function* () {
      const proxy = yield* ReverseProxy
      if ((yield* proxy.pendingRestore) === null) return { _tag: "NothingPending" } as const
      const lock = yield* Effect.either(withHostLock(options.lockFile, restoreCaddyLockCommand))
      if (Either.isLeft(lock))
        return {
          _tag: "LockHeld",
          why:
            lock.left._tag === "LockHeld"
              ? `held by pid ${lock.left.pid} (${lock.left.command}) since ${lock.left.since}`
              : lock.left.message,
        } as const
      // Read again under the lock: the run that held it may have finished the restore.
      const pending = yield* proxy.pendingRestore
      if (pending === null) return { _tag: "NothingPending" } as const
      const answering = yield* answeringFor(true, options.probeTimeout)
      if (!isDue(pending.dueAt, yield* Clock.currentTimeMillis, dueSlackMillis)) {
        // Not due: the pins follow what serves now (an instance the stopped run took out is back).
        if (proxy.refresh !== undefined) yield* proxy.refresh(answering)
        return { _tag: "NotDue", dueAt: pending.dueAt } as const
      }
      yield* proxy.resume(answering)
      return (yield* proxy.pendingRestore) === null
        ? ({ _tag: "Restored" } as const)
        : ({ _tag: "StillPinned" } as const)
    }),
  )

/**
 * How long one scheduled restore watches a host lock held by a run before it
 * hands over to the next try: looked at every 250 ms, so a run killed with
 * SIGKILL (its lock left to a dead pid, taken over at once) is followed
 * within a second, not at the next try.
 */
export const lockWatchMillis = retryMillis

/**
 * When the scheduled restore runs next after this outcome (epoch ms), or
 * null: nothing is left to do. Not due: at the due time (a second after, as
 * the timer's accuracy), or in `retryMillis` if sooner, to refresh the pins
 * meanwhile. The lock still held after watching it `lockWatchMillis`: a
 * second on, so the watch goes on (one restore process waits at a time).
 * Still pinned (an instance silent, Caddy unreachable): in `retryMillis`.
 */
export const nextRestoreTry = (outcome: RestoreCaddyOutcome, now: number): number | null => {
  switch (outcome._tag) {
    case "NotDue":
      return Math.min(outcome.dueAt + 1000, now + retryMillis)
    case "LockHeld":
      return now + 1000
    case "StillPinned":
      return now + retryMillis
    case "NothingPending":
    case "Restored":
      return null
  }
}
