/**
 * What a supervisor knows about the current run of an instance, beyond
 * "running or not": whether its restart counter moved, when the process
 * began, how the last one ended. The settle window (settle.ts) compares two
 * reads of these to tell an instance that stayed up from one that stopped,
 * failed or was restarted in between; the supervisors give one read of all
 * instances in one call (`Supervisor.runStates`).
 */
import { Schema } from "effect"
import { InstanceRef } from "../model/instance.js"

/** How a process ended: its exit code, or the signal that killed it. */
export const ExitStatus = Schema.Union(
  Schema.TaggedStruct("Exited", { code: Schema.Int }),
  Schema.TaggedStruct("Killed", {
    /** `SIGKILL`, `SIGSEGV`, … (or `signal 77` for a number without a name). */
    signal: Schema.String,
    coreDumped: Schema.Boolean,
  }),
)
export type ExitStatus = typeof ExitStatus.Type

/**
 * The supervisor's word for where an instance is, reduced to what the
 * settle window needs:
 * - `running`: up (systemd `active`, pm2 `online`);
 * - `starting`: on its way up (systemd `activating` for a start, `reloading`; pm2 `launching`);
 * - `restarting`: its process ended and the supervisor will start it again by itself
 *   (systemd `activating`/`auto-restart`, pm2 `waiting restart`): a crash loop in progress;
 * - `stopping`: on its way down (systemd `deactivating`, pm2 `stopping`);
 * - `stopped`: down, not failed (systemd `inactive`, pm2 `stopped`);
 * - `failed`: down and failed (systemd `failed`, pm2 `errored`).
 */
export const RunPhase = Schema.Literal("running", "starting", "restarting", "stopping", "stopped", "failed")
export type RunPhase = typeof RunPhase.Type

/** One instance, one read. Times are milliseconds on the supervisor's own clock (`RunStates.readAt`'s). */
export const RunState = Schema.Struct({
  ...InstanceRef.fields,
  phase: RunPhase,
  /**
   * Restarts the supervisor made by itself (systemd `NRestarts`, pm2
   * `restart_time`). A count that moved between two reads is a process that
   * ended and was started again (Restart=always, pm2 autorestart).
   */
  restarts: Schema.Int,
  /** When the current process (or, when down, the last one) began; null when never started. A new value is a new process. */
  startedAt: Schema.NullOr(Schema.Number),
  /** When the last process ended, when the supervisor records it (systemd does; pm2 does not). */
  exitedAt: Schema.NullOr(Schema.Number),
  /** How the last process ended, when the supervisor records it. */
  exit: Schema.NullOr(ExitStatus),
})
export type RunState = typeof RunState.Type

/** One read of many instances, in one supervisor call. */
export const RunStates = Schema.Struct({
  /** When the read was made, on the same clock as the instances' times. */
  readAt: Schema.Number,
  instances: Schema.Array(RunState),
})
export type RunStates = typeof RunStates.Type

/** `exit code 3`, `signal SIGKILL (core dumped)`. */
export const describeExitStatus = (exit: ExitStatus): string =>
  exit._tag === "Exited" ? `exit code ${exit.code}` : `signal ${exit.signal}${exit.coreDumped ? " (core dumped)" : ""}`
