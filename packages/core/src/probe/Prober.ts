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

/** A ready answer, with the `X-Version` header Tamanu's API servers send on every response (issue #22). */
export interface ProbeAnswer {
  readonly status: number
  /** The header's value, trimmed; null when the answer had none. */
  readonly version: string | null
}

export interface ProberShape {
  /** One attempt: succeeds with the HTTP status when it is below 500. */
  readonly probeOnce: (url: string) => Effect.Effect<number, ProbeFailed>
  /**
   * The same attempt, also reading `X-Version`: what the instance really
   * serves. Absent: the prober reads no headers (`waitReady` then uses
   * `probeOnce` and reports no version).
   */
  readonly answer?: (url: string) => Effect.Effect<ProbeAnswer, ProbeFailed>
}

export class Prober extends Context.Tag("@tamanu-lifecycle/core/Prober")<Prober, ProberShape>() {}
