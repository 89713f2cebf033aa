/**
 * The settle window (issue #23): an instance counts as up only once it has
 * stayed running through a window after the supervisor first called it
 * running. Services without an HTTP probe (tasks, sync, the FHIR workers,
 * anything with --no-probe-http) are otherwise "started" the moment systemd
 * or pm2 says so, which a worker that exits a second later, or crash-loops
 * under Restart=always, also is. The anchors: pm2's `min_uptime` (a process
 * that exits sooner is unstable) and Kubernetes' `minReadySeconds`.
 *
 * `judgeSettle` is the decision (pure: two reads in, the instances that
 * ended out); `watchSettle` the thin watcher: ONE `Supervisor.runStates`
 * call per tick for every instance, on a Schedule, one window for all of
 * them (so N workers cost the longest boot plus one window, not N windows).
 */
import { Clock, Duration, Effect, Option, Ref, Schedule, Schema } from "effect"
import { displayInstance, type InstanceRef, SupervisorKind } from "../model/instance.js"
import type { SupervisorError } from "./errors.js"
import { exitFromJournal } from "./journal.js"
import { describeExitStatus, ExitStatus, type RunState, type RunStates } from "./runState.js"
import { Supervisor } from "./Supervisor.js"

/**
 * How an instance ended inside the window:
 * - `stopped`: down, not failed (systemd `inactive`, pm2 `stopped`), or on its way down;
 * - `failed`: down and failed (systemd `failed`, pm2 `errored`);
 * - `restarted`: its process ended and another began (a restart counter that
 *   moved, a new start time, or the supervisor about to restart it): a crash loop;
 * - `gone`: the supervisor no longer knows it (a pm2 process deleted).
 */
export const SettleEnding = Schema.Literal("stopped", "failed", "restarted", "gone")
export type SettleEnding = typeof SettleEnding.Type

/** One instance that did not stay up, with what the supervisor says about how. */
export const Ended = Schema.Struct({
  /** Display name (`name@suffix`, `name#pm_id`). */
  instance: Schema.String,
  how: SettleEnding,
  /** Exit code or signal of the process that ended, when the supervisor recorded it. */
  exit: Schema.NullOr(ExitStatus),
  /** How long that process ran; null when the supervisor gave no start time. */
  lastedMillis: Schema.NullOr(Schema.Number),
  /** True: from the supervisor's own start and exit times. False: an upper bound (it had ended by then). */
  lastedExact: Schema.Boolean,
  /** Restarts the supervisor made by itself inside the window. */
  restarts: Schema.Int,
})
export type Ended = typeof Ended.Type

/** Per instance, what a window found. `unfinished`: still up when another instance's end stopped the watch. */
export const SettleResult = Schema.Union(
  Schema.TaggedStruct("Steady", { instance: Schema.String }),
  Schema.TaggedStruct("Unfinished", { instance: Schema.String }),
  Schema.TaggedStruct("EndedInWindow", { ended: Ended }),
)
export type SettleResult = typeof SettleResult.Type

/** An instance stopped, failed or restarted inside the settle window: it is not up. */
export class SettleFailed extends Schema.TaggedError<SettleFailed>()("SettleFailed", {
  supervisor: SupervisorKind,
  windowMillis: Schema.Number,
  /** How far into the window the watch saw it. */
  afterMillis: Schema.Number,
  ended: Schema.NonEmptyArray(Ended),
  /** The other instances watched, still up at that moment (their window was cut short). */
  stillUp: Schema.Array(Schema.String),
}) {}

/** An exit systemd counts as clean: code 0, or the signals a stop sends (SIGTERM, SIGINT, SIGHUP, SIGPIPE). */
const cleanExit = (exit: NonNullable<RunState["exit"]>): boolean =>
  exit._tag === "Exited" ? exit.code === 0 : ["SIGTERM", "SIGINT", "SIGHUP", "SIGPIPE"].includes(exit.signal)

