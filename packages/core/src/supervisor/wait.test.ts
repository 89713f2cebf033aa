import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Layer, Ref, Stream, TestClock } from "effect"
import type { Instance, InstanceRef } from "../model/instance.js"
import { proc, unit } from "../testSupport/plannerFixtures.js"
import { SupervisorUnavailable } from "./errors.js"
import { Supervisor } from "./Supervisor.js"
import { judgePoll, type PollVerdict, pendingNames, pendingRefs, type WantedState, waitUntil } from "./wait.js"

/** What discovery reports for a systemd unit in `failed` (no job queued) or a pm2 process in `errored`. */
const failedUnit = (name: string, suffix: string | null): Instance => ({ ...unit(name, suffix, false), failed: true })
const erroredProc = (name: string, pmId: number): Instance => ({ ...proc(name, pmId, false), failed: true })
const ref = (name: string, suffix: string | null = null, pmId: number | null = null): InstanceRef => ({
  name,
  suffix,
  pmId,
})

describe("pendingRefs", () => {
  const api1 = ref("tamanu-facility-api", "1")
  const api2 = ref("tamanu-facility-api", "2")
  const tasks = ref("tamanu-facility-tasks")
  const pmApi = ref("tamanu-api")
  const pmApi3 = ref("tamanu-api", null, 3)

  // [case, instances, refs, pending when waiting for running, pending when waiting for stopped]
  const table: ReadonlyArray<
    readonly [
      string,
      ReadonlyArray<Instance>,
      ReadonlyArray<InstanceRef>,
      ReadonlyArray<InstanceRef>,
      ReadonlyArray<InstanceRef>,
    ]
  > = [
    ["no refs: nothing pending", [unit("tamanu-facility-api", "1", false)], [], [], []],
    ["systemd unit running", [unit("tamanu-facility-api", "1", true)], [api1], [], [api1]],
    ["systemd unit stopped", [unit("tamanu-facility-api", "1", false)], [api1], [api1], []],
    ["systemd unit not loaded counts as stopped", [], [api1], [api1], []],
    ["systemd matches on the suffix", [unit("tamanu-facility-api", "2", true)], [api1, api2], [api1], [api2]],
    ["a bare singleton does not stand for @1", [unit("tamanu-facility-api", null, true)], [api1], [api1], []],
    ["an @1 unit does not stand for the singleton", [unit("tamanu-facility-tasks", "1", true)], [tasks], [tasks], []],
    [
      "pm2 by id: that process only",
      [proc("tamanu-api", 3, true), proc("tamanu-api", 4, false)],
      [pmApi3],
      [],
      [pmApi3],
    ],
    ["pm2 by id: missing process", [proc("tamanu-api", 4, true)], [pmApi3], [pmApi3], []],
    ["pm2 by name: all running", [proc("tamanu-api", 3, true), proc("tamanu-api", 4, true)], [pmApi], [], [pmApi]],
    [
      "pm2 by name: one stopped",
      [proc("tamanu-api", 3, true), proc("tamanu-api", 4, false)],
      [pmApi],
      [pmApi],
      [pmApi],
    ],
    ["pm2 by name: none registered", [proc("tamanu-tasks", 0, true)], [pmApi], [pmApi], []],
    [
      "order of the refs is kept",
      [unit("tamanu-facility-api", "1", false), unit("tamanu-facility-api", "2", false)],
      [api2, api1],
      [api2, api1],
      [],
    ],
  ]

  it.each(table)("%s", (_case, instances, refs, running, stopped) => {
    expect(pendingRefs(instances, refs, "running")).toEqual(running)
    expect(pendingRefs(instances, refs, "stopped")).toEqual(stopped)
  })

  it("spells out the pm2 processes of a name that are still off", () => {
    const instances = [proc("tamanu-api", 3, true), proc("tamanu-api", 4, false), proc("tamanu-api", 5, false)]
    expect(pendingNames(instances, [pmApi], "running")).toEqual(["tamanu-api#4", "tamanu-api#5"])
    expect(pendingNames(instances, [pmApi], "stopped")).toEqual(["tamanu-api#3"])
    expect(pendingNames([], [pmApi, api1], "running")).toEqual(["tamanu-api", "tamanu-facility-api@1"])
  })
})

