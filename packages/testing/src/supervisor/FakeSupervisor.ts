/**
 * The engine behind the in-memory systemd (`systemd.ts`) and pm2 (`pm2.ts`)
 * supervisors, for the operations' tests and an embedder's. They keep the semantics the operations rely on (restart
 * of a stopped unit starts it, stop of a stopped one is fine, pm2 start by
 * name starts the stopped processes, a stopped disabled systemd unit drops out
 * of the list, …) and script the rest: how long an instance takes to come up
 * or go down, an instance that crashes on start and is then reported failed
 * (systemd `failed`, pm2 `errored`), calls that fail, a daemon that is not there.
 *
 * Time comes only from Effect's Clock, so `TestClock.adjust` drives it.
 * Phases are resolved lazily from the clock (an instance started at t with a
 * 3 s start-up *is* running at t+3 s), so there are no background fibers and
 * every call is one atomic update of a SynchronizedRef: race-free under
 * concurrent fibers.
 *
 * Calls are modelled like `systemctl --no-block start` and pm2's RPC: `start`
 * returns at once and the instance is running later; `stop` (and the stop
 * half of `restart`) returns once the instances are down, as systemctl and
 * pm2 do.
 *
 * For the settle window (`runStates`): a running process can be scripted to
 * end by itself after a while (`exitAfter`, with an exit code or signal),
 * and the supervisor to start it again then (`restart: "always"`, after
 * `restartDelay`: systemd's Restart=always, pm2's autorestart), counting
 * the restarts as systemd's NRestarts and pm2's restart_time do.
 */

import {
  displayInstance,
  type ExitStatus,
  type Instance,
  type InstanceRef,
  type LogFollow,
  type LogMark,
  type RunPhase,
  type RunState,
  type RunStates,
  Supervisor,
  SupervisorCallFailed,
  type SupervisorError,
  type SupervisorKind,
  type SupervisorShape,
  SupervisorUnavailable,
  unitName,
} from "@tamanu-lifecycle/core/internal"
import { Clock, Context, Duration, Effect, Either, Stream, SynchronizedRef } from "effect"

export type SupervisorMethod =
  | "list"
  | "start"
  | "stop"
  | "restart"
  | "restartOne"
  | "enabled"
  | "disable"
  | "remove"
  | "unitFileExists"
  | "runStates"
  | "logMark"
  | "logLines"
  | "logs"

/** One supervisor call as the fake saw it: `at` is Clock millis when the call began. */
export interface JournalEntry {
  readonly method: SupervisorMethod
  readonly refs: ReadonlyArray<InstanceRef>
  readonly at: number
}

/** How one instance behaves. Scripted per display name (`x@1`, `x#0`), per base name, or as the default. */
export interface FakeBehaviour {
  /** From start/restart (after any stop) until running. `Duration.infinity`: never comes up. Default 0. */
  readonly upAfter: Duration.DurationInput
  /** From stop until stopped; the stop call returns then. Default 0. */
  readonly downAfter: Duration.DurationInput
  /**
   * Crash on every start/restart instead of coming up: this long after it,
   * the instance is reported failed for good (`Instance.failed`; systemd
   * `failed`, pm2 `errored`) and stays so until started again. Default
   * (or null, to undo a script): no crash.
   */
  readonly failAfter: Duration.DurationInput | null
  /**
   * Once running, the process ends by itself this long after it came up,
   * every time it runs (a worker that exits a second after it starts).
   * A process already running when the fake is made is not affected until
   * it is started again. Default (or null): it stays up.
   */
  readonly exitAfter: Duration.DurationInput | null
  /** How a process ends by itself (`exitAfter`, `failAfter`). Default exit code 1. */
  readonly exit: ExitStatus
  /**
   * What the supervisor does when the process ended by itself: `no` (default):
   * it stays down (systemd: `failed`, or `inactive` after exit code 0; pm2:
   * `stopped`); `always`: it is started again after `restartDelay`, forever
   * (a crash loop under Restart=always / pm2 autorestart).
   */
  readonly restart: "no" | "always"
  /** systemd RestartSec / pm2 restart_delay. Default 100 ms (systemd's default). */
  readonly restartDelay: Duration.DurationInput
  /** What `logs` emits for this instance, and what `logLines` returns the last of. */
  readonly logLines: ReadonlyArray<string>
}

