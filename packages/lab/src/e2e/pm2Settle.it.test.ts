/**
 * The settle window (issue #23) on pm2, through the built `tamanu`: a pm2
 * sandbox host (a Windows-shaped facility: a real pm2 daemon in a throwaway
 * PM2_HOME, Caddy in front), whose `tamanu-sync` is registered again with
 * the fixture's EXIT_AFTER_MS so that it exits 3 a second after it starts,
 * with pm2's autorestart (its default: a crash loop) or without.
 *
 * Timing bounds are loose on purpose; the figures are printed.
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
  },
)
