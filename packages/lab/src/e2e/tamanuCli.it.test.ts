/**
 * The built `tamanu` binary against real components: the real shape of a
 * Linux host (a systemd user manager running one podman container per unit
 * on a bridge network with aardvark-dns aliases, Caddy as a user unit with
 * `dynamic a` upstreams and its default 1-minute refresh; see sandboxHost.ts)
 * and a Windows-shaped pm2 daemon behind a real Caddy with static upstreams.
 * One sandbox host per flavour; each test first puts the host in the state
 * it needs (directly, not through the CLI), so tests do not depend on each
 * other's order. The last test proves no process, container or network
 * started here survives.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { summarizeLoad } from "../harness/load.js"
import { skipUnless } from "../harness/prerequisites.js"
import { startBrowserLoad } from "./browserLoad.js"
import { readConfig, sameJson, watchCaddy } from "./caddyWatch.js"
import { describeNoLeftovers } from "./leftovers.js"
import {
  type HostSnapshot,
  pidsWithCommandLine,
  type SandboxHost,
  type SandboxSupervisor,
  sandboxPrerequisites,
  startSandboxHost,
} from "./sandboxHost.js"

const READY_DELAY_MS = 1000

/** What each flavour's facility host expects (spec §1.1), and which NAMES select the services behind Caddy. */
const flavours = {
  systemd: {
    services: ["tamanu-facility-tasks", "tamanu-frontend", "tamanu-facility-api", "tamanu-facility-sync"],
    sync: "tamanu-facility-sync",
    rollNames: ["api", "frontend"],
    rolled: [
      "tamanu-facility-api@1",
      "tamanu-facility-api@2",
      "tamanu-frontend@a",
      "tamanu-frontend@b",
    ] as ReadonlyArray<string>,
    loadPaths: ["/api/patients", "/"],
  },
  pm2: {
    services: ["tamanu-tasks", "tamanu-api", "tamanu-sync"],
    sync: "tamanu-sync",
    rollNames: ["api"],
    rolled: ["tamanu-api#0", "tamanu-api#1"] as ReadonlyArray<string>,
    loadPaths: ["/"],
  },
} as const

interface StatusJson {
  readonly any_short: boolean
  readonly expectations: ReadonlyArray<{
    readonly name: string
    readonly expected_state: string
    readonly running: number
    readonly min_count: number
    readonly status: string
    readonly legacy: boolean
    readonly instances: ReadonlyArray<{ readonly name: string; readonly running: boolean }>
  }>
}

const statusJson = async (host: SandboxHost, args: ReadonlyArray<string> = []) => {
  const r = await host.run(["status", "--json", ...args])
  return { code: r.code, json: JSON.parse(r.stdout) as StatusJson, stderr: r.stderr }
}

const byName = (json: StatusJson, name: string) => {
  const e = json.expectations.find((x) => x.name === name)
  if (e === undefined) throw new Error(`no expectation ${name} in ${JSON.stringify(json)}`)
  return e
}

const instanceNames = (snapshot: HostSnapshot, prefix: string) =>
  Object.keys(snapshot).filter((n) => n === prefix || n.startsWith(`${prefix}@`) || n.startsWith(`${prefix}#`))