/** A call that fails like the real supervisor would, with its stderr. */
export interface FakeFailure {
  readonly method: SupervisorMethod
  /**
   * Display name or base name of the instance whose call fails; omitted: every
   * call of that method fails and changes nothing. With an instance, the other
   * instances of the same batch are still acted on (as `systemctl start a b` does).
   */
  readonly instance?: string
  readonly stderr: string
  /** Default 1. */
  readonly exitCode?: number
  /** How many calls fail before it heals; default: all of them. */
  readonly times?: number
}

/** The lifecycle phase of an instance, resolved against the clock. */
export type FakePhase =
  | { readonly _tag: "Stopped" }
  /** Ended by itself; the supervisor starts it again at `readyAt` (systemd `auto-restart`, pm2 `waiting restart`). */
  | { readonly _tag: "Restarting"; readonly readyAt: number }
  /** `fails`: at `readyAt` it turns Failed instead of Running (scripted `failAfter`). */
  | { readonly _tag: "Starting"; readonly readyAt: number; readonly fails?: boolean }
  | { readonly _tag: "Running"; readonly since: number }
  | { readonly _tag: "Stopping"; readonly doneAt: number }
  /** Crashed on start; the supervisor reports it failed (systemd `failed`, pm2 `errored`). */
  | { readonly _tag: "Failed"; readonly since: number }

/** What the control reports about one unit or process (loaded or not). */
export interface FakeInstanceView extends Instance {
  readonly phase: FakePhase
  /** systemd: in `list` (loaded). pm2: always true (registered). */
  readonly loaded: boolean
  /** systemd enabled state; false on pm2. */
  readonly enabled: boolean
  /** pm2 `PORT` in the process environment; null on systemd. */
  readonly port: number | null
}

export interface FakeSupervisorControlShape {
  readonly kind: SupervisorKind
  /** Every call so far, in order. */
  readonly journal: Effect.Effect<ReadonlyArray<JournalEntry>>
  /** The calls of one method, in order. */
  readonly calls: (method: SupervisorMethod) => Effect.Effect<ReadonlyArray<JournalEntry>>
  /** Every unit/process the fake knows, at the current time. */
  readonly instances: Effect.Effect<ReadonlyArray<FakeInstanceView>>
  /**
   * When the addressed instance last became running (Clock millis); null when
   * it is not running now. A pm2 ref by name: the latest of its processes, null
   * unless all run. This is what ties `FakeProber` to the supervisor.
   */
  readonly runningSince: (ref: InstanceRef) => Effect.Effect<number | null>
  /** Change how an instance (display name or base name) behaves from now on. */
  readonly script: (instance: string, behaviour: Partial<FakeBehaviour>) => Effect.Effect<void>
  readonly failOn: (failure: FakeFailure) => Effect.Effect<void>
  /** Daemon down (pm2 not running, no systemd manager): every call fails with SupervisorUnavailable. */
  readonly setAvailable: (available: boolean) => Effect.Effect<void>
  /** The instance dies outside any call (crash, OOM kill): stopped now, still loaded/registered. */
  readonly crash: (ref: InstanceRef) => Effect.Effect<void>
  /** `systemctl enable` behind the operations' back. */
  readonly setEnabled: (ref: InstanceRef, enabled: boolean) => Effect.Effect<void>
}

export class FakeSupervisorControl extends Context.Tag("@tamanu-lifecycle/testing/FakeSupervisorControl")<
  FakeSupervisorControl,
  FakeSupervisorControlShape
>() {}

// ---------------------------------------------------------------------------
// State

export interface Slot {
  readonly name: string
  readonly suffix: string | null
  readonly pmId: number | null
  readonly phase: FakePhase
  readonly enabled: boolean
  readonly loaded: boolean
  readonly port: number | null
  /** Restarts the supervisor made by itself since the last start/restart call (systemd NRestarts). Default 0. */
  readonly restarts?: number
  /** When the current (or last) process began. */
  readonly processStartedAt?: number | null
  /** How and when the last process ended by itself. */
  readonly lastExit?: { readonly exit: ExitStatus; readonly at: number } | null
}

