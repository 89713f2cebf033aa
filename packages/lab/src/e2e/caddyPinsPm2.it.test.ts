/**
 * Issue #25 on a pm2 host (sandboxHost.ts, pm2 flavour: a real pm2 daemon,
 * `tamanu-api` ×2 on fixed ports, a real Caddy in front with static
 * `localhost:PORT` upstreams, continuous load through Caddy): a `tamanu
 * restart api` killed with SIGKILL half-way, then NO tamanu run at all.
 *
 * What the killed run leaves: Caddy pinned to the instances that served, by
 * their fixed ports (a pm2 restart keeps an instance's port, so a pin never
 * names a dead address; it only leaves an instance out). Static upstreams
 * cache nothing, so the restore is due at once; tamanu's detached restore
 * process (`restore-caddy --at=…`, started at the first pin, and again 15 s
 * on while the run held the lock) takes the dead run's lock over and puts
 * Caddy's own config back by itself.
 */
import * as fs from "node:fs"
import { afterAll, describe, expect, it } from "vitest"
import { summarizeLoad } from "../harness/load.js"
import { skipUnless } from "../harness/prerequisites.js"
import { startBrowserLoad } from "./browserLoad.js"
import { readConfig, reverseProxies, sameJson, watchCaddy } from "./caddyWatch.js"
import {
  interruptWhenSaid,
  leftoverSandboxProcesses,
  type SandboxHost,
  sandboxPrerequisites,
  startSandboxHost,
} from "./sandboxHost.js"

const READY_DELAY_MS = 1000
/**
 * How long after the kill Caddy's own config may come back: the detached
 * restore of the killed run wakes at most 15 s after its last try (it tries
 * again every 15 s while the run holds the lock), then a node start, a probe
 * of each instance and one load.
 */
const BACK_WITHIN_MS = 15_000 + 10_000

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
const said = (r: { code: number; stdout: string; stderr: string }) =>
  `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

/** Pids of tamanu's detached restores for this pm2 home (their command line says restore-caddy, their environment the home). */
const detachedRestores = (pm2Home: string): ReadonlyArray<number> =>
  fs.readdirSync("/proc").flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return []
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0")
      if (!cmdline.includes("restore-caddy") && !cmdline.some((a) => a.startsWith("restore-caddy"))) return []
      const environ = fs.readFileSync(`/proc/${entry}/environ`, "utf8").split("\0")
      return environ.includes(`PM2_HOME=${pm2Home}`) ? [Number(entry)] : []
    } catch {
      return []
    }
  })

let host: SandboxHost | null = null

describe.skipIf(skipUnless(...sandboxPrerequisites("pm2")))(
  "a roll killed half-way on a pm2 host, and no tamanu run after: Caddy comes back by itself (issue #25)",
  () => {
    afterAll(async () => {
      await host?.stop()
    })

    it("SIGKILL while the second API instance restarts: Caddy is left on the fixed port of the instance that served, and its own config comes back by the detached restore, 0 lost", {
      timeout: 180_000,
    }, async () => {
      const h = await startSandboxHost({ supervisor: "pm2", readyDelayMs: READY_DELAY_MS })
      host = h
      const pm2Home = h.env.PM2_HOME ?? ""
      expect(pm2Home).not.toBe("")
      const ownConfig = await readConfig(h.caddyAdminUrl)
      const ownDials = reverseProxies(ownConfig).flatMap((p) => (p.kind === "static" ? p.dials : []))
      const load = startBrowserLoad({ url: `${h.caddyUrl}/`, concurrency: 1, pauseMs: 20, maxDurationMs: 120_000 })
      const watch = watchCaddy(h)
      const lines: Array<string> = []
      let records: Awaited<ReturnType<typeof load.stop>> | null = null
      let seen: Awaited<ReturnType<typeof watch.stop>> | null = null
      try {
        await sleep(500)
        const killed = await interruptWhenSaid(
          h.cliArgv(["restart", "api"]),
          h.env,
          /restarting tamanu-api#1/,
          "SIGKILL",
          60_000,
        )
        const killedAt = Date.now()
        expect(killed.stderr, said(killed)).toContain("[killed by SIGKILL]")

        // What the killed run leaves: Caddy pinned to one of its own fixed ports (never an address that is gone).
        expect(fs.existsSync(h.routingStateFile)).toBe(true)
        const pinned = await readConfig(h.caddyAdminUrl)
        const pinnedDials = reverseProxies(pinned).flatMap((p) => (p.kind === "static" ? p.dials : []))
        lines.push(`killed; pinned to ${pinnedDials.join(", ")} (own: ${ownDials.join(", ")})`)
        expect(sameJson(pinned, ownConfig)).toBe(false)
        expect(pinnedDials.length).toBeGreaterThan(0)
        const portOf = (dial: string) => dial.slice(dial.lastIndexOf(":") + 1)
        for (const d of pinnedDials) expect(ownDials.map(portOf)).toContain(portOf(d))
        const waiting = detachedRestores(pm2Home)
        lines.push(`${waiting.length} detached restore process(es) waiting`)
        expect(waiting.length, "no detached restore outlived the killed run").toBeGreaterThan(0)

        // No tamanu run: Caddy's own config must come back by itself.
        let backAt: number | null = null
        while (Date.now() < killedAt + BACK_WITHIN_MS + 5_000) {
          if (sameJson(await readConfig(h.caddyAdminUrl), ownConfig)) {
            backAt = Date.now()
            break
          }
          await sleep(250)
        }
        expect(backAt, "Caddy's own config never came back").not.toBeNull()
        lines.push(`own config back ${Math.round((backAt ?? 0) - killedAt)} ms after the kill`)
        expect((backAt ?? 0) - killedAt).toBeLessThanOrEqual(BACK_WITHIN_MS)
        expect(fs.existsSync(h.routingStateFile)).toBe(false)
        // Every detached restore ends (one that finds nothing pending exits at once).
        const until = Date.now() + 20_000
        while (detachedRestores(pm2Home).length > 0 && Date.now() < until) await sleep(250)
        expect(detachedRestores(pm2Home), "detached restores still running").toEqual([])
        const snapshot = await h.snapshot()
        for (const name of ["tamanu-api#0", "tamanu-api#1"]) expect(snapshot[name]?.running, name).toBe(true)
        await sleep(1_000)
      } finally {
        seen = await watch.stop()
        records = await load.stop()
      }
      const summary = summarizeLoad(records.records)
      process.stderr.write(
        `[caddy pins pm2] ${lines.join("; ")}; ${summary.served} served, ${summary.failed} lost (${JSON.stringify(summary.outcomes)}); ${seen.samples} config samples\n`,
      )
      expect(seen.onlyDead, "Caddy routed only to addresses that did not serve").toEqual([])
      expect(summary.failed, JSON.stringify(summary)).toBe(0)
      expect(summary.served).toBeGreaterThan(0)
    })
  },
)

describe("the pm2 Caddy pins suite", () => {
  it("leaves no tamanu service, Caddy or pm2 daemon behind", () => {
    expect(leftoverSandboxProcesses()).toEqual([])
  })
})
