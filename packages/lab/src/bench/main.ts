/**
 * `npm run bench`: every performance figure of docs/performance.md in one
 * run on this machine, written to docs/performance.md and
 * docs/restart-requests.svg.
 *
 * 1. Restart methods side by side under load (restartMethods.ts) on one
 *    real-shape sandbox host (systemd user manager, podman containers,
 *    aardvark-dns aliases, Caddy with `dynamic a` upstreams): the original
 *    algorithm, `tamanu restart api frontend`, a bulk restart; with the
 *    instances' boots measured in the same run.
 * 2. Cold start of `tamanu status --json` against `node -e 0` (coldStart.ts).
 * 3. Discovery at 4, 40 and 200 units (discoverySystemd.ts, discoveryPm2.ts), and `status --json` on the real
 *    shape at 4 and 16 instances with its podman and systemctl calls (statusCalls.ts).
 * 4. The settle window: its cost with 1, 4, 16 workers, and how soon a
 *    boot-time crash comes (settle.ts).
 * 5. One round on a real systemd system manager (systemManager.ts).
 * 6. The single executables and the .debs of `npm run package` (packaging.ts):
 *    their sizes, and the cold start of the linux-x64 executable against the
 *    npm-installed CLI and `node -e 0` of both Nodes. main.ts runs `npm run
 *    package` first (before its clock starts) when this group is measured.
 *
 * Only some of them: `npm run bench -- startup restart` (the names of
 * `benchGroups`, each one or more sections of the page). Such a run
 * rewrites only its sections of docs/performance.md (pages.ts
 * `spliceSections`), each stamped with its own date and load; the rest of
 * the page stays as the last run wrote it. Without names: every group, and
 * the whole page.
 *
 * Bounded (BENCH_LIMIT_MINUTES, default 30) and cleaned up on every exit,
 * Ctrl+C included. BENCH_REPEATS (default 3) sets the runs per restart
 * method; BENCH_SYSTEM_ROUNDS (default 1, 0 to skip) the system-manager
 * rounds. About 20 minutes with the defaults.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import type { CentralSystemHost } from "../e2e/centralSystemHost.js"
import { type SandboxHost, sandboxPrerequisites, startSandboxHost } from "../e2e/sandboxHost.js"
import { caddyPath } from "../harness/caddy.js"
import { pm2Bin, pm2Prerequisite } from "../harness/pm2Daemon.js"
import { systemManagerPrerequisite } from "../harness/systemdSystemManager.js"
import { userManagerPrerequisite } from "../harness/systemdUserManager.js"
import { packagedPrerequisite } from "../packaging/artifacts.js"
import { benchColdStart, type ColdStartFigures } from "./coldStart.js"
import { benchDiscoveryPm2, type Pm2DiscoveryFigure } from "./discoveryPm2.js"
import { benchDiscoverySystemd, type DiscoveryFigure } from "./discoverySystemd.js"
import { cleanupOnSignal } from "./interrupt.js"
import { benchPackaging, type PackagingFigures } from "./packaging.js"
import { type BenchGroup, benchGroups, figuresFile, keepNonFinite, writePages, writeSections } from "./pages.js"
import { type BenchFigures, type Machine, median, noServingMsOf } from "./report.js"
import {
  type BootSample,
  benchRestartMethods,
  killLiveChildren,
  type MethodRun,
  methodLabels,
  rolledInstances,
  rollNames,
} from "./restartMethods.js"
import { benchSettle, type SettleFigures } from "./settle.js"
import { benchStatusCalls, type StatusCallsFigure } from "./statusCalls.js"
import { benchSystemManager, type SystemManagerFigure } from "./systemManager.js"

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

const caddyVersion = () => {
  const r = spawnSync(fs.existsSync(caddyPath) ? caddyPath : "caddy", ["version"], { encoding: "utf8" })
  return r.status === 0 ? (r.stdout.trim().split(/\s+/)[0] ?? "unknown") : "not found"
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
    caddy: caddyVersion(),
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

const errorLine = (error: unknown) => (error instanceof Error ? error.message.split("\n")[0] : String(error))

/** The groups named on the command line (all when none), or an error naming the known ones. */
const selection = (args: ReadonlyArray<string>): ReadonlyArray<BenchGroup> => {
  const known = Object.keys(benchGroups) as ReadonlyArray<BenchGroup>
  const unknown = args.filter((a) => !(known as ReadonlyArray<string>).includes(a))
  if (unknown.length > 0) throw new Error(`unknown bench ${unknown.join(", ")}: pick from ${known.join(", ")}`)
  return args.length === 0 ? known : known.filter((k) => args.includes(k))
}

