import { describe, expect, it } from "@effect/vitest"
import { type Endpoint, Progress, ReverseProxy } from "@tamanu-lifecycle/core/internal"
import { Effect, Layer, TestClock } from "effect"
import { FakeReadiness, fakeUrlAt } from "../probe/FakeProbeTargets.js"
import { FakeSupervisorControl } from "../supervisor/FakeSupervisor.js"
import { FakeSystemd } from "../supervisor/systemd.js"
import { FakeCaddyControl } from "./FakeCaddy.js"
import { FakeReverseProxy, type FakeReverseProxyConfig, FakeReverseProxyControl } from "./FakeReverseProxy.js"

const api = (suffix: string) => ({ name: "tamanu-facility-api", suffix, pmId: null })
const dial = (url: string) => new URL(url).host

/** Two API instances on a fake systemd with podman-like addresses, behind the fake Caddy. */
const world = (caddy: FakeReverseProxyConfig = {}) =>
  FakeReverseProxy.layer({ services: ["tamanu-facility-api"], ...caddy }).pipe(
    Layer.merge(Progress.Silent),
    Layer.provideMerge(
      FakeReadiness.layer([{ instance: api("1") }, { instance: api("2") }], { addresses: "per-start" }),
    ),
    Layer.provideMerge(
      FakeSystemd.layer({
        units: [
          { name: "tamanu-facility-api", suffix: "1", running: true, enabled: true },
          { name: "tamanu-facility-api", suffix: "2", running: true, enabled: true },
        ],
      }),
    ),
  )

const endpoint = (suffix: string, generation: number): Endpoint => ({
  instance: `tamanu-facility-api@${suffix}`,
  url: fakeUrlAt(api(suffix), generation),
})

describe("the fake Caddy (FakeReverseProxy over FakeCaddy)", () => {
  it.scoped("dynamic a: a restarted instance's old address stays routed until the cached answer is a minute old", () =>
    Effect.gen(function* () {
      const caddy = yield* FakeCaddyControl
      const supervisor = yield* FakeSupervisorControl
      const before = [dial(fakeUrlAt(api("1"), 1)), dial(fakeUrlAt(api("2"), 1))]
      expect(yield* caddy.routedTo("tamanu-facility-api")).toEqual(before)
      yield* supervisor.crash(api("1"))
      yield* TestClock.adjust("59 seconds")
      // Caddy's cache still answers the old address, as the real one does.
      expect(yield* caddy.routedTo("tamanu-facility-api")).toEqual(before)
      yield* TestClock.adjust("1 second")
      expect(yield* caddy.routedTo("tamanu-facility-api")).toEqual([dial(fakeUrlAt(api("2"), 1))])
    }).pipe(Effect.provide(world())),
  )

  it.scoped("a session routes statically, and puts Caddy's own config back only once the cache cannot be stale", () =>
    Effect.gen(function* () {
      const caddy = yield* FakeCaddyControl
      const proxy = yield* ReverseProxy
      const service = { service: "tamanu-facility-api", endpoints: [endpoint("1", 1), endpoint("2", 1)] }
      const session = yield* proxy.open([service])
      expect(session.mode).toBe("admin")
      yield* session.route([{ service: service.service, endpoints: [endpoint("2", 1)], draining: true }])
      expect(yield* caddy.routedTo("tamanu-facility-api")).toEqual([dial(fakeUrlAt(api("2"), 1))])
      const restoring = yield* Effect.fork(session.restore([{ ...service, draining: false }], () => Effect.succeed([])))
      yield* TestClock.adjust("30 seconds")
      expect((yield* caddy.loads).length).toBe(2)
      yield* TestClock.adjust("40 seconds")
      yield* restoring.await
      const loads = yield* caddy.loads
      // Drain, the final routes, then Caddy's own config: 60 s refresh + 2 s margin after the first.
      expect(loads.length).toBe(3)
      expect(loads[2]?.config).toEqual(yield* caddy.ownConfig)
      expect((loads[2]?.at ?? 0) - (loads[0]?.at ?? 0)).toBe(62_000)
    }).pipe(Effect.provide(world())),
  )

  it.scoped("without the admin API, the old way: a recorded reload when an address was added", () =>
    Effect.gen(function* () {
      const proxy = yield* ReverseProxy
      const control = yield* FakeReverseProxyControl
      const service = { service: "tamanu-facility-api", endpoints: [endpoint("1", 1), endpoint("2", 1)] }
      const session = yield* proxy.open([service])
      expect(session.mode).toBe("reload")
      yield* session.route([{ service: service.service, endpoints: [endpoint("2", 1)], draining: true }])
      expect(yield* control.reloads).toEqual([])
      yield* TestClock.adjust("3 seconds")
      yield* session.route([{ service: service.service, endpoints: [endpoint("1", 2)], draining: true }])
      expect((yield* control.reloads).map((r) => r.at)).toEqual([3000])
    }).pipe(Effect.provide(world({ reachable: false }))),
  )
})
