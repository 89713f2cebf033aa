import { CheckUrlFailed, NeedsRoot, ProgressEvent, RollStopped } from "@tamanu-lifecycle/core/internal"
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { renderError } from "./errors.js"
import {
  emptyRecord,
  encodeOperationReport,
  failureReport,
  OperationReport,
  operationReport,
  recordEvent,
} from "./report.js"

describe("operationReport", () => {
  it("says what was asked of Caddy: the way, the loads, whether its own config is back and the wait", () => {
    const report = operationReport({
      command: "restart",
      ok: true,
      execution: {
        restarted: ["tamanu-frontend@a"],
        caddy: { mode: "admin", configLoads: 3, reloads: 0, restored: true, waitedMillis: 41_234.6 },
      },
    })
    expect(report.caddy).toEqual({ mode: "admin", config_loads: 3, reloads: 0, restored: true, waited_ms: 41_235 })
  })

  it("reports a finished restart: plan lines, warnings, what was restarted, elapsed time, no error", () => {
    const report = operationReport({
      command: "restart",
      ok: true,
      nothingToDo: false,
      dryRun: false,
      planText: "systemctl restart tamanu-facility-tasks.service\nroll tamanu-facility-api one instance at a time\n",
      warnings: ["tamanu-patientportal: unknown, left alone"],
      execution: {
        started: [],
        stopped: [],
        restarted: ["tamanu-facility-tasks", "tamanu-facility-api@1", "tamanu-facility-api@2"],
        notRestarted: [],
        versions: [
          { instance: "tamanu-facility-api@1", before: "2.64.0", after: "2.65.0", expected: "2.65.0", status: "match" },
        ],
      },
      elapsedMillis: 12_345.6,
    })
    expect(report).toEqual({
      command: "restart",
      ok: true,
      nothing_to_do: false,
      dry_run: false,
      plan: ["systemctl restart tamanu-facility-tasks.service", "roll tamanu-facility-api one instance at a time"],
      warnings: ["tamanu-patientportal: unknown, left alone"],
      started: [],
      stopped: [],
      restarted: ["tamanu-facility-tasks", "tamanu-facility-api@1", "tamanu-facility-api@2"],
      not_restarted: [],
      caddy: null,
      settle: [],
      last_lines: [],
      versions: [
        { instance: "tamanu-facility-api@1", before: "2.64.0", after: "2.65.0", expected: "2.65.0", status: "match" },
      ],
      elapsed_ms: 12_346,
      error: null,
    })
  })

  it("reports nothing to do and a dry run with empty lists rather than missing keys", () => {
    expect(operationReport({ command: "stop", ok: true, nothingToDo: true, execution: null })).toMatchObject({
      nothing_to_do: true,
      dry_run: false,
      plan: [],
      restarted: [],
      not_restarted: [],
      caddy: null,
      elapsed_ms: 0,
      error: null,
    })
    expect(
      operationReport({
        command: "start",
        ok: true,
        dryRun: true,
        planSteps: ["systemctl start tamanu-facility-sync.service"],
      }),
    ).toMatchObject({ dry_run: true, plan: ["systemctl start tamanu-facility-sync.service"], started: [] })
  })

  it("fits core's OperationResult as it is (extra fields ignored)", () => {
    const result = {
      command: "start",
      ok: true,
      nothingToDo: false,
      dryRun: false,
      plan: { operation: "start", steps: [{ _tag: "Start" }] },
      planText: "systemctl start tamanu-facility-api@2.service",
      execution: { started: ["tamanu-facility-api@2"], stopped: [], restarted: [], notRestarted: [], warnings: [] },
      warnings: [],
      elapsedMillis: 900,
    }
    const report = operationReport(result)
    expect(report.plan).toEqual(["systemctl start tamanu-facility-api@2.service"])
    expect(report.started).toEqual(["tamanu-facility-api@2"])
    expect(Object.keys(report)).not.toContain("execution")
  })

  it("never carries a password into the JSON", () => {
    const report = operationReport({
      command: "start",
      ok: false,
      warnings: ["database postgres://tamanu:s3cret@db/tamanu unreachable"],
      error: { tag: "X", message: "password=s3cret" },
    })
    expect(JSON.stringify(report)).not.toContain("s3cret")
  })

  it("encodes to the snake_case document scripts read, which decodes back", () => {
    const report = operationReport({ command: "stop", ok: true, elapsedMillis: 5 })
    const text = encodeOperationReport(report)
    expect(Schema.decodeUnknownSync(OperationReport)(JSON.parse(text))).toEqual(report)
    expect(text).toContain('"not_restarted": []')
  })
})

