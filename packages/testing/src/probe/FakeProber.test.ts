import { describe, expect, it } from "@effect/vitest"
import { type InstanceRef, Prober, ProbeTargets, Supervisor } from "@tamanu-lifecycle/core/internal"
import { Effect, Layer, Option, TestClock } from "effect"
import {
  FakePm2,
  FakeProber,
  FakeProberControl,
  FakeProbeTargets,
  FakeReadiness,
  FakeSystemd,
  fakeUrl,
} from "../index.js"

const api1: InstanceRef = { name: "tamanu-facility-api", suffix: "1", pmId: null }
const api2: InstanceRef = { name: "tamanu-facility-api", suffix: "2", pmId: null }

const outcome = (url: string) =>
  Effect.flatMap(Prober, (p) => p.probeOnce(url)).pipe(
    Effect.match({ onFailure: (e) => e.lastError, onSuccess: (status) => status }),
  )

describe("FakeProber", () => {
  it.effect("answers a scripted sequence, repeating the last outcome, and journals attempts with times", () =>
    Effect.gen(function* () {
      const url = "http://127.0.0.1:4000/"
      const seen = []
      for (let i = 0; i < 4; i++) {
        seen.push(yield* outcome(url))
        yield* TestClock.adjust("100 millis")
      }
      expect(seen).toEqual(["connect ECONNREFUSED", "HTTP 503", 200, 200])
      const control = yield* FakeProberControl
      expect((yield* control.attemptsFor(url)).map((a) => [a.at, a.ready])).toEqual([
        [0, false],
        [100, false],
        [200, true],
        [300, true],
      ])
      expect(yield* outcome("http://elsewhere/")).toBe("connect ECONNREFUSED")
    }).pipe(
      Effect.provide(FakeProber.layer({ "http://127.0.0.1:4000/": { outcomes: ["connect ECONNREFUSED", 503, 200] } })),
    ),
  )

  it.effect("an attempt that takes time answers after it", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(outcome("http://slow/"))
      yield* TestClock.adjust("5 seconds")
      expect(yield* fiber).toBe("timed out after 5 s")
      const control = yield* FakeProberControl
      expect((yield* control.attempts).map((a) => a.at)).toEqual([0])
    }).pipe(
      Effect.provide(FakeProber.layer({ "http://slow/": { outcomes: ["timed out after 5 s"], takes: "5 seconds" } })),
    ),
  )

  it.effect("tied to the supervisor: refused while down, ready N ms after the instance last became running", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const url = fakeUrl(api1)
      expect(yield* outcome(url)).toBe(200) // running since the start, long ready
      yield* supervisor.restartOne(api1) // 1 s to come up, then 2 s to answer
      expect(yield* outcome(url)).toBe("connect ECONNREFUSED")
      yield* TestClock.adjust("2500 millis")
      expect(yield* outcome(url)).toBe("HTTP 503")
      yield* TestClock.adjust("500 millis")
      expect(yield* outcome(url)).toBe(200)
      // The other instance was never touched and stayed ready.
      expect(yield* outcome(fakeUrl(api2))).toBe(200)
      const targets = yield* ProbeTargets
      expect(yield* targets.urlFor(api1)).toEqual(Option.some("http://tamanu-facility-api-1.test:3000/"))
      expect(yield* targets.urlFor({ ...api1, suffix: "3" })).toEqual(Option.none())
    }).pipe(
      Effect.provide(
        FakeReadiness.layer([
          { instance: api1, readyAfter: "2 seconds", whileStarting: 503 },
          { instance: api2, readyAfter: "2 seconds" },
        ]).pipe(
          Layer.provideMerge(
            FakeSystemd.layer({
              units: [
                { name: "tamanu-facility-api", suffix: "1", running: true, upAfter: "1 second" },
                { name: "tamanu-facility-api", suffix: "2", running: true },
              ],
            }),
          ),
        ),
      ),
    ),
  )

  it.effect("pm2 probe targets come from each process's PORT", () =>
    Effect.gen(function* () {
      const targets = yield* ProbeTargets
      expect(yield* targets.urlFor({ name: "tamanu-api", suffix: null, pmId: 1 })).toEqual(
        Option.some("http://127.0.0.1:4001/"),
      )
      expect(yield* targets.urlFor({ name: "tamanu-tasks", suffix: null, pmId: 2 })).toEqual(Option.none())
    }).pipe(
      Effect.provide(
        FakeProbeTargets.pm2Ports.pipe(
          Layer.provide(
            FakePm2.layer({
              processes: [
                { name: "tamanu-api", pmId: 0, port: 4000 },
                { name: "tamanu-api", pmId: 1, port: 4001 },
                { name: "tamanu-tasks", pmId: 2 },
              ],
            }),
          ),
        ),
      ),
    ),
  )
})
