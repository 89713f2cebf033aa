/**
 * Caddy through Debian's own caddy.service on a real systemd system manager
 * (centralSystemHost.ts), driven by the built `tamanu` as a non-root
 * operator through sudo, with the Tamanu units as podman containers behind
 * `dynamic a` upstreams on their aardvark-dns aliases (spec §9):
 *
 * - the admin-API way (§9.2): a roll of the API under continuous load from
 *   the host through Caddy loses no request; during it Caddy routes the API
 *   to static upstreams naming the instance that serves; Caddy's own config
 *   (read before) is back afterwards, which with Caddy's default one-minute
 *   refresh takes about a minute; Caddy is never reloaded;
 * - the fallback (§9.4), with the admin API unreachable and with `admin off`
 *   in the Caddyfile: the warning, and `systemctl reload caddy` in journald,
 *   run (and failing with `admin off`, where `caddy reload` has no API to
 *   post to). Requests may be lost that way; the test reports them and
 *   asserts the mechanism only.
 *
 * One booted system for the file, in order; the last test checks the teardown.
 */
import * as fs from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { summarizeLoad } from "../harness/load.js"
import { skipUnless } from "../harness/prerequisites.js"
import type { ExecResult } from "../harness/systemdSystemManager.js"
import { CADDY_RELOAD_503, startBrowserLoad } from "./browserLoad.js"
import {
  aliases,
  type CentralSystemHost,
  centralSystemHostPrerequisites,
  startCentralSystemHost,
} from "./centralSystemHost.js"

