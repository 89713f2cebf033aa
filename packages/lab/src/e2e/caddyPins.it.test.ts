/**
 * Issue #25 on the real shape of a Linux host (sandboxHost.ts: podman
 * containers under a systemd user manager, Caddy with `dynamic a` upstreams
 * and its default 1-minute refresh, continuous load through Caddy): a
 * `tamanu restart api frontend` killed with SIGKILL half-way, then NO tamanu
 * run at all. Caddy must come back to its own config by itself (the restore
 * tamanu scheduled with the user manager at its first pin), within the due
 * time plus a stated margin, and lose no request; meanwhile an operator's
 * `systemctl restart` of a pinned instance (pinned by container name) must
 * lose no request either. Then, in the same sandbox, runs racing for a
 * restore that is due (two `tamanu restore-caddy` and a `tamanu start` at
 * once, the timer a second later): the host lock decides and Caddy takes
 * one config load, counted by Caddy's own admin metrics. Both scenarios
 * also measure how aardvark-dns answers the container names the pins name
 * (`probeNames`, printed, never asserted).
 */
import * as fs from "node:fs"
import { afterAll, describe, expect, it } from "vitest"
import { skipUnless } from "../harness/prerequisites.js"
import { loadTotals, startBrowserLoad } from "./browserLoad.js"
import { probeNames, readConfig, sameJson, watchCaddy } from "./caddyWatch.js"
import { describeNoLeftovers } from "./leftovers.js"
import {
  interruptWhenSaid,
  type SandboxHost,
  sandboxPrerequisites,
  spawnChild,
  startSandboxHost,
} from "./sandboxHost.js"

