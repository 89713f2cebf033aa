/**
 * `stop` end to end over the fake supervisors (spec §6): one batched stop of
 * the running Up instances, Caddy untouched, Down and Unknown left alone.
 */
import { describe, expect, it } from "@effect/vitest"
import { stop } from "@tamanu-lifecycle/core/internal"
import { Duration, Effect } from "effect"
import { FakeReverseProxyControl } from "../index.js"
import {
  centralContext,
  centralUnits,
  displayName,
  facilityContext,
  facilityInstanceNames,
  facilityUnitFiles,
  facilityUnits,
  mutatingCalls,
  pm2FacilityProcesses,
  runningNow,
  settle,
  stopOptions,
  world,
} from "./hosts.js"

describe("stop", () => {
  it.effect("systemd: every running instance in one batched Stop, then all are stopped", () =>
    Effect.gen(function* () {
      const result = yield* settle(stop(stopOptions()))
      const calls = yield* mutatingCalls
      expect(calls.map((c) => c.method)).toEqual(["stop"])
      expect(calls[0]?.refs.map(displayName)).toEqual(facilityInstanceNames)
      expect(yield* runningNow).toEqual([])
      expect(result.execution?.stopped.length).toBe(6)
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            systemd: { units: facilityUnits(), unitFiles: facilityUnitFiles, defaults: { downAfter: "3 seconds" } },
          },
          host: { context: facilityContext },
        }),
      ),
    ),
  )

  it.effect("pm2: every running process in one batched stop", () =>
    Effect.gen(function* () {
      yield* settle(stop(stopOptions()))
      const calls = yield* mutatingCalls
      expect(calls.map((c) => c.method)).toEqual(["stop"])
      expect(calls[0]?.refs.map(displayName)).toEqual(["tamanu-tasks#0", "tamanu-api#1", "tamanu-sync#3"])
      expect(yield* runningNow).toEqual([])
    }).pipe(
      Effect.provide(
        world({
          supervisor: { pm2: { processes: pm2FacilityProcesses({ "tamanu-api#2": { running: false } }) } },
          host: { context: facilityContext },
        }),
      ),
    ),
  )

  it.effect("Caddy is not touched, even when behind-Caddy services stop", () =>
    Effect.gen(function* () {
      yield* settle(stop(stopOptions({ names: ["api", "frontend"] })))
      expect((yield* mutatingCalls).length).toBe(1)
      expect(yield* (yield* FakeReverseProxyControl).reloads).toEqual([])
    }).pipe(
      Effect.provide(
        world({ supervisor: { systemd: { units: facilityUnits() } }, host: { context: facilityContext } }),
      ),
    ),
  )

  it.effect(
    "Down and Unknown services are left alone: a forbidden FHIR worker and an unknown portal keep running",
    () =>
      Effect.gen(function* () {
        const result = yield* settle(stop(stopOptions()))
        expect(yield* runningNow).toEqual(["tamanu-central-fhir-resolve", "tamanu-patientportal"])
        expect(result.warnings.some((w) => w.includes("tamanu-patientportal"))).toBe(true)
      }).pipe(
        Effect.provide(
          world({
            supervisor: {
              systemd: {
                units: [
                  ...centralUnits(),
                  { name: "tamanu-central-fhir-resolve", running: true, enabled: true },
                  { name: "tamanu-patientportal", running: true, enabled: true },
                ],
              },
            },
            host: { context: centralContext(false), dbReachableAfter: Duration.infinity },
          }),
        ),
      ),
  )

  it.effect("pm2, nothing running: nothing to do and no stop call", () =>
    Effect.gen(function* () {
      const result = yield* settle(stop(stopOptions()))
      expect(result.nothingToDo).toBe(true)
      expect(yield* mutatingCalls).toEqual([])
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            pm2: {
              processes: pm2FacilityProcesses({
                "tamanu-tasks#0": { running: false },
                "tamanu-api#1": { running: false },
                "tamanu-api#2": { running: false },
                "tamanu-sync#3": { running: false },
              }),
            },
          },
          host: { context: facilityContext },
        }),
      ),
    ),
  )

  it.effect("nothing running: nothing to do, no stop call and no root needed", () =>
    Effect.gen(function* () {
      const result = yield* settle(stop(stopOptions()))
      expect(result.nothingToDo).toBe(true)
      expect(yield* mutatingCalls).toEqual([])
    }).pipe(
      Effect.provide(
        world({
          supervisor: {
            systemd: {
              units: facilityUnits({
                "tamanu-facility-tasks": { running: false },
                "tamanu-frontend@a": { running: false },
                "tamanu-frontend@b": { running: false },
                "tamanu-facility-api@1": { running: false },
                "tamanu-facility-api@2": { running: false },
                "tamanu-facility-sync": { running: false },
              }),
            },
          },
          host: { context: facilityContext },
          root: false,
        }),
      ),
    ),
  )
})