interface ArmedFailure extends FakeFailure {
  readonly remaining: number
}

interface State {
  readonly kind: SupervisorKind
  readonly slots: ReadonlyArray<Slot>
  readonly unitFiles: ReadonlySet<string>
  readonly available: boolean
  readonly defaults: Partial<FakeBehaviour>
  readonly behaviours: Readonly<Record<string, Partial<FakeBehaviour>>>
  readonly failures: ReadonlyArray<ArmedFailure>
  readonly journal: ReadonlyArray<JournalEntry>
}

const ms = (d: Duration.DurationInput | undefined): number => (d === undefined ? 0 : Duration.toMillis(d))

const refOf = (s: Pick<Slot, "name" | "suffix" | "pmId">): InstanceRef => ({
  name: s.name,
  suffix: s.suffix,
  pmId: s.pmId,
})

const behaviourOf = (state: State, s: Pick<Slot, "name" | "suffix" | "pmId">) => {
  const b = { ...state.defaults, ...state.behaviours[s.name], ...state.behaviours[displayInstance(refOf(s))] }
  return {
    up: b.failAfter === undefined || b.failAfter === null ? ms(b.upAfter) : ms(b.failAfter),
    fails: b.failAfter !== undefined && b.failAfter !== null,
    down: ms(b.downAfter),
    logLines: b.logLines ?? [],
    exitAfter: b.exitAfter === undefined || b.exitAfter === null ? null : ms(b.exitAfter),
    exit: b.exit ?? defaultExit,
    restartAlways: b.restart === "always",
    restartDelay: b.restartDelay === undefined ? 100 : ms(b.restartDelay),
  }
}

const defaultExit: ExitStatus = { _tag: "Exited", code: 1 }

const isRunning = (p: FakePhase): boolean => p._tag === "Running"
const isUp = (p: FakePhase): boolean => p._tag === "Running" || p._tag === "Starting"
const isFailed = (p: FakePhase): boolean => p._tag === "Failed"
/** What discovery says about a slot: `failed: true` only when it is, as the live parsers do. */
const listedAs = (s: Slot): Instance => {
  const instance = { ...refOf(s), running: isRunning(s.phase) }
  return isFailed(s.phase) ? { ...instance, failed: true } : instance
}

/** One step of a slot's own life whose time has come, or null when none is due. */
const nextPhase = (kind: SupervisorKind, s: Slot, b: ReturnType<typeof behaviourOf>, now: number): Slot | null => {
  const phase = s.phase
  switch (phase._tag) {
    case "Starting":
      if (phase.readyAt > now) return null
      return phase.fails === true
        ? { ...s, phase: { _tag: "Failed", since: phase.readyAt }, lastExit: { exit: b.exit, at: phase.readyAt } }
        : { ...s, phase: { _tag: "Running", since: phase.readyAt } }
    case "Running": {
      // A process already running when the fake was made has been stable so far: its script applies from its next start.
      if (b.exitAfter === null || !Number.isFinite(phase.since) || phase.since + b.exitAfter > now) return null
      const at = phase.since + b.exitAfter
      const lastExit = { exit: b.exit, at }
      // At least 1 ms per round, so a loop scripted with no time in it still moves on.
      if (b.restartAlways)
        return { ...s, phase: { _tag: "Restarting", readyAt: at + Math.max(1, b.restartDelay) }, lastExit }
      // systemd: a clean exit leaves the unit inactive, any other end failed; pm2 without autorestart: stopped.
      const clean = b.exit._tag === "Exited" && b.exit.code === 0
      return { ...s, phase: kind === "pm2" || clean ? { _tag: "Stopped" } : { _tag: "Failed", since: at }, lastExit }
    }
    case "Restarting":
      if (phase.readyAt > now) return null
      return {
        ...s,
        restarts: (s.restarts ?? 0) + 1,
        processStartedAt: phase.readyAt,
        phase: starting(phase.readyAt + b.up, b),
      }
    case "Stopping":
      if (phase.doneAt > now) return null
      return { ...s, phase: { _tag: "Stopped" }, loaded: kind === "pm2" || s.enabled }
    default:
      return null
  }
}

