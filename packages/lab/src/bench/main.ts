/**
 * `npm run bench`: every performance figure of docs/performance.md in one
 * run on this machine, written to docs/performance.md and
 * docs/restart-requests.svg.
 *
 * 1. Restart methods side by side under load (restartMethods.ts) on one
 *    sandbox host: the real systemd user manager when root and namespaces
 *    allow it, else a real pm2 daemon; Caddy in front either way.
 * 2. Cold start of `tamanu status --json` against `node -e 0` (coldStart.ts).
 * 3. Discovery at 4, 40 and 200 units (discoverySystemd.ts, discoveryPm2.ts).
 *
 * Bounded (BENCH_LIMIT_MINUTES, default 15) and cleaned up on every exit,
 * Ctrl+C included. BENCH_REPEATS (default 3) sets the runs per method.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { type SandboxHost, startSandboxHost } from "../e2e/sandboxHost.js"
import { caddyPrerequisite } from "../harness/caddy.js"
import { pm2Bin, pm2Prerequisite } from "../harness/pm2Daemon.js"
import { userManagerPrerequisite } from "../harness/systemdUserManager.js"
import { benchColdStart, type ColdStartFigures } from "./coldStart.js"
import { benchDiscoveryPm2, type Pm2DiscoveryFigure } from "./discoveryPm2.js"
import { benchDiscoverySystemd, type DiscoveryFigure } from "./discoverySystemd.js"
import { cleanupOnSignal } from "./interrupt.js"
import { type Machine, median, performanceMarkdown } from "./report.js"
import {
  type BootSample,
  benchRestartMethods,
  killLiveChildren,
  type MethodRun,
  methodLabels,
  rollTargets,
} from "./restartMethods.js"
import { restartRequestsSvg } from "./restartSvg.js"

const READY_DELAY_MS = 2000
const docsDir = fileURLToPath(new URL("../../../../docs/", import.meta.url))

/**
 * Median wall time of `node -e 0` with and without NODE_EXTRA_CA_CERTS when
 * it is set: Node reads that bundle at every start (the CLI's and every
 * service's), a cost of this environment rather than of tamanu.
 */
const extraCaCerts = (): Machine["extraCaCerts"] => {
  if (process.env.NODE_EXTRA_CA_CERTS === undefined) return null
  const without = { ...process.env }
  delete without.NODE_EXTRA_CA_CERTS
  const time = (env: NodeJS.ProcessEnv) => {
    const began = performance.now()
    spawnSync(process.execPath, ["-e", "0"], { env })
    return performance.now() - began
  }
  const withMs: Array<number> = []
  const withoutMs: Array<number> = []
  for (let i = 0; i < 10; i++) {
    withMs.push(time(process.env))
    withoutMs.push(time(without))
  }
  return { withMs: Math.round(median(withMs)), withoutMs: Math.round(median(withoutMs)) }
}

const machine = (): Machine => {
  const cpus = os.cpus()
  return {
    extraCaCerts: extraCaCerts(),
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cpus: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? "unknown CPU",
    memoryGb: os.totalmem() / 1024 ** 3,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    loadAverage: os.loadavg(),
  }
}

const pm2Homes = () => new Set(fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith("tamanu-pm2-")))

/**
 * The cold-start and discovery benchmarks kill their pm2 daemons in their own
 * `finally`, which a signal skips: kill the daemons of PM2_HOMEs that
 * appeared since `before` (ours) the way the harness does, with `pm2 kill`.
 */
const killNewPm2Daemons = (before: ReadonlySet<string>) => {
  const bin = pm2Bin()
  for (const dir of pm2Homes()) {
    if (before.has(dir) || bin === null) continue
    const home = `${os.tmpdir()}/${dir}`
    spawnSync(process.execPath, [bin, "kill"], { env: { ...process.env, PM2_HOME: home }, timeout: 15_000 })
    fs.rmSync(home, { recursive: true, force: true })
  }
}

const say = (text: string) => process.stderr.write(`${text}\n`)

const attempt = async <A>(what: string, skipped: Array<string>, f: () => Promise<A>): Promise<A | null> => {
  try {
    return await f()
  } catch (error) {
    const reason = `${what}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`
    say(`  skipped ${reason}`)
    skipped.push(reason)
    return null
  }
}

