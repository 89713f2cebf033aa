/**
 * The settle window (issue #23) end to end over the fake supervisors, under
 * TestClock: an instance no probe judges counts as up only once it stayed
 * running through `--settle`; one that exits, fails or crash-loops inside
 * it fails the command, naming it, how it ended and how long it ran, with
 * its own last lines; a roll treats it as not ready; N workers cost one
 * window; every tick is ONE supervisor read for all of them.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  type ProgressEvent,
  RollStopped,
  restart,
  SettleFailed,
  SupervisorCallFailed,
  start,
} from "@tamanu-lifecycle/core/internal"
import { Clock, Duration, Effect, Fiber, TestClock } from "effect"
import { FakeSupervisorControl, type FakeUnitSpec } from "../index.js"
import {
  displayName,
  facilityBehindCaddy,
  facilityContext,
  facilityUnitFiles,
  facilityUnits,
  pm2BehindCaddy,
  pm2FacilityProcesses,
  RecordedEvents,
  readiness,
  restartOptions,
  startOptions,
  type WorldSpec,
  world,
} from "./hosts.js"

/** Run an operation to its end under TestClock: its result (or error) and the clock time it took. */
const timed = <A, E, R>(operation: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const began = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.fork(Effect.either(operation).pipe(Effect.zip(Clock.currentTimeMillis)))
    yield* TestClock.adjust("2 hours")
    const [result, endedAt] = yield* Fiber.join(fiber)
    return { result, tookMillis: endedAt - began }
  })

const events = Effect.flatMap(RecordedEvents, (r) => r.events)
const ofTag = <T extends ProgressEvent["_tag"]>(tag: T) =>
  Effect.map(events, (all) => all.filter((e): e is Extract<ProgressEvent, { _tag: T }> => e._tag === tag))
const calls = (method: "runStates" | "restartOne" | "logLines" | "logMark") =>
  Effect.flatMap(FakeSupervisorControl, (c) => c.calls(method))

/** A facility whose sync (and, when given, tasks) is stopped and scripted; everything else runs. */
const facility = (sync: Partial<FakeUnitSpec>, tasks: Partial<FakeUnitSpec> = {}): WorldSpec => ({
  supervisor: {
    systemd: {
      units: facilityUnits({
        "tamanu-facility-sync": { running: false, upAfter: "200 millis", ...sync },
        ...(Object.keys(tasks).length === 0 ? {} : { "tamanu-facility-tasks": { running: false, ...tasks } }),
      }),
      unitFiles: facilityUnitFiles,
    },
  },
  host: { context: facilityContext },
  readiness: readiness(facilityBehindCaddy),
})