/** Resolve phases whose time has come (a crash loop may go round many times). A systemd unit that finishes stopping while disabled is unloaded (GC). */
const settleSlot = (state: State, s: Slot, now: number): Slot => {
  const b = behaviourOf(state, s)
  let slot = s
  for (let next = nextPhase(state.kind, slot, b, now); next !== null; next = nextPhase(state.kind, slot, b, now))
    slot = next
  return slot
}

const settle = (state: State, now: number): State => ({
  ...state,
  slots: state.slots.map((s) => settleSlot(state, s, now)),
})

/** How an instance comes up: after `up` ms, running, or failed when scripted to crash. */
interface Boot {
  readonly up: number
  readonly fails: boolean
}

const starting = (readyAt: number, boot: Boot): FakePhase =>
  boot.fails ? { _tag: "Starting", readyAt, fails: true } : { _tag: "Starting", readyAt }

/**
 * Transitions, as the real daemons do them. `until`: when the call may
 * return. A start or restart call begins a new process and (systemd) resets
 * the restart counter; pm2 counts a restart call as a restart.
 */
const started = (kind: SupervisorKind, s: Slot, boot: Boot, now: number): Slot => {
  const fresh = (at: number): Slot => ({
    ...s,
    loaded: true,
    phase: starting(at + boot.up, boot),
    processStartedAt: at,
    restarts: kind === "systemd" ? 0 : (s.restarts ?? 0),
  })
  switch (s.phase._tag) {
    case "Running":
    case "Starting":
      return s
    case "Stopping":
      return fresh(s.phase.doneAt)
    case "Stopped":
    case "Failed":
    case "Restarting":
      return fresh(now)
  }
}

/** A failed systemd unit stays `failed` when stopped (until reset-failed); pm2 calls a stopped errored process stopped. */
const stopped = (kind: SupervisorKind, s: Slot, down: number, now: number): { slot: Slot; until: number } => {
  switch (s.phase._tag) {
    case "Running":
    case "Starting":
      return { slot: { ...s, phase: { _tag: "Stopping", doneAt: now + down } }, until: now + down }
    case "Stopping":
      return { slot: s, until: s.phase.doneAt }
    case "Stopped":
      return { slot: s, until: now }
    case "Restarting":
      return { slot: { ...s, phase: { _tag: "Stopped" } }, until: now }
    case "Failed":
      return { slot: kind === "pm2" ? { ...s, phase: { _tag: "Stopped" } } : s, until: now }
  }
}

const restarted = (
  kind: SupervisorKind,
  s: Slot,
  boot: Boot,
  down: number,
  now: number,
): { slot: Slot; until: number } => {
  const stop = stopped(kind, s, down, now)
  return {
    slot: {
      ...s,
      loaded: true,
      phase: starting(stop.until + boot.up, boot),
      processStartedAt: stop.until,
      restarts: kind === "systemd" ? 0 : (s.restarts ?? 0) + 1,
    },
    until: stop.until,
  }
}

// ---------------------------------------------------------------------------
// Calls

interface Outcome<A> {
  readonly state: State
  readonly result: Either.Either<A, SupervisorError>
  /** Clock millis the call returns at (stops take time). */
  readonly until: number
}

/** A call's effect on the state: acted-on refs, errors (stderr lines, exit code) and a result. */
interface Applied<A> {
  readonly slots: ReadonlyArray<Slot>
  readonly value: A
  readonly errors: ReadonlyArray<{ readonly stderr: string; readonly exitCode: number }>
  readonly until: number
}

type Body<A> = (state: State, refs: ReadonlyArray<InstanceRef>, now: number) => Applied<A>

const unavailableMessage = (kind: SupervisorKind): string =>
  kind === "pm2"
    ? "pm2 daemon is not running (no rpc.sock in PM2_HOME)"
    : "System has not been booted with systemd as init system (PID 1). Can't operate. Failed to connect to bus"

const argv = (kind: SupervisorKind, method: SupervisorMethod, refs: ReadonlyArray<InstanceRef>): Array<string> =>
  kind === "systemd"
    ? ["systemctl", method === "restartOne" ? "restart" : method, ...refs.map(unitName)]
    : [
        "pm2",
        method === "restartOne" ? "restart" : method === "remove" ? "delete" : method,
        ...refs.map(displayInstance),
      ]

