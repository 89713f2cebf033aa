import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, Fiber, Layer, Ref, Stream, TestClock } from "effect"
import * as fc from "fast-check"
import type { InstanceRef } from "../model/instance.js"
import type { ExitStatus, RunPhase, RunState, RunStates } from "./runState.js"
import { Supervisor } from "./Supervisor.js"
import { describeEnded, type Ended, judgeSettle, SettleFailed, watchSettle, withExitsFromLines } from "./settle.js"

const state = (name: string, o: Partial<RunState> = {}): RunState => ({
  name,
  suffix: null,
  pmId: null,
  phase: "running",
  restarts: 0,
  startedAt: 1000,
  exitedAt: null,
  exit: null,
  ...o,
})
const read = (readAt: number, ...instances: ReadonlyArray<RunState>): RunStates => ({ readAt, instances })
const exit3: ExitStatus = { _tag: "Exited", code: 3 }

describe("judgeSettle", () => {
  const base = read(2000, state("tamanu-facility-sync"))
  // [case, current read, what ended]
  const table: ReadonlyArray<readonly [string, RunStates, ReadonlyArray<Partial<Ended>>]> = [
    ["the same process still running: steady", read(7000, state("tamanu-facility-sync")), []],
    [
      "failed with exit code 3 (systemd recorded the exit: exact)",
      read(2300, state("tamanu-facility-sync", { phase: "failed", exitedAt: 2000, exit: exit3 })),
      [{ how: "failed", exit: exit3, lastedMillis: 1000, lastedExact: true, restarts: 0 }],
    ],
    [
      "stopped by someone (inactive)",
      read(
        2300,
        state("tamanu-facility-sync", { phase: "stopped", exitedAt: 2100, exit: { _tag: "Exited", code: 0 } }),
      ),
      [{ how: "stopped", lastedMillis: 1100, lastedExact: true }],
    ],
    [
      "down after exit code 3, before systemd calls it failed (podman's ExecStopPost still running): failed",
      read(2300, state("tamanu-facility-sync", { phase: "stopping", exitedAt: 2100, exit: exit3 })),
      [{ how: "failed", exit: exit3, lastedMillis: 1100, lastedExact: true }],
    ],
    [
      "stopped by a stop's SIGTERM: stopped, not failed",
      read(
        2300,
        state("tamanu-facility-sync", {
          phase: "stopped",
          exitedAt: 2100,
          exit: { _tag: "Killed", signal: "SIGTERM", coreDumped: false },
        }),
      ),
      [{ how: "stopped" }],
    ],
    [
      "on its way down counts as down",
      read(2300, state("tamanu-facility-sync", { phase: "stopping" })),
      [{ how: "stopped", exit: null, lastedMillis: 1300, lastedExact: false }],
    ],
    [
      "auto-restart: ended, systemd will start it again",
      read(2300, state("tamanu-facility-sync", { phase: "restarting", restarts: 1, exitedAt: 2050, exit: exit3 })),
      [{ how: "restarted", exit: exit3, lastedMillis: 1050, lastedExact: true, restarts: 1 }],
    ],
    [
      "caught after the restart: the counter moved and a new process began (an upper bound)",
      read(2600, state("tamanu-facility-sync", { restarts: 1, startedAt: 2150 })),
      [{ how: "restarted", exit: null, lastedMillis: 1150, lastedExact: false, restarts: 1 }],
    ],
    [
      "a new process without the counter moving (restarted by hand): restarted",
      read(2600, state("tamanu-facility-sync", { startedAt: 2400 })),
      [{ how: "restarted", restarts: 0 }],
    ],
    [
      "on its way up again: restarted",
      read(2600, state("tamanu-facility-sync", { phase: "starting" })),
      [{ how: "restarted" }],
    ],
    ["gone from the list (pm2 delete)", read(2600), [{ how: "gone", lastedMillis: 1600, lastedExact: false }]],
  ]
  it.each(table)("%s", (_case, current, ended) => {
    const verdict = judgeSettle(base, current)
    expect(verdict).toHaveLength(ended.length)
    for (const [i, e] of ended.entries()) expect(verdict[i]).toMatchObject({ instance: "tamanu-facility-sync", ...e })
  })

  it("an instance not running at the window's start has ended already, whatever the later read says", () => {
    const down = read(2000, state("tamanu-x", { phase: "failed", exit: exit3, exitedAt: 1500 }))
    expect(judgeSettle(down, read(2300, state("tamanu-x")))).toMatchObject([{ how: "failed", exit: exit3 }])
  })

  it("pm2 processes are told apart by pm_id; the others of the same name stay steady", () => {
    const pm = (pmId: number, o: Partial<RunState> = {}) => state("tamanu-api", { pmId, ...o })
    const verdict = judgeSettle(read(0, pm(1), pm(2)), read(500, pm(1), pm(2, { phase: "failed" })))
    expect(verdict.map((e) => e.instance)).toEqual(["tamanu-api#2"])
  })

  const phase = fc.constantFrom<RunPhase>("running", "starting", "restarting", "stopping", "stopped", "failed")
  const runState = (name: string) =>
    fc.record({
      name: fc.constant(name),
      suffix: fc.constant(null),
      pmId: fc.constant(null),
      phase,
      restarts: fc.nat(5),
      startedAt: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: null }),
      exitedAt: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: null }),
      exit: fc.option(
        fc.oneof(
          fc.record({ _tag: fc.constant("Exited" as const), code: fc.integer({ min: 0, max: 255 }) }),
          fc.record({
            _tag: fc.constant("Killed" as const),
            signal: fc.constantFrom("SIGKILL", "SIGSEGV"),
            coreDumped: fc.boolean(),
          }),
        ),
        { nil: null },
      ),
    })
  const names = ["tamanu-a", "tamanu-b", "tamanu-c"]
  const reads = fc.tuple(
    fc.tuple(...names.map(runState)),
    fc.tuple(...names.map((n) => fc.option(runState(n), { nil: undefined }))),
    fc.integer({ min: 0, max: 20_000 }),
  )

  it("property: an instance stays steady exactly when it ran at the start and still runs the same process", () => {
    fc.assert(
      fc.property(reads, ([before, after, readAt]) => {
        const current = read(readAt, ...after.flatMap((s): ReadonlyArray<RunState> => (s === undefined ? [] : [s])))
        const ended = new Set(judgeSettle(read(0, ...before), current).map((e) => e.instance))
        before.forEach((b, i) => {
          const a = after[i]
          const steady =
            b.phase === "running" &&
            a !== undefined &&
            a.phase === "running" &&
            a.restarts <= b.restarts &&
            (a.startedAt === null || b.startedAt === null || a.startedAt === b.startedAt)
          expect(ended.has(b.name)).toBe(!steady)
        })
      }),
      { numRuns: 2000 },
    )
  })

  it("property: the same read twice finds no running instance ended; durations are never negative", () => {
    fc.assert(
      fc.property(reads, ([before, after, readAt]) => {
        const first = read(0, ...before)
        expect(judgeSettle(first, first).map((e) => e.instance)).toEqual(
          before.filter((b) => b.phase !== "running").map((b) => b.name),
        )
        const current = read(readAt, ...after.flatMap((s): ReadonlyArray<RunState> => (s === undefined ? [] : [s])))
        for (const e of judgeSettle(first, current)) {
          if (e.lastedMillis !== null) expect(e.lastedMillis).toBeGreaterThanOrEqual(0)
          expect(e.restarts).toBeGreaterThanOrEqual(0)
        }
      }),
      { numRuns: 2000 },
    )
  })
})

