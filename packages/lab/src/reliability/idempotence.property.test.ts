/**
 * Idempotence of the real `start` operation over the fake supervisors: on a
 * canonical Tamanu host in any state, start either makes the host match (and
 * a second start then has nothing to do and makes no call that changes
 * anything), or refuses without changing anything (pm2 processes never
 * registered). Unknown services are never touched.
 */
import { defaults, type HostContext, type StartOptions, start } from "@tamanu-lifecycle/core/internal"
import { FakeSupervisorControl, type JournalEntry } from "@tamanu-lifecycle/testing"
import { Duration, Effect, Exit, TestContext } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { faultWorld, runToEnd } from "./faultWorld.js"
import { type CanonicalHost, canonicalHostArb } from "./hostArbitraries.js"
import { RUNS } from "./runs.js"

const options: StartOptions = {
  names: [],
  ignoreUnmatched: false,
  dryRun: false,
  waitLimit: defaults.waitLimit,
  lockFile: null,
  upOnly: false,
  probeHttp: false,
  probeTimeout: defaults.startProbeTimeout,
  dbWait: Duration.zero,
  logs: false,
}

const mutating = (e: JournalEntry) => !["list", "enabled", "unitFileExists", "logs"].includes(e.method)

const contextOf = (h: CanonicalHost): HostContext => ({
  root: "/opt/tamanu",
  version: "2.30.0",
  config:
    h.facts.fhirWorkerEnabled === null
      ? null
      : { integrations: { fhir: { worker: { enabled: h.facts.fhirWorkerEnabled } } } },
  kind: h.facts.kind,
  fhirWorkerEnabled: h.facts.fhirWorkerEnabled,
})

const scenario = (h: CanonicalHost) =>
  Effect.gen(function* () {
    const control = yield* FakeSupervisorControl
    const first = yield* runToEnd(start(options))
    const afterFirst = (yield* control.journal).filter(mutating).length
    if (Exit.isFailure(first)) {
      // The only refusal a healthy fake host can give: pm2 under-registration, decided before any change.
      expect(JSON.stringify(first.cause)).toContain("PlanRefused")
      expect(afterFirst).toBe(0)
      return "refused" as const
    }
    const second = yield* runToEnd(start(options))
    expect(Exit.isSuccess(second)).toBe(true)
    if (Exit.isSuccess(second)) expect(second.value.nothingToDo).toBe(true)
    expect((yield* control.journal).filter(mutating).length).toBe(afterFirst)
    // Unknown services: neither the fhir workers (no config) nor the portal (DB unreadable) were addressed.
    const touched = (yield* control.journal).filter(mutating).flatMap((e) => e.refs.map((r) => r.name))
    if (h.facts.fhirWorkerEnabled === null) expect(touched.filter((n) => n.includes("fhir"))).toEqual([])
    if (h.facts.patientPortal === null) expect(touched.filter((n) => n.includes("patientportal"))).toEqual([])
    return first.value.nothingToDo ? ("already" as const) : ("fixed" as const)
  }).pipe(
    Effect.provide(
      faultWorld({
        supervisor:
          h.facts.supervisor === "systemd"
            ? {
                systemd: {
                  units: h.units,
                  unitFiles: h.unitFiles,
                  defaults: { upAfter: "2 seconds", downAfter: "1 second" },
                },
              }
            : { pm2: { processes: h.processes, defaults: { upAfter: "2 seconds", downAfter: "1 second" } } },
        host: {
          context: contextOf(h),
          patientPortal: h.facts.patientPortal ?? false,
          dbReachableAfter: h.facts.patientPortal === null ? Duration.infinity : Duration.zero,
        },
      }),
    ),
    Effect.provide(TestContext.TestContext),
  )

describe("start is idempotent on real operations over the fakes", () => {
  it(`start then start again: the second has nothing to do (${RUNS.operation} random hosts)`, async () => {
    const outcomes = { refused: 0, already: 0, fixed: 0 }
    await fc.assert(
      fc.asyncProperty(canonicalHostArb, async (h) => {
        outcomes[await Effect.runPromise(scenario(h))]++
      }),
      { numRuns: RUNS.operation },
    )
    // The generator reaches every branch, or the property proves less than it says.
    expect(outcomes.fixed).toBeGreaterThan(0)
    expect(outcomes.refused).toBeGreaterThan(0)
  }, 120_000)
})
