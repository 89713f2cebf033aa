/**
 * Typed supervisor failures (spec §12). The facts live in fields; the CLI edge
 * renders them into one paragraph an operator can act on.
 */
import { Schema } from "effect"
import { SupervisorKind } from "../model/instance.js"

/** systemctl missing, no user manager, pm2 daemon not running. Never "fixed" by starting a daemon. */
export class SupervisorUnavailable extends Schema.TaggedError<SupervisorUnavailable>()("SupervisorUnavailable", {
  supervisor: SupervisorKind,
  message: Schema.String,
}) {}

/** A supervisor call that ran and failed; carries the supervisor's own words. */
export class SupervisorCallFailed extends Schema.TaggedError<SupervisorCallFailed>()("SupervisorCallFailed", {
  supervisor: SupervisorKind,
  /** The call as argv (or the pm2 RPC method and its arguments). */
  command: Schema.Array(Schema.String),
  stderr: Schema.String,
  exitCode: Schema.NullOr(Schema.Int),
}) {}

/** Instances that did not reach the wanted state within the limit. */
export class WaitTimeout extends Schema.TaggedError<WaitTimeout>()("WaitTimeout", {
  wanted: Schema.Literal("running", "stopped"),
  /** Display names (`name@suffix`, `name#pm_id`) still not in the wanted state. */
  pending: Schema.Array(Schema.String),
  limitMillis: Schema.Number,
}) {}

/**
 * A wait for instances to run ended early: the supervisor reports them
 * failed for good (systemd `failed`, pm2 `errored`), typically a process that
 * crashed right after start. Waiting longer would not help; their logs say why.
 */
export class InstanceFailed extends Schema.TaggedError<InstanceFailed>()("InstanceFailed", {
  supervisor: SupervisorKind,
  /** Display names (`name@suffix`, `name#pm_id`) the supervisor reports failed. */
  failed: Schema.Array(Schema.String),
  /** Display names of the others still not running when the wait ended (may be empty). */
  pending: Schema.Array(Schema.String),
  /** How long the wait ran before it saw the failure. */
  afterMillis: Schema.Number,
}) {}

export type SupervisorError = SupervisorUnavailable | SupervisorCallFailed