describe("describeEnded", () => {
  const ended = (o: Partial<Ended>): Ended => ({
    instance: "tamanu-facility-sync",
    how: "failed",
    exit: exit3,
    lastedMillis: 1003,
    lastedExact: true,
    restarts: 0,
    ...o,
  })
  it.each([
    [ended({}), "failed (exit code 3) after 1.0 s"],
    [ended({ how: "stopped", exit: null, lastedMillis: 850 }), "stopped after 850 ms"],
    [
      ended({ how: "restarted", lastedExact: false, lastedMillis: 1240, restarts: 2 }),
      "ended (exit code 3) after at most 1.2 s and was started again (2 restarts)",
    ],
    [
      ended({ how: "failed", exit: { _tag: "Killed", signal: "SIGSEGV", coreDumped: true } }),
      "failed (signal SIGSEGV (core dumped)) after 1.0 s",
    ],
    [ended({ how: "gone" }), "is gone from the supervisor's list"],
  ])("%o → %s", (e, text) => {
    expect(describeEnded(e)).toBe(text)
  })
})

describe("withExitsFromLines", () => {
  it("fills an exit the reads missed from systemd's journal line, and keeps one they saw", () => {
    const e = new SettleFailed({
      supervisor: "systemd",
      windowMillis: 5000,
      afterMillis: 1300,
      ended: [
        { instance: "a", how: "restarted", exit: null, lastedMillis: 1200, lastedExact: false, restarts: 1 },
        { instance: "b", how: "failed", exit: exit3, lastedMillis: 1000, lastedExact: true, restarts: 0 },
      ],
      stillUp: [],
    })
    const lines = new Map([
      ["a", ["a | 12:00:01.000 systemd[1]: a.service: Main process exited, code=killed, status=9/KILL"]],
      ["b", ["b | 12:00:01.000 systemd[1]: b.service: Main process exited, code=exited, status=1/FAILURE"]],
    ])
    expect(withExitsFromLines(e, lines).ended.map((x) => x.exit)).toEqual([
      { _tag: "Killed", signal: "SIGKILL", coreDumped: false },
      exit3,
    ])
  })
})