/** Every instance of a read, by display name. */
const byName = (states: RunStates): ReadonlyMap<string, RunState> =>
  new Map(states.instances.map((s) => [displayInstance(s), s]))

/** How long the baseline's process ran, as well as the two reads tell. */
const lasted = (
  base: RunState,
  now: RunState | undefined,
  readAt: number,
): Pick<Ended, "lastedMillis" | "lastedExact"> => {
  if (base.startedAt === null) return { lastedMillis: null, lastedExact: false }
  // The same process, and the supervisor recorded when it exited: exact.
  if (now !== undefined && now.startedAt === base.startedAt && now.exitedAt !== null)
    return { lastedMillis: Math.max(0, now.exitedAt - base.startedAt), lastedExact: true }
  // Another process began since: the baseline's had ended by then.
  if (now !== undefined && now.startedAt !== null && now.startedAt > base.startedAt)
    return { lastedMillis: now.startedAt - base.startedAt, lastedExact: false }
  return { lastedMillis: Math.max(0, readAt - base.startedAt), lastedExact: false }
}

/**
 * The instances of `baseline` (the read at the window's start) that did not
 * stay up by `current` (a later read), in baseline order:
 * - not running in the baseline already (it went down between the wait and the window);
 * - missing from `current` (gone);
 * - a restart counter that moved, or a process that began since (restarted:
 *   caught after the supervisor already started it again);
 * - not running now: restarting or starting (the supervisor starts it again:
 *   restarted); failed, or down after an exit that is not clean (a code
 *   other than 0, a signal other than a stop's); else stopped.
 * Everything else stayed up.
 */
export const judgeSettle = (baseline: RunStates, current: RunStates): ReadonlyArray<Ended> => {
  const now = byName(current)
  return baseline.instances.flatMap((base): ReadonlyArray<Ended> => {
    const instance = displayInstance(base)
    const state = base.phase === "running" ? now.get(instance) : base
    const restarts = state === undefined ? 0 : Math.max(0, state.restarts - base.restarts)
    const ended = (how: SettleEnding): ReadonlyArray<Ended> => [
      { instance, how, exit: state?.exit ?? null, restarts, ...lasted(base, state, current.readAt) },
    ]
    if (state === undefined) return ended("gone")
    const newProcess = state.startedAt !== null && base.startedAt !== null && state.startedAt !== base.startedAt
    // On its way up again after it was running: it went down in between.
    const again = state.phase === "restarting" || state.phase === "starting"
    if (state.restarts > base.restarts || newProcess || again) return ended("restarted")
    // Down, or on its way down, after its process ended badly: failed (systemd's `failed` comes a moment later).
    if (state.phase === "failed" || (state.phase !== "running" && state.exit !== null && !cleanExit(state.exit)))
      return ended("failed")
    if (state.phase !== "running") return ended("stopped")
    return []
  })
}

export interface SettleOptions {
  /** How long every instance must stay running. */
  readonly window: Duration.DurationInput
  /** Time between two reads (default 250 ms). */
  readonly interval?: Duration.DurationInput
}

export interface SettleOutcome {
  readonly windowMillis: number
  /** Every watched instance, steady. */
  readonly results: ReadonlyArray<SettleResult>
}

/**
 * A failed window with the exits the reads missed filled in from the
 * instances' own last lines: systemd forgets how a process ended once it
 * has started the next one (a crash loop caught between two reads), but its
 * journal line `Main process exited, code=exited, status=3/NOTIMPLEMENTED`
 * is among the unit's lines.
 */
export const withExitsFromLines = (
  e: SettleFailed,
  lines: ReadonlyMap<string, ReadonlyArray<string>>,
): SettleFailed => {
  const [first, ...more] = e.ended.map((ended) =>
    ended.exit !== null ? ended : { ...ended, exit: exitFromJournal(lines.get(ended.instance) ?? []) },
  )
  return first === undefined ? e : new SettleFailed({ ...e, ended: [first, ...more] })
}

