/**
 * What each operation is asked to do: the library form of the CLI's options
 * (spec §4-§7). Durations are already parsed; NAMES are raw patterns.
 */
import { Duration } from "effect"

export interface SelectOptions {
  /** NAMES: substrings of expectation names; empty = every expectation (§2). */
  readonly names: ReadonlyArray<string>
}

export interface StatusOptions extends SelectOptions {
  /** Show compliant legacy expectations too. */
  readonly all: boolean
}

export interface MutateOptions extends SelectOptions {
  /** A name that matches nothing is a warning, not an error (§2). */
  readonly ignoreUnmatched: boolean
  /** Print the plan, change nothing, need no sudo. */
  readonly dryRun: boolean
  /** How long to wait for the supervisor to report instances running / stopped. */
  readonly waitLimit: Duration.Duration
  /** The host lock (one mutating operation at a time); null: no lock. See `defaultLockFile`. */
  readonly lockFile: string | null
}

export interface StartOptions extends MutateOptions {
  /** Only bring Up expectations up; leave Down ones alone (§5.1). */
  readonly upOnly: boolean
  readonly probeHttp: boolean
  /** One overall budget for the readiness probes after start (§5.4). */
  readonly probeTimeout: Duration.Duration
  /** How long to wait for the database before deciding DB-gated expectations (§5.7). */
  readonly dbWait: Duration.Duration
  /** Follow the service logs while starting (§5.8), from the first start call until the settle window is over. */
  readonly logs: boolean
  /**
   * How long each started instance no probe judges must stay running before
   * it counts as up (`--settle`; issue #23); zero: no window. Default
   * `defaults.settle`.
   */
  readonly settle?: Duration.Duration
}

export type StopOptions = MutateOptions

export interface RestartOptions extends MutateOptions {
  readonly probeHttp: boolean
  /** Per-instance readiness budget during a roll (§7.5). */
  readonly probeTimeout: Duration.Duration
  /** Wait between instances when no probe is possible (§7.4). */
  readonly cooldown: Duration.Duration
  /** End-to-end URL probed after the roll (§7.7). */
  readonly checkUrl: string | null
  /**
   * How long each started or restarted instance no probe judges must stay
   * running before it counts as up, rolled ones included (`--settle`; issue
   * #23); zero: no window. Default `defaults.settle`.
   */
  readonly settle?: Duration.Duration
}

export const defaults = {
  waitLimit: Duration.seconds(60),
  startProbeTimeout: Duration.minutes(1),
  restartProbeTimeout: Duration.minutes(5),
  cooldown: Duration.seconds(30),
  settle: Duration.seconds(5),
  dbWait: Duration.minutes(2),
  checkUrlBudget: Duration.seconds(60),
  attemptTimeout: Duration.seconds(5),
} as const