/** A supervisor whose run states are a function of the clock; it counts its reads and what each asked for. */
const supervisorAt = (at: (now: number) => RunStates, reads: Ref.Ref<ReadonlyArray<ReadonlyArray<InstanceRef>>>) =>
  Layer.succeed(Supervisor, {
    kind: "systemd",
    list: Effect.succeed([]),
    start: () => Effect.void,
    stop: () => Effect.void,
    restart: () => Effect.void,
    restartOne: () => Effect.void,
    enabled: () => Effect.succeed(new Map()),
    disable: () => Effect.void,
    remove: () => Effect.void,
    unitFileExists: () => Effect.succeed(false),
    runStates: (refs) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.as(
          Ref.update(reads, (r) => [...r, refs]),
          at(now),
        ),
      ),
    logMark: () => Effect.succeed({ at: 0, files: {} }),
    logLines: () => Effect.succeed([]),
    logs: () => Stream.empty,
  })

const refs: ReadonlyArray<InstanceRef> = [
  { name: "tamanu-a", suffix: null, pmId: null },
  { name: "tamanu-b", suffix: null, pmId: null },
]

describe("watchSettle", () => {
  it.effect("one read of every instance at once, every 250 ms and at the window's end; steady ones pass", () =>
    Effect.gen(function* () {
      const reads = yield* Ref.make<ReadonlyArray<ReadonlyArray<InstanceRef>>>([])
      const fiber = yield* Effect.fork(
        watchSettle(refs, { window: Duration.seconds(5) }).pipe(
          Effect.zip(Clock.currentTimeMillis),
          Effect.provide(supervisorAt((now) => read(now, state("tamanu-a"), state("tamanu-b")), reads)),
        ),
      )
      yield* TestClock.adjust("1 minute")
      const [outcome, endedAt] = yield* Fiber.join(fiber)
      expect(endedAt).toBe(5000)
      expect(outcome.results).toEqual([
        { _tag: "Steady", instance: "tamanu-a" },
        { _tag: "Steady", instance: "tamanu-b" },
      ])
      const all = yield* Ref.get(reads)
      // 0, 250, …, 4750 (20 reads), then the one at 5000.
      expect(all).toHaveLength(21)
      for (const r of all) expect(r).toEqual(refs)
    }),
  )

  it.effect("fails at the first read that finds one ended, naming it and the one still up", () =>
    Effect.gen(function* () {
      const reads = yield* Ref.make<ReadonlyArray<ReadonlyArray<InstanceRef>>>([])
      const world = (now: number) =>
        read(
          now,
          state("tamanu-a", now >= 1200 ? { phase: "failed", exit: exit3, exitedAt: 2200 } : {}),
          state("tamanu-b"),
        )
      const fiber = yield* Effect.fork(
        Effect.either(watchSettle(refs, { window: Duration.seconds(5) })).pipe(
          Effect.zip(Clock.currentTimeMillis),
          Effect.provide(supervisorAt(world, reads)),
        ),
      )
      yield* TestClock.adjust("1 minute")
      const [result, endedAt] = yield* Fiber.join(fiber)
      expect(endedAt).toBe(1250)
      expect(Either.isLeft(result) && result.left).toMatchObject({
        _tag: "SettleFailed",
        windowMillis: 5000,
        afterMillis: 1250,
        ended: [{ instance: "tamanu-a", how: "failed", exit: exit3, lastedMillis: 1200, lastedExact: true }],
        stillUp: ["tamanu-b"],
      })
      expect(yield* Ref.get(reads)).toHaveLength(6)
    }),
  )

  it.effect("an instance already down at the first read fails at once", () =>
    Effect.gen(function* () {
      const reads = yield* Ref.make<ReadonlyArray<ReadonlyArray<InstanceRef>>>([])
      const result = yield* Effect.either(
        watchSettle(refs, { window: Duration.seconds(5) }).pipe(
          Effect.provide(
            supervisorAt((now) => read(now, state("tamanu-a", { phase: "restarting" }), state("tamanu-b")), reads),
          ),
        ),
      )
      expect(Either.isLeft(result) && result.left).toMatchObject({ afterMillis: 0, ended: [{ how: "restarted" }] })
    }),
  )
})
