import * as fs from "node:fs"
import { Either, Option } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  adminUrlFromAddress,
  caddyDurationMillis,
  caddyfileAdmin,
  describePath,
  dialsFor,
  handlerServes,
  isNameDial,
  type Json,
  jsonEqual,
  namePinnable,
  type ProxyHandler,
  parseDial,
  pinResolvers,
  proxyHandlers,
  type ServiceEndpoints,
  sameAddress,
  urlAddress,
  withStaticUpstreams,
} from "./caddyConfig.js"

/** `caddy adapt` of testdata/linux-and-windows.Caddyfile by Caddy 2.6.2 (the shape Tamanu hosts run). */
const adapted = JSON.parse(
  fs.readFileSync(new URL("./testdata/linux-and-windows.caddy-2.6.2.json", import.meta.url), "utf8"),
) as Json

const api: ServiceEndpoints = {
  service: "tamanu-facility-api",
  endpoints: [
    { instance: "tamanu-facility-api@1", url: "http://10.89.51.5:3000/" },
    { instance: "tamanu-facility-api@2", url: "http://10.89.51.6:3000/" },
  ],
}
const pm2Api: ServiceEndpoints = {
  service: "tamanu-api",
  endpoints: [
    { instance: "tamanu-api#0", url: "http://127.0.0.1:3001/" },
    { instance: "tamanu-api#1", url: "http://127.0.0.1:3002/" },
  ],
}

describe("caddyDurationMillis: Caddy's JSON durations", () => {
  it.each([
    [1_000_000_000, 1000],
    [60_000_000_000, 60_000],
    [0, 0],
    ["1m", 60_000],
    ["500ms", 500],
    ["1m30s", 90_000],
    ["1.5s", 1500],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["0", 0],
    ["250us", 0.25],
  ] as const)("%j is %d ms", (input, millis) => {
    expect(caddyDurationMillis(input)).toEqual(Option.some(millis))
  })

  it.each([["", null, -1, "1x", "m", "1 m", true, {}]])("%j is not a duration", (...inputs) => {
    for (const input of inputs) expect(Option.isNone(caddyDurationMillis(input as Json))).toBe(true)
  })
})

describe("proxyHandlers: every reverse_proxy in a live config", () => {
  const handlers = proxyHandlers(adapted)

  it("finds the dynamic a handlers nested in subroutes and the static one, with their settings", () => {
    expect(handlers.map((h) => h.upstreams)).toEqual([
      {
        _tag: "DynamicA",
        name: "api.facility.tamanu.internal",
        port: "3000",
        refreshMillis: 60_000,
        resolvers: ["udp/10.89.51.1:53"],
      },
      {
        _tag: "DynamicA",
        name: "frontend.tamanu.internal",
        port: "3000",
        refreshMillis: 30_000,
        resolvers: ["udp/10.89.51.1:53"],
      },
      { _tag: "Static", dials: ["localhost:3001", "localhost:3002"] },
    ])
    expect(handlers.map((h) => h.tryDurationMillis)).toEqual([1000, 0, 2000])
  })

  it("paths lead back to the handler", () => {
    expect(describePath(handlers[0]?.path ?? [])).toBe(
      "apps.http.servers.srv0.routes[0].handle[0].routes[0].handle[0].routes[0].handle[0]",
    )
  })

  it("other sources are seen but never changed", () => {
    const config: Json = {
      handle: [
        { handler: "reverse_proxy", dynamic_upstreams: { source: "srv", name: "_api._tcp.example" } },
        { handler: "reverse_proxy", dynamic_upstreams: { source: "a", name: "{http.request.host}", port: "80" } },
      ],
    }
    expect(proxyHandlers(config).map((h) => h.upstreams._tag)).toEqual(["Other", "Other"])
    expect(proxyHandlers(null)).toEqual([])
  })
})

