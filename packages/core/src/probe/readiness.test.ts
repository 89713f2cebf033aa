import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Layer, TestClock } from "effect"
import { ProbeFailed, Prober } from "./Prober.js"
import { waitReady } from "./readiness.js"

/**
 * A Prober scripted by the (test) clock: before `readyAtMs` the instance
 * answers like `before` (refused, 503, or never), afterwards with `status`.
 */
const scriptedProber = (script: {
  readonly readyAtMs: number
  readonly before: "refused" | "503" | "hang"
  readonly status?: number
}) =>
  Layer.succeed(Prober, {
    probeOnce: (url: string) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        if (now >= script.readyAtMs) return script.status ?? 200
        switch (script.before) {
          case "refused":
            return yield* new ProbeFailed({ url, lastError: "connection refused (ECONNREFUSED)" })
          case "503":
            return yield* new ProbeFailed({ url, lastError: "HTTP 503" })
          case "hang":
            return yield* Effect.never
        }
      }),
  })

const url = "http://127.0.0.1:3000/"

/** Run waitReady in a fiber and move the test clock until it is done. */
const runFor = <A, E>(effect: Effect.Effect<A, E>, advance: Duration.DurationInput) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(effect)
    // Small steps: a fiber woken by one step schedules its next sleep before
    // the clock moves on, even when the machine is busy (one big jump raced).
    const steps = Math.ceil(Duration.toMillis(Duration.decode(advance)) / 10)
    for (let i = 0; i < steps; i++) yield* TestClock.adjust("10 millis")
    return yield* Fiber.await(fiber)
  })

describe("waitReady", () => {
  it.effect("an instance that starts listening after 1050 ms is seen ready within one spacing of that", () =>
    Effect.gen(function* () {
      const exit = yield* runFor(
        waitReady(url, { budget: "60 seconds" }).pipe(
          Effect.provide(scriptedProber({ readyAtMs: 1050, before: "refused" })),
        ),
        "2 seconds",
      )
      const ready = yield* exit
      expect(ready.status).toBe(200)
      expect(ready.elapsedMs).toBeGreaterThanOrEqual(1050)
      expect(ready.elapsedMs).toBeLessThanOrEqual(1050 + 20)
      // attempts at 0, 20, …, 1040 refused, 1060 answers
      expect(ready.attempts).toBe(54)
    }),
  )

  it.effect("an instance that answers at once is ready on the first attempt with no waiting", () =>
    Effect.gen(function* () {
      const ready = yield* waitReady(url, { budget: "5 seconds" }).pipe(
        Effect.provide(scriptedProber({ readyAtMs: 0, before: "refused", status: 404 })),
      )
      expect(ready).toEqual({ url, status: 404, elapsedMs: 0, attempts: 1, version: null })
    }),
  )

  it.effect("the spacing option sets the gap between attempts", () =>
    Effect.gen(function* () {
      const exit = yield* runFor(
        waitReady(url, { budget: "60 seconds", spacing: "250 millis" }).pipe(
          Effect.provide(scriptedProber({ readyAtMs: 1001, before: "503" })),
        ),
        "2 seconds",
      )
      const ready = yield* exit
      expect(ready.elapsedMs).toBe(1250)
      expect(ready.attempts).toBe(6)
    }),
  )

  it.effect("an instance that never becomes ready fails at the budget with the last error", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(
        waitReady(url, { budget: "3 seconds" }).pipe(
          Effect.provide(scriptedProber({ readyAtMs: Number.POSITIVE_INFINITY, before: "503" })),
        ),
      )
      yield* TestClock.adjust("2999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(fiber)
      expect(exit).toEqual(Exit.fail(new ProbeFailed({ url, lastError: "HTTP 503" })))
    }),
  )

  it.effect("a hanging attempt is cut by the attempt timeout and retried", () =>
    Effect.gen(function* () {
      const exit = yield* runFor(
        waitReady(url, { budget: "60 seconds", attemptTimeout: "1 second" }).pipe(
          Effect.provide(scriptedProber({ readyAtMs: 1500, before: "hang" })),
        ),
        "5 seconds",
      )
      const ready = yield* exit
      // attempt 1 hangs 0–1000, attempt 2 hangs 1020–2020, attempt 3 at 2040 answers
      expect(ready.elapsedMs).toBe(2040)
      expect(ready.attempts).toBe(3)
    }),
  )

  it.effect("a budget that ends during the first hanging attempt says nothing answered", () =>
    Effect.gen(function* () {
      const exit = yield* runFor(
        waitReady(url, { budget: "2 seconds" }).pipe(
          Effect.provide(scriptedProber({ readyAtMs: Number.POSITIVE_INFINITY, before: "hang" })),
        ),
        "3 seconds",
      )
      expect(exit).toEqual(Exit.fail(new ProbeFailed({ url, lastError: "no answer within 2s" })))
    }),
  )

  it.effect("no budget left (start's overall budget spent before its turn): said so, not 'within 0'", () =>
    Effect.gen(function* () {
      const exit = yield* runFor(
        waitReady(url, { budget: 0 }).pipe(
          Effect.provide(scriptedProber({ readyAtMs: Number.POSITIVE_INFINITY, before: "hang" })),
        ),
        "1 second",
      )
      expect(exit).toEqual(
        Exit.fail(new ProbeFailed({ url, lastError: "no time was left of the budget to wait for an answer" })),
      )
    }),
  )

  it.effect("a timed-out attempt is reported as the last error when the budget runs out", () =>
    Effect.gen(function* () {
      const exit = yield* runFor(
        waitReady(url, { budget: Duration.millis(2500), attemptTimeout: "1 second" }).pipe(
          Effect.provide(scriptedProber({ readyAtMs: Number.POSITIVE_INFINITY, before: "hang" })),
        ),
        "3 seconds",
      )
      expect(exit).toEqual(Exit.fail(new ProbeFailed({ url, lastError: "timed out after 1s" })))
    }),
  )
})

describe("waitReady: X-Version (issue #22)", () => {
  it.effect("a prober that reads headers gives the ready answer's X-Version", () =>
    Effect.gen(function* () {
      const ready = yield* waitReady("http://api.test:3000/", { budget: "5 seconds" }).pipe(
        Effect.provideService(Prober, {
          probeOnce: () => Effect.succeed(200),
          answer: () => Effect.succeed({ status: 200, version: "2.65.0" }),
        }),
      )
      expect(ready.version).toBe("2.65.0")
    }),
  )
})