describe("judgePoll: a terminal failure ends a wait for running, nothing else does", () => {
  const api1 = ref("tamanu-facility-api", "1")
  const api2 = ref("tamanu-facility-api", "2")
  const pmApi = ref("tamanu-api")
  const pmApi3 = ref("tamanu-api", null, 3)
  const done: PollVerdict = { _tag: "Done" }
  const pending = (...names: Array<string>): PollVerdict => ({ _tag: "Pending", pending: names })
  const failed = (names: Array<string>, still: Array<string> = []): PollVerdict => ({
    _tag: "Failed",
    failed: names,
    pending: still,
  })

  // [case, instances, refs, wanted, verdict]
  const table: ReadonlyArray<
    readonly [string, ReadonlyArray<Instance>, ReadonlyArray<InstanceRef>, WantedState, PollVerdict]
  > = [
    ["all running", [unit("tamanu-facility-api", "1", true)], [api1], "running", done],
    [
      "stopped, not failed: keep waiting",
      [unit("tamanu-facility-api", "1", false)],
      [api1],
      "running",
      pending("tamanu-facility-api@1"),
    ],
    ["not loaded: keep waiting", [], [api1], "running", pending("tamanu-facility-api@1")],
    [
      "systemd failed: fail now",
      [failedUnit("tamanu-facility-api", "1")],
      [api1],
      "running",
      failed(["tamanu-facility-api@1"]),
    ],
    [
      "one failed, one still starting: fail now, naming both apart",
      [failedUnit("tamanu-facility-api", "1"), unit("tamanu-facility-api", "2", false)],
      [api1, api2],
      "running",
      failed(["tamanu-facility-api@1"], ["tamanu-facility-api@2"]),
    ],
    [
      "one failed, the other running: fail now",
      [failedUnit("tamanu-facility-api", "1"), unit("tamanu-facility-api", "2", true)],
      [api1, api2],
      "running",
      failed(["tamanu-facility-api@1"]),
    ],
    [
      "a failed unit the wait is not about is ignored",
      [failedUnit("tamanu-facility-api", "2"), unit("tamanu-facility-api", "1", true)],
      [api1],
      "running",
      done,
    ],
    ["waiting for stopped, failed is stopped", [failedUnit("tamanu-facility-api", "1")], [api1], "stopped", done],
    [
      "waiting for stopped, a failed one does not end the wait for another still running",
      [failedUnit("tamanu-facility-api", "1"), unit("tamanu-facility-api", "2", true)],
      [api1, api2],
      "stopped",
      pending("tamanu-facility-api@2"),
    ],
    ["pm2 by id errored: fail now", [erroredProc("tamanu-api", 3)], [pmApi3], "running", failed(["tamanu-api#3"])],
    [
      "pm2 by name, one errored among online ones: fail now, naming that process",
      [proc("tamanu-api", 3, true), erroredProc("tamanu-api", 4)],
      [pmApi],
      "running",
      failed(["tamanu-api#4"]),
    ],
    [
      "pm2 by name, one errored, one still launching: fail now, the other stays pending",
      [erroredProc("tamanu-api", 3), proc("tamanu-api", 4, false)],
      [pmApi],
      "running",
      failed(["tamanu-api#3"], ["tamanu-api#4"]),
    ],
    [
      "pm2 by id: another process of the name errored is not this wait's business",
      [erroredProc("tamanu-api", 4), proc("tamanu-api", 3, false)],
      [pmApi3],
      "running",
      pending("tamanu-api#3"),
    ],
  ]

  it.each(table)("%s", (_case, instances, refs, wanted, verdict) => {
    expect(judgePoll(instances, refs, wanted)).toEqual(verdict)
  })
})

/**
 * A Supervisor whose list is a function of the clock; every other method is
 * unused here. The richer fakes live in @tamanu-lifecycle/testing (which
 * depends on core), where waitUntil is exercised against them too.
 */
const listing = (at: (now: number) => ReadonlyArray<Instance>, polls?: Ref.Ref<number>) =>
  Layer.succeed(Supervisor, {
    kind: "systemd",
    list: Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.as(polls === undefined ? Effect.void : Ref.update(polls, (n) => n + 1), at(now)),
    ),
    start: () => Effect.void,
    stop: () => Effect.void,
    restart: () => Effect.void,
    restartOne: () => Effect.void,
    enabled: () => Effect.succeed(new Map()),
    disable: () => Effect.void,
    remove: () => Effect.void,
    unitFileExists: () => Effect.succeed(false),
    runStates: () => Effect.succeed({ readAt: 0, instances: [] }),
    logMark: () => Effect.succeed({ at: 0, files: {} }),
    logLines: () => Effect.succeed([]),
    logs: () => Stream.empty,
  })