describe("which handler routes to which service", () => {
  const [apiHandler, frontendHandler, staticHandler] = proxyHandlers(adapted) as [
    ProxyHandler,
    ProxyHandler,
    ProxyHandler,
  ]

  it("dynamic a: by the service's network alias, whatever its case or a trailing dot", () => {
    expect(handlerServes(apiHandler, api)).toBe(true)
    expect(handlerServes(frontendHandler, api)).toBe(false)
    expect(handlerServes(frontendHandler, { service: "tamanu-frontend", endpoints: [] })).toBe(true)
    const dotted: ProxyHandler = {
      ...apiHandler,
      upstreams: {
        ...(apiHandler.upstreams as Extract<ProxyHandler["upstreams"], { _tag: "DynamicA" }>),
        name: "API.Facility.Tamanu.Internal.",
      },
    }
    expect(handlerServes(dotted, api)).toBe(true)
  })

  it("static: by an instance's address, localhost and 127.0.0.1 alike", () => {
    expect(handlerServes(staticHandler, pm2Api)).toBe(true)
    expect(handlerServes(staticHandler, api)).toBe(false)
  })

  it("dialsFor: dynamic a gets each endpoint's address on the handler's port", () => {
    expect(dialsFor(apiHandler, api, [api.endpoints[1]!])).toEqual(["10.89.51.6:3000"])
  })

  it("dialsFor: static keeps its own spelling for each endpoint, and dials that are no instance of the service", () => {
    const mixed: ProxyHandler = {
      ...staticHandler,
      upstreams: { _tag: "Static", dials: ["localhost:3001", "localhost:3002", "backup:9000"] },
    }
    expect(dialsFor(mixed, pm2Api, [pm2Api.endpoints[1]!])).toEqual(["backup:9000", "localhost:3002"])
  })
})

describe("withStaticUpstreams", () => {
  const handlers = proxyHandlers(adapted)

  it("drops dynamic_upstreams and sets exactly these dials, leaving the rest of the handler as it was", () => {
    const path = handlers[0]?.path ?? []
    const changed = withStaticUpstreams(adapted, path, ["10.89.51.6:3000"])
    const handler = proxyHandlers(changed)[0]
    expect(handler?.upstreams).toEqual({ _tag: "Static", dials: ["10.89.51.6:3000"] })
    expect(handler?.tryDurationMillis).toBe(1000)
    expect(jsonEqual(adapted, changed)).toBe(false)
  })

  it("changes nothing but that handler (property over every handler and dial list)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: handlers.length - 1 }),
        fc.array(
          fc.ipV4().map((ip) => `${ip}:3000`),
          { minLength: 1, maxLength: 4 },
        ),
        (index, dials) => {
          const target = handlers[index]!
          const changed = withStaticUpstreams(adapted, target.path, dials)
          const after = proxyHandlers(changed)
          expect(after.length).toBe(handlers.length)
          after.forEach((h, i) => {
            if (i === index) expect(h.upstreams).toEqual({ _tag: "Static", dials })
            else expect(h).toEqual(handlers[i])
          })
          // Putting the original back is exact.
          expect(jsonEqual(withStaticUpstreams(changed, target.path, dials), changed)).toBe(true)
        },
      ),
      { numRuns: 300 },
    )
  })

  it("keeps a static upstream's own settings for the dials it keeps", () => {
    const config: Json = {
      handle: [{ handler: "reverse_proxy", upstreams: [{ dial: "a:1", max_requests: 5 }, { dial: "b:1" }] }],
    }
    expect(withStaticUpstreams(config, ["handle", 0], ["a:1"])).toEqual({
      handle: [{ handler: "reverse_proxy", upstreams: [{ dial: "a:1", max_requests: 5 }] }],
    })
  })
})

