import { it as effectIt } from "@effect/vitest"
import { emit, ProgressEvent as PE, type Progress, type ProgressEvent } from "@tamanu-lifecycle/core/internal"
import { Effect, TestClock } from "effect"
import { describe, expect, it } from "vitest"
import { palette, stripAnsi } from "./color.js"
import { ProgressRendererLive, renderEvent } from "./progress.js"

const plain = palette(false)

describe("renderEvent", () => {
  const golden: ReadonlyArray<readonly [ProgressEvent, string | null]> = [
    [
      PE.PlanComputed({
        command: "restart",
        steps: 2,
        text: "systemctl restart tamanu-facility-tasks.service\nroll tamanu-facility-api one instance at a time\n",
      }),
      "plan for restart (2 steps):\n  systemctl restart tamanu-facility-tasks.service\n  roll tamanu-facility-api one instance at a time",
    ],
    [PE.PlanComputed({ command: "start", steps: 0, text: "" }), null],
    [
      PE.BatchStarted({ action: "systemctl start", instances: ["tamanu-facility-api@1", "tamanu-facility-api@2"] }),
      "→ systemctl start tamanu-facility-api@1 tamanu-facility-api@2",
    ],
    [PE.BatchStarted({ action: "restart", instances: ["tamanu-tasks#0"] }), "→ restart tamanu-tasks#0"],
    [
      PE.Waiting({ wanted: "running", instances: ["tamanu-facility-api@1", "tamanu-facility-api@2"] }),
      "… waiting until running: tamanu-facility-api@1, tamanu-facility-api@2",
    ],
    [
      PE.InstanceRestarting({ instance: "tamanu-facility-api@1", index: 1, total: 2 }),
      "↻ restarting tamanu-facility-api@1 (1/2)",
    ],
    [
      PE.InstanceRunning({ instance: "tamanu-facility-api@1", afterMillis: 812 }),
      "● tamanu-facility-api@1 running after 812 ms",
    ],
    [
      PE.InstanceRunning({
        instance: "tamanu-facility-api@1",
        afterMillis: 812,
        version: { before: "2.64.0", after: "2.65.0", expected: "2.65.0", status: "match" },
      }),
      "● tamanu-facility-api@1 running after 812 ms 2.64.0 → 2.65.0",
    ],
    [
      PE.InstanceRunning({
        instance: "tamanu-facility-api@2",
        afterMillis: 812,
        version: { before: "2.64.0", after: "2.64.0", expected: "2.65.0", status: "mismatch" },
      }),
      "● tamanu-facility-api@2 running after 812 ms 2.64.0 → 2.64.0 (expected 2.65.0)",
    ],
    [
      PE.InstanceRunning({
        instance: "tamanu-facility-api@2",
        afterMillis: 812,
        version: { before: null, after: null, expected: "2.65.0", status: "unknown" },
      }),
      "● tamanu-facility-api@2 running after 812 ms unknown → unknown",
    ],
    [
      PE.ProbeReady({
        instance: "tamanu-facility-api@1",
        url: "http://10.88.0.5:3000/",
        afterMillis: 2034,
        version: "2.65.0",
      }),
      "✓ tamanu-facility-api@1 ready after 2034 ms, serving 2.65.0 (http://10.88.0.5:3000/)",
    ],
    [
      PE.ProbeReady({ instance: "tamanu-facility-api@1", url: "http://10.88.0.5:3000/", afterMillis: 2034 }),
      "✓ tamanu-facility-api@1 ready after 2034 ms (http://10.88.0.5:3000/)",
    ],
    [PE.ProbeSkipped({ instance: "tamanu-api#1", reason: "no PORT in its pm2 environment" }), null],
    [PE.ProxyReloaded({ reloaded: true, warnings: [] }), "✓ Caddy reloaded"],
    [
      PE.ProxyReloaded({ reloaded: true, warnings: ["resolvectl flush-caches failed: not found"] }),
      "✓ Caddy reloaded\n⚠ resolvectl flush-caches failed: not found",
    ],
    [
      PE.ProxyReloaded({ reloaded: false, warnings: ["systemctl reload caddy: Unit caddy.service not loaded."] }),
      "⚠ Caddy reload failed (going on)\n⚠ systemctl reload caddy: Unit caddy.service not loaded.",
    ],
    [PE.Cooldown({ millis: 30_000 }), "cooldown 30s (no readiness probe)"],
    [PE.Cooldown({ millis: 1_500 }), "cooldown 1s500ms (no readiness probe)"],
    [
      PE.Settling({ instances: ["tamanu-facility-tasks", "tamanu-facility-sync"], windowMillis: 5000 }),
      "… watching for 5s that they stay running: tamanu-facility-tasks, tamanu-facility-sync",
    ],
    [
      PE.Settled({
        windowMillis: 5000,
        results: [
          { _tag: "Steady", instance: "tamanu-facility-tasks" },
          {
            _tag: "EndedInWindow",
            ended: {
              instance: "tamanu-facility-sync",
              how: "failed",
              exit: { _tag: "Exited", code: 3 },
              lastedMillis: 1003,
              lastedExact: true,
              restarts: 0,
            },
          },
          { _tag: "Unfinished", instance: "tamanu-fhir-resolve" },
        ],
      }),
      "✓ stayed running through the 5s settle window: tamanu-facility-tasks\n✗ tamanu-facility-sync did not stay up: it failed (exit code 3) after 1.0 s\n  still running when the watch stopped: tamanu-fhir-resolve",
    ],
    [
      PE.LastLines({ instance: "tamanu-facility-sync", lines: ["tamanu-facility-sync | 12:00:01.000 sh[7]: bye"] }),
      "last 1 line of tamanu-facility-sync since its start:\n  │ tamanu-facility-sync | 12:00:01.000 sh[7]: bye",
    ],
    [PE.LastLines({ instance: "tamanu-sync#3", lines: [] }), "tamanu-sync#3 logged nothing since its start"],
    [
      PE.Warning({ message: "tamanu-patientportal: state unknown, left alone" }),
      "⚠ tamanu-patientportal: state unknown, left alone",
    ],
    [PE.Info({ message: "nothing to do: the host already matches" }), "nothing to do: the host already matches"],
    [PE.Done({ command: "restart", ok: true, elapsedMillis: 4_321 }), "✓ restart done in 4321 ms"],
    [PE.Done({ command: "restart", ok: true, elapsedMillis: 73_456 }), "✓ restart done in 73.5 s"],
    [PE.Done({ command: "start", ok: false, elapsedMillis: 61_000 }), "✗ start failed after 61.0 s"],
    [
      PE.ExecutionFailed({
        started: ["tamanu-facility-sync"],
        stopped: [],
        restarted: ["tamanu-facility-api@1", "tamanu-facility-api@2"],
        notRestarted: [],
      }),
      "before it failed: started tamanu-facility-sync; restarted tamanu-facility-api@1, tamanu-facility-api@2",
    ],
  ]
  it("says nothing for a failure before anything was done", () => {
    expect(
      renderEvent(PE.ExecutionFailed({ started: [], stopped: [], restarted: [], notRestarted: [] }), plain),
    ).toBeNull()
  })
  for (const [event, text] of golden) {
    it(`renders ${event._tag} as ${JSON.stringify(text)}`, () => {
      expect(renderEvent(event, plain)).toBe(text)
      // Colour changes nothing but the escapes.
      const coloured = renderEvent(event, palette(true))
      expect(coloured === null ? null : stripAnsi(coloured)).toBe(text)
    })
  }

  it("colours success green, warnings yellow, failure red", () => {
    const c = palette(true)
    expect(renderEvent(PE.ProbeReady({ instance: "a", url: "u", afterMillis: 1 }), c)).toContain(c.green("✓"))
    expect(renderEvent(PE.Warning({ message: "w" }), c)).toBe(c.yellow("⚠ w"))
    expect(renderEvent(PE.Done({ command: "stop", ok: false, elapsedMillis: 1 }), c)).toBe(
      c.red("✗ stop failed after 1 ms"),
    )
  })
})

