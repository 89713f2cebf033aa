/**
 * Benchmark: cold start of `tamanu status --json` against `node -e 0` on the
 * same machine in the same run (target: at most 2.5× node, under 80 MB
 * peak RSS; docs/performance-cold-start.md).
 *
 * The setup is real but cheap: a pm2 daemon in a throwaway PM2_HOME holding
 * Tamanu-named `/bin/sleep` processes, and a temporary facility root. The
 * two commands are run alternately (node, tamanu, node, tamanu, …) so load
 * from anything else on the machine hits both alike; figures are medians.
 * Peak RSS comes from separate runs under `/usr/bin/time -f %M` (or, where
 * that is missing, from the child's own `process.resourceUsage()`), so the
 * wrapper never sits inside the timed runs.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath, pathToFileURL } from "node:url"
import { type Pm2App, startPm2Daemon } from "../harness/pm2Daemon.js"
import { median, round } from "./stats.js"

export interface ColdStartOptions {
  /** The entry point to run; default the CLI package's `bin/tamanu.js` (also: `dist/tamanu.mjs`). */
  readonly bundle?: string
  /** Timed runs of each command (after one untimed warm-up each). Default 20. */
  readonly runs?: number
  /** Runs under the RSS meter. Default 5. */
  readonly rssRuns?: number
  /** Extra environment for the tamanu runs (e.g. `TAMANU_CODE_CACHE: "0"`). */
  readonly env?: Readonly<Record<string, string>>
}

export interface ColdStartFigures {
  /** Median wall time of `node -e 0`, in milliseconds. */
  readonly nodeMedianMs: number
  /** Median wall time of `node <entry> status --json`, in milliseconds. */
  readonly tamanuMedianMs: number
  /** tamanuMedianMs / nodeMedianMs. */
  readonly ratio: number
  /** Highest peak resident set size of the tamanu runs, in MB (MiB). */
  readonly peakRssMb: number
}

/** What `npx tamanu` runs: the CLI package's bin entry (which loads the bundle in dist/). */
export const defaultBundle = (): string => fileURLToPath(new URL("../../../cli/bin/tamanu.js", import.meta.url))

export { median } from "./stats.js"

/** The figures from the raw samples: medians, their ratio, the worst RSS. */
export const summarize = (
  nodeMs: ReadonlyArray<number>,
  tamanuMs: ReadonlyArray<number>,
  rssKb: ReadonlyArray<number>,
): ColdStartFigures => {
  const nodeMedianMs = median(nodeMs)
  const tamanuMedianMs = median(tamanuMs)
  return {
    nodeMedianMs: round(nodeMedianMs, 1),
    tamanuMedianMs: round(tamanuMedianMs, 1),
    ratio: round(tamanuMedianMs / nodeMedianMs),
    peakRssMb: round(Math.max(...rssKb) / 1024, 1),
  }
}

/** Cheap stand-ins for a facility's processes: `sleep` run as a binary, no Node runtime each. */
const sleeper = (name: string, instances: number): Pm2App => ({
  name,
  script: "/bin/sleep",
  args: ["1000000"],
  interpreter: "none",
  instances,
})

const timeBin = "/usr/bin/time"

/** Prints the child's peak RSS (KB) on stderr as its last line, where /usr/bin/time is missing. */
const rssProbe = `process.on("exit", () => process.stderr.write("\\n" + process.resourceUsage().maxRSS + "\\n"))`

interface Run {
  readonly ms: number
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

const runNode = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, wrapForRss = false): Run => {
  const useTime = wrapForRss && fs.existsSync(timeBin)
  const [command, argv] = !wrapForRss
    ? [process.execPath, args]
    : useTime
      ? [timeBin, ["-f", "%M", process.execPath, ...args]]
      : [process.execPath, ["--import", `data:text/javascript,${encodeURIComponent(rssProbe)}`, ...args]]
  const t0 = performance.now()
  const r = spawnSync(command, argv, { env, encoding: "utf8", timeout: 60_000, maxBuffer: 16 * 1024 * 1024 })
  const ms = performance.now() - t0
  if (r.error) throw r.error
  return { ms, status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Peak RSS in KB from the last line the meter printed on stderr. */
const rssOf = (run: Run): number => {
  const last = run.stderr.trim().split("\n").pop() ?? ""
  const kb = Number(last.trim())
  if (!Number.isFinite(kb) || kb <= 0) throw new Error(`no RSS figure in: ${run.stderr.slice(-300)}`)
  return kb
}

/** A status run worked when it printed the JSON report and exited 0 (all up) or 1 (something short). */
const checkStatus = (run: Run): void => {
  if (run.status !== 0 && run.status !== 1) {
    throw new Error(`tamanu status exited ${run.status}: ${run.stderr.slice(-500)}`)
  }
  const report: unknown = JSON.parse(run.stdout)
  if (typeof report !== "object" || report === null || !("expectations" in report)) {
    throw new Error(`tamanu status --json printed no report: ${run.stdout.slice(0, 300)}`)
  }
}

export const benchColdStart = async (options: ColdStartOptions = {}): Promise<ColdStartFigures> => {
  const bundle = options.bundle ?? defaultBundle()
  if (!fs.existsSync(bundle)) throw new Error(`no bundle at ${bundle}: run npm run build`)
  const runs = options.runs ?? 20
  const rssRuns = options.rssRuns ?? 5
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-coldstart-"))
  const daemon = await startPm2Daemon()
  try {
    fs.writeFileSync(path.join(root, "local.json5"), '{ serverFacilityIds: ["f"] }\n')
    await daemon.register([sleeper("tamanu-api", 2)])
    await daemon.register([sleeper("tamanu-tasks", 1), sleeper("tamanu-sync", 1)])
    const { PORT: _port, ...inherited } = process.env
    const nodeEnv = { ...inherited }
    const tamanuEnv = { ...inherited, ...daemon.env, ...options.env, NO_COLOR: "1" }
    const nodeArgs = ["-e", "0"]
    const tamanuArgs = [bundle, "status", "--json", "--supervisor", "pm2", "--root", root]

    // Warm-up: the OS file cache, and the bundle's code cache when it keeps one.
    runNode(nodeArgs, nodeEnv)
    checkStatus(runNode(tamanuArgs, tamanuEnv))

    const nodeMs: Array<number> = []
    const tamanuMs: Array<number> = []
    for (let i = 0; i < runs; i++) {
      nodeMs.push(runNode(nodeArgs, nodeEnv).ms)
      const run = runNode(tamanuArgs, tamanuEnv)
      checkStatus(run)
      tamanuMs.push(run.ms)
    }
    const rssKb: Array<number> = []
    for (let i = 0; i < rssRuns; i++) {
      const run = runNode(tamanuArgs, tamanuEnv, true)
      checkStatus({ ...run, stderr: "" })
      rssKb.push(rssOf(run))
    }
    return summarize(nodeMs, tamanuMs, rssKb)
  } finally {
    await daemon.kill()
    fs.rmSync(root, { recursive: true, force: true })
  }
}

// `node packages/lab/dist/bench/coldStart.js [runs] [bundle]` prints the figures as JSON.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const runs = process.argv[2] === undefined ? undefined : Number(process.argv[2])
  const bundle = process.argv[3]
  const figures = await benchColdStart({
    ...(runs === undefined ? {} : { runs }),
    ...(bundle === undefined ? {} : { bundle: path.resolve(bundle) }),
  })
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`)
}
