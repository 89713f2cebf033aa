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

  /** Follow the logs of these instances (journalctl -f / pm2 logs) as lines. */
  readonly logs: (refs: ReadonlyArray<InstanceRef>) => Stream.Stream<string, SupervisorError>
}

export class Supervisor extends Context.Tag("@tamanu-lifecycle/core/Supervisor")<Supervisor, SupervisorShape>() {}
