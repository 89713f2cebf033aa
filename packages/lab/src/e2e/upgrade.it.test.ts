/**
 * Issue #22 on the real shape of a Linux host (sandboxHost.ts: podman
 * containers under a systemd user manager, Caddy with `dynamic a` upstreams
 * and its default 1-minute refresh, continuous load through Caddy), with
 * images that carry versions: the API and frontend units run
 * `localhost/tamanu-facility:v${TAMANU_VERSION}` (the
 * `org.opencontainers.image.version` label set, and the service answering
 * `X-Version`) and `localhost/tamanu-frontend:v${TAMANU_FRONTEND_VERSION}`
 * (the tag alone says the version), the tag taken from the root's env file
 * at each start, as a Tamanu host's units do. The upgrade, as an operator
 * runs it:
 * 1. the env file says 2.65.0 while 2.64.0 runs: `status` exits 1, drift on
 *    every API and frontend instance, read from the label (API) and from
 *    the tag (frontend);
 * 4. with `/run/tamanu/upgrade-in-progress` present (the path the CLI reads;
 *    a tmpfs of the sandbox's own), the same state is `upgrading`, exit 0;
 *    `restart api frontend --dry-run` lists each instance's `2.64.0 → 2.65.0`
 *    and touches nothing;
 * 2. `restart api frontend` rolls every instance to 2.65.0, 0 lost, each
 *    line showing `2.64.0 → 2.65.0`, the API serving 2.65.0 (`X-Version`);
 * 3. `status` exits 0, every instance `match`.
 * One sandbox, one roll.
 */
import * as fs from "node:fs"
import { afterAll, describe, expect, it } from "vitest"
import { skipUnless } from "../harness/prerequisites.js"
import { loadTotals, startBrowserLoad } from "./browserLoad.js"
import { readConfig, sameJson, watchCaddy } from "./caddyWatch.js"
import { describeNoLeftovers } from "./leftovers.js"
import {
  type CliResult,
  envFileOf,
  type SandboxHost,
  sandboxPrerequisites,
  startSandboxHost,
  versionEnv,
} from "./sandboxHost.js"

const READY_DELAY_MS = 1000
const LOAD_PATHS = ["/api/patients", "/"] as const
const FROM = "2.64.0"
const TO = "2.65.0"
const ROLLED = ["tamanu-facility-api@1", "tamanu-facility-api@2", "tamanu-frontend@a", "tamanu-frontend@b"] as const
const MARKER = "/run/tamanu/upgrade-in-progress"

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
const said = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

interface StatusInstance {
  readonly name: string
  readonly instance: string | null
  readonly version_actual: string | null
  readonly version_status: string
}
interface StatusJson {
  readonly expected_version: string | null
  readonly version_drift: boolean
  readonly upgrade: { readonly in_progress: boolean; readonly target: string | null } | null
  readonly expectations: ReadonlyArray<{
    readonly name: string
    readonly expected_version: string | null
    readonly instances: ReadonlyArray<StatusInstance>
  }>
}

/** `tamanu-facility-api@1` → its entry in `status --json`. */
const instanceIn = (status: StatusJson, display: string): StatusInstance | undefined => {
  const [name, instance] = display.split("@")
  return status.expectations
    .find((e) => e.name === name)
    ?.instances.find((i) => i.name === name && (instance === undefined || i.instance === instance))
}

const statusJson = async (host: SandboxHost): Promise<{ readonly r: CliResult; readonly json: StatusJson }> => {
  const r = await host.run(["status", "--json"])
  return { r, json: JSON.parse(r.stdout) as StatusJson }
}

/** The image a sandbox container runs now, asked of podman directly (not through the CLI). */
const imageOf = async (host: SandboxHost, instance: string): Promise<string> => {
  const podman = host.podman
  if (podman === null) throw new Error("a systemd sandbox has podman")
  const container = `${podman.name}-${instance.replace("@", "-")}`
  const r = await podman.podman(["inspect", "--format", "{{.ImageName}}", container])
  return r.stdout.trim()
}

