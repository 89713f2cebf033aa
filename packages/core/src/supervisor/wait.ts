/**
 * Waiting for instances to reach a state (spec §5.1, §5.3, §6, §7.2): poll the
 * supervisor's list on a Schedule until every ref is running (or stopped),
 * bounded by a limit. Tests drive the schedule with TestClock.
 */
import { Data, Duration, Effect, Ref, Schedule } from "effect"
import { displayInstance, type Instance, type InstanceRef } from "../model/instance.js"
import { type SupervisorError, WaitTimeout } from "./errors.js"
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
 * naming what is still pending when the limit passes; supervisor errors from
 * `list` end the wait at once (they do not heal by waiting).
 */
export const waitUntil = (
  refs: ReadonlyArray<InstanceRef>,
  wanted: WantedState,
  options?: WaitOptions,
): Effect.Effect<void, WaitTimeout | SupervisorError, Supervisor> =>
  Effect.gen(function* () {
    const limit = Duration.decode(options?.limit ?? Duration.seconds(60))
    const interval = Duration.decode(options?.interval ?? Duration.millis(250))
    const supervisor = yield* Supervisor
    // What the last completed poll saw; before any poll, everything is pending.
    const lastPending = yield* Ref.make<ReadonlyArray<string>>(refs.map(displayInstance))

    const poll = Effect.flatMap(supervisor.list, (instances) => {
      const pending = pendingNames(instances, refs, wanted)
      return Ref.set(lastPending, pending).pipe(
        Effect.zipRight(pending.length === 0 ? Effect.void : Effect.fail(new StillPending({ pending }))),
      )
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