/** The results a failed window reports: its ended instances and the ones it did not finish watching. */
export const failedResults = (e: SettleFailed): ReadonlyArray<SettleResult> => [
  ...e.ended.map((ended) => ({ _tag: "EndedInWindow" as const, ended })),
  ...e.stillUp.map((instance) => ({ _tag: "Unfinished" as const, instance })),
]

/**
 * Watch these instances (already reported running) for one window: a read
 * at once (the baseline), one every `interval`, and one at the window's
 * end, each ONE supervisor call for all of them. Fails with `SettleFailed`
 * at the first read that finds one ended (`judgeSettle`), and with the
 * supervisor's error when a read fails.
 */
export const watchSettle = (
  refs: ReadonlyArray<InstanceRef>,
  options: SettleOptions,
): Effect.Effect<SettleOutcome, SettleFailed | SupervisorError, Supervisor> =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const window = Duration.decode(options.window)
    const windowMillis = Duration.toMillis(window)
    const began = yield* Clock.currentTimeMillis
    const baseline = yield* Ref.make(Option.none<RunStates>())
    // When the last read that completed began: the one at the window's end is skipped when a read began then.
    const lastRead = yield* Ref.make(began)

    const tick = Effect.gen(function* () {
      const readBegan = yield* Clock.currentTimeMillis
      const current = yield* supervisor.runStates(refs)
      yield* Ref.set(lastRead, readBegan)
      const base = Option.getOrElse(yield* Ref.get(baseline), () => current)
      if (Option.isNone(yield* Ref.get(baseline))) yield* Ref.set(baseline, Option.some(current))
      const ended = judgeSettle(base, current)
      const [first, ...more] = ended
      if (first === undefined) return base
      const endedNames = new Set(ended.map((e) => e.instance))
      return yield* Effect.fail(
        new SettleFailed({
          supervisor: supervisor.kind,
          windowMillis,
          afterMillis: (yield* Clock.currentTimeMillis) - began,
          ended: [first, ...more],
          stillUp: base.instances.map(displayInstance).filter((name) => !endedNames.has(name)),
        }),
      )
    })

    // Reads until the window is over (the schedule never ends by itself; the timeout ends it), then the last one.
    yield* tick.pipe(
      Effect.repeat(Schedule.spaced(options.interval ?? Duration.millis(250))),
      Effect.timeoutOption(window),
    )
    const readAtEnd = (yield* Ref.get(lastRead)) >= began + windowMillis
    const known = yield* Ref.get(baseline)
    const base = readAtEnd && Option.isSome(known) ? known.value : yield* tick
    return {
      windowMillis,
      results: base.instances.map((s) => ({ _tag: "Steady" as const, instance: displayInstance(s) })),
    }
  })

/** `850 ms`, `1.2 s`. */
const shortDuration = (millis: number): string =>
  millis < 1000 ? `${Math.round(millis)} ms` : `${(millis / 1000).toFixed(1)} s`

/**
 * How an instance ended, in words: `failed (exit code 3) after 1.0 s`,
 * `ended (exit code 3) after at most 1.2 s and was started again (2 restarts)`,
 * `stopped (signal SIGKILL) after 4.1 s`, `is gone from the supervisor's list`.
 */
export const describeEnded = (e: Ended): string => {
  if (e.how === "gone") return "is gone from the supervisor's list"
  const exit = e.exit === null ? "" : ` (${describeExitStatus(e.exit)})`
  const lasted =
    e.lastedMillis === null ? "" : ` after ${e.lastedExact ? "" : "at most "}${shortDuration(e.lastedMillis)}`
  switch (e.how) {
    case "failed":
      return `failed${exit}${lasted}`
    case "stopped":
      return `stopped${exit}${lasted}`
    case "restarted":
      return `ended${exit}${lasted} and was started again${
        e.restarts > 0 ? ` (${e.restarts} ${e.restarts === 1 ? "restart" : "restarts"})` : ""
      }`
  }
}
