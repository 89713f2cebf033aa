/**
 * The Supervisor service: the one interface over systemd and pm2 (spec §3,
 * §5-§7). Each supervisor is a layer in its own module (`systemd.ts`,
 * `pm2.ts`); fakes live in `@tamanu-lifecycle/testing`.
 *
 * Every "many" method is one supervisor call whatever the number of
 * instances: the operations batch on purpose (§5.3, §6, §7.2).
 */
import { Context, type Effect, type Stream } from "effect"
import type { Instance, InstanceRef, SupervisorKind } from "../model/instance.js"
import type { SupervisorError } from "./errors.js"
import type { RunStates } from "./runState.js"

/**
 * Where the logs of some instances stood at a moment, read just before a
 * start or restart call, so that what is read later is only what this start
 * wrote (the failure lines, `--logs`).
 */
export interface LogMark {
  /** Wall-clock milliseconds (Effect's Clock) when the mark was taken: journalctl `--since`. */
  readonly at: number
  /** pm2: the size of each log file (by path) at that moment, so later reads start there. */
  readonly files: Readonly<Record<string, number>>
}

/** How `logs` follows: from a mark, until told to stop. */
export interface LogFollow {
  /** Show what was logged from this mark on, including what came before the follower attached. */
  readonly since: LogMark
  /**
   * The stream ends once this completes and the follower has caught up with
   * everything logged until then (systemd: one last read by cursor); it is
   * not cut off mid-way.
   */
  readonly until: Effect.Effect<void>
}

export interface SupervisorShape {
  readonly kind: SupervisorKind

  /**
   * Every Tamanu instance the supervisor knows: systemd units matching
   * `tamanu-*.service` that are loaded (running or not, never `not-found`),
   * pm2 processes whose name starts with `tamanu-`. A constant number of calls.
   */
  readonly list: Effect.Effect<ReadonlyArray<Instance>, SupervisorError>

  /** Start these in one call. pm2: a ref with `pmId: null` starts every process of that name. */
  readonly start: (refs: ReadonlyArray<InstanceRef>) => Effect.Effect<void, SupervisorError>
  /** Stop these in one call. */
  readonly stop: (refs: ReadonlyArray<InstanceRef>) => Effect.Effect<void, SupervisorError>
  /** Restart these in one call. */
  readonly restart: (refs: ReadonlyArray<InstanceRef>) => Effect.Effect<void, SupervisorError>
  /** Restart exactly one instance (rolling restarts). */
  readonly restartOne: (ref: InstanceRef) => Effect.Effect<void, SupervisorError>

  /**
   * Enabled state of many units in one call, keyed by unit name
   * (`tamanu-x@1.service`). Units need not be loaded (§5.1). pm2: always empty.
   */
  readonly enabled: (refs: ReadonlyArray<InstanceRef>) => Effect.Effect<ReadonlyMap<string, boolean>, SupervisorError>
  /** Disable units (systemd). pm2: no-op. */
  readonly disable: (refs: ReadonlyArray<InstanceRef>) => Effect.Effect<void, SupervisorError>
  /** Remove processes from pm2's list (pm2's answer to a Down expectation). systemd: no-op. */
  readonly remove: (refs: ReadonlyArray<InstanceRef>) => Effect.Effect<void, SupervisorError>
  /** Whether a unit file is installed, e.g. `tamanu-patientportal@.service`. pm2: false. */
  readonly unitFileExists: (unitFile: string) => Effect.Effect<boolean, SupervisorError>

  /**
   * Run states of these instances in ONE call (systemd `show` of every unit,
   * pm2 one process list), for the settle window's ticks. A pm2 ref by name
   * stands for each of its processes; one that does not exist is left out.
   */
  readonly runStates: (refs: ReadonlyArray<InstanceRef>) => Effect.Effect<RunStates, SupervisorError>

  /** Where these instances' logs stand now; take it before a start so later reads show only that start. */
  readonly logMark: (refs: ReadonlyArray<InstanceRef>) => Effect.Effect<LogMark, SupervisorError>
  /**
   * The last `limit` lines these instances logged since `mark`, oldest first,
   * as display lines (`name@1 | 12:00:01.123 sh[126]: hello`, `name#3 | hello`).
   */
  readonly logLines: (
    refs: ReadonlyArray<InstanceRef>,
    mark: LogMark,
    limit: number,
  ) => Effect.Effect<ReadonlyArray<string>, SupervisorError>

  /**
   * Follow the logs of these instances (journalctl -f / pm2's log bus) as
   * lines. Without `follow`: from now on, until interrupted. With it: from
   * `follow.since`, ending once `follow.until` completes and every line
   * logged until then was emitted.
   */
  readonly logs: (refs: ReadonlyArray<InstanceRef>, follow?: LogFollow) => Stream.Stream<string, SupervisorError>
}

export class Supervisor extends Context.Tag("@tamanu-lifecycle/core/Supervisor")<Supervisor, SupervisorShape>() {}
