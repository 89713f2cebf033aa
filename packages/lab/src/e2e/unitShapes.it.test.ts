/**
 * Issue #20: zero downtime whatever the unit looks like. The real-shape
 * sandbox (sandboxHost.ts: podman containers under a systemd user manager,
 * Caddy as a user unit with `dynamic a` upstreams and its DEFAULT 1-minute
 * refresh) with each way a host may run its containers (harness/podman.ts
 * `UnitShape`), and `tamanu restart api frontend` under two browser-like
 * loads through Caddy:
 * - `notify` (`podman generate systemd --new`), `simple` (`podman run --rm`
 *   in the foreground: the unit is active before its container exists, where
 *   the race lives), `forking` (`podman start` of a labelled container): exit
 *   0, every instance restarted, 0 lost, Caddy never naming an address that
 *   does not serve, and Caddy back on its own config;
 * - `simple` with the podman-lock fault: another process holds podman's
 *   runtime lock for a few seconds while a restarted instance boots, so the
 *   unit's `podman run` and tamanu's own `podman ps` both wait on it: the same;
 * - `unlabelled` (no `PODMAN_SYSTEMD_UNIT` label: no container can be found
 *   for any unit): exit 1 naming an instance, before any take-down (no
 *   instance restarted), 0 lost, Caddy's own config in the end.
 *
 * Each case has its own sandbox and they run at the same time: each spends
 * most of its time waiting for Caddy's cached DNS answers to expire (a
 * minute from tamanu's first config load), and those waits overlap.
 */
import * as fs from "node:fs"
import { performance } from "node:perf_hooks"
import { afterAll, describe, expect, it } from "vitest"
import type { UnitShape } from "../harness/podman.js"
import { skipUnless } from "../harness/prerequisites.js"
import { loadTotals, startBrowserLoad } from "./browserLoad.js"
import { readConfig, sameJson, watchCaddy } from "./caddyWatch.js"
import { describeNoLeftovers } from "./leftovers.js"
import { type CliResult, type SandboxHost, sandboxPrerequisites, spawnChild, startSandboxHost } from "./sandboxHost.js"

const READY_DELAY_MS = 1000
const LOAD_PATHS = ["/api/patients", "/"] as const
/**
 * One client per path (as the failure suite): five sandboxes share the
 * machine, and the watch's own checks must not starve behind the load.
 */
const CONCURRENCY = 1
const ROLL = ["restart", "api", "frontend"] as const
const ROLLED = ["tamanu-facility-api@1", "tamanu-facility-api@2", "tamanu-frontend@a", "tamanu-frontend@b"] as const
/** How long the fault holds podman's lock. */
const LOCK_HOLD_MS = 4000

const said = (r: { code: number; stdout: string; stderr: string }) =>
  `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

interface SavedClock {
  readonly swappedAt: number
  readonly holdMillis: number
  readonly staled: boolean
}

/** When the state file says Caddy's own config may come back (epoch ms; -Infinity: at once). */
const restoreDueAt = (stateFile: string): number => {
  const saved = JSON.parse(fs.readFileSync(stateFile, "utf8")) as { readonly clocks: Record<string, SavedClock> }
  return Object.values(saved.clocks).reduce(
    (due, c) => (c.staled ? Math.max(due, c.swappedAt + c.holdMillis) : due),
    Number.NEGATIVE_INFINITY,
  )
}

/** The roll, with the podman-lock fault held from the moment tamanu says `when`, if asked. */
const roll = async (
  host: SandboxHost,
  fault: { readonly when: string } | null,
): Promise<{ readonly r: CliResult; readonly note: string }> => {
  if (fault === null) return { r: await host.run(ROLL), note: "" }
  const podman = host.podman
  if (podman === null) throw new Error("the podman-lock fault needs a systemd sandbox")
  const { child, output, exited } = spawnChild(host.cliArgv(ROLL), host.env)
  const deadline = performance.now() + 60_000
  while (!output().includes(fault.when)) {
    if (child.exitCode !== null) throw new Error(`tamanu exited before saying "${fault.when}":\n${output()}`)
    if (performance.now() > deadline) throw new Error(`tamanu did not say "${fault.when}" within 60 s:\n${output()}`)
    await sleep(10)
  }
  const heldAt = performance.now()
  const held = await podman.holdLock(LOCK_HOLD_MS)
  const gotIt = performance.now() - heldAt
  await held.released
  return {
    r: await exited,
    note: `podman's lock held ${LOCK_HOLD_MS} ms from ${Math.round(gotIt)} ms after "${fault.when}"; `,
  }
}

interface Case {
  readonly shape: UnitShape
  readonly fault: { readonly when: string } | null
  /** Exit 0 and every instance restarted; or exit 1 before any take-down. */
  readonly expect: "rolled" | "stopped before any take-down"
}

