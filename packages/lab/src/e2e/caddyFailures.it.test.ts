/**
 * Spec §9.3 on the real shape of a Linux host (sandboxHost.ts: podman
 * containers under a systemd user manager, Caddy as a user unit with
 * `dynamic a` upstreams and its DEFAULT 1-minute refresh): whatever stops a
 * `tamanu restart api frontend` half-way, Caddy never routes only to
 * addresses that do not serve, no request through Caddy is lost during or
 * after, tamanu keeps its unfinished restore in the state file beside the
 * host lock, and the next `tamanu start` (or `restart`) once the restore is
 * due puts Caddy's own config back, JSON-equal to what it booted with.
 *
 * The ways a roll stops: (a) an instance that never becomes ready
 * (--probe-timeout), (b) a unit whose restart fails (the supervisor's error),
 * (c) Ctrl+C (SIGINT), (d) SIGTERM, (e) SIGKILL of tamanu itself.
 *
 * Each scenario runs on one of the unit shapes a host may use (issue #20,
 * harness/podman.ts `UnitShape`), so the suite covers each without running
 * more sandboxes: (a) `Type=notify`, (c), (e), (f) `Type=simple` (`podman
 * run --rm` in the foreground: active before its container exists, so a
 * signal right after `running` finds the container not yet there), (b), (d)
 * `Type=forking` (`podman start` of a labelled container). (a) and (f) change
 * an instance's boot time by a drop-in, which a `forking` unit's container
 * (its environment fixed when it was created) does not see.
 *
 * Each scenario has its own sandbox host and they run at the same time: each
 * spends most of its time waiting for Caddy's cached DNS answers to expire
 * (a minute from tamanu's first config load), and those waits overlap.
 * Under every scenario the whole time: continuous load through Caddy (both
 * paths), and `watchCaddy` reading Caddy's live config and checking each
 * address it names against the containers podman runs and an HTTP answer.
 */
import * as fs from "node:fs"
import { performance } from "node:perf_hooks"
import { afterAll, describe, expect, it } from "vitest"
import { isFailedRequest } from "../harness/load.js"
import type { UnitShape } from "../harness/podman.js"
import { skipUnless } from "../harness/prerequisites.js"
import { loadTotals, startBrowserLoad } from "./browserLoad.js"
import { readConfig, sameJson, watchCaddy } from "./caddyWatch.js"
import { describeNoLeftovers } from "./leftovers.js"
import { type CliResult, type SandboxHost, sandboxPrerequisites, spawnChild, startSandboxHost } from "./sandboxHost.js"

const READY_DELAY_MS = 1000
const LOAD_PATHS = ["/api/patients", "/"] as const
const ROLL = ["restart", "api", "frontend"] as const

