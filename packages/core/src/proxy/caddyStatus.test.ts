import { describe, expect, it } from "vitest"
import type { ServiceEndpoints } from "./caddyConfig.js"
import { caddyStatus, pinsGraceMillis, pinsProblem } from "./caddyStatus.js"
import type { ProxyView } from "./ReverseProxy.js"

const services: ReadonlyArray<ServiceEndpoints> = [
  {
    service: "tamanu-facility-api",
    endpoints: [
      { instance: "tamanu-facility-api@1", url: "http://10.89.0.5:3000/" },
      { instance: "tamanu-facility-api@2", url: "http://10.89.0.6:3000/" },
    ],
  },
  { service: "tamanu-api", endpoints: [{ instance: "tamanu-api#0", url: "http://127.0.0.1:3001/" }] },
]

const view = (routes: ProxyView["routes"], pending: ProxyView["pending"] = null): ProxyView => ({
  mode: "admin",
  adminUrl: "http://localhost:2019",
  reason: null,
  routes,
  pending,
})

describe("caddyStatus: Caddy's routes against the running instances", () => {
  it("names the instance at each address, loopback spellings alike, and flags an address none has", () => {
    const status = caddyStatus(
      view([
        {
          service: "tamanu-facility-api",
          handlers: [
            { handler: "h1", source: "static", addresses: ["10.89.0.5:3000", "10.89.0.9:3000"], refreshMillis: null },
          ],
        },
        {
          service: "tamanu-api",
          handlers: [{ handler: "h2", source: "static", addresses: ["localhost:3001"], refreshMillis: null }],
        },
      ]),
      services,
    )
    expect(status.routes.map((r) => r.addresses)).toEqual([
      [
        { address: "10.89.0.5:3000", instance: "tamanu-facility-api@1" },
        { address: "10.89.0.9:3000", instance: null },
      ],
      [{ address: "localhost:3001", instance: "tamanu-api#0" }],
    ])
    expect(status.stale).toBe(true)
    expect(status.note).toBeNull()
  })

  it("dynamic a: says the answer may lag by the refresh; nothing stale when every address has an instance", () => {
    const status = caddyStatus(
      view([
        {
          service: "tamanu-facility-api",
          handlers: [
            {
              handler: "h1",
              source: "dynamic a api.facility.tamanu.internal:3000",
              addresses: ["10.89.0.5:3000", "10.89.0.6:3000"],
              refreshMillis: 60_000,
            },
          ],
        },
      ]),
      services,
    )
    expect(status.stale).toBe(false)
    expect(status.note).toContain("up to 1m")
  })

  it("an unfinished restore is shown with its times; a service without a recognised handler is noted", () => {
    const status = caddyStatus(
      view([{ service: "tamanu-facility-api", handlers: [] }], { since: 0, dueAt: 62_000, handlers: ["h1"] }),
      services,
    )
    expect(status.restore_pending).toEqual({ since: "1970-01-01T00:00:00.000Z", due_at: "1970-01-01T00:01:02.000Z" })
    expect(status.note).toContain("no reverse_proxy tamanu recognises for tamanu-facility-api")
  })

  it("without the admin API: not reachable, with the reason, and no routes", () => {
    expect(
      caddyStatus(
        { ...view([]), mode: "reload", reason: "GET http://localhost:2019/config/: connection refused" },
        services,
      ),
    ).toMatchObject({ reachable: false, routes: [], stale: false, note: expect.stringContaining("connection refused") })
  })
})

describe("pinsProblem: when status must fail over tamanu's pins (issue #25)", () => {
  const pinnedTo = (addresses: ReadonlyArray<string>) =>
    caddyStatus(
      view(
        [
          {
            service: "tamanu-facility-api",
            handlers: [{ handler: "h1", source: "static", addresses, refreshMillis: null }],
          },
        ],
        { since: 0, dueAt: 62_000, handlers: ["h1"] },
      ),
      services,
    )

  it("none while the pins are not past due and name instances that run", () => {
    expect(pinsProblem(pinnedTo(["10.89.0.5:3000"]), 62_000 + pinsGraceMillis)).toBeNull()
    expect(pinsProblem(null, 1e12)).toBeNull()
  })

  it("pins past their due time (beyond the scheduled restore's grace): says what to run", () => {
    const problem = pinsProblem(pinnedTo(["10.89.0.5:3000"]), 62_001 + pinsGraceMillis)
    expect(problem).toContain("past their due time (1970-01-01T00:01:02.000Z)")
    expect(problem).toContain("run `tamanu start`")
  })

  it("a pin naming an address no running instance has, at once", () => {
    const problem = pinsProblem(pinnedTo(["10.89.0.5:3000", "10.89.0.9:3000"]), 1_000)
    expect(problem).toContain("tamanu-facility-api → 10.89.0.9:3000")
    expect(problem).toContain("run `tamanu start`")
  })

  it("Caddy's own config (nothing pending) is never tamanu's problem, stale DNS answers or not", () => {
    const own = caddyStatus(
      view([
        {
          service: "tamanu-facility-api",
          handlers: [{ handler: "h1", source: "static", addresses: ["10.89.0.9:3000"], refreshMillis: null }],
        },
      ]),
      services,
    )
    expect(own.stale).toBe(true)
    expect(pinsProblem(own, 1e12)).toBeNull()
  })

  it("addresses not matched to instances (a run that cannot see them) are no proof of a dead pin", () => {
    const unseen = caddyStatus(
      view(
        [
          {
            service: "tamanu-facility-api",
            handlers: [{ handler: "h1", source: "static", addresses: ["10.89.0.9:3000"], refreshMillis: null }],
          },
        ],
        { since: 0, dueAt: 62_000, handlers: ["h1"] },
      ),
      services,
      "not root",
    )
    expect(pinsProblem(unseen, 1_000)).toBeNull()
  })
})