const cases: Readonly<Record<string, Case>> = {
  "Type=notify (podman generate systemd --new): 0 lost, Caddy's own config back": {
    shape: "notify",
    fault: null,
    expect: "rolled",
  },
  "Type=simple (podman run --rm in the foreground, active before its container exists): 0 lost, Caddy's own config back":
    {
      shape: "simple",
      fault: null,
      expect: "rolled",
    },
  "Type=forking (podman start of a container created with the label): 0 lost, Caddy's own config back": {
    shape: "forking",
    fault: null,
    expect: "rolled",
  },
  "Type=simple, podman's lock held by another process while a restarted instance boots: 0 lost, Caddy's own config back":
    {
      shape: "simple",
      fault: { when: "restarting tamanu-facility-api@1" },
      expect: "rolled",
    },
  "a unit whose container carries no PODMAN_SYSTEMD_UNIT label: exit 1 naming the instance before any take-down, 0 lost":
    {
      shape: "unlabelled",
      fault: null,
      expect: "stopped before any take-down",
    },
}

const hosts: Array<SandboxHost> = []

describe.skipIf(skipUnless(...sandboxPrerequisites("systemd")))(
  "restart api frontend under load on each unit shape (issue #20)",
  () => {
    afterAll(async () => {
      await Promise.all(hosts.map((h) => h.stop()))
    })

    describe.concurrent("each unit shape", () => {
      for (const [title, c] of Object.entries(cases)) {
        it(title, { timeout: 300_000 }, async () => {
          const host = await startSandboxHost({
            supervisor: "systemd",
            readyDelayMs: READY_DELAY_MS,
            unitShape: c.shape,
          })
          hosts.push(host)
          try {
            const ownConfig = await readConfig(host.caddyAdminUrl)
            const before = await host.snapshot()
            const loads = LOAD_PATHS.map((p) =>
              startBrowserLoad({
                url: `${host.caddyUrl}${p}`,
                concurrency: CONCURRENCY,
                pauseMs: 20,
                maxDurationMs: 240_000,
              }),
            )
            const watch = watchCaddy(host)
            const lines: Array<string> = []
            let results: Awaited<ReturnType<(typeof loads)[number]["stop"]>>[] = []
            let seen: Awaited<ReturnType<typeof watch.stop>> | null = null
            try {
              // Traffic flowing before the roll begins.
              await sleep(500)
              const { r, note } = await roll(host, c.fault)
              const after = await host.snapshot()
              const output = `${r.stdout}${r.stderr}`
              lines.push(`${note}exit ${r.code} after ${Math.round(r.elapsedMs)} ms`)
              if (c.expect === "rolled") {
                expect(r.code, said(r)).toBe(0)
                for (const name of ROLLED) {
                  expect(after[name]?.running, name).toBe(true)
                  expect(after[name]?.pid, name).not.toBe(before[name]?.pid)
                }
              } else {
                expect(r.code, said(r)).toBe(1)
                // It names the first instance of the roll (the frontend rolls first), whose container has no label.
                expect(output, said(r)).toContain("tamanu-frontend@a")
                expect(output, said(r)).toContain("PODMAN_SYSTEMD_UNIT")
                // Never rolled blind: nothing was taken down.
                for (const name of ROLLED) expect(after[name], `${name}\n${said(r)}`).toEqual(before[name])
                // If it changed Caddy's routing, the next run once due puts Caddy's own config back.
                if (fs.existsSync(host.routingStateFile)) {
                  const wait = Math.min(restoreDueAt(host.routingStateFile) - Date.now() + 500, 180_000)
                  lines.push(`restore due ${Math.round(wait)} ms later`)
                  await sleep(wait)
                  const next = await host.run(["start"])
                  expect(next.code, said(next)).toBe(0)
                }
              }
              expect(sameJson(await readConfig(host.caddyAdminUrl), ownConfig), said(r)).toBe(true)
              expect(fs.existsSync(host.routingStateFile), said(r)).toBe(false)
              // Traffic keeps flowing on Caddy's own config for a moment more.
              await sleep(1_000)
            } finally {
              seen = await watch.stop()
              results = await Promise.all(loads.map((l) => l.stop()))
            }
            const { summaries, served, lost, resent } = loadTotals(results)
            const configLoads = seen.configs.length - 1
            process.stderr.write(
              `[unit shape ${c.shape}${c.fault === null ? "" : " + podman lock"}] ${lines.join("; ")}; ${served} served, ` +
                `${lost} lost, ${resent} resent after Caddy closed a reused keep-alive connection at one of its ` +
                `${configLoads} config loads (${summaries.map((s) => JSON.stringify(s.outcomes)).join(", ")}); ` +
                `${seen.samples} config samples\n`,
            )
            expect(seen.onlyDead, "Caddy routed only to addresses that did not serve").toEqual([])
            expect(seen.someDead, "Caddy named an address that did not serve").toEqual([])
            expect(seen.samples).toBeGreaterThan(0)
            expect(lost, JSON.stringify(summaries)).toBe(0)
            // Resent at most once per load connection per config load (browserLoad.ts says why that is no loss).
            expect(resent).toBeLessThanOrEqual(configLoads * CONCURRENCY * LOAD_PATHS.length)
            for (const s of summaries) expect(s.served).toBeGreaterThan(0)
          } finally {
            await host.stop()
          }
        })
      }
    })
  },
)

describeNoLeftovers("the unit-shape suite")