describe("start: the settle window", () => {
  it.effect(
    "a worker that exits 3 after one second: SettleFailed naming it, exit code 3, 1.0 s, and its own lines",
    () =>
      Effect.gen(function* () {
        const { result, tookMillis } = yield* timed(start(startOptions({ probeHttp: false })))
        expect(result._tag).toBe("Left")
        const error = result._tag === "Left" ? result.left : null
        expect(error).toBeInstanceOf(SettleFailed)
        expect(error).toMatchObject({
          supervisor: "systemd",
          windowMillis: 5000,
          ended: [
            {
              instance: "tamanu-facility-sync",
              how: "failed",
              exit: { _tag: "Exited", code: 3 },
              // Its process began at the start call: 200 ms of boot, then 1 s up.
              lastedMillis: 1200,
              lastedExact: true,
              restarts: 0,
            },
          ],
        })
        // Seen within a tick of the exit (up at 200 ms, exit at 1.2 s), not at the window's end.
        expect(tookMillis).toBeGreaterThanOrEqual(1200)
        expect(tookMillis).toBeLessThan(1200 + 300)
        expect(yield* ofTag("LastLines")).toEqual([
          {
            _tag: "LastLines",
            instance: "tamanu-facility-sync",
            lines: ["tamanu-facility-sync | sync: starting", "tamanu-facility-sync | sync: no config, exiting"],
          },
        ])
        const settled = yield* ofTag("Settled")
        expect(settled.map((e) => e.results.map((r) => r._tag))).toEqual([["EndedInWindow"]])
      }).pipe(
        Effect.provide(
          world(
            facility({
              exitAfter: "1 second",
              exit: { _tag: "Exited", code: 3 },
              logLines: ["sync: starting", "sync: no config, exiting"],
            }),
          ),
        ),
      ),
  )

  it.effect("a worker that crash-loops under Restart=always is `restarted`, with the restarts counted", () =>
    Effect.gen(function* () {
      const { result } = yield* timed(start(startOptions({ probeHttp: false })))
      const error = result._tag === "Left" ? result.left : null
      expect(error).toBeInstanceOf(SettleFailed)
      expect(error).toMatchObject({
        ended: [{ instance: "tamanu-facility-sync", how: "restarted", exit: { _tag: "Exited", code: 3 } }],
      })
      // The unit is still cycling: the supervisor says it is on its way up again, or up.
      const ended = (error as SettleFailed).ended[0]
      expect(ended.lastedMillis).toBe(1200)
    }).pipe(
      Effect.provide(
        world(
          // Restarted 500 ms after each exit: a read sees it in systemd's `auto-restart`, exit known.
          facility({
            exitAfter: "1 second",
            exit: { _tag: "Exited", code: 3 },
            restart: "always",
            restartDelay: "500 millis",
          }),
        ),
      ),
    ),
  )

  it.effect("a crash loop caught only after systemd started it again still counts: the restart counter moved", () =>
    Effect.gen(function* () {
      const { result } = yield* timed(start(startOptions({ probeHttp: false })))
      const error = result._tag === "Left" ? result.left : null
      expect(error).toMatchObject({ ended: [{ instance: "tamanu-facility-sync", how: "restarted" }] })
      expect((error as SettleFailed).ended[0]?.restarts).toBeGreaterThanOrEqual(1)
      // systemd forgot the exit when the new process began, but its journal line says it; the bound says when.
      expect((error as SettleFailed).ended[0]).toMatchObject({
        exit: { _tag: "Exited", code: 3 },
        lastedExact: false,
      })
    }).pipe(
      // It ends 40 ms into each run and is back 10 ms later: between two reads 250 ms apart.
      Effect.provide(
        world(
          facility({
            exitAfter: "40 millis",
            restart: "always",
            restartDelay: "10 millis",
            upAfter: "0 millis",
            logLines: [
              "systemd[1]: tamanu-facility-sync.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED",
              "systemd[1]: tamanu-facility-sync.service: Scheduled restart job, restart counter is at 4.",
            ],
          }),
        ),
      ),
    ),
  )

  it.effect("a worker that stays up: start succeeds, and the window adds exactly the settle setting to the boot", () =>
    Effect.gen(function* () {
      const { result, tookMillis } = yield* timed(start(startOptions({ probeHttp: false })))
      expect(result._tag).toBe("Right")
      // Up at 200 ms, seen by the wait's poll at 375 ms (25+50+100+200), then exactly 5 s.
      expect(tookMillis).toBe(375 + 5000)
      const settled = yield* ofTag("Settled")
      expect(settled).toEqual([
        {
          _tag: "Settled",
          windowMillis: 5000,
          results: [{ _tag: "Steady", instance: "tamanu-facility-sync" }],
        },
      ])
      expect(result._tag === "Right" && result.right.execution?.settled).toEqual([
        { windowMillis: 5000, result: { _tag: "Steady", instance: "tamanu-facility-sync" } },
      ])
      expect(yield* ofTag("LastLines")).toEqual([])
    }).pipe(Effect.provide(world(facility({})))),
  )

  it.effect("--settle 0s: no window, no run-state reads; the start is done once the supervisor says running", () =>
    Effect.gen(function* () {
      const { result, tookMillis } = yield* timed(start(startOptions({ probeHttp: false, settle: Duration.zero })))
      expect(result._tag).toBe("Right")
      expect(tookMillis).toBeLessThan(1000)
      expect(yield* calls("runStates")).toEqual([])
      expect(result._tag === "Right" && result.right.planText).not.toMatch(/stay running/)
    }).pipe(Effect.provide(world(facility({ exitAfter: "1 second" })))),
  )

  it.effect("probed instances are judged by their probe, not the window; --no-probe-http puts them in it", () =>
    Effect.gen(function* () {
      const probed = yield* timed(start(startOptions({ names: ["api"] })))
      expect(probed.result._tag).toBe("Right")
      expect(yield* calls("runStates")).toEqual([])
    }).pipe(
      Effect.provide(
        world({
          ...facility({}),
          supervisor: {
            systemd: {
              units: facilityUnits({ "tamanu-facility-api@2": { running: false } }),
              unitFiles: facilityUnitFiles,
            },
          },
        }),
      ),
    ),
  )

  it.effect("with --no-probe-http, an API instance that exits in the window fails the start", () =>
    Effect.gen(function* () {
      const { result } = yield* timed(start(startOptions({ names: ["api"], probeHttp: false })))
      expect(result._tag === "Left" && result.left).toMatchObject({
        _tag: "SettleFailed",
        ended: [{ instance: "tamanu-facility-api@2", how: "failed" }],
      })
    }).pipe(
      Effect.provide(
        world({
          ...facility({}),
          supervisor: {
            systemd: {
              units: facilityUnits({ "tamanu-facility-api@2": { running: false, exitAfter: "2 seconds" } }),
              unitFiles: facilityUnitFiles,
            },
          },
        }),
      ),
    ),
  )

  it.effect(
    "N workers cost the longest boot plus ONE window, each tick ONE read of all of them; one ending is named alone",
    () =>
      Effect.gen(function* () {
        const { result, tookMillis } = yield* timed(start(startOptions({ probeHttp: false })))
        expect(result._tag).toBe("Right")
        // Boots 200 ms (sync) and 1.5 s (tasks): the window starts once both run.
        expect(tookMillis).toBeGreaterThanOrEqual(1500 + 5000)
        expect(tookMillis).toBeLessThanOrEqual(1500 + 5000 + 300)
        const reads = yield* calls("runStates")
        // A read at once, one every 250 ms, one at the end: about 22 for 5 s, never one per instance.
        expect(reads.length).toBeGreaterThanOrEqual(20)
        expect(reads.length).toBeLessThanOrEqual(23)
        for (const read of reads)
          expect(read.refs.map(displayName)).toEqual(["tamanu-facility-tasks", "tamanu-facility-sync"])
      }).pipe(Effect.provide(world(facility({}, { upAfter: "1500 millis" })))),
  )

  it.effect("of two workers only the one that exits is named; the other was still running", () =>
    Effect.gen(function* () {
      const { result } = yield* timed(start(startOptions({ probeHttp: false })))
      expect(result._tag === "Left" && result.left).toMatchObject({
        _tag: "SettleFailed",
        // Killed by a signal and not restarted: systemd calls it failed.
        ended: [{ instance: "tamanu-facility-tasks", how: "failed", exit: { _tag: "Killed", signal: "SIGKILL" } }],
        stillUp: ["tamanu-facility-sync"],
      })
      const settled = yield* ofTag("Settled")
      expect(settled[0]?.results.map((r) => r._tag)).toEqual(["EndedInWindow", "Unfinished"])
    }).pipe(
      Effect.provide(
        world(
          facility(
            {},
            { exitAfter: "3 seconds", exit: { _tag: "Killed", signal: "SIGKILL", coreDumped: false }, restart: "no" },
          ),
        ),
      ),
    ),
  )

  it.effect("a read that fails ends the window with the supervisor's error", () =>
    Effect.gen(function* () {
      const { result } = yield* timed(start(startOptions({ probeHttp: false })))
      expect(result._tag === "Left" && result.left).toBeInstanceOf(SupervisorCallFailed)
      expect(result._tag === "Left" && result.left).toMatchObject({ stderr: "Failed to connect to bus: timed out" })
    }).pipe(
      Effect.provide(
        world({
          ...facility({}),
          supervisor: {
            systemd: {
              units: facilityUnits({ "tamanu-facility-sync": { running: false } }),
              unitFiles: facilityUnitFiles,
              failures: [{ method: "runStates", stderr: "Failed to connect to bus: timed out", times: 1 }],
            },
          },
        }),
      ),
    ),
  )

  it.effect("a crash on start (InstanceFailed, before any window) shows the unit's own lines too", () =>
    Effect.gen(function* () {
      const { result } = yield* timed(start(startOptions({ probeHttp: false })))
      expect(result._tag === "Left" && result.left._tag).toBe("InstanceFailed")
      expect(yield* ofTag("LastLines")).toEqual([
        { _tag: "LastLines", instance: "tamanu-facility-sync", lines: ["tamanu-facility-sync | Error: EADDRINUSE"] },
      ])
      // Its log mark was taken before the start call, the lines read after the failure.
      const mark = (yield* calls("logMark"))[0]
      const read = (yield* calls("logLines"))[0]
      const startCall = (yield* Effect.flatMap(FakeSupervisorControl, (c) => c.calls("start")))[0]
      expect(mark?.at).toBeLessThanOrEqual(startCall?.at ?? -1)
      expect(read?.at).toBeGreaterThan(startCall?.at ?? Number.POSITIVE_INFINITY)
    }).pipe(Effect.provide(world(facility({ failAfter: "30 millis", logLines: ["Error: EADDRINUSE"] })))),
  )

  it.effect("a start systemctl refuses (`Job for x.service failed`) shows that unit's own lines", () =>
    Effect.gen(function* () {
      const { result } = yield* timed(start(startOptions({ probeHttp: false })))
      expect(result._tag === "Left" && result.left._tag).toBe("SupervisorCallFailed")
      expect(yield* ofTag("LastLines")).toEqual([
        {
          _tag: "LastLines",
          instance: "tamanu-facility-sync",
          lines: ["tamanu-facility-sync | sync: config.json5: unexpected end of input"],
        },
      ])
    }).pipe(
      Effect.provide(
        world({
          ...facility({}),
          supervisor: {
            systemd: {
              units: facilityUnits({
                "tamanu-facility-sync": {
                  running: false,
                  logLines: ["sync: config.json5: unexpected end of input"],
                },
              }),
              unitFiles: facilityUnitFiles,
              failures: [
                {
                  method: "start",
                  instance: "tamanu-facility-sync",
                  stderr:
                    "Job for tamanu-facility-sync.service failed because the control process exited with error code.",
                },
              ],
            },
          },
        }),
      ),
    ),
  )
})