/** A failure scripted for `x#1` also hits a pm2 call addressing `x` by name (it reaches process 1). */
const failureHits = (state: State, f: ArmedFailure, ref: InstanceRef): boolean =>
  f.instance === displayInstance(ref) ||
  f.instance === ref.name ||
  (state.kind === "pm2" &&
    ref.pmId === null &&
    state.slots.some((s) => s.name === ref.name && displayInstance(refOf(s)) === f.instance))

const runCall = <A>(
  state0: State,
  now: number,
  method: SupervisorMethod,
  refs: ReadonlyArray<InstanceRef>,
  body: Body<A>,
): Outcome<A> => {
  const state = { ...settle(state0, now), journal: [...state0.journal, { method, refs, at: now }] }
  const callFailed = (stderr: string, exitCode: number) =>
    new SupervisorCallFailed({ supervisor: state.kind, command: argv(state.kind, method, refs), stderr, exitCode })

  if (!state.available) {
    const error = new SupervisorUnavailable({ supervisor: state.kind, message: unavailableMessage(state.kind) })
    return { state, result: Either.left(error), until: now }
  }

  const armed = state.failures.filter((f) => f.method === method && f.remaining > 0)
  const whole = armed.find((f) => f.instance === undefined)
  if (whole !== undefined) {
    const failures = state.failures.map((f) => (f === whole ? { ...f, remaining: f.remaining - 1 } : f))
    return {
      state: { ...state, failures },
      result: Either.left(callFailed(whole.stderr, whole.exitCode ?? 1)),
      until: now,
    }
  }
  const fired = armed.filter((f) => refs.some((r) => failureHits(state, f, r)))
  const acting = refs.filter((r) => !fired.some((f) => failureHits(state, f, r)))
  const applied = body(state, acting, now)
  const errors = [...fired.map((f) => ({ stderr: f.stderr, exitCode: f.exitCode ?? 1 })), ...applied.errors]
  const failures = state.failures.map((f) => (fired.includes(f) ? { ...f, remaining: f.remaining - 1 } : f))
  const first = errors[0]
  return {
    state: { ...state, slots: applied.slots, failures },
    result:
      first === undefined
        ? Either.right(applied.value)
        : Either.left(callFailed(errors.map((e) => e.stderr).join("\n"), first.exitCode)),
    until: applied.until,
  }
}

/** Which slots a ref addresses; systemd creates a not-loaded slot for an installed but unloaded unit. */
const resolve = (state: State, slots: Array<Slot>, ref: InstanceRef): ReadonlyArray<number> => {
  if (state.kind === "pm2") {
    return slots.flatMap((s, i) => (s.name === ref.name && (ref.pmId === null || s.pmId === ref.pmId) ? [i] : []))
  }
  const at = slots.findIndex((s) => s.name === ref.name && s.suffix === ref.suffix)
  if (at >= 0) return [at]
  if (!hasUnitFile(state, ref)) return []
  slots.push({
    name: ref.name,
    suffix: ref.suffix,
    pmId: null,
    phase: { _tag: "Stopped" },
    enabled: false,
    loaded: false,
    port: null,
  })
  return [slots.length - 1]
}

const hasUnitFile = (state: State, ref: InstanceRef): boolean =>
  state.unitFiles.has(unitName(ref)) || (ref.suffix !== null && state.unitFiles.has(`${ref.name}@.service`))

const notFound = (kind: SupervisorKind, verb: string, ref: InstanceRef) =>
  kind === "systemd"
    ? {
        stderr: `Failed to ${verb} ${unitName(ref)}: Unit ${unitName(ref)} ${verb === "stop" ? "not loaded" : "not found"}.`,
        exitCode: 5,
      }
    : {
        stderr: `[PM2][ERROR] Process or Namespace ${ref.pmId === null ? ref.name : ref.pmId} not found`,
        exitCode: 1,
      }

