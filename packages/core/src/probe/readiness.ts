/**
 * Wait until an instance answers its probe (spec §7.4, §8): attempts on a
 * Schedule, the whole wait bounded by a budget (`--probe-timeout`).
 *
 * Spacing: a fixed 20 ms gap between attempts by default. Against a
 * loopback or bridge address a not-yet-listening instance refuses in well
 * under a millisecond, so 50 attempts a second cost nothing, while the
 * overhead above the instance's real startup time is about half the gap
 * plus a small floor: measured with the live prober against loopback
 * servers listening 1.0–1.2 s into the wait, 12 runs × 2 sessions, median
 * (max) overhead 36/39 (58/52) ms at 50 ms, 14/7 (26/18) ms at 20 ms,
 * 10/5 (25/12) ms at 10 ms; 20 ms takes most of the gain for half the
 * attempts of 10 ms. An exponential backoff would save a few refused SYNs
 * and cost up to its cap in overhead on every rolled instance, which is
 * the number a rolling restart multiplies.
 */
import { Clock, Duration, Effect, Option, Ref, Schedule } from "effect"
import { ProbeFailed, Prober } from "./Prober.js"

export interface WaitReadyOptions {
  /** The whole wait, first attempt to last (spec: `--probe-timeout`). */
  readonly budget: Duration.DurationInput
  /** Bound on one attempt, on top of the Prober's own (default: the Prober's, 5 s). */
  readonly attemptTimeout?: Duration.DurationInput
  /** Gap between the end of one attempt and the start of the next (default 20 ms). */
  readonly spacing?: Duration.DurationInput
}

export interface Ready {
  readonly url: string
  /** The status that counted as ready (below 500). */
  readonly status: number
  /** From the first attempt's start to the ready answer. */
  readonly elapsedMs: number
  readonly attempts: number
  /** The ready answer's `X-Version` header (what the instance serves); null when none or not read. */
  readonly version: string | null
}

export const defaultProbeSpacing: Duration.Duration = Duration.millis(20)

/** Probe `url` until it answers below 500 or the budget runs out; the failure carries the last error. */
export const waitReady = (url: string, options: WaitReadyOptions): Effect.Effect<Ready, ProbeFailed, Prober> =>
  Effect.gen(function* () {
    const prober = yield* Prober
    const budget = Duration.decode(options.budget)
    const attemptTimeout = options.attemptTimeout === undefined ? undefined : Duration.decode(options.attemptTimeout)
    const lastError = yield* Ref.make(Option.none<string>())
    const attempts = yield* Ref.make(0)
    const startedAt = yield* Clock.currentTimeMillis

    const attempt =
      prober.answer !== undefined
        ? prober.answer(url)
        : Effect.map(prober.probeOnce(url), (status) => ({ status, version: null }))
    const once = attempt.pipe(
      (attempt) =>
        attemptTimeout === undefined
          ? attempt
          : Effect.timeoutFail(attempt, {
              duration: attemptTimeout,
              onTimeout: () =>
                new ProbeFailed({ url, lastError: `timed out after ${Duration.format(attemptTimeout)}` }),
            }),
      Effect.tapError((e) => Ref.set(lastError, Option.some(e.lastError))),
      Effect.ensuring(Ref.update(attempts, (n) => n + 1)),
    )

    const answer = yield* once.pipe(
      Effect.retry(Schedule.spaced(options.spacing ?? defaultProbeSpacing)),
      Effect.timeoutFail({
        duration: budget,
        onTimeout: () => new ProbeFailed({ url, lastError: "" }),
      }),
      // The budget can end mid-attempt: report what the attempts said, not the timer.
      Effect.catchAll(() =>
        Ref.get(lastError).pipe(
          Effect.flatMap((last) =>
            Effect.fail(
              new ProbeFailed({
                url,
                lastError: Option.getOrElse(last, () =>
                  // start's one overall budget can be spent before an instance's turn (§5.4).
                  Duration.toMillis(budget) === 0
                    ? "no time was left of the budget to wait for an answer"
                    : `no answer within ${Duration.format(budget)}`,
                ),
              }),
            ),
          ),
        ),
      ),
    )
    const finishedAt = yield* Clock.currentTimeMillis
    return {
      url,
      status: answer.status,
      elapsedMs: finishedAt - startedAt,
      attempts: yield* Ref.get(attempts),
      version: answer.version,
    }
  })
