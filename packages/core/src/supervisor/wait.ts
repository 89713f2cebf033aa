/**
 * Waiting for instances to reach a state (spec §5.1, §5.3, §6, §7.2): poll the
 * supervisor's list on a Schedule until every ref is running (or stopped),
 * bounded by a limit, or until the supervisor reports one failed for good.
 * Tests drive the schedule with TestClock.
 */
import { Clock, Data, Duration, Effect, Ref, Schedule } from "effect"
import { displayInstance, type Instance, type InstanceRef } from "../model/instance.js"
import { InstanceFailed, type SupervisorError, WaitTimeout } from "./errors.js"
import { Supervisor } from "./Supervisor.js"

export type WantedState = "running" | "stopped"

export interface WaitOptions {
  /** Give up after this long (default 60 s, spec §5.3). */
  readonly limit?: Duration.DurationInput
  /** Longest pause between two polls (default 250 ms); early polls come sooner. */
  readonly interval?: Duration.DurationInput
}

/**
 * Whether a discovered instance is (one of) the instance(s) a ref addresses.
 * systemd: same unit (name + suffix). pm2: same name and pm_id, or every
 * process of the name when the ref's pmId is null.
 */
export const refMatches = (ref: InstanceRef, instance: InstanceRef): boolean =>
  instance.name === ref.name && instance.suffix === ref.suffix && (ref.pmId === null || instance.pmId === ref.pmId)

/** The instances a ref addresses among those discovered. */
const matching = (instances: ReadonlyArray<Instance>, ref: InstanceRef): ReadonlyArray<Instance> =>
  instances.filter((instance) => refMatches(ref, instance))

/**
 * The refs (of those given, in order) not yet in the wanted state. A ref with
 * no instance at all counts as stopped and as not running (an unloaded
 * systemd unit, a pm2 process that is not registered).
 */
export const pendingRefs = (
  instances: ReadonlyArray<Instance>,
  refs: ReadonlyArray<InstanceRef>,
  wanted: WantedState,
): ReadonlyArray<InstanceRef> =>
  refs.filter((ref) => {
    const found = matching(instances, ref)
    return wanted === "running" ? found.length === 0 || found.some((i) => !i.running) : found.some((i) => i.running)
  })

/**
 * Display names of what is still pending, for the operator: a pm2 ref by
 * name is spelled out as the processes (`name#id`) that are not there yet.
 */
export const pendingNames = (
  instances: ReadonlyArray<Instance>,
  refs: ReadonlyArray<InstanceRef>,
  wanted: WantedState,
): ReadonlyArray<string> => {
  const names = pendingRefs(instances, refs, wanted).flatMap((ref) => {
    const off = matching(instances, ref).filter((i) => i.running !== (wanted === "running"))
    return ref.pmId === null && ref.suffix === null && off.length > 0 && off.every((i) => i.pmId !== null)
      ? off.map(displayInstance)
      : [displayInstance(ref)]
  })
  return [...new Set(names)]
}

/** What one poll of the supervisor's list means for a wait. */
export type PollVerdict =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Pending"; readonly pending: ReadonlyArray<string> }
  /** Waiting for running, and the supervisor reports some of them failed for good: stop waiting. */
  | { readonly _tag: "Failed"; readonly failed: ReadonlyArray<string>; readonly pending: ReadonlyArray<string> }

/**
 * Judge one poll. Waiting for `running`, a pending ref with an instance the
 * supervisor reports failed (`Instance.failed`: systemd `failed` with no job
 * queued, pm2 `errored`) ends the wait at once: that instance will not come
 * up by itself, so the wait can no longer succeed, and the operator should
 * hear so now rather than at the limit. One such instance is enough, also
 * for a pm2 ref by name whose other processes are up or still launching.
 *
 * One poll is enough, no confirming second look, because a stale `failed`
 * from before the start cannot be read as final: `systemctl start/restart`
 * (the live layer never passes --no-block) returns once its job is done, and
 * pm2's start/restart RPC answers once the process is launched, so a failure
 * seen afterwards is the new start's. The one case where an old `failed`
 * outlives the call is a start job still queued (e.g. ordered after a slower
 * unit, or sent by someone else with --no-block); list-units then shows the
 * job in its JOB column, and the parser does not count the unit as failed
 * (systemdParse.ts `isTerminalFailure`). Measured on the harness's systemd
 * 252 user manager: a `Type=simple` unit with `ExecStart=/bin/false` reads
 * `failed failed` on the first list 11 ms after `systemctl start` returned;
 * a previously failed unit re-started (blocking) reads `active running` on
 * the first list; one whose start job waited 1 s behind an `After=` unit read
 * `failed failed start` for that second. A second poll would not have
 * covered that second, which is why the rule rests on the job, not on time.
 *
 * Waiting for `stopped` a failed instance is simply stopped.
 */