/** Apply a per-slot transition to every slot the refs address; unknown refs become errors. */
const transition =
  (
    verb: string,
    step: (s: Slot, b: ReturnType<typeof behaviourOf>, now: number, state: State) => { slot: Slot; until: number },
  ): Body<void> =>
  (state, refs, now) => {
    const slots = [...state.slots]
    const errors: Array<{ stderr: string; exitCode: number }> = []
    let until = now
    for (const ref of refs) {
      const found = resolve(state, slots, ref)
      if (found.length === 0) errors.push(notFound(state.kind, verb, ref))
      for (const i of found) {
        const s = slots[i]!
        const r = step(s, behaviourOf(state, s), now, state)
        slots[i] = r.slot
        until = Math.max(until, r.until)
      }
    }
    return { slots, value: undefined, errors, until }
  }

const startBody = transition("start", (s, b, now, state) => ({ slot: started(state.kind, s, b, now), until: now }))
const stopBody = transition("stop", (s, b, now, state) => stopped(state.kind, s, b.down, now))
const restartBody = transition("restart", (s, b, now, state) => restarted(state.kind, s, b, b.down, now))

const disableBody: Body<void> = (state, refs, now) => {
  if (state.kind === "pm2") return { slots: state.slots, value: undefined, errors: [], until: now }
  const slots = [...state.slots]
  const errors = refs
    .filter((ref) => !hasUnitFile(state, ref))
    .map((ref) => ({ stderr: `Failed to disable unit: Unit file ${unitName(ref)} does not exist.`, exitCode: 1 }))
  for (const ref of refs) {
    const i = slots.findIndex((s) => s.name === ref.name && s.suffix === ref.suffix)
    const s = slots[i]
    // Disabling drops the target's reference: a stopped unit is then unloaded.
    if (s !== undefined) slots[i] = { ...s, enabled: false, loaded: s.loaded && s.phase._tag !== "Stopped" }
  }
  return { slots, value: undefined, errors, until: now }
}

const removeBody: Body<void> = (state, refs, now) => {
  if (state.kind === "systemd") return { slots: state.slots, value: undefined, errors: [], until: now }
  const slots = [...state.slots]
  const errors: Array<{ stderr: string; exitCode: number }> = []
  const doomed = new Set<number>()
  let until = now
  for (const ref of refs) {
    const found = resolve(state, slots, ref)
    if (found.length === 0) errors.push(notFound(state.kind, "delete", ref))
    for (const i of found) {
      const s = slots[i]!
      doomed.add(i)
      until = Math.max(until, stopped(state.kind, s, behaviourOf(state, s).down, now).until)
    }
  }
  return { slots: slots.filter((_, i) => !doomed.has(i)), value: undefined, errors, until }
}

const isTamanu = (s: Slot): boolean => s.name.startsWith("tamanu-")

const listBody: Body<ReadonlyArray<Instance>> = (state, _refs, now) => ({
  slots: state.slots,
  value: state.slots.filter((s) => s.loaded && isTamanu(s)).map(listedAs),
  errors: [],
  until: now,
})

const enabledBody: Body<ReadonlyMap<string, boolean>> = (state, refs, now) => ({
  slots: state.slots,
  value: new Map(
    state.kind === "pm2"
      ? []
      : refs.map((ref) => [
          unitName(ref),
          state.slots.find((s) => s.name === ref.name && s.suffix === ref.suffix)?.enabled ?? false,
        ]),
  ),
  errors: [],
  until: now,
})

const phaseOf = (p: FakePhase): RunPhase => {
  switch (p._tag) {
    case "Running":
      return "running"
    case "Starting":
      return "starting"
    case "Restarting":
      return "restarting"
    case "Stopping":
      return "stopping"
    case "Stopped":
      return "stopped"
    case "Failed":
      return "failed"
  }
}

/**
 * A slot's run state as the real supervisor reports it: systemd shows the
 * last exit until a new process starts (`ExecMainExit*`); pm2 keeps the last
 * exit code but no exit time.
 */
const runStateOf = (kind: SupervisorKind, s: Slot): RunState => {
  const down = s.phase._tag === "Restarting" || s.phase._tag === "Stopped" || s.phase._tag === "Failed"
  const last = s.lastExit ?? null
  return {
    ...refOf(s),
    phase: phaseOf(s.phase),
    restarts: s.restarts ?? 0,
    startedAt: s.processStartedAt ?? (s.phase._tag === "Running" ? s.phase.since : null),
    exitedAt: kind === "systemd" && down && last !== null ? last.at : null,
    exit: last === null || (kind === "systemd" && !down) ? null : last.exit,
  }
}

