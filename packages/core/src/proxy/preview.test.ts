import { describe, expect, it } from "vitest"
import { makePlan } from "../plan/Plan.js"
import type { ServiceEndpoints } from "./caddyConfig.js"
import { renderProxyPreview } from "./preview.js"
import type { ProxyView } from "./ReverseProxy.js"

const ref = (name: string, suffix: string) => ({ name, suffix, pmId: null })
const services: ReadonlyArray<ServiceEndpoints> = [
  {
    service: "tamanu-facility-api",
    endpoints: [
      { instance: "tamanu-facility-api@1", url: "http://10.89.0.5:3000/" },
      { instance: "tamanu-facility-api@2", url: "http://10.89.0.6:3000/" },
    ],
  },
]
const admin: ProxyView = {
  mode: "admin",
  adminUrl: "http://127.0.0.1:2019",
  reason: null,
  routes: [
    {
      service: "tamanu-facility-api",
      handlers: [
        { handler: "h", source: "dynamic a api.facility.tamanu.internal:3000", addresses: [], refreshMillis: 60_000 },
      ],
    },
  ],
  pending: null,
}
const roll = makePlan(
  "restart",
  [
    {
      _tag: "Roll",
      service: "tamanu-facility-api",
      instances: [ref("tamanu-facility-api", "1"), ref("tamanu-facility-api", "2")],
      behindCaddy: true,
      probe: true,
    },
    { _tag: "RestoreProxy", probe: true },
  ],
  [],
)

describe("renderProxyPreview: what --dry-run says about Caddy", () => {
  it("admin API: each load in order with the addresses, new ones named, then the restore and its wait", () => {
    expect(renderProxyPreview(roll, admin, services)).toEqual([
      "Caddy: through its admin API (http://127.0.0.1:2019), one config load per change:",
      "  1. before tamanu-facility-api@1 goes down: tamanu-facility-api → 10.89.0.6:3000 (tamanu-facility-api@2)",
      "  2. before tamanu-facility-api@2 goes down: tamanu-facility-api → tamanu-facility-api@1's new address (tamanu-facility-api@1)",
      "  3. every instance's new address, then Caddy's own config back no sooner than 1m + a margin after load 1 (its dynamic a cache may name an address taken down until then)",
    ])
  })

  it("no admin API: the old way, said once", () => {
    const lines = renderProxyPreview(roll, { ...admin, mode: "reload", reason: "connection refused" }, services)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("the old way")
    expect(lines[0]).toContain("connection refused")
  })
})
