import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  dialsFor,
  type Endpoint,
  handlersByService,
  type Json,
  jsonEqual,
  proxyHandlers,
  type ServiceEndpoints,
} from "./caddyConfig.js"
import { type Desired, freshState, nextLoad, type RoutingState, restoreDueAt, restorePending } from "./routing.js"

/** Caddy's own config on a Tamanu Linux host: one dynamic a handler per service (refresh 1 m, try 1 s). */
const linuxConfig: Json = {
  apps: {
    http: {
      servers: {
        srv0: {
          routes: ["api.facility.tamanu.internal", "frontend.tamanu.internal"].map((name) => ({
            handle: [
              {
                handler: "reverse_proxy",
                dynamic_upstreams: { source: "a", name, port: "3000" },
                load_balancing: { try_duration: 1_000_000_000 },
              },
            ],
          })),
        },
      },
    },
  },
}

const endpoint = (service: "api" | "frontend", n: number, generation = 1): Endpoint => ({
  instance: service === "api" ? `tamanu-facility-api@${n}` : `tamanu-frontend@${n}`,
  url: `http://10.89.${generation}.${service === "api" ? n : 100 + n}:3000/`,
})

const services: ReadonlyArray<ServiceEndpoints> = [
  { service: "tamanu-facility-api", endpoints: [endpoint("api", 1), endpoint("api", 2)] },
  { service: "tamanu-frontend", endpoints: [endpoint("frontend", 1), endpoint("frontend", 2)] },
]
const handlers = handlersByService(proxyHandlers(linuxConfig), services)

const routedDials = (config: Json, service: string): ReadonlyArray<string> | "own" => {
  const original = handlers.get(service)?.[0]
  const now = proxyHandlers(config).find((h) => JSON.stringify(h.path) === JSON.stringify(original?.path))
  return now?.upstreams._tag === "Static" ? now.upstreams.dials : "own"
}

const apply = (state: RoutingState, desired: ReadonlyArray<Desired>, at: number): RoutingState =>
  nextLoad(state, handlers, services, desired).commit(at)

describe("nextLoad and restoreDueAt, step by step through a roll", () => {
  it("the first drain pins every service; each later drain moves one address; the restore waits refresh + 2 s after the first", () => {
    let state = freshState(linuxConfig)
    expect(restorePending(state)).toBe(false)

    // t=0: drain api@1; the frontend is pinned at its current addresses in the same load.
    const first = nextLoad(state, handlers, services, [
      { service: "tamanu-facility-api", endpoints: [endpoint("api", 2)], draining: true },
      { service: "tamanu-frontend", endpoints: services[1]!.endpoints, draining: false },
    ])
    expect(first.load).toBe(true)
    expect(first.changes.map((c) => c.service)).toEqual(["tamanu-facility-api", "tamanu-frontend"])
    state = first.commit(0)
    expect(routedDials(state.current, "tamanu-facility-api")).toEqual(["10.89.1.2:3000"])
    expect(routedDials(state.current, "tamanu-frontend")).toEqual(["10.89.1.101:3000", "10.89.1.102:3000"])
    expect(restoreDueAt(state)).toBe(62_000)

    // t=5 s: api@1 back at a new address, drain api@2.
    state = apply(state, [{ service: "tamanu-facility-api", endpoints: [endpoint("api", 1, 2)], draining: true }], 5000)
    expect(routedDials(state.current, "tamanu-facility-api")).toEqual(["10.89.2.1:3000"])
    // The api's clock still runs from its first pin.
    expect(restoreDueAt(state)).toBe(62_000)

    // t=10 s: api done; drain frontend@1: the frontend's pin is from t=0, so nothing moves the due time.
    state = apply(
      state,
      [
        { service: "tamanu-facility-api", endpoints: [endpoint("api", 1, 2), endpoint("api", 2, 2)], draining: false },
        { service: "tamanu-frontend", endpoints: [endpoint("frontend", 2)], draining: true },
      ],
      10_000,
    )
    expect(restoreDueAt(state)).toBe(62_000)
    expect(restorePending(state)).toBe(true)
    expect(jsonEqual(state.original, linuxConfig)).toBe(true)
  })

  it("nothing drained (start): the restore is due at once", () => {
    const state = apply(
      freshState(linuxConfig),
      [{ service: "tamanu-frontend", endpoints: [endpoint("frontend", 1)], draining: false }],
      1000,
    )
    expect(restorePending(state)).toBe(true)
    expect(restoreDueAt(state)).toBe(Number.NEGATIVE_INFINITY)
  })

  it("a service drained while it had no other instance (a singleton) starts its clock stale when it is first pinned", () => {
    const single: ReadonlyArray<ServiceEndpoints> = [
      { service: "tamanu-frontend", endpoints: [endpoint("frontend", 1)] },
    ]
    const singleHandlers = handlersByService(proxyHandlers(linuxConfig), single)
    let state = nextLoad(freshState(linuxConfig), singleHandlers, single, [
      { service: "tamanu-frontend", endpoints: [], draining: true },
    ]).commit(0)
    expect(jsonEqual(state.current, linuxConfig)).toBe(true)
    expect(state.staledServices).toEqual(["tamanu-frontend"])
    state = nextLoad(state, singleHandlers, single, [
      { service: "tamanu-frontend", endpoints: [endpoint("frontend", 1, 2)], draining: false },
    ]).commit(4000)
    expect(state.staledServices).toEqual([])
    expect(restoreDueAt(state)).toBe(4000 + 62_000)
  })

  it("asking for what Caddy already runs loads nothing", () => {
    const state = apply(
      freshState(linuxConfig),
      [{ service: "tamanu-facility-api", endpoints: [endpoint("api", 2)], draining: true }],
      0,
    )
    const again = nextLoad(state, handlers, services, [
      { service: "tamanu-facility-api", endpoints: [endpoint("api", 2)], draining: true },
    ])
    expect(again.load).toBe(false)
    expect(again.changes).toEqual([])
  })
})