const main = async () => {
  const caddy = caddyPrerequisite()
  if (caddy.missing !== null) {
    say(`caddy not found (${caddy.missing}): apt-get install caddy`)
    process.exitCode = 1
    return
  }
  const systemd = userManagerPrerequisite()
  const pm2 = pm2Prerequisite()
  const supervisor = systemd.missing === null ? "systemd" : "pm2"
  if (supervisor === "pm2") {
    if (pm2.missing !== null) {
      say(`no supervisor to benchmark: systemd (${systemd.missing}) and pm2 (${pm2.missing}); run npm ci`)
      process.exitCode = 1
      return
    }
    say(`systemd user manager unavailable (${systemd.missing}); benchmarking on pm2`)
  }
  const m = machine()
  const target = rollTargets[supervisor]
  const repeats = Number(process.env.BENCH_REPEATS ?? "3")
  const limitMs = Number(process.env.BENCH_LIMIT_MINUTES ?? "15") * 60_000
  const skipped: Array<string> = []
  let host: SandboxHost | null = null
  const pm2HomesBefore = pm2Homes()
  let interrupted = false
  const cleanup = async () => {
    killLiveChildren()
    await host?.stop()
    if (interrupted) killNewPm2Daemons(pm2HomesBefore)
  }
  const onSignal = async () => {
    interrupted = true
    await cleanup()
  }
  const offSignals = cleanupOnSignal(onSignal)
  const limit = setTimeout(() => {
    say(`bench: over ${limitMs / 60_000} minutes, stopping`)
    void onSignal().finally(() => process.exit(1))
  }, limitMs)
  limit.unref()

  let runs: ReadonlyArray<MethodRun> = []
  let boots: ReadonlyArray<BootSample> = []
  let coldStart: ColdStartFigures | null = null
  let discoverySystemd: ReadonlyArray<DiscoveryFigure> | null = null
  let discoveryPm2: ReadonlyArray<Pm2DiscoveryFigure> | null = null
  try {
    say(`restart methods on a ${supervisor} sandbox host, ${repeats} runs each (load average ${m.loadAverage[0]})`)
    host = await startSandboxHost({ supervisor, readyDelayMs: READY_DELAY_MS })
    const sandbox = host
    const bench = await benchRestartMethods(sandbox, {
      repeats,
      onBoots: (samples) =>
        say(`  boots: ${samples.map((b) => `${b.instance} ${Math.round(b.bootMs)} ms`).join(", ")}`),
      onError: (method, repeat, error) => {
        const reason = `${method === "calibration" ? "boot calibration" : methodLabels[method]}, run ${repeat + 1} did not complete: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`
        say(`  ${reason}`)
        skipped.push(reason)
      },
      onRun: (r) =>
        say(
          `  ${methodLabels[r.method].padEnd(44)} wall ${(r.wallMs / 1000).toFixed(2)} s, ${r.served} served, ${r.failed} failed${r.failed === 0 ? "" : ` (${JSON.stringify(r.outcomes)})`}, p99 ${Math.round(r.p99Ms)} ms${r.allRestarted ? "" : " (NOT all restarted)"}`,
        ),
    })
    runs = bench.runs
    boots = bench.boots
    await sandbox.stop()
    host = null

    say("cold start of tamanu status --json against node -e 0")
    coldStart = await attempt("cold start", skipped, () => benchColdStart({ runs: 20 }))
    say("discovery at 4, 40, 200 units")
    if (systemd.missing === null)
      discoverySystemd = await attempt("systemd discovery", skipped, () => benchDiscoverySystemd({ runs: 10 }))
    else skipped.push(`systemd discovery: ${systemd.missing}`)
    if (pm2.missing === null)
      discoveryPm2 = await attempt("pm2 discovery", skipped, () => benchDiscoveryPm2({ runs: 10 }))
    else skipped.push(`pm2 discovery: ${pm2.missing}`)
  } finally {
    clearTimeout(limit)
    await cleanup()
    offSignals()
  }

  const markdown = performanceMarkdown({
    machine: m,
    supervisor,
    readyDelayMs: READY_DELAY_MS,
    instances: target.instances,
    names: target.names,
    runs,
    boots,
    coldStart,
    discoverySystemd,
    discoveryPm2,
    skipped,
  })
  // The picture shows, for each method, its run with the median wall time.
  const panels = (["rolling", "bulk", "sequential", "naive"] as const).flatMap((method) => {
    const mine = runs.filter((r) => r.method === method).sort((a, b) => a.wallMs - b.wallMs)
    const pick = mine[Math.floor((mine.length - 1) / 2)]
    return pick === undefined
      ? []
      : [
          {
            title: `${methodLabels[method]}: ${(pick.wallMs / 1000).toFixed(2)} s, ${pick.served} served, ${pick.failed} failed, max latency ${Math.round(pick.maxMs)} ms`,
            records: pick.records,
            beganMs: pick.beganMs,
            endedMs: pick.endedMs,
          },
        ]
  })
  // Every run's raw figures (records left out), for a closer look at an outlier.
  const raw = `${os.tmpdir()}/tamanu-bench-runs.json`
  fs.writeFileSync(raw, JSON.stringify({ boots, runs: runs.map(({ records: _records, ...run }) => run) }, null, 2))
  say(`raw runs: ${raw}`)
  fs.writeFileSync(`${docsDir}performance.md`, markdown)
  fs.writeFileSync(`${docsDir}restart-requests.svg`, restartRequestsSvg(panels))
  process.stdout.write(markdown)
  say(`wrote ${docsDir}performance.md and ${docsDir}restart-requests.svg`)
}

await main().catch((error: unknown) => {
  say(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  process.exitCode = 1
})