export const judgePoll = (
  instances: ReadonlyArray<Instance>,
  refs: ReadonlyArray<InstanceRef>,
  wanted: WantedState,
): PollVerdict => {
  const pending = pendingNames(instances, refs, wanted)
  if (pending.length === 0) return { _tag: "Done" }
  if (wanted === "running") {
    const failed = [
      ...new Set(
        pendingRefs(instances, refs, wanted).flatMap((ref) =>
          matching(instances, ref)
            .filter((i) => i.failed === true && !i.running)
            .map(displayInstance),
        ),
      ),
    ]
    if (failed.length > 0) return { _tag: "Failed", failed, pending: pending.filter((n) => !failed.includes(n)) }
  }
  return { _tag: "Pending", pending }
}

/** Internal: one poll found refs still pending; retried by the schedule. */
class StillPending extends Data.TaggedError("StillPending")<{ readonly pending: ReadonlyArray<string> }> {}

/**
 * Polls sooner at first (most units come up in well under a second), then
 * every `interval`: exponential from 1/10 of the interval, capped at it.
 */
const pollSchedule = (interval: Duration.Duration) =>
  Schedule.union(Schedule.exponential(Duration.millis(Duration.toMillis(interval) / 10), 2), Schedule.spaced(interval))

/**
 * Wait until every ref is in the wanted state. Fails with `WaitTimeout`
 * naming what is still pending when the limit passes, and with
 * `InstanceFailed` as soon as a poll finds an instance it waits to run
 * reported failed for good (`judgePoll`); supervisor errors from `list` end
 * the wait at once too (none of these heal by waiting).
 */
export const waitUntil = (
  refs: ReadonlyArray<InstanceRef>,
  wanted: WantedState,
  options?: WaitOptions,
): Effect.Effect<void, WaitTimeout | InstanceFailed | SupervisorError, Supervisor> =>
  Effect.gen(function* () {
    const limit = Duration.decode(options?.limit ?? Duration.seconds(60))
    const interval = Duration.decode(options?.interval ?? Duration.millis(250))
    const supervisor = yield* Supervisor
    const began = yield* Clock.currentTimeMillis
    // What the last completed poll saw; before any poll, everything is pending.
    const lastPending = yield* Ref.make<ReadonlyArray<string>>(refs.map(displayInstance))

    const poll = Effect.flatMap(supervisor.list, (instances): Effect.Effect<void, StillPending | InstanceFailed> => {
      const verdict = judgePoll(instances, refs, wanted)
      switch (verdict._tag) {
        case "Done":
          return Ref.set(lastPending, [])
        case "Pending":
          return Ref.set(lastPending, verdict.pending).pipe(
            Effect.zipRight(Effect.fail(new StillPending({ pending: verdict.pending }))),
          )
        case "Failed":
          return Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.fail(
              new InstanceFailed({
                supervisor: supervisor.kind,
                failed: [...verdict.failed],
                pending: [...verdict.pending],
                afterMillis: now - began,
              }),
            ),
          )
      }
    })

    const timedOut = (pending: ReadonlyArray<string>) =>
      new WaitTimeout({ wanted, pending: [...pending], limitMillis: Duration.toMillis(limit) })

    yield* poll.pipe(
      Effect.retry({ schedule: pollSchedule(interval), while: (e) => e._tag === "StillPending" }),
      Effect.timeout(limit),
      Effect.catchTags({
        // The schedule never ends on its own; this only keeps the types honest.
        StillPending: (e) => Effect.fail(timedOut(e.pending)),
        TimeoutException: () => Effect.flatMap(Ref.get(lastPending), (pending) => Effect.fail(timedOut(pending))),
      }),
    )
  })