/** Collects what the renderer writes. */
const sink = () => {
  const chunks: Array<string> = []
  return { chunks, stream: { write: (text: string) => chunks.push(text) } }
}

const run = (spinner: boolean, program: Effect.Effect<void, never, Progress>) => {
  const { chunks, stream } = sink()
  return Effect.as(Effect.provide(program, ProgressRendererLive({ stream, color: false, spinner })), chunks)
}

describe("ProgressRendererLive", () => {
  effectIt.effect("writes one line per event and nothing for silent ones", () =>
    Effect.gen(function* () {
      const chunks = yield* run(
        false,
        Effect.gen(function* () {
          yield* emit(PE.PlanComputed({ command: "stop", steps: 0, text: "" }))
          yield* emit(PE.BatchStarted({ action: "stop", instances: ["a", "b"] }))
          yield* emit(PE.Waiting({ wanted: "stopped", instances: ["a", "b"] }))
          yield* emit(PE.Done({ command: "stop", ok: true, elapsedMillis: 12 }))
        }),
      )
      expect(chunks.join("")).toBe("→ stop a b\n… waiting until stopped: a, b\n✓ stop done in 12 ms\n")
    }),
  )

  effectIt.effect("on a TTY animates a wait and erases it before the next line", () =>
    Effect.gen(function* () {
      const chunks = yield* run(
        true,
        Effect.gen(function* () {
          yield* emit(PE.Waiting({ wanted: "running", instances: ["a"] }))
          yield* TestClock.adjust("250 millis")
          yield* emit(PE.ProbeReady({ instance: "a", url: "http://127.0.0.1:1/", afterMillis: 250 }))
        }),
      )
      const frames = chunks.filter((c) => c.includes("waiting"))
      // The first frame at once, then one per 80 ms.
      expect(frames).toEqual([
        "\r\u001b[2K⠋ … waiting until running: a",
        "\r\u001b[2K⠙ … waiting until running: a",
        "\r\u001b[2K⠹ … waiting until running: a",
        "\r\u001b[2K⠸ … waiting until running: a",
      ])
      expect(chunks.slice(-2)).toEqual(["\r\u001b[2K", "✓ a ready after 250 ms (http://127.0.0.1:1/)\n"])
    }),
  )

  effectIt.effect("stops the spinner and clears its line when the command ends", () =>
    Effect.gen(function* () {
      const chunks = yield* run(true, emit(PE.Waiting({ wanted: "stopped", instances: ["a"] })))
      expect(chunks.at(-1)).toBe("\r\u001b[2K")
      const before = chunks.length
      yield* TestClock.adjust("1 second")
      expect(chunks.length).toBe(before)
    }),
  )
})