describe("failureReport", () => {
  it("says which instances a stopped roll did and did not restart, with the stderr paragraph", () => {
    const error = new RollStopped({
      service: "tamanu-facility-api",
      instance: "tamanu-facility-api@2",
      cause: "HTTP 503",
      restarted: ["tamanu-facility-api@1"],
      notRestarted: ["tamanu-facility-api@3"],
    })
    const report = failureReport("restart", error, { planText: "roll tamanu-facility-api", elapsedMillis: 70_000 })
    expect(report).toMatchObject({
      command: "restart",
      ok: false,
      plan: ["roll tamanu-facility-api"],
      restarted: ["tamanu-facility-api@1", "tamanu-facility-api@2"],
      not_restarted: ["tamanu-facility-api@3"],
      elapsed_ms: 70_000,
      error: { tag: "RollStopped", message: renderError(error).message },
    })
  })

  it("tags any other error by its _tag, or by its class for a plain Error", () => {
    expect(failureReport("stop", new NeedsRoot({ command: "stop" })).error?.tag).toBe("NeedsRoot")
    expect(failureReport("stop", new RangeError("x")).error?.tag).toBe("RangeError")
    expect(failureReport("stop", "weird").error).toEqual({ tag: "Error", message: renderError("weird").message })
  })

  it("reports the plan and what was done before a failure, as the recorded events said", () => {
    // A roll that finished, then a --check-url that never answered.
    const events = [
      ProgressEvent.PlanComputed({ command: "restart", steps: 2, text: "1. roll tamanu-facility-api\n2. check URL" }),
      ProgressEvent.InstanceRestarting({ instance: "tamanu-facility-api@1", index: 1, total: 2 }),
      ProgressEvent.ProxyReloaded({ reloaded: true, warnings: ["resolvectl flush-caches: not found"] }),
      ProgressEvent.Warning({ message: 'no service matches "fhir"; going on with what matched' }),
      ProgressEvent.ExecutionFailed({
        started: [],
        stopped: [],
        restarted: ["tamanu-facility-api@1", "tamanu-facility-api@2"],
        notRestarted: [],
      }),
    ]
    const recorded = events.reduce(recordEvent, emptyRecord)
    const error = new CheckUrlFailed({ url: "http://127.0.0.1:1/api/", lastError: "connection refused" })
    const { planText, warnings, execution } = recorded
    const report = failureReport("restart", error, { planText: planText ?? "", warnings, execution })
    expect(report).toMatchObject({
      ok: false,
      plan: ["1. roll tamanu-facility-api", "2. check URL"],
      restarted: ["tamanu-facility-api@1", "tamanu-facility-api@2"],
      not_restarted: [],
      warnings: ["resolvectl flush-caches: not found", 'no service matches "fhir"; going on with what matched'],
      error: { tag: "CheckUrlFailed" },
    })
  })

  it("does not list an instance twice when both the events and a stopped roll name it", () => {
    const error = new RollStopped({
      service: "tamanu-facility-api",
      instance: "tamanu-facility-api@2",
      cause: "HTTP 503",
      restarted: ["tamanu-facility-api@1"],
      notRestarted: ["tamanu-facility-api@3"],
    })
    const execution = {
      started: [],
      stopped: [],
      restarted: ["tamanu-facility-api@1", "tamanu-facility-api@2"],
      notRestarted: ["tamanu-facility-api@3"],
    }
    expect(failureReport("restart", error, { execution })).toMatchObject({
      restarted: ["tamanu-facility-api@1", "tamanu-facility-api@2"],
      not_restarted: ["tamanu-facility-api@3"],
    })
  })

  it("keeps nothing from events that say nothing about the result", () => {
    const recorded = [
      ProgressEvent.Info({ message: "waiting for the database" }),
      ProgressEvent.Cooldown({ millis: 10 }),
    ].reduce(recordEvent, emptyRecord)
    expect(recorded).toEqual(emptyRecord)
  })
})

