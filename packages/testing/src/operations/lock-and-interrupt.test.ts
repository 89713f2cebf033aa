/**
 * One mutating operation per host at a time (the host lock), and what an
 * interruption (Ctrl-C) leaves behind in the middle of a rolling restart.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { LockHeld, RollStopped, restart, start } from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Fiber, TestClock } from "effect"
import { FakeSupervisorControl } from "../index.js"
import {
  displayName,
  facilityContext,
  facilityUnits,
  mutatingCalls,
  pm2FacilityProcesses,
  readiness,
  ref,
  restartOptions,
  runningNow,
  settle,
  startOptions,
  type WorldSpec,
  warnings,
  world,
} from "./hosts.js"

const tempLock = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-ops-lock-")), "tamanu-lifecycle.lock")

const api1 = ref("tamanu-facility-api", "1")
const api2 = ref("tamanu-facility-api", "2")

/** A facility whose API instances take 1 s to come up and answer `readyAfter` later. */
const facility = (readyAfter: Duration.DurationInput): WorldSpec => ({
  supervisor: { systemd: { units: facilityUnits(), defaults: { upAfter: "1 second" } } },
  host: { context: facilityContext },
  readiness: readiness([api1, api2], readyAfter),
})

const restartOneCalls = Effect.map(
  Effect.flatMap(FakeSupervisorControl, (c) => c.calls("restartOne")),
  (calls) => calls.map((c) => c.refs.map(displayName).join(",")),
)

describe("host lock", () => {
  it.effect(
    "a lock held by another live process fails the operation with LockHeld naming the holder, changing nothing",
    () =>
      Effect.gen(function* () {
        const file = tempLock()
        const holder = { pid: process.ppid, command: "tamanu restart api", since: "2025-01-01T00:00:00.000Z" }
        fs.writeFileSync(file, JSON.stringify(holder))
        const error = yield* Effect.flip(settle(restart(restartOptions({ names: ["api"], lockFile: file }))))
        expect(error).toBeInstanceOf(LockHeld)
        expect(error).toMatchObject({ file, ...holder })
        expect(yield* mutatingCalls).toEqual([])
        expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual(holder)
      }).pipe(Effect.provide(world(facility(0)))),
  )

  // Two operations in one process (an SDK embedder): the lock knows which files this process holds.
  it.effect("a second concurrent mutating operation on the same lock file fails with LockHeld naming the first", () =>
    Effect.gen(function* () {
      const file = tempLock()
      const first = yield* Effect.fork(restart(restartOptions({ names: ["api"], lockFile: file })))
      // The first is mid-roll: instance 1 restarted, up after 1 s, not answering before 1.5 s.
      yield* TestClock.adjust("1200 millis")
      const error = yield* Effect.flip(settle(restart(restartOptions({ names: ["tasks"], lockFile: file }))))
      expect(error).toBeInstanceOf(LockHeld)
      expect(error).toMatchObject({ file, pid: process.pid, command: "tamanu restart" })
      expect(yield* Effect.flatMap(FakeSupervisorControl, (c) => c.calls("restart"))).toEqual([])
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(first)
      expect(result.execution?.restarted).toEqual(["tamanu-facility-api@1", "tamanu-facility-api@2"])
      expect(fs.existsSync(file)).toBe(false)
    }).pipe(Effect.provide(world(facility("500 millis")))),
  )

  it.effect("the lock is held while the operation runs and released after it succeeds", () =>
    Effect.gen(function* () {
      const file = tempLock()
      const fiber = yield* Effect.fork(restart(restartOptions({ names: ["api"], lockFile: file })))
      yield* TestClock.adjust("1200 millis")
      expect(JSON.parse(fs.readFileSync(file, "utf8"))).toMatchObject({ pid: process.pid, command: "tamanu restart" })
      // Past the roll and Caddy's restore (a minute and two seconds after its first change).
      yield* TestClock.adjust("2 minutes")
      yield* Fiber.join(fiber)
      expect(fs.existsSync(file)).toBe(false)
    }).pipe(Effect.provide(world(facility("500 millis")))),
  )

  it.effect("the lock is released after the operation fails", () =>
    Effect.gen(function* () {
      const file = tempLock()
      const error = yield* Effect.flip(
        settle(restart(restartOptions({ names: ["api"], lockFile: file, probeTimeout: Duration.seconds(1) }))),
      )
      expect(error).toBeInstanceOf(RollStopped)
      expect(fs.existsSync(file)).toBe(false)
    }).pipe(Effect.provide(world(facility(Duration.infinity)))),
  )

  it.effect("no lock is taken for a dry run or when there is nothing to do", () =>
    Effect.gen(function* () {
      const file = tempLock()
      // A live holder would make any attempt to take the lock fail.
      fs.writeFileSync(file, JSON.stringify({ pid: process.ppid, command: "tamanu start", since: "then" }))
      expect((yield* settle(start(startOptions({ lockFile: file })))).nothingToDo).toBe(true)
      expect((yield* settle(restart(restartOptions({ lockFile: file, dryRun: true })))).dryRun).toBe(true)
    }).pipe(Effect.provide(world(facility(0)))),
  )
})