const runStatesBody: Body<RunStates> = (state, refs, now) => ({
  slots: state.slots,
  value: {
    readAt: now,
    instances: refs.flatMap((ref): ReadonlyArray<RunState> => {
      const found = state.slots.filter(
        (s) => s.name === ref.name && s.suffix === ref.suffix && (ref.pmId === null || s.pmId === ref.pmId),
      )
      if (found.length > 0) return found.map((s) => runStateOf(state.kind, s))
      // systemd answers for a unit it does not know (inactive, never started); pm2 knows no such process.
      return state.kind === "systemd"
        ? [{ ...ref, phase: "stopped", restarts: 0, startedAt: null, exitedAt: null, exit: null }]
        : []
    }),
  },
  errors: [],
  until: now,
})

/** The scripted lines of the instances these refs address, as display lines (`name@1 | line`). */
const logLinesBody =
  (limit: number): Body<ReadonlyArray<string>> =>
  (state, refs, now) => {
    const lines = state.slots
      .filter((s) =>
        refs.some((r) => s.name === r.name && s.suffix === r.suffix && (r.pmId === null || s.pmId === r.pmId)),
      )
      .flatMap((s) => behaviourOf(state, s).logLines.map((line) => `${displayInstance(refOf(s))} | ${line}`))
    return { slots: state.slots, value: lines.slice(-Math.max(1, limit)), errors: [], until: now }
  }

const logsBody: Body<ReadonlyArray<string>> = (state, refs, now) => {
  const slots = [...state.slots]
  const lines = refs.flatMap((ref) => {
    const found = resolve(state, slots, ref)
    return found.length === 0
      ? behaviourOf(state, ref).logLines
      : found.flatMap((i) => behaviourOf(state, slots[i]!).logLines)
  })
  return { slots: state.slots, value: lines, errors: [], until: now }
}

// ---------------------------------------------------------------------------
// Shared by the systemd and pm2 fakes (systemd.ts, pm2.ts); not exported from the package.

