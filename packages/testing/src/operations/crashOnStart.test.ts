/**
 * An instance that crashes as soon as it starts (a Type=simple unit whose
 * ExecStart exits, a pm2 process pm2 gives up on): the supervisor reports it
 * failed within milliseconds, so start and restart must say so within a poll
 * or two of the crash, not after the 60 s wait limit (supervisor/wait.ts
 * `judgePoll`).
 */
import { describe, expect, it } from "@effect/vitest"
import { restart, start } from "@tamanu-lifecycle/core/internal"
import { Clock, Duration, Effect, Fiber, TestClock } from "effect"
import { FakeSupervisorControl } from "../index.js"
import {
  facilityBehindCaddy,
  facilityContext,
  facilityUnitFiles,
  facilityUnits,
  pm2BehindCaddy,
  pm2FacilityProcesses,
  readiness,
  restartOptions,
  runningNow,
  startOptions,
  world,
} from "./hosts.js"

/** Run an operation that must fail to its end under TestClock: its error and the clock time it took. */
const failure = <A, E, R>(operation: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const began = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.fork(Effect.flip(operation).pipe(Effect.zip(Clock.currentTimeMillis)))
    yield* TestClock.adjust("2 hours")
    const [error, endedAt] = yield* Fiber.join(fiber)
    return { error, tookMillis: endedAt - began }
  })

const restartOneCalls = Effect.flatMap(FakeSupervisorControl, (c) => c.calls("restartOne"))

describe("start: an instance that crashes on start", () => {
  it.effect(
    "systemd: InstanceFailed within a poll of the crash (not the 60 s limit), naming the unit and its journal",
    () =>
      Effect.gen(function* () {
        const { error, tookMillis } = yield* failure(start(startOptions()))
        expect(error).toMatchObject({
          _tag: "InstanceFailed",
          supervisor: "systemd",
          failed: ["tamanu-facility-api@2"],
        })
        // Crashed 40 ms after the start call; the wait's early polls are 25, 50, 100 ms apart.
        expect(tookMillis).toBeGreaterThanOrEqual(40)
        expect(tookMillis).toBeLessThan(300)
        expect(yield* runningNow).toContain("tamanu-facility-api@1")
      }).pipe(
        Effect.provide(
          world({
            supervisor: {
              systemd: {
                units: facilityUnits({ "tamanu-facility-api@2": { running: false, failAfter: "40 millis" } }),
                unitFiles: facilityUnitFiles,
              },
            },
            host: { context: facilityContext },
            readiness: readiness(facilityBehindCaddy),
          }),
        ),
      ),
  )

  it.effect("pm2: a process that ends up errored fails the start at once, pointing at pm2 logs", () =>
    Effect.gen(function* () {
      const { error, tookMillis } = yield* failure(start(startOptions()))
      expect(error).toMatchObject({ _tag: "InstanceFailed", supervisor: "pm2", failed: ["tamanu-api#2"] })
      expect(tookMillis).toBeLessThan(1000)
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            pm2: { processes: pm2FacilityProcesses({ "tamanu-api#2": { running: false, failAfter: "500 millis" } }) },
          },
          host: { context: facilityContext },
          readiness: readiness(pm2BehindCaddy),
        }),
      ),
    ),
  )

  it.effect("an instance that is only slow is still waited for up to the limit", () =>
    Effect.gen(function* () {
      const { error, tookMillis } = yield* failure(start(startOptions({ waitLimit: Duration.seconds(5) })))
      expect(error).toMatchObject({ _tag: "WaitTimeout", pending: ["tamanu-facility-api@2"] })
      expect(tookMillis).toBeGreaterThanOrEqual(5000)
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            systemd: {
              units: facilityUnits({ "tamanu-facility-api@2": { running: false, upAfter: "5 minutes" } }),
              unitFiles: facilityUnitFiles,
            },
          },
          host: { context: facilityContext },
          readiness: readiness(facilityBehindCaddy),
        }),
      ),
    ),
  )
})

describe("restart: a rolled instance that crashes on restart", () => {
  it.effect(
    "the roll stops within a poll of the crash with RollStopped naming the cause; the next API instance is never taken down",
    () =>
      Effect.gen(function* () {
        const { error, tookMillis } = yield* failure(restart(restartOptions({ names: ["facility-api"] })))
        expect(error).toMatchObject({
          _tag: "RollStopped",
          service: "tamanu-facility-api",
          instance: "tamanu-facility-api@1",
          cause: expect.stringContaining("systemd reports it failed"),
          restarted: [],
          notRestarted: ["tamanu-facility-api@2"],
        })
        expect(tookMillis).toBeLessThan(300)
        expect((yield* restartOneCalls).map((c) => c.refs)).toEqual([
          [{ name: "tamanu-facility-api", suffix: "1", pmId: null }],
        ])
        expect(yield* runningNow).toContain("tamanu-facility-api@2")
      }).pipe(
        Effect.provide(
          world({
            supervisor: {
              systemd: {
                units: facilityUnits(),
                unitFiles: facilityUnitFiles,
                behaviours: { "tamanu-facility-api@1": { failAfter: "30 millis" } },
              },
            },
            host: { context: facilityContext },
            readiness: readiness(facilityBehindCaddy),
          }),
        ),
      ),
  )
})