/** A failure message that shows what the CLI said. */
const said = (r: { code: number; stdout: string; stderr: string }) =>
  `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

for (const supervisor of ["systemd", "pm2"] as const satisfies ReadonlyArray<SandboxSupervisor>) {
  const flavour = flavours[supervisor]
  describe.skipIf(skipUnless(...sandboxPrerequisites(supervisor)))(`tamanu on a ${supervisor} host`, () => {
    let host: SandboxHost
    /** Caddy's config as it booted from its Caddyfile: what it must run again after every command. */
    let ownConfig: Awaited<ReturnType<typeof readConfig>>

    beforeAll(async () => {
      host = await startSandboxHost({ supervisor, readyDelayMs: READY_DELAY_MS, startServices: false })
      ownConfig = await readConfig(host.caddyAdminUrl)
    })
    afterAll(async () => {
      await host?.stop()
    })

    it("start from nothing brings every service up, and status then exits 0", async () => {
      await host.stopAll()
      const before = await host.run(["status"])
      expect(before.code, said(before)).toBe(1)

      const start = await host.run(["start"])
      expect(start.code, said(start)).toBe(0)

      const status = await statusJson(host)
      expect(status.code, status.stderr).toBe(0)
      expect(status.json.any_short).toBe(false)
      for (const name of flavour.services) {
        const e = byName(status.json, name)
        expect(e.status, name).toBe("up")
        expect(e.running, name).toBeGreaterThanOrEqual(e.min_count)
      }
      const snapshot = await host.snapshot()
      for (const name of Object.keys(host.instances)) expect(snapshot[name]?.running, name).toBe(true)
      // Every instance answers directly, and the site answers through Caddy.
      for (const url of Object.values(host.instances)) expect((await fetch(url)).status, url).toBe(200)
      for (const p of flavour.loadPaths) expect((await fetch(`${host.caddyUrl}${p}`)).status, p).toBe(200)
    })

    it("a second start says there is nothing to do and changes nothing", async () => {
      await host.startAll()
      const before = await host.snapshot()
      const r = await host.run(["start"])
      expect(r.code, said(r)).toBe(0)
      expect(`${r.stdout}${r.stderr}`).toMatch(/nothing to do/i)
      expect(await host.snapshot()).toEqual(before)
    })

    it("stop sync stops only sync; status exits 1 showing it down; start brings it back", async () => {
      await host.startAll()
      const before = await host.snapshot()
      const stop = await host.run(["stop", "sync"])
      expect(stop.code, said(stop)).toBe(0)

      const after = await host.snapshot()
      const syncInstances = instanceNames(after, flavour.sync)
      expect(syncInstances.length).toBe(1)
      for (const [name, state] of Object.entries(after)) {
        if (syncInstances.includes(name)) expect(state.running, name).toBe(false)
        else expect(state, name).toEqual(before[name])
      }

      const status = await statusJson(host)
      expect(status.code).toBe(1)
      expect(byName(status.json, flavour.sync).status).toBe("down")
      for (const name of flavour.services.filter((n) => n !== flavour.sync))
        expect(byName(status.json, name).status, name).toBe("up")
      const human = await host.run(["status"])
      expect(human.code).toBe(1)
      expect(human.stdout).toMatch(new RegExp(`${flavour.sync}.*(down|stopped)`))

      const start = await host.run(["start"])
      expect(start.code, said(start)).toBe(0)
      expect((await host.snapshot())[syncInstances[0] ?? ""]?.running).toBe(true)
      expect((await host.run(["status"])).code).toBe(0)
    })

    it("restart of the services behind Caddy under continuous load loses no request, restarts every instance, and leaves Caddy running its own config", async () => {
      await host.startAll()
      const before = await host.snapshot()
      const concurrency = 2
      const loads = flavour.loadPaths.map((p) => startBrowserLoad({ url: `${host.caddyUrl}${p}`, concurrency }))
      const watch = watchCaddy(host)
      // Traffic flowing before the roll begins.
      await new Promise((resolve) => setTimeout(resolve, 300))
      const r = await host.run(["restart", ...flavour.rollNames])
      await new Promise((resolve) => setTimeout(resolve, 300))
      const seen = await watch.stop()
      const results = await Promise.all(loads.map((l) => l.stop()))
      const summaries = results.map((l) => summarizeLoad(l.records))
      const resent = results.reduce((n, l) => n + l.retriedOnReusedConnection, 0)
      expect(r.code, said(r)).toBe(0)

      const after = await host.snapshot()
      for (const name of flavour.rolled) {
        expect(after[name]?.running, name).toBe(true)
        expect(after[name]?.pid, name).not.toBeNull()
        expect(after[name]?.pid, name).not.toBe(before[name]?.pid)
      }
      // Services not named kept running untouched.
      for (const name of Object.keys(before).filter((n) => !flavour.rolled.includes(n)))
        expect(after[name], name).toEqual(before[name])

      // Caddy runs its own config again, exactly as before the command, and tamanu keeps no restore.
      expect(sameJson(await readConfig(host.caddyAdminUrl), ownConfig), "Caddy's live config after the restart").toBe(
        true,
      )
      expect(fs.existsSync(host.routingStateFile), host.routingStateFile).toBe(false)
      // Meanwhile Caddy never named an address that did not serve.
      expect(seen.onlyDead).toEqual([])
      expect(seen.someDead).toEqual([])
      expect(seen.samples).toBeGreaterThan(0)

      const served = summaries.reduce((n, s) => n + s.served, 0)
      const failed = summaries.reduce((n, s) => n + s.failed, 0)
      const bootSum = READY_DELAY_MS * flavour.rolled.length
      // Caddy's config loads during the command (the watch saw each config; the first is the one before).
      const loadsSeen = seen.configs.length - 1
      const firstChangeMs = seen.configs[1]?.atMs ?? 0
      const restoredMs = seen.configs.at(-1)?.atMs ?? 0
      process.stderr.write(
        `[e2e ${supervisor}] restart ${flavour.rollNames.join(" ")}: ${served} served, ${failed} failed, ` +
          `${resent} resent after Caddy closed a reused keep-alive connection at one of its ${loadsSeen} config loads ` +
          `(${summaries.map((s) => JSON.stringify(s.outcomes)).join(", ")}; p99 ${summaries.map((s) => Math.round(s.latencyMs.p99)).join("/")} ms, ` +
          `max ${summaries.map((s) => Math.round(s.latencyMs.max)).join("/")} ms); command wall ${Math.round(r.elapsedMs)} ms ` +
          `vs ${bootSum} ms of boot (${flavour.rolled.length} × ${READY_DELAY_MS} ms); Caddy's own config back ` +
          `${Math.round(restoredMs - firstChangeMs)} ms after tamanu's first load\n`,
      )
      // No request lost. A request sent on a kept-alive connection that Caddy closed at a config load is
      // resent once on a fresh one, as a browser does (browserLoad.ts); that is counted above and bounded:
      // at most once per connection of the load per config load.
      expect(failed, JSON.stringify(summaries)).toBe(0)
      expect(resent).toBeLessThanOrEqual(loadsSeen * concurrency * loads.length)
      for (const s of summaries) expect(s.served).toBeGreaterThan(0)
      // One instance at a time, each waited for: the roll cannot be faster than the boots in sequence.
      expect(r.elapsedMs).toBeGreaterThanOrEqual(bootSum)
      if (supervisor === "systemd") {
        // dynamic a (refresh 1 minute, Caddy's default): tamanu's first load took the handlers off Caddy's DNS
        // cache, and its own config came back only once an answer cached before then had expired.
        expect(loadsSeen).toBeGreaterThanOrEqual(flavour.rolled.length + 1)
        expect(restoredMs - firstChangeMs).toBeGreaterThanOrEqual(60_000)
        // ... and no later than that wait, roughly (refresh + tamanu's 2 s margin; the rest is the watch's sampling):
        // the roll (4 boots of 1 s) ends well before it.
        expect(restoredMs - firstChangeMs).toBeLessThan(62_000 + 10_000)
        // So the command took the roll and that wait: at least the refresh, and the restore was its last act.
        expect(r.elapsedMs).toBeGreaterThanOrEqual(60_000)
        // Probe URLs came from podman: each rolled instance was probed at its container's address now.
        for (const name of flavour.rolled) {
          const ip = host.addressOf(name)
          expect(ip, name).not.toBeNull()
          const progress = `${r.stdout}${r.stderr}`
          expect(progress, name).toMatch(
            new RegExp(`${name} ready after \\d+ ms \\(http://${ip?.replaceAll(".", "\\.")}:3000/\\)`),
          )
        }
      }
    })

    it("a NAME that matches nothing is a usage error listing the available names, and changes nothing", async () => {
      await host.startAll()
      const before = await host.snapshot()
      for (const command of ["status", "start", "stop", "restart"]) {
        const r = await host.run([command, "snyc"])
        expect(r.code, `${command}: ${said(r)}`).toBe(2)
        expect(r.stderr).toContain("snyc")
        for (const name of flavour.services) expect(r.stderr, `${command} lists ${name}`).toContain(name)
        expect(r.stdout).toBe("")
      }
      expect(await host.snapshot()).toEqual(before)
    })

    it("--ignore-unmatched with only a typo does nothing and exits 0", async () => {
      await host.startAll()
      await host.run(["stop", "sync"])
      const before = await host.snapshot()
      for (const command of ["start", "stop", "restart"]) {
        const r = await host.run([command, "--ignore-unmatched", "snyc"])
        expect(r.code, `${command}: ${said(r)}`).toBe(0)
        expect(r.stderr).toContain("snyc")
      }
      // Neither the stopped sync was started nor anything running stopped or restarted.
      expect(await host.snapshot()).toEqual(before)
    })

    it("--dry-run prints the plan and changes nothing", async () => {
      await host.startAll()
      const stopped = await host.run(["stop", "sync"])
      expect(stopped.code, said(stopped)).toBe(0)
      const before = await host.snapshot()

      const start = await host.run(["start", "--dry-run"])
      expect(start.code, said(start)).toBe(0)
      expect(`${start.stdout}${start.stderr}`).toContain(flavour.sync)

      const restart = await host.run(["restart", "--dry-run", ...flavour.rollNames])
      expect(restart.code, said(restart)).toBe(0)
      for (const name of flavour.rolled) {
        const shown = supervisor === "systemd" ? name : "tamanu-api"
        expect(`${restart.stdout}${restart.stderr}`).toContain(shown)
      }

      const stop = await host.run(["stop", "--dry-run"])
      expect(stop.code, said(stop)).toBe(0)
      expect(await host.snapshot()).toEqual(before)
    })

    it("a roll stopped by --probe-timeout exits 1 and its --json report has the plan and what was and was not restarted", async () => {
      await host.startAll()
      // The services take READY_DELAY_MS (1 s) to answer: a 10 ms budget stops the roll at its first
      // instance however late the probe begins (it was 300 ms, 700 ms short of the boot).
      const r = await host.run(["restart", "api", "--json", "--probe-timeout", "10ms"])
      expect(r.code, said(r)).toBe(1)
      const report = JSON.parse(r.stdout) as {
        readonly ok: boolean
        readonly plan: ReadonlyArray<string>
        readonly restarted: ReadonlyArray<string>
        readonly not_restarted: ReadonlyArray<string>
        readonly error: { readonly tag: string } | null
      }
      expect(report.ok).toBe(false)
      expect(report.error?.tag).toBe("RollStopped")
      expect(report.plan.length, r.stdout).toBeGreaterThan(0)
      expect(report.restarted, r.stdout).toHaveLength(1)
      expect(report.not_restarted, r.stdout).toHaveLength(1)
      await host.startAll()
    })

    it("what the operator reads on stderr is tamanu's own: no Node runtime warnings", async () => {
      await host.startAll()
      for (const args of [["status"], ["start"], ["restart", "--dry-run"], ["stop", "--dry-run"]]) {
        const r = await host.run(args)
        expect(r.stderr, args.join(" ")).not.toMatch(/\(node:\d+\)|DeprecationWarning|ExperimentalWarning/)
      }
    })

    if (supervisor === "systemd") {
      it("a running leftover tamanu-facility.service is flagged by status and stopped and disabled by start", async () => {
        await host.startAll()
        const enable = await host.systemctl(["enable", "--now", "tamanu-facility.service"])
        expect(enable.exitCode, enable.stderr).toBe(0)
        const before = await host.snapshot()
        expect(before["tamanu-facility"]?.running).toBe(true)

        const status = await statusJson(host)
        expect(status.code).toBe(1)
        const legacy = byName(status.json, "tamanu-facility")
        expect(legacy.status).toBe("forbidden")
        expect(legacy.legacy).toBe(true)
        expect(legacy.expected_state).toBe("down")

        const start = await host.run(["start"])
        expect(start.code, said(start)).toBe(0)
        const after = await host.snapshot()
        expect(after["tamanu-facility"]).toEqual({ running: false, pid: null, enabled: "disabled" })
        for (const name of Object.keys(host.instances)) expect(after[name], name).toEqual(before[name])
        expect((await host.run(["status"])).code).toBe(0)
      })
    }

    if (supervisor === "pm2") {
      it("with the pm2 daemon down, commands say so, exit 1, and start no daemon", async () => {
        const home = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-e2e-nopm2-"))
        try {
          for (const command of ["status", "start", "stop", "restart"]) {
            const r = await host.run([command], { env: { PM2_HOME: home } })
            expect(r.code, `${command}: ${said(r)}`).toBe(1)
            expect(r.stderr, command).toMatch(/pm2/)
            expect(r.stderr, command).toMatch(/not running|daemon/i)
          }
          expect(fs.readdirSync(home).filter((f) => /pid|sock/.test(f))).toEqual([])
          expect(pidsWithCommandLine(home)).toEqual([])
        } finally {
          fs.rmSync(home, { recursive: true, force: true })
        }
      })
    }
  })
}

describeNoLeftovers("the end-to-end suite")