const said = (r: { code: number; stdout: string; stderr: string }) =>
  `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

/** The built tamanu, started now, its output collected as it comes, so a test can act at a given moment of the roll. */
const spawnCli = (host: SandboxHost, args: ReadonlyArray<string>) => {
  const { child, output, exited } = spawnChild(host.cliArgv(args), host.env)
  /** Resolves once the output contains `text` (bounded; rejects if tamanu exits first). */
  const waitFor = async (text: string, limitMs = 60_000) => {
    const deadline = performance.now() + limitMs
    while (!output().includes(text)) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`tamanu exited before saying "${text}":\n${output()}`)
      if (performance.now() > deadline) throw new Error(`tamanu did not say "${text}" within ${limitMs} ms`)
      await sleep(20)
    }
  }
  return { child, exited, waitFor }
}

/** Resolves once every Tamanu instance of the host runs (bounded: 60 s). */
const allRunning = async (host: SandboxHost) => {
  const deadline = performance.now() + 60_000
  for (;;) {
    const snapshot = await host.snapshot()
    if (Object.keys(host.instances).every((name) => snapshot[name]?.running === true)) return
    if (performance.now() > deadline) throw new Error(`not all running: ${JSON.stringify(snapshot)}`)
    await sleep(200)
  }
}

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

interface Scenario {
  /** How the host's units run their containers. */
  readonly shape: UnitShape
  /** Put the host in the state that makes the roll fail (drop-ins). */
  readonly arrange?: (host: SandboxHost) => Promise<void>
  /** Run the roll and make it stop half-way. */
  readonly act: (host: SandboxHost) => Promise<CliResult>
  readonly expectFailed: (r: CliResult) => void
  /**
   * Right after the failure, before the restore is due (optional): a run
   * that finds the pins not yet due, waits for them, says when, and restores
   * (issue #25: not left to yet another run).
   */
  readonly early?: ReadonlyArray<string>
  /** Undo the cause (what an operator fixes before running tamanu again). */
  readonly repair?: (host: SandboxHost) => Promise<void>
  /** The next run once the restore is due. */
  readonly next: ReadonlyArray<string>
  /**
   * The next run must keep Caddy off an instance that still does not answer:
   * its own config stays away (the restore stays unfinished) and the run says
   * which instance, in this text. Without it, the next run restores.
   */
  readonly keepsPinned?: string
}

const dropIn = async (host: SandboxHost, unit: string, name: string, text: string | null) => {
  const dir = `${host.env.XDG_RUNTIME_DIR}/../config/systemd/user/${unit}.d`
  if (text === null) fs.rmSync(`${dir}/${name}`, { force: true })
  else {
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(`${dir}/${name}`, text)
  }
  const r = await host.systemctl(["daemon-reload"])
  if (r.exitCode !== 0) throw new Error(`daemon-reload: ${r.stderr}`)
}

/** Signal tamanu once its output says `when`. */
const signalled = (signal: NodeJS.Signals, when: string) => async (host: SandboxHost) => {
  const cli = spawnCli(host, ROLL)
  await cli.waitFor(when)
  cli.child.kill(signal)
  return cli.exited
}

const scenarios: Readonly<Record<string, Scenario>> = {
  "(a) an instance that never becomes ready (--probe-timeout 15s): exit 1, RollStopped": {
    shape: "notify",
    arrange: (host) =>
      dropIn(
        host,
        "tamanu-facility-api@1.service",
        "never-ready.conf",
        "[Service]\nEnvironment=READY_DELAY_MS=600000\n",
      ),
    act: (host) => host.run([...ROLL, "--probe-timeout", "15s", "--json"]),
    expectFailed: (r) => {
      expect(r.code, said(r)).toBe(1)
      const report = JSON.parse(r.stdout) as {
        readonly error: { readonly tag: string } | null
        readonly restarted: ReadonlyArray<string>
      }
      expect(report.error?.tag, said(r)).toBe("RollStopped")
      // The frontend rolls first (the plan's order), then the API stops at its first instance.
      expect(report.restarted, said(r)).toEqual(["tamanu-frontend@a", "tamanu-frontend@b", "tamanu-facility-api@1"])
    },
    repair: (host) => dropIn(host, "tamanu-facility-api@1.service", "never-ready.conf", null),
    // The instance still runs the container that never answers: the operator's retry is a restart.
    next: ["restart", "api"],
  },
  "(f) after (a), a `start` while that instance still does not answer keeps Caddy off it (its own config would route to it), and says so":
    {
      shape: "simple",
      arrange: (host) =>
        dropIn(
          host,
          "tamanu-facility-api@1.service",
          "never-ready.conf",
          "[Service]\nEnvironment=READY_DELAY_MS=600000\n",
        ),
      act: (host) => host.run(["restart", "api", "--probe-timeout", "15s"]),
      expectFailed: (r) => expect(r.code, said(r)).toBe(1),
      // Nothing repaired: systemd says api@1 runs, so start has nothing to do but the due restore, which it must not do.
      next: ["start"],
      keepsPinned: "tamanu-facility-api@1 runs but does not answer",
    },
  "(b) a unit whose restart fails (the supervisor's error) mid-roll: exit 1": {
    shape: "forking",
    arrange: (host) =>
      dropIn(host, "tamanu-facility-api@1.service", "fail.conf", "[Service]\nExecStartPre=/bin/false\n"),
    act: (host) => host.run([...ROLL, "--json"]),
    expectFailed: (r) => {
      expect(r.code, said(r)).toBe(1)
      expect(`${r.stdout}${r.stderr}`).toContain("tamanu-facility-api@1")
    },
    repair: (host) => dropIn(host, "tamanu-facility-api@1.service", "fail.conf", null),
    // api@1 is down: start brings it back, routes Caddy to it once it answers, and restores.
    next: ["start"],
  },
  "(c) Ctrl+C (SIGINT) while tamanu probes the first API instance": {
    shape: "simple",
    act: signalled("SIGINT", "tamanu-facility-api@1 running after"),
    expectFailed: (r) => expect(r.code, said(r)).not.toBe(0),
    next: ["start"],
  },
  "(d) SIGTERM while tamanu restarts the second frontend instance": {
    shape: "forking",
    act: signalled("SIGTERM", "restarting tamanu-frontend@b"),
    expectFailed: (r) => expect(r.code, said(r)).not.toBe(0),
    next: ["start"],
  },
  "(e) SIGKILL of tamanu while it restarts the last API instance": {
    shape: "simple",
    act: signalled("SIGKILL", "restarting tamanu-facility-api@2"),
    expectFailed: (r) => expect(r.stderr, said(r)).toContain("[killed by SIGKILL]"),
    // Its host lock is left behind by a dead process; a start before the restore is due waits for it and restores.
    early: ["start"],
    next: ["start"],
  },
}

const hosts: Array<SandboxHost> = []

describe.skipIf(skipUnless(...sandboxPrerequisites("systemd")))(
  "a roll stopped half-way on the real shape: Caddy keeps routing to what serves, and its own config comes back",
  () => {
    afterAll(async () => {
      await Promise.all(hosts.map((h) => h.stop()))
    })

    describe.concurrent("each way a roll stops", () => {
      for (const [title, scenario] of Object.entries(scenarios)) {
        it(`${title} [Type=${scenario.shape}]`, { timeout: 300_000 }, async () => {
          const host = await startSandboxHost({
            supervisor: "systemd",
            readyDelayMs: READY_DELAY_MS,
            unitShape: scenario.shape,
          })
          hosts.push(host)
          const tag = title.slice(0, 3)
          try {
            const ownConfig = await readConfig(host.caddyAdminUrl)
            await scenario.arrange?.(host)
            const loads = LOAD_PATHS.map((p) =>
              startBrowserLoad({ url: `${host.caddyUrl}${p}`, concurrency: 1, pauseMs: 20, maxDurationMs: 240_000 }),
            )
            const watch = watchCaddy(host)
            let results: Awaited<ReturnType<(typeof loads)[number]["stop"]>>[] = []
            let seen: Awaited<ReturnType<typeof watch.stop>> | null = null
            const lines: Array<string> = []
            // Moments on the loads' clock (ms from the first load's start), so a lost request can be placed among them.
            const marks: Array<string> = []
            const mark = (what: string) =>
              marks.push(`${what} at ${Math.round(performance.now() - (loads[0]?.startedAt ?? 0))} ms`)
            try {
              await sleep(500)
              mark("failing run started")
              const failed = await scenario.act(host)
              mark("failing run ended")
              scenario.expectFailed(failed)
              lines.push(`failed run: exit ${failed.code} after ${Math.round(failed.elapsedMs)} ms`)

              // The restore is unfinished and kept beside the host lock; Caddy does not run its own config.
              expect(fs.existsSync(host.routingStateFile), said(failed)).toBe(true)
              expect(sameJson(await readConfig(host.caddyAdminUrl), ownConfig)).toBe(false)
              const dueAt = restoreDueAt(host.routingStateFile)

              if (scenario.early !== undefined) {
                // The killed run's `systemctl restart` goes on without it: let it finish, so there is nothing to start.
                await allRunning(host)
                const startedAt = Date.now()
                mark("early run started")
                const early = await host.run(scenario.early)
                mark("early run ended")
                expect(early.code, said(early)).toBe(0)
                expect(`${early.stdout}${early.stderr}`).toMatch(
                  /left Caddy pinned: its own config comes back at .* waiting for it/,
                )
                expect(early.elapsedMs, said(early)).toBeGreaterThanOrEqual(dueAt - startedAt - 1_000)
                expect(fs.existsSync(host.routingStateFile), said(early)).toBe(false)
                expect(sameJson(await readConfig(host.caddyAdminUrl), ownConfig), said(early)).toBe(true)
                lines.push(
                  `early ${scenario.early.join(" ")}: exit 0 after ${Math.round(early.elapsedMs)} ms, waited and restored`,
                )
              }

              await scenario.repair?.(host)
              // Bounded: tamanu's first load was at most a few minutes ago.
              const wait = Math.min(dueAt - Date.now() + 500, 180_000)
              lines.push(`restore due ${Math.round(wait)} ms after the failure was handled`)
              await sleep(wait)

              mark("next run started")
              const next = await host.run(scenario.next)
              mark("next run ended")
              expect(next.code, said(next)).toBe(0)
              if (scenario.keepsPinned !== undefined) {
                expect(`${next.stdout}${next.stderr}`, said(next)).toContain(scenario.keepsPinned)
                expect(sameJson(await readConfig(host.caddyAdminUrl), ownConfig), said(next)).toBe(false)
                expect(fs.existsSync(host.routingStateFile), said(next)).toBe(true)
                lines.push(`next ${scenario.next.join(" ")}: exit 0, Caddy kept off the silent instance`)
              } else {
                expect(sameJson(await readConfig(host.caddyAdminUrl), ownConfig), said(next)).toBe(true)
                expect(fs.existsSync(host.routingStateFile), said(next)).toBe(false)
                lines.push(
                  `next ${scenario.next.join(" ")}: exit 0 after ${Math.round(next.elapsedMs)} ms, Caddy's own config back`,
                )
              }
              // Traffic keeps flowing on Caddy's own config (fresh DNS answers) for a moment more.
              await sleep(1_500)
            } finally {
              seen = await watch.stop()
              results = await Promise.all(loads.map((l) => l.stop()))
            }

            const { summaries, served, lost, resent } = loadTotals(results)
            const configLoads = seen.configs.length - 1
            process.stderr.write(
              `[caddy failures ${tag} Type=${scenario.shape}] ${lines.join("; ")}; ${served} served, ${lost} lost, ${resent} resent after Caddy ` +
                `closed a reused keep-alive connection at one of its ${configLoads} config loads ` +
                `(${summaries.map((s) => JSON.stringify(s.outcomes)).join(", ")}); ${seen.samples} config samples\n`,
            )
            expect(seen.onlyDead, "Caddy routed only to addresses that did not serve").toEqual([])
            expect(seen.samples).toBeGreaterThan(0)
            expect(seen.someDead, "Caddy named an address that did not serve").toEqual([])
            const lostAt = results.flatMap((r, i) =>
              r.records
                .filter(isFailedRequest)
                .map(
                  (x) =>
                    `${LOAD_PATHS[i]} at ${Math.round(x.startMs)} ms: ${x.status ?? x.error} after ${Math.round(x.latencyMs)} ms`,
                ),
            )
            // Caddy logs each 502's upstream error (WARN and above): which dial failed, and how.
            const caddyLog = `${host.dir}/caddy.log`
            const caddySaid =
              lost === 0 || !fs.existsSync(caddyLog)
                ? ""
                : `; Caddy's log: ${fs
                    .readFileSync(caddyLog, "utf8")
                    .split("\n")
                    .filter((l) => l.includes('"error"'))
                    .slice(-4)
                    .join(" | ")}`
            expect(
              lost,
              `${JSON.stringify(summaries)}; lost: ${lostAt.join(", ")}; ${marks.join(", ")}${caddySaid}`,
            ).toBe(0)
            // Resent at most once per load connection per config load (browserLoad.ts says why that is no loss).
            expect(resent).toBeLessThanOrEqual(configLoads * LOAD_PATHS.length)
            for (const s of summaries) expect(s.served).toBeGreaterThan(0)
          } finally {
            await host.stop()
          }
        })
      }
    })
  },
)

describeNoLeftovers("the Caddy failure suite")