const said = (r: ExecResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

const api = ["tamanu-central-api@1.service", "tamanu-central-api@2.service"]
const upUnits = [
  "tamanu-central-tasks.service",
  "tamanu-frontend@a.service",
  "tamanu-frontend@b.service",
  ...api,
  "tamanu-patientportal@a.service",
  "tamanu-patientportal@b.service",
]

interface Json {
  readonly [key: string]: unknown
}

/** What the `/api/*` route of Caddy's live config proxies to: `dynamic a <name>`, or `static <dials>`. */
const apiUpstreams = (config: unknown): string => {
  const found: Array<string> = []
  const walk = (node: unknown, inApi: boolean): void => {
    if (Array.isArray(node)) {
      for (const child of node) walk(child, inApi)
      return
    }
    if (typeof node !== "object" || node === null) return
    const o = node as Json
    const matches = JSON.stringify(o.match ?? []).includes('"/api/*"')
    if (o.handler === "reverse_proxy" && inApi) {
      const dynamic = o.dynamic_upstreams as Json | undefined
      const dials = ((o.upstreams as ReadonlyArray<Json> | undefined) ?? []).map((u) => String(u.dial))
      found.push(dynamic !== undefined ? `dynamic a ${String(dynamic.name)}` : `static ${dials.join(" ")}`)
    }
    for (const [key, child] of Object.entries(o)) if (key !== "match") walk(child, inApi || matches)
  }
  walk(config, false)
  return found.join(" | ")
}

describe.skipIf(skipUnless(...centralSystemHostPrerequisites()))(
  "Caddy through Debian's caddy.service on a real system manager, driven by tamanu as a non-root operator",
  () => {
    let host: CentralSystemHost

    beforeAll(async () => {
      host = await startCentralSystemHost({ readyDelayMs: 1000 })
      await host.startUnits(upUnits)
    }, 180_000)
    afterAll(async () => {
      await host?.system.stop()
    }, 120_000)

    /** Continuous load from the host through Caddy's site on the container's address. */
    const load = () => startBrowserLoad({ url: `${host.siteUrl}/api/patients`, concurrency: 2 })
    const reloadsOfCaddy = async (mark: number) =>
      (await host.system.journal(mark, ["_PID=1"]))
        .map((e) => e.MESSAGE ?? "")
        .filter((m) => /caddy\.service/.test(m) && /^(Reloading|Reloaded|Reload failed)/.test(m))

    it("status shows where Caddy routes each service: matched to instances as root, unmatched (and not stale) as the operator", async () => {
      const asRoot = await host.system.exec(["tamanu", "status", "--json"])
      expect(asRoot.code, said(asRoot)).toBe(0)
      const caddy = (JSON.parse(asRoot.stdout) as { caddy: Json }).caddy as {
        readonly stale: boolean
        readonly instances_seen: boolean
        readonly routes: ReadonlyArray<{
          readonly service: string
          readonly source: string
          readonly addresses: ReadonlyArray<{ readonly address: string; readonly instance: string | null }>
        }>
      }
      expect(caddy.stale).toBe(false)
      expect(caddy.instances_seen).toBe(true)
      const apiRoute = caddy.routes.find((r) => r.service === "tamanu-central-api")
      expect(apiRoute?.source).toBe(`dynamic a ${aliases["tamanu-central-api"]}:3000`)
      const addresses = await Promise.all(api.map((u) => host.containerAddress(u)))
      expect(new Set(apiRoute?.addresses.map((a) => a.address))).toEqual(new Set(addresses.map((a) => `${a}:3000`)))
      expect(new Set(apiRoute?.addresses.map((a) => a.instance))).toEqual(
        new Set(["tamanu-central-api@1", "tamanu-central-api@2"]),
      )

      const asOperator = await host.tamanu(["status"])
      expect(asOperator.code, said(asOperator)).toBe(0)
      expect(asOperator.stdout).toMatch(/Caddy \(http:\/\/localhost:2019\):/)
      expect(asOperator.stdout).toContain(`${addresses[0]}:3000`)
      expect(asOperator.stdout).not.toContain("✗")
      expect(asOperator.stdout).toMatch(/addresses not matched to instances: .*containers are root's/)
      expect(asOperator.stderr).not.toMatch(/newuidmap|WARN/)
    })

    it("admin API: a roll of the API under load loses no request, routes around each instance, and puts Caddy's own config back without a reload", async () => {
      const before = await host.caddyConfig()
      expect(apiUpstreams(before)).toBe(`dynamic a ${aliases["tamanu-central-api"]}`)
      const addressesBefore = await Promise.all(api.map((u) => host.containerAddress(u)))
      const mark = await host.system.journalMark()

      // What Caddy routes /api/* to, sampled while the roll runs.
      const seen: Array<string> = []
      let sampling = true
      const sampler = (async () => {
        while (sampling) {
          const r = await host.system.exec(["curl", "-fsS", "-m", "2", "http://localhost:2019/config/"])
          if (r.code === 0) {
            const now = apiUpstreams(JSON.parse(r.stdout))
            if (seen.at(-1) !== now) seen.push(now)
          }
          await new Promise((resolve) => setTimeout(resolve, 150))
        }
      })()
      const traffic = load()
      await new Promise((resolve) => setTimeout(resolve, 500))
      const r = await host.tamanu(["restart", "api"])
      await new Promise((resolve) => setTimeout(resolve, 500))
      const result = await traffic.stop()
      sampling = false
      await sampler

      expect(r.code, said(r)).toBe(0)
      const summary = summarizeLoad(result.records)
      process.stderr.write(
        `[system manager caddy] admin API roll: ${summary.served} served, ${summary.failed} failed ${JSON.stringify(summary.outcomes)}, ` +
          `${result.retriedOnReusedConnection} resent on a reused connection; roll + restore ${Math.round(r.elapsedMs)} ms; ` +
          `Caddy's /api/* upstreams seen: ${seen.join(" → ")}\n`,
      )
      expect(summary.failed, JSON.stringify(summary.outcomes)).toBe(0)
      expect(result.records.filter((q) => q.error === CADDY_RELOAD_503)).toEqual([])
      expect(summary.served).toBeGreaterThan(0)

      // The mechanism: routed through the admin API around each instance, own config back, no reload.
      expect(r.stderr).toMatch(/⇄ Caddy routes tamanu-central-api → tamanu-central-api@2 /)
      expect(r.stderr).toMatch(/⇄ Caddy routes tamanu-central-api → tamanu-central-api@1 /)
      expect(r.stderr).toMatch(/Caddy's own config comes back in/)
      expect(r.stderr).toMatch(/✓ Caddy runs its own config again/)
      expect(r.stderr).not.toMatch(/admin API cannot be used|Caddy reloaded/)
      expect(seen[0]).toBe(`dynamic a ${aliases["tamanu-central-api"]}`)
      expect(
        seen.some((s) => /^static \S+:3000$/.test(s)),
        seen.join(" → "),
      ).toBe(true)
      expect(seen.at(-1)).toBe(`dynamic a ${aliases["tamanu-central-api"]}`)
      expect(await host.caddyConfig()).toEqual(before)
      expect(await reloadsOfCaddy(mark)).toEqual([])
      expect(fs.existsSync(host.system.hostPath("/run/tamanu-lifecycle.caddy.json"))).toBe(false)
      // Podman gave each restarted container a new address.
      const addressesAfter = await Promise.all(api.map((u) => host.containerAddress(u)))
      for (const [i, a] of addressesAfter.entries()) expect(a, api[i]).not.toBe(addressesBefore[i])
    }, 300_000)

    const fallbacks: ReadonlyArray<{
      readonly name: string
      readonly caddyGlobal: string | null
      readonly args: ReadonlyArray<string>
      readonly why: RegExp
      readonly reload: "works" | "fails"
    }> = [
      {
        name: "the admin API unreachable (--caddy-admin at a closed port)",
        caddyGlobal: null,
        args: ["--caddy-admin", "http://127.0.0.1:9"],
        why: /Caddy's admin API cannot be used \(GET http:\/\/127\.0\.0\.1:9\/config\/: .*refused/,
        reload: "works",
      },
      {
        name: "admin off in the Caddyfile",
        caddyGlobal: "admin off",
        args: [],
        why: /Caddy's admin API cannot be used \(the Caddyfile turns the admin API off \(admin off\)\)/,
        reload: "fails",
      },
    ]
    for (const f of fallbacks) {
      it(`fallback with ${f.name}: a warning, then systemctl reload caddy after each instance (seen in journald)`, async () => {
        await host.setCaddyGlobal(f.caddyGlobal)
        try {
          await host.startUnits(upUnits)
          const mark = await host.system.journalMark()
          const traffic = load()
          const r = await host.tamanu(["restart", "api", ...f.args])
          const result = await traffic.stop()
          expect(r.code, said(r)).toBe(0)
          expect(r.stderr).toMatch(f.why)
          expect(r.stderr).toMatch(/Requests may be lost/)
          const reloads = await reloadsOfCaddy(mark)
          const requested = reloads.filter((m) => m.startsWith("Reloading")).length
          expect(requested, reloads.join("\n")).toBeGreaterThanOrEqual(1)
          if (f.reload === "works") {
            expect(reloads.filter((m) => m.startsWith("Reloaded")).length).toBe(requested)
            expect(r.stderr.match(/✓ Caddy reloaded/g)?.length).toBe(requested)
          } else {
            expect(reloads.filter((m) => m.startsWith("Reload failed")).length, reloads.join("\n")).toBe(requested)
            expect(r.stderr).toMatch(/⚠ Caddy reload failed \(going on\)/)
            expect(r.stderr).toMatch(/systemctl reload caddy exited 1/)
          }
          // Debian's systemd has no systemd-resolved: said once, not tried again.
          expect(r.stderr.match(/resolvectl flush-caches: not found/g)?.length).toBe(1)
          const summary = summarizeLoad(result.records)
          process.stderr.write(
            `[system manager caddy] fallback (${f.name}): ${requested} reloads; ${summary.served} served, ${summary.failed} failed ${JSON.stringify(summary.outcomes)}\n`,
          )
        } finally {
          await host.setCaddyGlobal(null)
        }
      }, 240_000)
    }

    it("teardown leaves nothing on the host", async () => {
      expect(await host.system.stop()).toEqual({ processes: [], mounts: [], cgroups: [], bridges: [], podman: [] })
    })
  },
)
