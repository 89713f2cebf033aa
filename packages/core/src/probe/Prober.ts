/**
 * HTTP readiness (spec §8): ready means any HTTP response below 500.
 * One attempt is bounded by its own timeout; retrying is the caller's
 * Schedule, so the budget and the spacing are decided in one place.
 */
import { Context, type Effect, Schema } from "effect"

export class ProbeFailed extends Schema.TaggedError<ProbeFailed>()("ProbeFailed", {
  url: Schema.String,
  /** The last thing that went wrong: connection refused, HTTP 503, timed out after 5 s, … */
  lastError: Schema.String,
}) {}

export interface ProberShape {
  /** One attempt: succeeds with the HTTP status when it is below 500. */
  readonly probeOnce: (url: string) => Effect.Effect<number, ProbeFailed>
}

export class Prober extends Context.Tag("@tamanu-lifecycle/core/Prober")<Prober, ProberShape>() {}