describe("pm2: the settle window", () => {
  it.effect("a process pm2 restarts after it exits 3 is `restarted`, exit code 3, and counts as not up", () =>
    Effect.gen(function* () {
      const { result } = yield* timed(start(startOptions({ probeHttp: false })))
      expect(result._tag === "Left" && result.left).toMatchObject({
        _tag: "SettleFailed",
        supervisor: "pm2",
        ended: [{ instance: "tamanu-sync#3", how: "restarted", exit: { _tag: "Exited", code: 3 } }],
      })
      expect(yield* ofTag("LastLines")).toEqual([
        { _tag: "LastLines", instance: "tamanu-sync#3", lines: ["tamanu-sync#3 | boom"] },
      ])
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            pm2: {
              processes: pm2FacilityProcesses({
                "tamanu-sync#3": {
                  running: false,
                  exitAfter: "1 second",
                  exit: { _tag: "Exited", code: 3 },
                  restart: "always",
                  restartDelay: 0,
                  logLines: ["boom"],
                },
              }),
            },
          },
          host: { context: facilityContext },
          readiness: readiness(pm2BehindCaddy),
        }),
      ),
    ),
  )
})

describe("restart: the settle window", () => {
  const rolling: WorldSpec = {
    supervisor: {
      systemd: {
        units: facilityUnits(),
        unitFiles: facilityUnitFiles,
        defaults: { upAfter: "200 millis" },
        behaviours: {
          "tamanu-facility-api@1": {
            exitAfter: "2 seconds",
            restart: "always",
            restartDelay: "1 second",
            exit: { _tag: "Exited", code: 1 },
          },
        },
      },
    },
    host: { context: facilityContext },
    readiness: readiness(facilityBehindCaddy),
  }

  it.effect(
    "--no-probe-http: a rolled instance that crash-loops after its restart is not ready; its sibling stays up",
    () =>
      Effect.gen(function* () {
        const { result } = yield* timed(
          restart(restartOptions({ names: ["facility-api"], probeHttp: false, cooldown: Duration.seconds(3) })),
        )
        const error = result._tag === "Left" ? result.left : null
        expect(error).toBeInstanceOf(RollStopped)
        expect(error).toMatchObject({
          instance: "tamanu-facility-api@1",
          cause: expect.stringMatching(/did not stay running through the settle window: it ended \(exit code 1\)/),
          notRestarted: ["tamanu-facility-api@2"],
        })
        expect((yield* calls("restartOne")).map((c) => c.refs.map(displayName))).toEqual([["tamanu-facility-api@1"]])
        expect(yield* ofTag("LastLines")).toMatchObject([{ instance: "tamanu-facility-api@1" }])
      }).pipe(Effect.provide(world(rolling))),
  )

  it.effect("the bulk restart's window: a background service that exits fails the restart before any roll", () =>
    Effect.gen(function* () {
      const { result } = yield* timed(restart(restartOptions()))
      expect(result._tag === "Left" && result.left).toMatchObject({
        _tag: "SettleFailed",
        ended: [{ instance: "tamanu-facility-tasks" }],
        stillUp: ["tamanu-facility-sync"],
      })
      expect(yield* calls("restartOne")).toEqual([])
    }).pipe(
      Effect.provide(
        world({
          ...rolling,
          supervisor: {
            systemd: {
              units: facilityUnits(),
              unitFiles: facilityUnitFiles,
              behaviours: { "tamanu-facility-tasks": { exitAfter: "1 second" } },
            },
          },
        }),
      ),
    ),
  )

  it.effect("--no-probe-http: a roll of healthy instances waits max(settle, cooldown) for each, and succeeds", () =>
    Effect.gen(function* () {
      const { result, tookMillis } = yield* timed(
        restart(
          restartOptions({
            names: ["facility-api"],
            probeHttp: false,
            cooldown: Duration.seconds(1),
            settle: Duration.seconds(4),
          }),
        ),
      )
      expect(result._tag).toBe("Right")
      const settled = result._tag === "Right" ? (result.right.execution?.settled ?? []) : []
      expect(settled.map((s) => [s.windowMillis, s.result])).toEqual([
        [4000, { _tag: "Steady", instance: "tamanu-facility-api@1" }],
        [4000, { _tag: "Steady", instance: "tamanu-facility-api@2" }],
      ])
      // @2 goes down only once @1 came up (200 ms) and stayed up through its 4 s window.
      const [first, second] = (yield* calls("restartOne")).map((c) => c.at)
      expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(200 + 4000)
      expect((second ?? 0) - (first ?? 0)).toBeLessThanOrEqual(200 + 4000 + 500)
      expect(tookMillis).toBeGreaterThan(0)
    }).pipe(
      Effect.provide(
        world({
          ...rolling,
          supervisor: {
            systemd: { units: facilityUnits(), unitFiles: facilityUnitFiles, defaults: { upAfter: "200 millis" } },
          },
        }),
      ),
    ),
  )
})