describe("addresses", () => {
  it.each([
    ["10.89.0.5:3000", { host: "10.89.0.5", port: "3000" }],
    ["tcp/localhost:3001", { host: "localhost", port: "3001" }],
    ["[::1]:3000", { host: "::1", port: "3000" }],
    [":2019", { host: "", port: "2019" }],
  ] as const)("parseDial(%s)", (dial, expected) => {
    expect(parseDial(dial)).toEqual(Option.some(expected))
  })

  it.each(["unix//run/caddy.sock", "localhost", "a:b"])("parseDial(%s) is none", (dial) => {
    expect(Option.isNone(parseDial(dial))).toBe(true)
  })

  it("loopback spellings are one address; ports must match", () => {
    const a = { host: "localhost", port: "3000" }
    expect(sameAddress(a, { host: "127.0.0.1", port: "3000" })).toBe(true)
    expect(sameAddress(a, { host: "::1", port: "3000" })).toBe(true)
    expect(sameAddress(a, { host: "127.0.0.1", port: "3001" })).toBe(false)
    expect(sameAddress({ host: "10.0.0.1", port: "1" }, { host: "10.0.0.2", port: "1" })).toBe(false)
  })

  it("urlAddress", () => {
    expect(urlAddress("http://[fd00::5]:3000/")).toEqual(Option.some({ host: "fd00::5", port: "3000" }))
    expect(urlAddress("https://x.test/")).toEqual(Option.some({ host: "x.test", port: "443" }))
    expect(Option.isNone(urlAddress("not a url"))).toBe(true)
  })
})

describe("the admin address from a Caddyfile", () => {
  it.each([
    ["{\n\tadmin 127.0.0.1:2020\n}\nexample.com {\n}\n", { _tag: "Address", address: "127.0.0.1:2020" }],
    ["{\n  admin off\n}\n", { _tag: "Off" }],
    ["{\n\tadmin :2019 {\n\t\torigins localhost\n\t}\n}\n", { _tag: "Address", address: ":2019" }],
    ["{\n\tadmin {\n\t\torigins localhost\n\t}\n}\n", { _tag: "Default" }],
    [
      "# comment\n{\n\temail a@b # trailing\n\tadmin unix//run/caddy.sock\n}\n",
      { _tag: "Address", address: "unix//run/caddy.sock" },
    ],
    ["example.com {\n\tadmin off\n}\n", { _tag: "Default" }],
    ["{\n\tservers {\n\t\tadmin x\n\t}\n}\n", { _tag: "Default" }],
    ["", { _tag: "Default" }],
  ] as const)("%j", (text, expected) => {
    expect(caddyfileAdmin(text)).toEqual(expected)
  })

  it.each([
    ["localhost:2019", Either.right("http://localhost:2019")],
    [":2019", Either.right("http://localhost:2019")],
    ["127.0.0.1:2020", Either.right("http://127.0.0.1:2020")],
    ["tcp/localhost:2019", Either.right("http://localhost:2019")],
    ["http://127.0.0.1:2019/", Either.right("http://127.0.0.1:2019")],
    ["[::1]:2019", Either.right("http://[::1]:2019")],
  ] as const)("adminUrlFromAddress(%s)", (address, expected) => {
    expect(adminUrlFromAddress(address)).toEqual(expected)
  })

  it("a unix socket or garbage is a reason, not a URL", () => {
    expect(Either.isLeft(adminUrlFromAddress("unix//run/caddy.sock"))).toBe(true)
    expect(Either.isLeft(adminUrlFromAddress("nonsense"))).toBe(true)
  })
})