describe("interruption mid-roll", () => {
  it.effect(
    "interrupted while instance 1 is probed: instance 2 is never restarted, and a warning says what was and was not",
    () =>
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(restart(restartOptions({ names: ["api"] })))
        // Instance 1 is up after 1 s and answers only after 60 s: at 1.5 s it is being probed.
        yield* TestClock.adjust("1500 millis")
        expect(yield* restartOneCalls).toEqual(["tamanu-facility-api@1"])
        yield* Fiber.interrupt(fiber)
        yield* TestClock.adjust("10 minutes")
        expect(yield* restartOneCalls).toEqual(["tamanu-facility-api@1"])
        const interrupted = (yield* warnings).filter((w) => w.startsWith("interrupted"))
        expect(interrupted).toEqual([
          "interrupted: restarted tamanu-facility-api@1; not restarted tamanu-facility-api@2",
        ])
      }).pipe(Effect.provide(world(facility("60 seconds")))),
  )

  it.effect("pm2: interrupted while process 1 is probed, process 2 is never restarted, and a warning says so", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(restart(restartOptions({ names: ["api"] })))
      yield* TestClock.adjust("1500 millis")
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("10 minutes")
      expect(yield* restartOneCalls).toEqual(["tamanu-api#1"])
      expect((yield* warnings).filter((w) => w.startsWith("interrupted"))).toEqual([
        "interrupted: restarted tamanu-api#1; not restarted tamanu-api#2",
      ])
    }).pipe(
      Effect.provide(
        world({
          supervisor: { pm2: { processes: pm2FacilityProcesses(), defaults: { upAfter: "1 second" } } },
          host: { context: facilityContext },
          readiness: readiness([ref("tamanu-api", null, 1), ref("tamanu-api", null, 2)], "60 seconds"),
        }),
      ),
    ),
  )

  it.effect("interrupted in the first of several rolls: the warning names every rolled instance not restarted", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(restart(restartOptions()))
      // Bulk restart of tasks and sync (up after 1 s), their 5 s settle window, then frontend@a: up at 7 s, never answering.
      yield* TestClock.adjust("8 seconds")
      expect(yield* restartOneCalls).toEqual(["tamanu-frontend@a"])
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("10 minutes")
      expect(yield* restartOneCalls).toEqual(["tamanu-frontend@a"])
      expect((yield* warnings).filter((w) => w.startsWith("interrupted"))).toEqual([
        "interrupted: restarted tamanu-facility-tasks, tamanu-facility-sync, tamanu-frontend@a; not restarted tamanu-frontend@b, tamanu-facility-api@1, tamanu-facility-api@2",
      ])
    }).pipe(
      Effect.provide(
        world({
          ...facility(0),
          readiness: readiness([ref("tamanu-frontend", "a"), ref("tamanu-frontend", "b"), api1, api2], "60 seconds"),
        }),
      ),
    ),
  )

  it.effect("interrupted while instance 1 is going down: its restart is seen through and reported as restarted", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(restart(restartOptions({ names: ["api"] })))
      // Instance 1 takes 5 s to stop: at 2 s its restart call is still in flight.
      yield* TestClock.adjust("2 seconds")
      // The interruption waits for the call in flight, which needs the clock to move on.
      const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* TestClock.adjust("10 minutes")
      yield* Fiber.join(interrupting)
      expect(yield* restartOneCalls).toEqual(["tamanu-facility-api@1"])
      expect(yield* runningNow).toContain("tamanu-facility-api@1")
      expect((yield* warnings).filter((w) => w.startsWith("interrupted"))).toEqual([
        "interrupted: restarted tamanu-facility-api@1; not restarted tamanu-facility-api@2",
      ])
    }).pipe(
      Effect.provide(
        world({
          ...facility(0),
          supervisor: {
            systemd: { units: facilityUnits(), defaults: { upAfter: "1 second", downAfter: "5 seconds" } },
          },
        }),
      ),
    ),
  )

  it.effect("interrupted during the cooldown: the next instance is never restarted", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(
        restart(restartOptions({ names: ["api"], probeHttp: false, cooldown: Duration.seconds(30) })),
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("10 minutes")
      expect(yield* restartOneCalls).toEqual(["tamanu-facility-api@1"])
      expect((yield* warnings).some((w) => w.includes("not restarted tamanu-facility-api@2"))).toBe(true)
    }).pipe(Effect.provide(world(facility(0)))),
  )
})
