/**
 * Failures of the operations themselves (spec §5-§7, §12), beside the
 * supervisor, host and probe errors they pass through.
 */
import { Schema } from "effect"

/** A rolling restart stopped because an instance did not become ready (§7.5). */
export class RollStopped extends Schema.TaggedError<RollStopped>()("RollStopped", {
  service: Schema.String,
  /** The instance that did not become ready. */
  instance: Schema.String,
  /** Why: the probe's URL and last error, or the wait timeout. */
  cause: Schema.String,
  /** Instances restarted and ready before it. */
  restarted: Schema.Array(Schema.String),
  /** Instances not restarted (the roll stopped before them). */
  notRestarted: Schema.Array(Schema.String),
  /**
   * What stopped it, so the message can name the culprit: `instance` (absent:
   * it did not become ready), `address` (restarted, but where it serves was
   * never found), `caddy` (Caddy did not take the routing change before the
   * take-down), `rule` (no other instance known to serve: `mayTakeDown`).
   */
  culprit: Schema.optional(Schema.Literal("instance", "address", "caddy", "rule")),
}) {}

/** An instance started or restarted in bulk did not become ready within the budget (§5.4). */
export class NotReady extends Schema.TaggedError<NotReady>()("NotReady", {
  instance: Schema.String,
  url: Schema.String,
  lastError: Schema.String,
  budgetMillis: Schema.Number,
}) {}

/** The end-to-end `--check-url` never answered (§7.7). */
export class CheckUrlFailed extends Schema.TaggedError<CheckUrlFailed>()("CheckUrlFailed", {
  url: Schema.String,
  lastError: Schema.String,
}) {}

/** The plan itself says the operation cannot go ahead (e.g. pm2 processes never registered, §5.2). */
export class PlanRefused extends Schema.TaggedError<PlanRefused>()("PlanRefused", {
  command: Schema.String,
  /** One paragraph per reason, from `describeFailure`. */
  reasons: Schema.Array(Schema.String),
}) {}

/** The plan changes the system manager and we are not root: the CLI re-runs itself under sudo (§10). */
export class NeedsRoot extends Schema.TaggedError<NeedsRoot>()("NeedsRoot", {
  command: Schema.String,
}) {}