describe("pins by name: a pinned instance may restart", () => {
  const handlers = proxyHandlers(adapted)
  const [apiHandler, , staticHandler] = handlers as [ProxyHandler, ProxyHandler, ProxyHandler]
  const named: ServiceEndpoints = {
    service: api.service,
    endpoints: [
      { ...api.endpoints[0]!, dnsName: "tamanu-facility-api-1" },
      { ...api.endpoints[1]!, dnsName: "tamanu-facility-api-2" },
    ],
  }

  it("a dynamic a handler with its own resolvers and no other transport pins by name; static and resolver-less ones do not", () => {
    expect(namePinnable(apiHandler)).toBe(true)
    expect(namePinnable(staticHandler)).toBe(false)
    const systemResolvers: ProxyHandler = {
      ...apiHandler,
      upstreams: {
        ...(apiHandler.upstreams as Extract<ProxyHandler["upstreams"], { _tag: "DynamicA" }>),
        resolvers: [],
      },
    }
    expect(namePinnable(systemResolvers)).toBe(false)
    expect(namePinnable({ ...apiHandler, transport: "http" })).toBe(true)
    expect(namePinnable({ ...apiHandler, transport: "fastcgi" })).toBe(false)
    expect(dialsFor({ ...apiHandler, transport: "fastcgi" }, named, named.endpoints)).toEqual([
      "10.89.51.5:3000",
      "10.89.51.6:3000",
    ])
  })

  it("dialsFor names each endpoint that has a name (rooted), and the address of one that has none", () => {
    const mixed = [named.endpoints[0]!, api.endpoints[1]!]
    const dials = dialsFor(apiHandler, named, mixed)
    expect(dials).toEqual(["tamanu-facility-api-1.:3000", "10.89.51.6:3000"])
    expect(dials.map(isNameDial)).toEqual([true, false])
    expect(pinResolvers(apiHandler, dials)).toEqual(["udp/10.89.51.1:53"])
    expect(pinResolvers(apiHandler, ["10.89.51.6:3000"])).toEqual([])
  })

  it("the pin carries the handler's resolvers on an http transport, and Caddy's JSON reads back as a name pin", () => {
    const dials = dialsFor(apiHandler, named, named.endpoints)
    const changed = withStaticUpstreams(adapted, apiHandler.path, dials, pinResolvers(apiHandler, dials))
    const after = proxyHandlers(changed)[0]!
    expect(after.upstreams).toEqual({ _tag: "Static", dials, resolvers: ["udp/10.89.51.1:53"] })
    expect(after.transport).toBe("http")
    const raw = after.path.reduce<Json>((node, step) => (node as Record<string | number, Json>)[step] ?? null, changed)
    expect(raw).toEqual({
      handler: "reverse_proxy",
      load_balancing: { try_duration: 1_000_000_000 },
      upstreams: [{ dial: "tamanu-facility-api-1.:3000" }, { dial: "tamanu-facility-api-2.:3000" }],
      transport: { protocol: "http", resolver: { addresses: ["udp/10.89.51.1:53"] } },
    })
  })

  it("an http transport's own settings are kept beside the resolver", () => {
    const config: Json = {
      handle: [
        {
          handler: "reverse_proxy",
          dynamic_upstreams: {
            source: "a",
            name: "frontend.tamanu.internal",
            port: "3000",
            resolver: { addresses: ["udp/10.1.0.1:53"] },
          },
          transport: { protocol: "http", dial_timeout: 3_000_000_000 },
        },
      ],
    }
    const changed = withStaticUpstreams(config, ["handle", 0], ["tamanu-frontend-a.:3000"], ["udp/10.1.0.1:53"])
    expect(changed).toEqual({
      handle: [
        {
          handler: "reverse_proxy",
          upstreams: [{ dial: "tamanu-frontend-a.:3000" }],
          transport: { protocol: "http", dial_timeout: 3_000_000_000, resolver: { addresses: ["udp/10.1.0.1:53"] } },
        },
      ],
    })
  })

  it("whatever is pinned, by name or address, the other handlers stay exactly as read (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: fc.option(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), { nil: undefined }),
            ip: fc.ipV4(),
          }),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        (instances) => {
          const service: ServiceEndpoints = {
            service: api.service,
            endpoints: instances.map((i, n) => ({
              instance: `tamanu-facility-api@${n}`,
              url: `http://${i.ip}:3000/`,
              ...(i.name === undefined ? {} : { dnsName: i.name }),
            })),
          }
          const dials = dialsFor(apiHandler, service, service.endpoints)
          expect(dials.filter(isNameDial).length).toBe(
            new Set(instances.flatMap((i) => (i.name === undefined ? [] : [i.name]))).size,
          )
          const changed = withStaticUpstreams(adapted, apiHandler.path, dials, pinResolvers(apiHandler, dials))
          proxyHandlers(changed).forEach((h, i) => {
            if (i !== 0) expect(h).toEqual(handlers[i])
          })
        },
      ),
      { numRuns: 200 },
    )
  })
})