describe("nextLoad properties", () => {
  const endpointsArb = (service: "api" | "frontend") =>
    fc
      .subarray(
        [1, 2, 3].map((n) => n),
        { minLength: 0, maxLength: 3 },
      )
      .chain((ns) => fc.constant(ns.map((n) => endpoint(service, n, 1 + (n % 2)))))
  const stepArb = fc.record({
    api: endpointsArb("api"),
    frontend: endpointsArb("frontend"),
    drainApi: fc.boolean(),
    drainFrontend: fc.boolean(),
    gap: fc.integer({ min: 0, max: 90_000 }),
  })

  it("every load routes each service to exactly its desired addresses (or leaves it alone when there are none), never changes the original, and the restore is never due before refresh after a drained pin", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 8 }), (steps) => {
        let state = freshState(linuxConfig)
        let now = 0
        const drainedPins: Array<number> = []
        for (const step of steps) {
          now += step.gap
          const desired: ReadonlyArray<Desired> = [
            { service: "tamanu-facility-api", endpoints: step.api, draining: step.drainApi },
            { service: "tamanu-frontend", endpoints: step.frontend, draining: step.drainFrontend },
          ]
          const before = state
          state = nextLoad(state, handlers, services, desired).commit(now)
          for (const want of desired) {
            const handler = handlers.get(want.service)?.[0]
            if (handler === undefined) continue
            const dials = routedDials(state.current, want.service)
            if (want.endpoints.length > 0)
              expect(dials).toEqual(
                dialsFor(handler, services.find((s) => s.service === want.service)!, want.endpoints),
              )
            else expect(dials).toEqual(routedDials(before.current, want.service))
          }
          expect(jsonEqual(state.original, linuxConfig)).toBe(true)
          for (const [key, clock] of Object.entries(state.clocks)) {
            if (clock.staled && before.clocks[key]?.staled !== true) drainedPins.push(clock.swappedAt)
          }
        }
        for (const pin of drainedPins) expect(restoreDueAt(state)).toBeGreaterThanOrEqual(pin + 60_000)
      }),
      { numRuns: 500 },
    )
  })
})
