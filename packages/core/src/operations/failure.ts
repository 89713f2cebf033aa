/**
 * The union of every typed error core's operations can fail with, read off
 * their own signatures: a new error in any operation's error channel joins
 * it by itself, and the CLI's exhaustive rendering then fails to build until
 * it has words for it (docs/reliability.md has a row for each).
 */
import type { Effect } from "effect"
import { ConfigMissingDb, ConfigUnreadable, NoTamanuRoot } from "../host/errors.js"
import { LockFailed, LockHeld } from "../lock/hostLock.js"
import { UnmatchedNames } from "../model/matchNames.js"
import { SudoFailed } from "../privileges/Privileges.js"
import { SudoRefused } from "../privileges/sudoPolicy.js"
import { UntrustedPath } from "../privileges/trustedPath.js"
import { ProxyFailed } from "../proxy/ReverseProxy.js"
import { InstanceFailed, SupervisorCallFailed, SupervisorUnavailable, WaitTimeout } from "../supervisor/errors.js"
import { SettleFailed } from "../supervisor/settle.js"
import { InvalidDuration } from "../util/duration.js"
import { CheckUrlFailed, NeedsRoot, NotReady, PlanRefused, RollStopped } from "./errors.js"
import type { restart } from "./restart.js"
import type { start } from "./start.js"
import type { status } from "./status.js"
import type { stop } from "./stop.js"

/** What `status`, `start`, `stop` and `restart` can fail with. */
export type OperationFailure =
  | Effect.Effect.Error<ReturnType<typeof status>>
  | Effect.Effect.Error<ReturnType<typeof start>>
  | Effect.Effect.Error<ReturnType<typeof stop>>
  | Effect.Effect.Error<ReturnType<typeof restart>>

/**
 * What a program driving the operations meets besides: the sudo re-run and
 * its policy (a run as root for an operator), and a duration it parsed.
 */
export type InvocationFailure = SudoFailed | SudoRefused | UntrustedPath | InvalidDuration

/** Every typed error of core an embedding program or the CLI has to say something about. */
export type CoreFailure = OperationFailure | InvocationFailure

type FailureClasses = {
  readonly [Tag in CoreFailure["_tag"]]: abstract new (
    ...args: never
  ) => Extract<CoreFailure, { readonly _tag: Tag }>
}

/**
 * Each tag of `CoreFailure` and its class. `satisfies` makes a tag the union
 * gains, and a class it no longer has, a build error here.
 */
export const coreFailureClasses = {
  UnmatchedNames,
  InvalidDuration,
  SupervisorUnavailable,
  SupervisorCallFailed,
  WaitTimeout,
  InstanceFailed,
  SettleFailed,
  ProxyFailed,
  NoTamanuRoot,
  ConfigUnreadable,
  ConfigMissingDb,
  LockHeld,
  LockFailed,
  SudoFailed,
  SudoRefused,
  UntrustedPath,
  RollStopped,
  NotReady,
  CheckUrlFailed,
  PlanRefused,
  NeedsRoot,
} satisfies FailureClasses

/** Whether a value is one of core's typed failures (by class, so a look-alike `_tag` is not). */
export const isCoreFailure = (u: unknown): u is CoreFailure =>
  Object.values(coreFailureClasses).some((failureClass) => u instanceof failureClass)