const hosts: Array<SandboxHost> = []

describe.skipIf(skipUnless(...sandboxPrerequisites("systemd")))(
  "an upgrade on the real shape, with images that carry versions, under load through Caddy (issue #22)",
  () => {
    afterAll(async () => {
      await Promise.all(hosts.map((h) => h.stop()))
    })

    it(`env file at ${TO} while ${FROM} runs: drift, exit 1 (upgrading, exit 0, with the marker); restart api frontend rolls every instance ${FROM} → ${TO} with 0 lost; then status exits 0`, {
      timeout: 300_000,
    }, async () => {
      const began = Date.now()
      const host = await startSandboxHost({
        supervisor: "systemd",
        readyDelayMs: READY_DELAY_MS,
        versions: { running: FROM, images: [FROM, TO] },
        namePrefix: "upg",
      })
      hosts.push(host)
      const lines: Array<string> = [`sandbox with its images up in ${Math.round((Date.now() - began) / 1000)} s`]
      try {
        for (const name of ROLLED) expect(await imageOf(host, name), name).toMatch(new RegExp(`:v${FROM}$`))
        const ownConfig = await readConfig(host.caddyAdminUrl)
        const before = await host.snapshot()
        const loads = LOAD_PATHS.map((p) =>
          startBrowserLoad({ url: `${host.caddyUrl}${p}`, concurrency: 1, pauseMs: 20, maxDurationMs: 240_000 }),
        )
        const watch = watchCaddy(host)
        let results: Awaited<ReturnType<(typeof loads)[number]["stop"]>>[] = []
        let seen: Awaited<ReturnType<typeof watch.stop>> | null = null
        try {
          await sleep(500)
          // The operator puts the new version in the env file; nothing has restarted yet.
          fs.writeFileSync(envFileOf(host.root), versionEnv(TO))

          // 1. Drift: exit 1, every API and frontend instance on 2.64.0 against 2.65.0.
          const drift = await statusJson(host)
          expect(drift.r.code, said(drift.r)).toBe(1)
          expect(drift.json.expected_version).toBe(TO)
          expect(drift.json.version_drift).toBe(true)
          expect(drift.json.upgrade).toBeNull()
          for (const name of ROLLED)
            expect(instanceIn(drift.json, name), `${name}\n${said(drift.r)}`).toMatchObject({
              version_actual: FROM,
              version_status: "mismatch",
            })
          const table = await host.run(["status"])
          expect(table.code, said(table)).toBe(1)
          expect(table.stdout, said(table)).toContain(`${FROM} drift (expected ${TO})`)

          // 4. The same state while an upgrade tool's marker is there: upgrading, exit 0.
          const write = await host.runNode([
            "-e",
            `require("fs").writeFileSync(${JSON.stringify(MARKER)}, ${JSON.stringify(`${TO}\n`)})`,
          ])
          expect(write.code, said(write)).toBe(0)
          const upgrading = await statusJson(host)
          expect(upgrading.r.code, said(upgrading.r)).toBe(0)
          expect(upgrading.json.version_drift).toBe(false)
          expect(upgrading.json.upgrade).toMatchObject({ in_progress: true, target: TO })
          for (const name of ROLLED)
            expect(instanceIn(upgrading.json, name), `${name}\n${said(upgrading.r)}`).toMatchObject({
              version_actual: FROM,
              version_status: "upgrading",
            })
          const upgradingTable = await host.run(["status"])
          expect(upgradingTable.code, said(upgradingTable)).toBe(0)
          expect(upgradingTable.stdout, said(upgradingTable)).toContain(`${FROM} upgrading to ${TO}`)
          const remove = await host.runNode(["-e", `require("fs").rmSync(${JSON.stringify(MARKER)})`])
          expect(remove.code, said(remove)).toBe(0)
          // The marker was the sandbox's own (a tmpfs in the manager's namespace), never the machine's.
          expect(fs.existsSync(MARKER)).toBe(false)

          // What the roll would do, before anything is touched: which instance runs which version.
          const dry = await host.run(["restart", "api", "frontend", "--dry-run"])
          expect(dry.code, said(dry)).toBe(0)
          for (const name of ROLLED)
            expect(`${dry.stdout}${dry.stderr}`, `${name}\n${said(dry)}`).toContain(`  ${name}: ${FROM} → ${TO}`)
          expect((await host.snapshot())["tamanu-facility-api@1"]?.pid).toBe(before["tamanu-facility-api@1"]?.pid)

          // 2. The roll: every instance moves 2.64.0 → 2.65.0, the API serving 2.65.0.
          const roll = await host.run(["restart", "api", "frontend"])
          lines.push(`restart api frontend: exit ${roll.code} after ${Math.round(roll.elapsedMs)} ms`)
          expect(roll.code, said(roll)).toBe(0)
          // The roll's progress lines are on stderr.
          const rolled = `${roll.stdout}${roll.stderr}`
          const after = await host.snapshot()
          for (const name of ROLLED) {
            expect(after[name]?.running, name).toBe(true)
            expect(after[name]?.pid, name).not.toBe(before[name]?.pid)
            expect(rolled, `${name}\n${said(roll)}`).toMatch(
              new RegExp(`● ${name} running after .* ${FROM} → ${TO}(?! \\(expected)`),
            )
            expect(await imageOf(host, name), name).toMatch(new RegExp(`:v${TO}$`))
          }
          for (const name of ROLLED.filter((n) => n.startsWith("tamanu-facility-api")))
            expect(rolled, `${name}\n${said(roll)}`).toMatch(new RegExp(`✓ ${name} ready after .*, serving ${TO} `))
          // The frontend answers no X-Version: its move is its image's tag alone.
          for (const name of ROLLED.filter((n) => n.startsWith("tamanu-frontend")))
            expect(rolled, `${name}\n${said(roll)}`).toMatch(new RegExp(`✓ ${name} ready after \\d+ ms \\(`))
          expect(sameJson(await readConfig(host.caddyAdminUrl), ownConfig), said(roll)).toBe(true)

          // 3. Everything on the new version: exit 0.
          const done = await statusJson(host)
          expect(done.r.code, said(done.r)).toBe(0)
          expect(done.json.version_drift).toBe(false)
          for (const name of ROLLED)
            expect(instanceIn(done.json, name), `${name}\n${said(done.r)}`).toMatchObject({
              version_actual: TO,
              version_status: "match",
            })
          // The singletons still run from the host's root: no image, so no version, which never fails.
          for (const name of ["tamanu-facility-tasks", "tamanu-facility-sync"])
            expect(instanceIn(done.json, name), `${name}\n${said(done.r)}`).toMatchObject({
              version_actual: null,
              version_status: "unknown",
            })
          await sleep(1_000)
        } finally {
          seen = await watch.stop()
          results = await Promise.all(loads.map((l) => l.stop()))
        }
        const { summaries, served, lost } = loadTotals(results)
        lines.push(`whole test ${Math.round((Date.now() - began) / 1000)} s`)
        process.stderr.write(
          `[upgrade] ${lines.join("; ")}; ${served} served, ${lost} lost (${summaries.map((s) => JSON.stringify(s.outcomes)).join(", ")}); ${seen.samples} config samples\n`,
        )
        expect(seen.onlyDead, "Caddy routed only to addresses that did not serve").toEqual([])
        expect(seen.someDead, "Caddy named an address that did not serve").toEqual([])
        expect(lost, JSON.stringify(summaries)).toBe(0)
        for (const s of summaries) expect(s.served).toBeGreaterThan(0)
      } finally {
        await host.stop()
      }
    })
  },
)

describeNoLeftovers("the upgrade suite")
