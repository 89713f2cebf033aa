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

  it("by default a reverse_proxy block sets only what Tamanu's Caddyfiles set: Caddy's defaults for the rest", () => {
    expect(tamanuProxyDirectives).toEqual(["lb_try_duration 1s"])
  })
})