export const makeFakeSupervisor = (initial: Omit<State, "journal">) =>
  Effect.gen(function* () {
    const ref = yield* SynchronizedRef.make<State>({ ...initial, journal: [] })

    const call = <A>(method: SupervisorMethod, refs: ReadonlyArray<InstanceRef>, body: Body<A>) =>
      SynchronizedRef.modifyEffect(ref, (state) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const outcome = runCall(state, now, method, refs, body)
          return [{ outcome, now }, outcome.state] as const
        }),
      ).pipe(
        // Wait outside the lock, so concurrent callers are never serialised behind a slow stop.
        Effect.tap(({ outcome, now }) =>
          outcome.until > now ? Effect.sleep(Duration.millis(outcome.until - now)) : Effect.void,
        ),
        Effect.flatMap(({ outcome }) => outcome.result),
      )

    const supervisor: SupervisorShape = {
      kind: initial.kind,
      list: call("list", [], listBody),
      start: (refs) => call("start", refs, startBody),
      stop: (refs) => call("stop", refs, stopBody),
      restart: (refs) => call("restart", refs, restartBody),
      restartOne: (r) => call("restartOne", [r], restartBody),
      enabled: (refs) => call("enabled", refs, enabledBody),
      disable: (refs) => call("disable", refs, disableBody),
      remove: (refs) => call("remove", refs, removeBody),
      unitFileExists: (file) =>
        call("unitFileExists", [], (state, _refs, now) => ({
          slots: state.slots,
          value: state.kind === "systemd" && state.unitFiles.has(file),
          errors: [],
          until: now,
        })),
      runStates: (refs) => call("runStates", refs, runStatesBody),
      logMark: (refs) =>
        call("logMark", refs, (state, _refs, now) => ({
          slots: state.slots,
          value: { at: now, files: {} } satisfies LogMark,
          errors: [],
          until: now,
        })),
      logLines: (refs, _mark, limit) => call("logLines", refs, logLinesBody(limit)),
      // The scripted lines, then (when following) until told to stop.
      logs: (refs, follow?: LogFollow) =>
        Stream.unwrap(Effect.map(call("logs", refs, logsBody), Stream.fromIterable)).pipe(
          Stream.concat(follow === undefined ? Stream.empty : Stream.drain(Stream.fromEffect(follow.until))),
        ),
    }

    const settled = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      SynchronizedRef.updateAndGet(ref, (state) => settle(state, now)),
    )
    const update = (f: (state: State, now: number) => State) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        SynchronizedRef.update(ref, (state) => f(settle(state, now), now)),
      )
    const addresses = (r: InstanceRef) => (s: Slot) =>
      s.name === r.name && s.suffix === r.suffix && (r.pmId === null || s.pmId === r.pmId)

    const control: FakeSupervisorControlShape = {
      kind: initial.kind,
      journal: Effect.map(SynchronizedRef.get(ref), (s) => s.journal),
      calls: (method) => Effect.map(SynchronizedRef.get(ref), (s) => s.journal.filter((e) => e.method === method)),
      instances: Effect.map(settled, (state) =>
        state.slots.map((s) => ({
          ...listedAs(s),
          phase: s.phase,
          loaded: s.loaded,
          enabled: s.enabled,
          port: s.port,
        })),
      ),
      runningSince: (r) =>
        Effect.map(settled, (state) => {
          const found = state.slots.filter(addresses(r))
          if (found.length === 0) return null
          const since = found.map((s) => (s.phase._tag === "Running" ? s.phase.since : null))
          return since.every((t) => t !== null) ? Math.max(...(since as Array<number>)) : null
        }),
      script: (instance, behaviour) =>
        update((state) => ({
          ...state,
          behaviours: { ...state.behaviours, [instance]: { ...state.behaviours[instance], ...behaviour } },
        })),
      failOn: (failure) =>
        update((state) => ({
          ...state,
          failures: [...state.failures, { ...failure, remaining: failure.times ?? Number.POSITIVE_INFINITY }],
        })),
      setAvailable: (available) => update((state) => ({ ...state, available })),
      crash: (r) =>
        update((state) => ({
          ...state,
          slots: state.slots.map((s) => (addresses(r)(s) && isUp(s.phase) ? { ...s, phase: { _tag: "Stopped" } } : s)),
        })),
      setEnabled: (r, enabled) =>
        update((state) => ({
          ...state,
          slots: state.slots.some(addresses(r))
            ? state.slots.map((s) => (addresses(r)(s) ? { ...s, enabled, loaded: s.loaded || enabled } : s))
            : [
                ...state.slots,
                { ...refOf(r), phase: { _tag: "Stopped" }, enabled, loaded: enabled, port: null } satisfies Slot,
              ],
        })),
    }

    return Context.make(Supervisor, supervisor).pipe(Context.add(FakeSupervisorControl, control))
  })

export const armed = (failures: ReadonlyArray<FakeFailure> | undefined): ReadonlyArray<ArmedFailure> =>
  (failures ?? []).map((f) => ({ ...f, remaining: f.times ?? Number.POSITIVE_INFINITY }))

/** The behaviour fields of a spec, keyed by its display name. */
export const specBehaviour = (
  display: string,
  spec: Partial<FakeBehaviour>,
): Record<string, Partial<FakeBehaviour>> => {
  const b: { -readonly [K in keyof FakeBehaviour]?: FakeBehaviour[K] } = {}
  if (spec.upAfter !== undefined) b.upAfter = spec.upAfter
  if (spec.downAfter !== undefined) b.downAfter = spec.downAfter
  if (spec.failAfter !== undefined) b.failAfter = spec.failAfter
  if (spec.logLines !== undefined) b.logLines = spec.logLines
  if (spec.exitAfter !== undefined) b.exitAfter = spec.exitAfter
  if (spec.exit !== undefined) b.exit = spec.exit
  if (spec.restart !== undefined) b.restart = spec.restart
  if (spec.restartDelay !== undefined) b.restartDelay = spec.restartDelay
  return Object.keys(b).length === 0 ? {} : { [display]: b }
}

/** Instances running in the initial state have been running (and answering) since before the test began. */
export const startPhase = (running: boolean | undefined): FakePhase =>
  running === true ? { _tag: "Running", since: Number.NEGATIVE_INFINITY } : { _tag: "Stopped" }