describe("waitUntil", () => {
  const api1 = ref("tamanu-facility-api", "1")
  const api2 = ref("tamanu-facility-api", "2")

  it.effect("returns once a unit that takes 3 s comes up, within a poll interval", () =>
    Effect.gen(function* () {
      const layer = listing((now) => [unit("tamanu-facility-api", "1", now >= 3000)])
      const fiber = yield* Effect.fork(
        waitUntil([api1], "running").pipe(Effect.provide(layer), Effect.zipRight(Clock.currentTimeMillis)),
      )
      yield* TestClock.adjust("10 seconds")
      const doneAt = yield* fiber.await
      expect(doneAt._tag).toBe("Success")
      const at = doneAt._tag === "Success" ? doneAt.value : -1
      expect(at).toBeGreaterThanOrEqual(3000)
      expect(at).toBeLessThanOrEqual(3250)
    }),
  )

  it.effect("fails with WaitTimeout after the limit, naming only the instance that never came up", () =>
    Effect.gen(function* () {
      const layer = listing((now) => [
        unit("tamanu-facility-api", "1", now >= 1000),
        unit("tamanu-facility-api", "2", false),
      ])
      const fiber = yield* Effect.fork(Effect.either(waitUntil([api1, api2], "running").pipe(Effect.provide(layer))))
      yield* TestClock.adjust("59 seconds")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      const result = yield* fiber
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left._tag).toBe("WaitTimeout")
        if (result.left._tag === "WaitTimeout") {
          expect(result.left.pending).toEqual(["tamanu-facility-api@2"])
          expect(result.left.wanted).toBe("running")
          expect(result.left.limitMillis).toBe(60_000)
        }
      }
    }),
  )

  it.effect("a unit the supervisor reports failed ends the wait within a poll interval, not at the limit", () =>
    Effect.gen(function* () {
      // Starts at t=0, crashes at t=50 ms: systemd then lists it `failed`.
      const layer = listing((now) => [
        now >= 50 ? failedUnit("tamanu-facility-api", "1") : unit("tamanu-facility-api", "1", false),
        unit("tamanu-facility-api", "2", now >= 10_000),
      ])
      const fiber = yield* Effect.fork(
        Effect.flip(waitUntil([api1, api2], "running").pipe(Effect.provide(layer))).pipe(
          Effect.zip(Clock.currentTimeMillis),
        ),
      )
      yield* TestClock.adjust("1 second")
      const outcome = fiber.unsafePoll()
      expect(outcome).not.toBeNull()
      const [error, at] = yield* fiber
      expect(error).toMatchObject({
        _tag: "InstanceFailed",
        supervisor: "systemd",
        failed: ["tamanu-facility-api@1"],
        pending: ["tamanu-facility-api@2"],
      })
      // Early polls come every 25, 50, 100 ms…: seen at the first poll after the crash.
      expect(at).toBeGreaterThanOrEqual(50)
      expect(at).toBeLessThanOrEqual(50 + 250)
      if (error._tag === "InstanceFailed") expect(error.afterMillis).toBe(at)
    }),
  )

  it.effect("a unit that is activating (auto-restart) between failures is waited for, not failed", () =>
    Effect.gen(function* () {
      // Not failed in discovery's sense until the start limit: the wait runs to the limit as before.
      const layer = listing(() => [unit("tamanu-facility-api", "1", false)])
      const fiber = yield* Effect.fork(
        Effect.flip(waitUntil([api1], "running", { limit: "5 seconds" }).pipe(Effect.provide(layer))),
      )
      yield* TestClock.adjust("5 seconds")
      expect(yield* fiber).toMatchObject({ _tag: "WaitTimeout" })
    }),
  )

  it.effect("honours a custom limit", () =>
    Effect.gen(function* () {
      const layer = listing(() => [unit("tamanu-facility-api", "1", true)])
      const fiber = yield* Effect.fork(
        Effect.flip(waitUntil([api1], "stopped", { limit: "5 seconds" }).pipe(Effect.provide(layer))),
      )
      yield* TestClock.adjust("5 seconds")
      const error = yield* fiber
      expect(error).toMatchObject({
        _tag: "WaitTimeout",
        wanted: "stopped",
        pending: ["tamanu-facility-api@1"],
        limitMillis: 5000,
      })
    }),
  )

  it.effect("is satisfied at once without waiting when the state already holds", () =>
    Effect.gen(function* () {
      const polls = yield* Ref.make(0)
      yield* waitUntil([api1, api2], "stopped").pipe(Effect.provide(listing(() => [], polls)))
      expect(yield* Ref.get(polls)).toBe(1)
    }),
  )

  it.effect("polls on a schedule: quickly at first, never more often than needed", () =>
    Effect.gen(function* () {
      const polls = yield* Ref.make(0)
      const layer = listing((now) => [unit("tamanu-facility-api", "1", now >= 30_000)], polls)
      const fiber = yield* Effect.fork(waitUntil([api1], "running").pipe(Effect.provide(layer)))
      yield* TestClock.adjust("31 seconds")
      yield* fiber
      const n = yield* Ref.get(polls)
      // 30 s at a 250 ms cap is ~120 polls, plus a few quick early ones.
      expect(n).toBeGreaterThan(100)
      expect(n).toBeLessThan(130)
    }),
  )

  it.effect("a supervisor error ends the wait at once", () =>
    Effect.gen(function* () {
      const failing = Layer.succeed(Supervisor, {
        ...Effect.runSync(
          Effect.provide(
            Supervisor,
            listing(() => []),
          ),
        ),
        list: Effect.fail(new SupervisorUnavailable({ supervisor: "pm2", message: "pm2 daemon is not running" })),
      })
      const error = yield* Effect.flip(waitUntil([api1], "running").pipe(Effect.provide(failing)))
      expect(error._tag).toBe("SupervisorUnavailable")
    }),
  )
})