/** `npm run package` (packages/cli/scripts/package.mjs), which the packaging group measures; before the clock starts. */
const buildPackages = () => {
  const script = fileURLToPath(new URL("../../../cli/scripts/package.mjs", import.meta.url))
  const r = spawnSync(process.execPath, [script], { stdio: "inherit" })
  if (r.status !== 0) throw new Error(`npm run package: exit ${r.status}`)
}

const main = async () => {
  const selected = selection(process.argv.slice(2))
  const partial = selected.length < Object.keys(benchGroups).length
  const wants = (g: BenchGroup) => selected.includes(g)
  if (wants("packaging")) buildPackages()
  const began = performance.now()
  const m = machine()
  const repeats = Number(process.env.BENCH_REPEATS ?? "3")
  const systemRounds = Number(process.env.BENCH_SYSTEM_ROUNDS ?? "1")
  const limitMs = Number(process.env.BENCH_LIMIT_MINUTES ?? "30") * 60_000
  const skipped: Array<string> = []
  let host: SandboxHost | null = null
  let systemHost: CentralSystemHost | null = null
  const pm2HomesBefore = pm2Homes()
  let interrupted = false
  const cleanup = async () => {
    killLiveChildren()
    await host?.stop()
    await systemHost?.system.stop()
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

  const realShape = sandboxPrerequisites("systemd").flatMap((p) => (p.missing === null ? [] : [p.missing]))
  const restartsSkipped = !wants("restart")
    ? "not selected"
    : realShape.length === 0
      ? null
      : `the real shape cannot run here (${realShape.join("; ")})`
  let runs: ReadonlyArray<MethodRun> = []
  let boots: ReadonlyArray<BootSample> = []
  let order: ReadonlyArray<string> = rolledInstances
  let coldStart: ColdStartFigures | null = null
  let discoverySystemd: ReadonlyArray<DiscoveryFigure> | null = null
  let discoveryPm2: ReadonlyArray<Pm2DiscoveryFigure> | null = null
  let settle: SettleFigures | null = null
  let statusCalls: ReadonlyArray<StatusCallsFigure> | null = null
  let systemManager: { rounds: number; figures: ReadonlyArray<SystemManagerFigure> } | null = null
  let packaging: PackagingFigures | null = null
  try {
    if (restartsSkipped === null) {
      say(`restart methods on a real-shape sandbox host, ${repeats} runs each (load average ${m.loadAverage[0]})`)
      host = await startSandboxHost({ supervisor: "systemd", readyDelayMs: READY_DELAY_MS })
      const bench = await benchRestartMethods(host, {
        repeats,
        say,
        onBoots: (samples) =>
          say(`  boots: ${samples.map((b) => `${b.instance} ${Math.round(b.bootMs)} ms`).join(", ")}`),
        onError: (method, repeat, error) => {
          const reason = `${method === "calibration" ? "boot calibration" : methodLabels[method]}, run ${repeat + 1} did not complete: ${errorLine(error)}`
          say(`  ${reason}`)
          skipped.push(reason)
        },
        onRun: (r) =>
          say(
            `    roll ${((r.rollMs ?? Number.NaN) / 1000).toFixed(2)} s, wall ${(r.wallMs / 1000).toFixed(2)} s, ${r.served} served, ${r.failed} lost${r.failed === 0 ? "" : ` (${JSON.stringify(r.outcomes)})`}, ${(noServingMsOf(r) / 1000).toFixed(1)} s without a serving upstream, ${r.resent} resent${r.allRestarted ? "" : " (NOT all restarted)"}`,
          ),
      })
      runs = bench.runs
      boots = bench.boots
      order = bench.order
      await host.stop()
      host = null
    } else if (wants("restart")) {
      say(`restart methods skipped: ${restartsSkipped}`)
    }

    const pm2 = pm2Prerequisite()
    const systemd = userManagerPrerequisite()
    if (wants("startup")) {
      say("cold start of tamanu status --json against node -e 0")
      if (pm2.missing === null) coldStart = await attempt("cold start", skipped, () => benchColdStart({ runs: 20 }))
      else skipped.push(`cold start: ${pm2.missing}`)
    }
    if (wants("packaging")) {
      say("the single executables against the npm-installed CLI")
      const packaged = packagedPrerequisite()
      if (pm2.missing === null && packaged.missing === null)
        packaging = await attempt("packaging", skipped, () => benchPackaging({ runs: 20 }))
      else skipped.push(`packaging: ${packaged.missing ?? pm2.missing}`)
    }
    if (wants("startup")) {
      say("discovery at 4, 40, 200 units")
      if (systemd.missing === null)
        discoverySystemd = await attempt("systemd discovery", skipped, () => benchDiscoverySystemd({ runs: 10 }))
      else skipped.push(`systemd discovery: ${systemd.missing}`)
      if (pm2.missing === null)
        discoveryPm2 = await attempt("pm2 discovery", skipped, () => benchDiscoveryPm2({ runs: 10 }))
      else skipped.push(`pm2 discovery: ${pm2.missing}`)

      say("status --json on the real shape at 4 and 16 instances, and its podman and systemctl calls")
      if (realShape.length === 0)
        statusCalls = await attempt("status on the real shape", skipped, () => benchStatusCalls(10))
      else skipped.push(`status on the real shape: the real shape cannot run here (${realShape.join("; ")})`)
    }

    if (wants("settle")) {
      say("the settle window with 1, 4, 16 workers")
      if (systemd.missing === null) settle = await attempt("settle window", skipped, () => benchSettle({ say }))
      else skipped.push(`settle window: ${systemd.missing}`)
    }

    const system = systemManagerPrerequisite()
    if (wants("system") && systemRounds > 0 && system.missing === null) {
      say(`the real system manager, ${systemRounds} round${systemRounds === 1 ? "" : "s"}`)
      const figures = await attempt("system manager", skipped, () =>
        benchSystemManager(systemRounds, (h) => {
          systemHost = h
        }),
      )
      if (figures !== null) systemManager = { rounds: systemRounds, figures }
    } else if (wants("system") && systemRounds > 0) skipped.push(`system manager: ${system.missing}`)
  } finally {
    clearTimeout(limit)
    await cleanup()
    offSignals()
  }

  const figures: BenchFigures = {
    machine: m,
    loadAverageEnd: os.loadavg(),
    durationMs: performance.now() - began,
    readyDelayMs: READY_DELAY_MS,
    names: rollNames,
    order,
    runs,
    boots,
    restartsSkipped,
    coldStart,
    discoverySystemd,
    discoveryPm2,
    settle,
    statusCalls,
    systemManager,
    packaging,
    skipped,
  }
  // Everything measured, requests included: the pages can be rendered again from it (rerender.ts).
  fs.writeFileSync(figuresFile, JSON.stringify(figures, keepNonFinite))
  say(`figures: ${figuresFile}`)
  if (partial) {
    const sections = writeSections(figures, selected, docsDir)
    process.stdout.write(sections)
    say(
      `rewrote ${selected.join(", ")} in ${docsDir}performance.md${runs.length > 0 ? ` and ${docsDir}restart-requests.svg` : ""}`,
    )
  } else {
    const markdown = writePages(figures, docsDir)
    process.stdout.write(markdown)
    say(`wrote ${docsDir}performance.md${runs.length > 0 ? ` and ${docsDir}restart-requests.svg` : ""}`)
  }
}

await main().catch((error: unknown) => {
  say(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  process.exitCode = 1
})
