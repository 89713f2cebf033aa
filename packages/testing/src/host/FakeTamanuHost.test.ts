import { describe, expect, it } from "@effect/vitest"
import { NoTamanuRoot, TamanuHost } from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Fiber, TestClock } from "effect"
import { defaultHostContext, FakeTamanuHost, FakeTamanuHostControl } from "./FakeTamanuHost.js"

describe("FakeTamanuHost", () => {
  const slowDb = FakeTamanuHost.layer({ patientPortal: true, dbReachableAfter: "5 seconds" })

  it.effect("waits for a DB that comes up, retrying every 2 s", () =>
    Effect.gen(function* () {
      const host = yield* TamanuHost
      const fiber = yield* Effect.fork(host.patientPortal(Duration.minutes(2)))
      yield* TestClock.adjust("6 seconds")
      expect(yield* Fiber.join(fiber)).toBe(true)
      expect(yield* Effect.flatMap(FakeTamanuHostControl, (c) => c.dbAttempts)).toEqual([0, 2000, 4000, 6000])
    }).pipe(Effect.provide(slowDb)),
  )

  it.effect("a zero wait tries once and reports an unreachable DB as null", () =>
    Effect.gen(function* () {
      const host = yield* TamanuHost
      expect(yield* host.patientPortal(Duration.zero)).toBeNull()
      expect(yield* Effect.flatMap(FakeTamanuHostControl, (c) => c.dbAttempts)).toEqual([0])
    }).pipe(Effect.provide(slowDb)),
  )

  it.effect("gives up with null when the wait ends before the DB answers", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(Effect.flatMap(TamanuHost, (h) => h.patientPortal(Duration.seconds(3))))
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toBeNull()
      expect(yield* Effect.flatMap(FakeTamanuHostControl, (c) => c.dbAttempts)).toEqual([0, 2000])
    }).pipe(Effect.provide(slowDb)),
  )

  it.effect("serves a fixed context, or the error reading it gives", () =>
    Effect.gen(function* () {
      expect(yield* Effect.flatMap(TamanuHost, (h) => h.context)).toEqual(defaultHostContext)
      const missing = new NoTamanuRoot({ searched: ["/etc/tamanu", "/opt/bes/tamanu"] })
      const error = yield* Effect.flip(
        Effect.flatMap(TamanuHost, (h) => h.context).pipe(Effect.provide(FakeTamanuHost.layer({ context: missing }))),
      )
      expect(error).toBe(missing)
    }).pipe(Effect.provide(FakeTamanuHost.layer())),
  )
})
