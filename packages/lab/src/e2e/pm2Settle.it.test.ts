/**
 * The settle window (issue #23) on pm2, through the built `tamanu`: a pm2
 * sandbox host (a Windows-shaped facility: a real pm2 daemon in a throwaway
 * PM2_HOME, Caddy in front), whose `tamanu-sync` is registered again with
 * the fixture's EXIT_AFTER_MS so that it exits 3 a second after it starts,
 * with pm2's autorestart (its default: a crash loop) or without.
 *
 * Timing bounds are loose on purpose; the figures are printed.
 *
 * The same sandbox also carries pm2's release directories (issue #22): two
 * `release-vX.Y.Z` folders, `tamanu-api` processes running from each, status
 * against the newest as the install root.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePorts, pm2FixtureScript } from "../harness/pm2Daemon.js"
import { skipUnless } from "../harness/prerequisites.js"
import {
  type CliResult,
  leftoverSandboxProcesses,
  type SandboxHost,
  sandboxPrerequisites,
  startSandboxHost,
} from "./sandboxHost.js"

const said = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`
const givingUp = /tamanu-sync#\d+ \| tamanu-sync: cannot reach the database, giving up \(exit 3\)/

interface Report {
  readonly elapsed_ms: number
  readonly settle: ReadonlyArray<{
    readonly instance: string
    readonly window_ms: number
    readonly result: string
    readonly how: string | null
    readonly exit_code: number | null
    readonly lasted_ms: number | null
  }>
  readonly last_lines: ReadonlyArray<{ readonly instance: string; readonly lines: ReadonlyArray<string> }>
  readonly error: { readonly tag: string; readonly message: string } | null
}

describe.skipIf(skipUnless(...sandboxPrerequisites("pm2")))(
  "the settle window on pm2, through the built tamanu",
  () => {
    let host: SandboxHost
    let port = 0

    beforeAll(async () => {
      host = await startSandboxHost({ supervisor: "pm2", readyDelayMs: 300, startServices: false })
      ;[port] = (await freePorts(1)) as [number]
    }, 120_000)
    afterAll(async () => {
      await host?.stop()
      expect(leftoverSandboxProcesses()).toEqual([])
    }, 60_000)

    /** Register `tamanu-sync` again (stopped) with this environment and autorestart. */
    const sync = async (env: Readonly<Record<string, string>>, autorestart: boolean) => {
      await host.pm2(["delete", "tamanu-sync"])
      const file = path.join(host.dir, `sync-${Date.now()}.json`)
      fs.writeFileSync(
        file,
        JSON.stringify({
          apps: [
            {
              name: "tamanu-sync",
              script: pm2FixtureScript,
              // The sandbox's marker, so its leftover check sees this process too.
              args: [`--sandbox=${host.dir}`],
              env: { PORT: String(port), HOST: "127.0.0.1", READY_DELAY_MS: "300", ...env },
              autorestart,
            },
          ],
        }),
      )
      await host.pm2(["start", file])
      await host.pm2(["stop", "tamanu-sync"])
    }
    const report = (r: CliResult): Report => {
      expect(r.stdout.trim().startsWith("{"), said(r)).toBe(true)
      return JSON.parse(r.stdout) as Report
    }

    it("a process that exits 3 a second after it starts, which pm2 restarts (a crash loop): exit 1, exit code 3, its own line", async () => {
      await sync({ EXIT_AFTER_MS: "1000", EXIT_CODE: "3" }, true)
      const r = await host.run(["start", "sync", "--no-probe-http", "--json"])
      expect(r.code, said(r)).toBe(1)
      const doc = report(r)
      expect(doc.error?.tag).toBe("SettleFailed")
      expect(doc.error?.message).toMatch(/tamanu-sync#\d+ did not stay up through the 5s settle window: pm2 says it/)
      expect(doc.settle[0]).toMatchObject({ result: "ended", exit_code: 3 })
      expect(["restarted", "failed"]).toContain(doc.settle[0]?.how)
      expect(doc.last_lines[0]?.lines.join("\n")).toMatch(givingUp)
      // The human form: the same line on stderr.
      expect(r.stderr).toMatch(givingUp)
      process.stderr.write(
        `[settle pm2] crash loop: ${JSON.stringify(doc.settle[0])}, start took ${doc.elapsed_ms} ms\n`,
      )
    })

    it("without autorestart: `failed`, exit code 3, about a second (pm2 records no exit time: an upper bound)", async () => {
      await sync({ EXIT_AFTER_MS: "1000", EXIT_CODE: "3" }, false)
      const r = await host.run(["start", "sync", "--no-probe-http", "--json"])
      expect(r.code, said(r)).toBe(1)
      const doc = report(r)
      expect(doc.settle[0]).toMatchObject({ result: "ended", how: "failed", exit_code: 3 })
      expect(doc.settle[0]?.lasted_ms ?? 0).toBeGreaterThanOrEqual(1000)
      expect(doc.settle[0]?.lasted_ms ?? 0).toBeLessThan(30_000)
    })

    it("--logs shows the start's lines from the start call on, the last one included", async () => {
      await sync({ EXIT_AFTER_MS: "1000", EXIT_CODE: "3" }, false)
      const r = await host.run(["start", "sync", "--no-probe-http", "--logs"])
      expect(r.code, said(r)).toBe(1)
      expect(r.stderr).toMatch(/tamanu-sync#\d+ \| tamanu-sync listening on 127\.0\.0\.1:/)
      expect(r.stderr).toMatch(givingUp)
    })

    it("a process that stays up: exit 0, and the window adds about the --settle setting", async () => {
      await sync({}, true)
      const runs: Array<{ readonly settle: string; readonly elapsed: number }> = []
      for (const settle of ["0s", "3s"]) {
        await host.pm2(["stop", "tamanu-sync"])
        const r = await host.run(["start", "sync", "--no-probe-http", "--settle", settle, "--json"])
        expect(r.code, said(r)).toBe(0)
        const doc = report(r)
        expect(doc.settle.map((s) => s.result)).toEqual(settle === "0s" ? [] : ["steady"])
        runs.push({ settle, elapsed: doc.elapsed_ms })
      }
      const [without, withWindow] = runs
      const added = (withWindow?.elapsed ?? 0) - (without?.elapsed ?? 0)
      process.stderr.write(`[settle pm2] healthy start: ${JSON.stringify(runs)}; the 3s window added ${added} ms\n`)
      expect(withWindow?.elapsed ?? 0).toBeGreaterThanOrEqual(3000)
      expect(added).toBeLessThan(3000 + 5000)
    })

    it("release directories (issue #22): tamanu-api from release-v2.64.0 and release-v2.65.0 against a 2.65.0 root is drift, exit 1, per-instance versions; once both run from release-v2.65.0, exit 0", async () => {
      // As under C:\Tamanu: one folder per release, each with its own copy of the server; the install root is the newest.
      const releases = ["2.64.0", "2.65.0"].map((v) => {
        const dir = path.join(host.dir, `release-v${v}`)
        fs.cpSync(host.root, dir, { recursive: true })
        const script = path.join(dir, "packages", "facility-server", "dist", "index.mjs")
        fs.mkdirSync(path.dirname(script), { recursive: true })
        fs.copyFileSync(pm2FixtureScript, script)
        return { version: v, dir, script }
      })
      const [older, newer] = releases as [(typeof releases)[0], (typeof releases)[0]]
      const apiPorts = Object.entries(host.instances)
        .filter(([name]) => name.startsWith("tamanu-api#"))
        .map(([, url]) => new URL(url).port)
      expect(apiPorts).toHaveLength(2)
      /** Both tamanu-api processes again, in one registration, the first from `first`, the second from `second`. */
      const registerApi = async (first: typeof older, second: typeof older) => {
        await host.pm2(["delete", "tamanu-api"])
        const file = path.join(host.dir, `api-${Date.now()}.json`)
        fs.writeFileSync(
          file,
          JSON.stringify({
            apps: [first, second].map((release, i) => ({
              name: "tamanu-api",
              script: release.script,
              cwd: release.dir,
              args: [`--sandbox=${host.dir}`],
              env: { PORT: apiPorts[i], HOST: "127.0.0.1", READY_DELAY_MS: "300" },
            })),
          }),
        )
        await host.pm2(["start", file])
      }
      interface Versions {
        readonly version_drift: boolean
        readonly expected_version: string | null
        readonly expectations: ReadonlyArray<{
          readonly name: string
          readonly instances: ReadonlyArray<{
            readonly pm_id: number | null
            readonly version_actual: string | null
            readonly version_status: string
          }>
        }>
      }
      const status = async () => {
        const r = await host.run(["status", "--json"], { env: { TAMANU_ROOT: newer.dir } })
        const doc = JSON.parse(r.stdout) as Versions
        const api = doc.expectations.find((e) => e.name === "tamanu-api")?.instances ?? []
        return { r, doc, api: api.map((i) => [i.version_actual, i.version_status]) }
      }
      await registerApi(older, newer)
      await host.pm2(["start", "all"])
      const drift = await status()
      expect(drift.r.code, said(drift.r)).toBe(1)
      expect(drift.doc.expected_version).toBe("2.65.0")
      expect(drift.doc.version_drift).toBe(true)
      expect(drift.api, said(drift.r)).toEqual([
        ["2.64.0", "mismatch"],
        ["2.65.0", "match"],
      ])
      const table = await host.run(["status"], { env: { TAMANU_ROOT: newer.dir } })
      expect(table.code, said(table)).toBe(1)
      expect(table.stdout, said(table)).toContain("2.64.0 drift (expected 2.65.0)")

      // The upgrade done: both from the new release folder.
      await registerApi(newer, newer)
      const done = await status()
      expect(done.r.code, said(done.r)).toBe(0)
      expect(done.doc.version_drift).toBe(false)
      expect(done.api, said(done.r)).toEqual([
        ["2.65.0", "match"],
        ["2.65.0", "match"],
      ])
      process.stderr.write(`[versions pm2] drift: ${JSON.stringify(drift.api)}; after: ${JSON.stringify(done.api)}\n`)
    })
  },
)