describe("the settle window in the report", () => {
  const ended = {
    instance: "tamanu-facility-sync",
    how: "restarted" as const,
    exit: { _tag: "Killed" as const, signal: "SIGKILL", coreDumped: false },
    lastedMillis: 1234.4,
    lastedExact: false,
    restarts: 2,
  }

  it("one row per instance watched: steady, ended (how, exit code or signal, how long, restarts), unfinished", () => {
    const report = operationReport({
      command: "start",
      ok: false,
      settled: [
        { windowMillis: 5000, result: { _tag: "Steady", instance: "tamanu-facility-tasks" } },
        { windowMillis: 5000, result: { _tag: "EndedInWindow", ended } },
        { windowMillis: 5000, result: { _tag: "Unfinished", instance: "tamanu-fhir-resolve" } },
      ],
      lastLines: [{ instance: "tamanu-facility-sync", lines: ["tamanu-facility-sync | postgres://u:pw@db/x refused"] }],
    })
    const none = { how: null, exit_code: null, signal: null, lasted_ms: null, lasted_exact: null, restarts: null }
    expect(report.settle).toEqual([
      { instance: "tamanu-facility-tasks", window_ms: 5000, result: "steady", ...none },
      {
        instance: "tamanu-facility-sync",
        window_ms: 5000,
        result: "ended",
        how: "restarted",
        exit_code: null,
        signal: "SIGKILL",
        lasted_ms: 1234,
        lasted_exact: false,
        restarts: 2,
      },
      { instance: "tamanu-fhir-resolve", window_ms: 5000, result: "unfinished", ...none },
    ])
    // The unit's own words go through the same redaction as everything else.
    expect(report.last_lines).toEqual([
      { instance: "tamanu-facility-sync", lines: ["tamanu-facility-sync | postgres://u:***@db/x refused"] },
    ])
    expect(() => encodeOperationReport(report)).not.toThrow()
  })

  it("a success's execution carries its settle results; a failure's come from the recorded events", () => {
    expect(
      operationReport({
        command: "start",
        ok: true,
        execution: { settled: [{ windowMillis: 3000, result: { _tag: "Steady", instance: "x" } }] },
      }).settle.map((r) => [r.instance, r.window_ms, r.result]),
    ).toEqual([["x", 3000, "steady"]])
    const recorded = [
      ProgressEvent.Settled({ windowMillis: 5000, results: [{ _tag: "EndedInWindow", ended }] }),
      ProgressEvent.LastLines({ instance: "tamanu-facility-sync", lines: ["a", "b"] }),
    ].reduce(recordEvent, emptyRecord)
    expect(recorded.settled).toEqual([{ windowMillis: 5000, result: { _tag: "EndedInWindow", ended } }])
    expect(recorded.lastLines).toEqual([{ instance: "tamanu-facility-sync", lines: ["a", "b"] }])
    const failed = failureReport("start", new Error("x"), { settled: recorded.settled, lastLines: recorded.lastLines })
    expect(failed.settle[0]).toMatchObject({ result: "ended", signal: "SIGKILL" })
    expect(failed.last_lines).toEqual([{ instance: "tamanu-facility-sync", lines: ["a", "b"] }])
  })
})