const READY_DELAY_MS = 1000
const LOAD_PATHS = ["/api/patients", "/"] as const
/** How late after its due time the scheduled restore may put Caddy's own config back: the timer fires 1 s after, to the second, then a node start, a probe of each pinned instance and one load. */
const MARGIN_MS = 10_000

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
const said = (r: { code: number; stdout: string; stderr: string }) =>
  `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

interface SavedClock {
  readonly swappedAt: number
  readonly holdMillis: number
  readonly staled: boolean
}
const restoreDueAt = (stateFile: string): number => {
  const saved = JSON.parse(fs.readFileSync(stateFile, "utf8")) as { readonly clocks: Record<string, SavedClock> }
  return Object.values(saved.clocks).reduce(
    (due, c) => (c.staled ? Math.max(due, c.swappedAt + c.holdMillis) : due),
    Number.NEGATIVE_INFINITY,
  )
}

/** One sandbox for the suite's scenarios (each leaves Caddy on its own config and every instance running). */
let shared: Promise<SandboxHost> | null = null
const sandbox = (): Promise<SandboxHost> => {
  shared ??= startSandboxHost({ supervisor: "systemd", readyDelayMs: READY_DELAY_MS })
  return shared
}

/**
 * How many config loads Caddy has taken (`POST /load`), from its admin metrics
 * (`caddy_admin_http_requests_total`, kept across loads since the registry is
 * process-wide): what proves a restore loaded once, whoever ran it.
 */
const loadsSoFar = async (adminUrl: string): Promise<number> => {
  const text = await (await fetch(`${adminUrl}/metrics`)).text()
  return text
    .split("\n")
    .filter((l) => l.startsWith("caddy_admin_http_requests_total{") && l.includes('path="/load"'))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0)
}

describe.skipIf(skipUnless(...sandboxPrerequisites("systemd")))(
  "a roll killed half-way on the real shape, and no tamanu run after: Caddy comes back by itself (issue #25)",
  () => {
    afterAll(async () => {
      if (shared !== null) await (await shared.catch(() => null))?.stop()
    })

    it("SIGKILL while the last API instance restarts; an operator restarts a pinned frontend instance, then (once the pins are refreshed) the API instance they named alone, before the restore is due: 0 lost, Caddy's own config back within due + 10 s", {
      timeout: 300_000,
    }, async () => {
      const host = await sandbox()
      {
        const ownConfig = await readConfig(host.caddyAdminUrl)
        const loads = LOAD_PATHS.map((p) =>
          startBrowserLoad({ url: `${host.caddyUrl}${p}`, concurrency: 1, pauseMs: 20, maxDurationMs: 240_000 }),
        )
        const watch = watchCaddy(host)
        const names = probeNames(host)
        const lines: Array<string> = []
        let results: Awaited<ReturnType<(typeof loads)[number]["stop"]>>[] = []
        let seen: Awaited<ReturnType<typeof watch.stop>> | null = null
        let dns: Awaited<ReturnType<typeof names.stop>> | null = null
        try {
          await sleep(500)
          const killed = await interruptWhenSaid(
            host.cliArgv(["restart", "api", "frontend"]),
            host.env,
            /restarting tamanu-facility-api@2/,
            "SIGKILL",
            120_000,
          )
          const killedAt = Date.now()
          expect(killed.stderr, said(killed)).toContain("[killed by SIGKILL]")

          // Pinned, by container name: the state is beside the lock, and the pins name containers.
          expect(fs.existsSync(host.routingStateFile)).toBe(true)
          const pinned = await readConfig(host.caddyAdminUrl)
          expect(sameJson(pinned, ownConfig)).toBe(false)
          expect(JSON.stringify(pinned)).toMatch(/"dial":"[a-z0-9-]+\.:3000"/)
          expect(JSON.stringify(pinned)).toContain('"resolver":{"addresses"')
          const dueAt = restoreDueAt(host.routingStateFile)
          lines.push(`killed; restore due ${Math.round(dueAt - killedAt)} ms later`)

          // The scheduled restore is a timer of the user manager, made by the killed run.
          const timers = await host.systemctl(["list-timers", "--all", "--no-legend", "tamanu-caddy-restore-*"])
          expect(timers.stdout, timers.stderr).toContain("tamanu-caddy-restore-")

          // An operator (or systemd's Restart=) restarts a pinned instance while the pins hold.
          await sleep(3_000)
          const r = await host.systemctl(["restart", "tamanu-frontend@a.service"])
          expect(r.exitCode, r.stderr).toBe(0)
          lines.push(`tamanu-frontend@a restarted ${Math.round(Date.now() - killedAt)} ms after the kill`)

          // The pins named api@1 alone when the run died (@2 was restarting). The scheduled restore,
          // before the due time, refreshes them to every instance that answers: @2 is named again.
          const apiDials = async () => {
            const text = JSON.stringify(await readConfig(host.caddyAdminUrl))
            return (text.match(/"dial":"[a-z0-9-]*tamanu-facility-api-[12]\.:3000"/g) ?? []).length
          }
          let refreshedAt: number | null = null
          while (Date.now() < killedAt + 40_000) {
            if ((await apiDials()) === 2) {
              refreshedAt = Date.now()
              break
            }
            await sleep(250)
          }
          expect(refreshedAt, "the pins never named api@2 again before the due time").not.toBeNull()
          lines.push(
            `pins refreshed to both API instances ${Math.round((refreshedAt ?? 0) - killedAt)} ms after the kill`,
          )
          expect(refreshedAt ?? Number.POSITIVE_INFINITY).toBeLessThan(dueAt)
          // Now the instance the pins named alone at the kill restarts: the other one serves meanwhile.
          const r1 = await host.systemctl(["restart", "tamanu-facility-api@1.service"])
          expect(r1.exitCode, r1.stderr).toBe(0)
          lines.push(`tamanu-facility-api@1 restarted ${Math.round(Date.now() - killedAt)} ms after the kill`)

          // No tamanu run: Caddy's own config must come back by itself.
          let backAt: number | null = null
          while (Date.now() < dueAt + MARGIN_MS + 5_000) {
            if (sameJson(await readConfig(host.caddyAdminUrl), ownConfig)) {
              backAt = Date.now()
              break
            }
            await sleep(250)
          }
          expect(backAt, "Caddy's own config never came back").not.toBeNull()
          lines.push(`own config back ${Math.round((backAt ?? 0) - dueAt)} ms after due`)
          expect((backAt ?? 0) - dueAt).toBeLessThanOrEqual(MARGIN_MS)
          expect(fs.existsSync(host.routingStateFile)).toBe(false)
          await sleep(1_500)
        } finally {
          seen = await watch.stop()
          dns = await names.stop()
          results = await Promise.all(loads.map((l) => l.stop()))
        }
        const { summaries, served, lost } = loadTotals(results)
        process.stderr.write(
          `[caddy pins] ${lines.join("; ")}; ${served} served, ${lost} lost (${summaries.map((s) => JSON.stringify(s.outcomes)).join(", ")}); ${seen.samples} config samples, ${seen.someDead.length} naming a restarting instance, ${seen.unanswered.length} with a name pin unanswered; DNS: ${JSON.stringify(dns)}${seen.unanswered.length > 0 ? ` (${seen.unanswered.join("; ")})` : ""}\n`,
        )
        expect(seen.onlyDead, "Caddy routed only to addresses that did not serve").toEqual([])
        expect(lost, JSON.stringify(summaries)).toBe(0)
        for (const s of summaries) expect(s.served).toBeGreaterThan(0)
      }
    })

    it("two scheduled-restore runs and a tamanu start race for a restore that is due (SIGKILLed roll), with the timer firing too: the host lock decides, Caddy takes one load, 0 lost", {
      timeout: 300_000,
    }, async () => {
      const host = await sandbox()
      const ownConfig = await readConfig(host.caddyAdminUrl)
      const loads = LOAD_PATHS.map((p) =>
        startBrowserLoad({ url: `${host.caddyUrl}${p}`, concurrency: 1, pauseMs: 20, maxDurationMs: 240_000 }),
      )
      const watch = watchCaddy(host)
      const names = probeNames(host)
      const lines: Array<string> = []
      let results: Awaited<ReturnType<(typeof loads)[number]["stop"]>>[] = []
      let seen: Awaited<ReturnType<typeof watch.stop>> | null = null
      let dns: Awaited<ReturnType<typeof names.stop>> | null = null
      try {
        await sleep(500)
        const killed = await interruptWhenSaid(
          host.cliArgv(["restart", "api"]),
          host.env,
          /restarting tamanu-facility-api@2/,
          "SIGKILL",
          120_000,
        )
        const killedAt = Date.now()
        expect(killed.stderr, said(killed)).toContain("[killed by SIGKILL]")
        expect(sameJson(await readConfig(host.caddyAdminUrl), ownConfig)).toBe(false)
        const dueAt = restoreDueAt(host.routingStateFile)
        lines.push(`killed; restore due ${Math.round(dueAt - killedAt)} ms later`)

        // At the due time, three runs at once (and the scheduled timer within the next second or two).
        await sleep(dueAt + 100 - Date.now())
        expect(sameJson(await readConfig(host.caddyAdminUrl), ownConfig), "restored before the race").toBe(false)
        const loadsBefore = await loadsSoFar(host.caddyAdminUrl)
        const racers = [["restore-caddy"], ["restore-caddy"], ["start"]].map((args) => ({
          args,
          run: spawnChild(host.cliArgv(args), host.env),
        }))
        const ended = await Promise.all(racers.map((r) => r.run.exited))
        ended.forEach((r, i) => {
          const last = `${r.stdout}${r.stderr}`.trim().split("\n").at(-1) ?? ""
          lines.push(`${racers[i]?.args.join(" ")}: exit ${r.code} after ${Math.round(r.elapsedMs)} ms, "${last}"`)
        })
        for (const r of ended) expect(r.code, said(r)).toBe(0)
        const restoredBy = ended.filter(
          (r, i) => racers[i]?.args[0] === "restore-caddy" && /: Restored$/m.test(r.stderr),
        )
        expect(restoredBy.length, lines.join("\n")).toBeLessThanOrEqual(1)

        let backAt: number | null = null
        while (Date.now() < dueAt + MARGIN_MS) {
          if (sameJson(await readConfig(host.caddyAdminUrl), ownConfig)) {
            backAt = Date.now()
            break
          }
          await sleep(250)
        }
        expect(backAt, "Caddy's own config never came back").not.toBeNull()
        lines.push(`own config back ${Math.round((backAt ?? 0) - dueAt)} ms after due`)
        expect(fs.existsSync(host.routingStateFile)).toBe(false)
        // Every scheduled restore left (the timer, and any a racer that found the lock held scheduled 15 s on)
        // fires, finds nothing pending and is gone; none of them loads anything.
        const restoreUnits = async () =>
          (await host.systemctl(["list-units", "--all", "--no-legend", "tamanu-caddy-restore-*"])).stdout.trim()
        const unitsDeadline = Date.now() + 40_000
        while ((await restoreUnits()) !== "" && Date.now() < unitsDeadline) await sleep(500)
        expect(await restoreUnits(), "scheduled restores still there").toBe("")
        const loaded = (await loadsSoFar(host.caddyAdminUrl)) - loadsBefore
        lines.push(`${loaded} config load(s) from the race on`)
        expect(loaded, lines.join("\n")).toBe(1)
        expect(sameJson(await readConfig(host.caddyAdminUrl), ownConfig)).toBe(true)
      } finally {
        seen = await watch.stop()
        dns = await names.stop()
        results = await Promise.all(loads.map((l) => l.stop()))
      }
      const { summaries, served, lost } = loadTotals(results)
      process.stderr.write(
        `[caddy pins race] ${lines.join("; ")}; ${served} served, ${lost} lost (${summaries.map((s) => JSON.stringify(s.outcomes)).join(", ")}); ${seen.samples} config samples, ${seen.someDead.length} naming a restarting instance, ${seen.unanswered.length} with a name pin unanswered; DNS: ${JSON.stringify(dns)}${seen.unanswered.length > 0 ? ` (${seen.unanswered.join("; ")})` : ""}\n`,
      )
      expect(seen.onlyDead, "Caddy routed only to addresses that did not serve").toEqual([])
      expect(lost, JSON.stringify(summaries)).toBe(0)
      for (const s of summaries) expect(s.served).toBeGreaterThan(0)
    })
  },
)

describeNoLeftovers("the Caddy pins suite")
