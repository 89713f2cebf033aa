/**
 * locate (issue #20): a restarted instance's address is looked up again on a
 * Schedule until its budget runs out, then probed; a replaced container is
 * found at its new address. Under TestClock: the timings are the schedule's.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, TestClock } from "effect"
import { locate } from "./locate.js"
import { ProbeFailed, Prober } from "./Prober.js"
import type { LookupMiss } from "./ProbeTargets.js"

/** Where the container is at each moment (null: none), and which addresses answer from when. */
const world = (address: (now: number) => string | null, answersFrom: Readonly<Record<string, number>>) => {
  let lookups = 0
  const lookup: Effect.Effect<string, LookupMiss> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    lookups++
    const found = address(now)
    return found === null
      ? Effect.fail({ reason: "no running podman container labelled PODMAN_SYSTEMD_UNIT=x@1.service", final: false })
      : Effect.succeed(found)
  })
  const prober = Prober.of({
    probeOnce: (url) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        address(now) === url && now >= (answersFrom[url] ?? Number.POSITIVE_INFINITY)
          ? Effect.succeed(200)
          : Effect.fail(
              new ProbeFailed({
                url,
                lastError: address(now) === url ? "connect ECONNREFUSED" : "connect EHOSTUNREACH",
              }),
            ),
      ),
  })
  return { lookup, prober, lookups: () => lookups }
}

const run = <A, E>(
  effect: Effect.Effect<A, E, Prober>,
  prober: Prober["Type"],
  horizon: Duration.DurationInput = "10 minutes",
) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(Effect.either(effect.pipe(Effect.provideService(Prober, prober))))
    yield* TestClock.adjust(horizon)
    return yield* Fiber.join(fiber)
  })

describe("locate", () => {
  it.effect("a container that appears 700 ms after the unit is active is found and probed until it answers", () =>
    Effect.gen(function* () {
      const w = world((now) => (now >= 700 ? "http://10.89.0.5:3000/" : null), { "http://10.89.0.5:3000/": 2_000 })
      const result = yield* run(locate(w.lookup, { budget: "2 minutes", probe: true }), w.prober)
      expect(result).toMatchObject({ _tag: "Right", right: { url: "http://10.89.0.5:3000/", status: 200 } })
      const ready = result._tag === "Right" ? result.right : undefined
      // Found at the first lookup at or after 700 ms (100 ms apart), answered at the first probe at or after 2 s.
      expect(ready?.elapsedMs).toBeGreaterThanOrEqual(2_000)
      expect(ready?.elapsedMs).toBeLessThanOrEqual(2_020)
      // 8 lookups to find it, then one more a second later while it did not answer yet.
      expect(ready?.lookups).toBeGreaterThanOrEqual(8)
      expect(ready?.lookups).toBeLessThanOrEqual(10)
    }),
  )

  it.effect("never found: AddressNotFound with the last lookup's reason once the budget is spent, not before", () =>
    Effect.gen(function* () {
      const w = world(() => null, {})
      const fiber = yield* Effect.fork(
        Effect.either(
          locate(w.lookup, { budget: "30 seconds", probe: true }).pipe(Effect.provideService(Prober, w.prober)),
        ),
      )
      yield* TestClock.adjust("29 seconds")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(fiber)
      expect(result).toMatchObject({
        _tag: "Left",
        left: { _tag: "AddressNotFound", final: false, budgetMillis: 30_000 },
      })
      expect(result._tag === "Left" && result.left._tag === "AddressNotFound" && result.left.reason).toContain(
        "PODMAN_SYSTEMD_UNIT=x@1.service",
      )
      expect(w.lookups()).toBeGreaterThanOrEqual(290)
      expect(w.lookups()).toBeLessThanOrEqual(301)
    }),
  )

  it.effect("a container replaced while it boots: the old address is dropped and the new one answers", () =>
    Effect.gen(function* () {
      const old = "http://10.89.0.5:3000/"
      const replacement = "http://10.89.0.9:3000/"
      const w = world((now) => (now < 1_500 ? old : replacement), { [old]: 5_000, [replacement]: 3_000 })
      const result = yield* run(locate(w.lookup, { budget: "2 minutes", probe: true }), w.prober)
      expect(result).toMatchObject({ _tag: "Right", right: { url: replacement } })
      const ready = result._tag === "Right" ? result.right : undefined
      // Looked again 1 s after the old address stopped answering well enough: by 2.5 s at the latest.
      expect(ready?.elapsedMs).toBeGreaterThanOrEqual(3_000)
      expect(ready?.elapsedMs).toBeLessThanOrEqual(3_030)
    }),
  )

  it.effect("found but never answering: ProbeFailed at the address with the last error", () =>
    Effect.gen(function* () {
      const w = world(() => "http://10.89.0.5:3000/", {})
      const result = yield* run(locate(w.lookup, { budget: "10 seconds", probe: true }), w.prober, "11 seconds")
      expect(result).toMatchObject({
        _tag: "Left",
        left: { _tag: "ProbeFailed", url: "http://10.89.0.5:3000/", lastError: "connect ECONNREFUSED" },
      })
    }),
  )

  it.effect("a final miss (pm2 without PORT) is not waited out: one lookup", () =>
    Effect.gen(function* () {
      let lookups = 0
      const lookup = Effect.suspend(() => {
        lookups++
        return Effect.fail({ reason: "no PORT in its pm2 environment", final: true })
      })
      const w = world(() => null, {})
      const fiber = yield* Effect.fork(
        Effect.either(
          locate(lookup, { budget: "2 minutes", probe: true }).pipe(Effect.provideService(Prober, w.prober)),
        ),
      )
      yield* TestClock.adjust(Duration.zero)
      const result = yield* Fiber.join(fiber)
      expect(result).toMatchObject({ _tag: "Left", left: { _tag: "AddressNotFound", final: true, lookups: 1 } })
      expect(lookups).toBe(1)
    }),
  )

  it.effect("without probes (--no-probe-http) the address is all it waits for", () =>
    Effect.gen(function* () {
      const w = world((now) => (now >= 300 ? "http://10.89.0.5:3000/" : null), {})
      const result = yield* run(locate(w.lookup, { budget: "1 minute", probe: false }), w.prober)
      expect(result).toMatchObject({
        _tag: "Right",
        right: { url: "http://10.89.0.5:3000/", status: null, attempts: 0 },
      })
      expect(result._tag === "Right" && result.right.elapsedMs).toBe(300)
    }),
  )

  it.effect(
    "a prober that reads headers gives the ready answer's X-Version (issue #22); one that does not gives none",
    () =>
      Effect.gen(function* () {
        const w = world(() => "http://10.89.0.5:3000/", { "http://10.89.0.5:3000/": 0 })
        const reading = Prober.of({
          ...w.prober,
          answer: (url) => Effect.map(w.prober.probeOnce(url), (status) => ({ status, version: "2.65.0" })),
        })
        const withHeader = yield* run(locate(w.lookup, { budget: "1 minute", probe: true }), reading)
        expect(withHeader).toMatchObject({ _tag: "Right", right: { status: 200, version: "2.65.0" } })
        const without = yield* run(locate(w.lookup, { budget: "1 minute", probe: true }), w.prober)
        expect(without).toMatchObject({ _tag: "Right", right: { status: 200, version: null } })
        // Unprobed, nothing was asked.
        const unprobed = yield* run(locate(w.lookup, { budget: "1 minute", probe: false }), reading)
        expect(unprobed).toMatchObject({ _tag: "Right", right: { status: null, version: null } })
      }),
  )
})
