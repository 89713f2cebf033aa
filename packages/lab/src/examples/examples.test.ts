/** The embedding examples of docs/embedding.md, run as they are written. */
import { describe, expect, it } from "@effect/vitest"
import { type HostContext, PrivilegesFixed, withoutConsoleLoggers } from "@tamanu-lifecycle/core"
import { fakeHost } from "@tamanu-lifecycle/testing"
import { Duration, Effect, Fiber, Logger, LogLevel, TestClock } from "effect"
import { restartWithProgress } from "./followProgress.js"
import { runOps } from "./mountCommands.js"
import { logLinesTo } from "./routeLogs.js"

const facility: HostContext = {
  root: "/opt/tamanu",
  version: "2.30.0",
  config: { serverFacilityIds: ["f1"] },
  kind: "facility",
  fhirWorkerEnabled: null,
}

const api = (pmId: number) => ({ name: "tamanu-api", suffix: null, pmId })

/** A pm2 facility behind a fake Caddy, every service a fake: what `fakeHost` builds in one call. */
const pm2Host = fakeHost({
  supervisor: {
    pm2: {
      processes: [
        { name: "tamanu-api", pmId: 0, running: true, port: 4001 },
        { name: "tamanu-api", pmId: 1, running: true, port: 4002 },
        { name: "tamanu-tasks", pmId: 2, running: true },
        { name: "tamanu-sync", pmId: 3, running: true },
      ],
    },
  },
  readiness: [
    { instance: api(0), readyAfter: Duration.seconds(2) },
    { instance: api(1), readyAfter: Duration.seconds(2) },
  ],
  host: { context: facility },
  privileges: PrivilegesFixed(false, false),
})

describe("embedding examples", () => {
  it.effect("followProgress: a subscriber sees the roll instance by instance", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(restartWithProgress(pm2Host))
      for (let i = 0; i < 100; i++) yield* TestClock.adjust("100 millis")
      const { result, lines } = yield* Fiber.join(fiber)
      expect(result.ok).toBe(true)
      expect(result.execution?.restarted).toEqual(["tamanu-api#0", "tamanu-api#1"])
      const restarting = lines.filter((l) => l.startsWith("restarting"))
      expect(restarting).toEqual(["restarting tamanu-api#0 (1/2)", "restarting tamanu-api#1 (2/2)"])
      expect(lines.indexOf("restarting tamanu-api#1 (2/2)")).toBeGreaterThan(
        lines.findIndex((l) => l.startsWith("tamanu-api#0 ready")),
      )
    }),
  )

  it.effect("routeLogs: the program's own logger receives core's lines at the level it chose", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      // What core does with every line it logs (util/logging.ts): Effect's console loggers taken out.
      const coreLogs = withoutConsoleLoggers(
        Effect.all([Effect.logWarning("patient portal flag unknown"), Effect.logDebug("systemctl list-units: exit 0")]),
      )
      yield* coreLogs.pipe(Effect.provide(logLinesTo((line) => lines.push(line))))
      expect(lines).toEqual(["warn: patient portal flag unknown"])
      lines.length = 0
      yield* coreLogs.pipe(
        Effect.provide(logLinesTo((line) => lines.push(line))),
        Logger.withMinimumLogLevel(LogLevel.Debug),
      )
      expect(lines).toEqual(["warn: patient portal flag unknown", "debug: systemctl list-units: exit 0"])
    }),
  )

  it.effect("mountCommands: the lifecycle commands answer under another program's command", () =>
    Effect.gen(function* () {
      const out: Array<string> = []
      const log = console.log
      console.log = (...args: ReadonlyArray<unknown>) => {
        out.push(args.map(String).join(" "))
      }
      try {
        yield* runOps(["node", "tamanu-ops", "lifecycle", "restart", "--help"])
      } finally {
        console.log = log
      }
      const text = out.join("")
      expect(text).toContain("--cooldown")
      expect(text).toContain("--check-url")
    }),
  )
})
