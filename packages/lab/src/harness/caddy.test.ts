import { describe, expect, it } from "vitest"
import { renderCaddyfile, tamanuProxyDirectives } from "./caddy.js"

describe("renderCaddyfile", () => {
  it("a loopback site with admin on its own port, no HTTPS, and one handle block per path matcher (Caddy orders them by specificity)", () => {
    const text = renderCaddyfile({
      sitePort: 8080,
      adminPort: 2999,
      logFile: "/tmp/x/caddy.log",
      upstreams: { "/": ["127.0.0.1:4001", "127.0.0.1:4002"], "/api/*": ["127.0.0.1:4003"] },
      proxyDirectives: ["lb_policy first"],
    })
    expect(text).toBe(
      [
        "{",
        "\tadmin 127.0.0.1:2999",
        "\tauto_https off",
        "\tlog {",
        "\t\toutput file /tmp/x/caddy.log",
        "\t\tlevel WARN",
        "\t}",
        "}",
        "",
        "http://127.0.0.1:8080 {",
        "\tbind 127.0.0.1",
        "\thandle {",
        "\t\treverse_proxy 127.0.0.1:4001 127.0.0.1:4002 {",
        "\t\t\tlb_policy first",
        "\t\t}",
        "\t}",
        "\thandle /api/* {",
        "\t\treverse_proxy 127.0.0.1:4003 {",
        "\t\t\tlb_policy first",
        "\t\t}",
        "\t}",
        "}",
        "",
      ].join("\n"),
    )
  })

  it("dynamic a upstreams as a Tamanu Linux host has them: alias, port 3000, the gateway's aardvark-dns over UDP; refresh only when asked", () => {
    const site = (refresh?: string) =>
      renderCaddyfile({
        sitePort: 8080,
        adminPort: 2999,
        logFile: "/tmp/x/caddy.log",
        upstreams: {
          "/api/*": {
            dynamicA: {
              name: "api.facility.tamanu.internal",
              port: 3000,
              resolvers: ["udp/10.89.100.1:53"],
              ...(refresh === undefined ? {} : { refresh }),
            },
          },
        },
        proxyDirectives: ["lb_try_duration 1s"],
      })
        .split("\n")
        .slice(9)
        .join("\n")
    expect(site()).toBe(
      [
        "http://127.0.0.1:8080 {",
        "\tbind 127.0.0.1",
        "\thandle /api/* {",
        "\t\treverse_proxy {",
        "\t\t\tdynamic a {",
        "\t\t\t\tname api.facility.tamanu.internal",
        "\t\t\t\tport 3000",
        "\t\t\t\tresolvers udp/10.89.100.1:53",
        "\t\t\t}",
        "\t\t\tlb_try_duration 1s",
        "\t\t}",
        "\t}",
        "}",
        "",
      ].join("\n"),
    )
    expect(site("3s")).toContain("\t\t\t\tresolvers udp/10.89.100.1:53\n\t\t\t\trefresh 3s\n\t\t\t}")
  })

  it("by default a reverse_proxy block sets only what Tamanu's Caddyfiles set: Caddy's defaults for the rest", () => {
    expect(tamanuProxyDirectives).toEqual(["lb_try_duration 1s"])
  })
})
