/**
 * Benchmark of what `npm run package` builds (packaging/dist): the size of
 * each single executable and each .deb, and the cold start of
 * `tamanu status --json` from the linux-x64 executable against the
 * npm-installed CLI on this machine's Node, with `node -e 0` of the embedded
 * Node and of this machine's Node beside them, all run in turn in one loop
 * (executable, npm CLI, embedded node, machine node, …) so load from
 * anything else hits each alike. Figures are medians.
 *
 * Also the linux-x64 executable built without its code cache (the way the
 * cross-built executables are), made here from the same pinned Node, so the
 * code cache's share is measured rather than assumed.
 *
 * The host is the cold-start benchmark's (coldStart.ts): a real pm2 daemon
 * in a throwaway PM2_HOME with the facility's four processes as `/bin/sleep`,
 * and a temporary facility root.
 *
 *     node packages/lab/dist/bench/packaging.js [runs]   # the figures as JSON, after npm run package
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { pathToFileURL } from "node:url"
import { seaConfig, seaLoader } from "../../../cli/scripts/packaging-lib.mjs"
import { type Pm2App, startPm2Daemon } from "../harness/pm2Daemon.js"
import { artifactPath, readManifest } from "../packaging/artifacts.js"
import { defaultBundle } from "./coldStart.js"
import { median, round } from "./stats.js"

export interface PackagingFigures {
  readonly executables: ReadonlyArray<{
    readonly target: string
    readonly file: string
    readonly bytes: number
    readonly node: string
    readonly codeCache: boolean
  }>
  readonly debs: ReadonlyArray<{ readonly file: string; readonly bytes: number; readonly installedSizeKb: number }>
  /** Median wall times (ms) of each command, run in turn `runs` times. */
  readonly coldStart: {
    readonly runs: number
    readonly executableMs: number
    readonly executableNoCodeCacheMs: number | null
    readonly npmCliMs: number
    readonly embeddedNodeMs: number
    readonly machineNodeMs: number
    /** The executable and the npm CLI without NODE_EXTRA_CA_CERTS, when this environment sets it. */
    readonly withoutExtraCaCerts?: { readonly executableMs: number; readonly npmCliMs: number } | null
    readonly embeddedNode: string
    readonly machineNode: string
  }
  /** Peak RSS (MB) of `status --json`: the executable, the npm CLI. */
  readonly peakRssMb: { readonly executable: number; readonly npmCli: number } | null
  /** `npm run package`'s own steps, from the manifest (ms). */
  readonly buildSteps: Readonly<Record<string, number>>
}

/** Where package.mjs keeps the pinned Node binaries it checked (its TAMANU_NODE_CACHE default). */
const nodeCache = () =>
  process.env.TAMANU_NODE_CACHE ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "tamanu-lifecycle", "node")

const sleeper = (name: string, instances: number): Pm2App => ({
  name,
  script: "/bin/sleep",
  args: ["1000000"],
  interpreter: "none",
  instances,
})

const timeRun = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, check: boolean): number => {
  const [file, ...args] = argv
  const t0 = performance.now()
  const r = spawnSync(file ?? "false", args, { env, encoding: "utf8", timeout: 60_000, maxBuffer: 16 * 1024 * 1024 })
  const ms = performance.now() - t0
  if (r.error !== undefined) throw r.error
  if (check) {
    if (r.status !== 0 && r.status !== 1)
      throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr.slice(-400)}`)
    if (!r.stdout.includes('"expectations"'))
      throw new Error(`${argv.join(" ")} printed no report: ${r.stdout.slice(0, 300)}`)
  }
  return ms
}

const peakRssKb = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): number | null => {
  if (!fs.existsSync("/usr/bin/time")) return null
  const r = spawnSync("/usr/bin/time", ["-f", "%M", ...argv], { env, encoding: "utf8", timeout: 60_000 })
  const kb = Number(r.stderr.trim().split("\n").pop())
  return Number.isFinite(kb) && kb > 0 ? kb : null
}

export const benchPackaging = async (options: { readonly runs?: number } = {}): Promise<PackagingFigures> => {
  const runs = options.runs ?? 20
  const manifest = readManifest()
  const x64 = manifest.executables["linux-x64"]
  const executable = artifactPath(x64.file)
  const embeddedNode = path.join(nodeCache(), `${x64.node.package}-${x64.node.version}`, "node")
  if (!fs.existsSync(executable)) throw new Error(`no ${executable}: run npm run package`)
  if (!fs.existsSync(embeddedNode)) throw new Error(`no ${embeddedNode}: run npm run package`)

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-bench-packaging-"))
  const daemon = await startPm2Daemon()
  try {
    // The same executable without a code cache, as the cross builds are (same Node, same bundle).
    let noCache: string | null = path.join(work, "tamanu-no-code-cache")
    const config = path.join(work, "sea.json")
    const loader = path.join(work, "sea-main.cjs")
    fs.writeFileSync(loader, seaLoader)
    fs.writeFileSync(
      config,
      JSON.stringify(
        seaConfig({
          main: loader,
          executable: embeddedNode,
          output: noCache,
          bundle: path.join(path.dirname(defaultBundle()), "..", "dist", "tamanu.cjs"),
          codeCache: null,
        }),
      ),
    )
    try {
      execFileSync(embeddedNode, ["--build-sea", config], { stdio: "ignore" })
    } catch {
      noCache = null
    }

    const root = path.join(work, "root")
    fs.mkdirSync(root)
    fs.writeFileSync(path.join(root, "local.json5"), '{ serverFacilityIds: ["f"] }\n')
    await daemon.register([sleeper("tamanu-api", 2)])
    await daemon.register([sleeper("tamanu-tasks", 1), sleeper("tamanu-sync", 1)])
    const { PORT: _port, ...inherited } = process.env
    const env: NodeJS.ProcessEnv = { ...inherited, ...daemon.env, NO_COLOR: "1" }
    const statusArgs = ["status", "--json", "--supervisor", "pm2", "--root", root]
    // Node 20 reads NODE_EXTRA_CA_CERTS at every start, Node 26 only when TLS needs it: where this
    // environment sets it, the two CLIs are also timed without it, as a host that does not set it runs them.
    const { NODE_EXTRA_CA_CERTS: extraCa, ...withoutCa } = env
    const commands = {
      executable: { argv: [executable, ...statusArgs], check: true, env },
      executableNoCodeCache: noCache === null ? null : { argv: [noCache, ...statusArgs], check: true, env },
      npmCli: { argv: [process.execPath, defaultBundle(), ...statusArgs], check: true, env },
      embeddedNode: { argv: [embeddedNode, "-e", "0"], check: false, env },
      machineNode: { argv: [process.execPath, "-e", "0"], check: false, env },
      executableNoCa: extraCa === undefined ? null : { argv: [executable, ...statusArgs], check: true, env: withoutCa },
      npmCliNoCa:
        extraCa === undefined
          ? null
          : { argv: [process.execPath, defaultBundle(), ...statusArgs], check: true, env: withoutCa },
    }
    const each = Object.entries(commands).flatMap(([k, c]) => (c === null ? [] : [[k, c] as const]))
    const samples: Record<string, Array<number>> = Object.fromEntries(each.map(([k]) => [k, []]))
    // One untimed warm-up each (the OS file cache; the npm CLI's own code cache).
    for (const [, c] of each) timeRun(c.argv, c.env, c.check)
    for (let i = 0; i < runs; i++) for (const [k, c] of each) samples[k]?.push(timeRun(c.argv, c.env, c.check))
    const med = (k: string) => round(median(samples[k] ?? [Number.NaN]), 1)
    const rssExe = peakRssKb(commands.executable.argv, env)
    const rssNpm = peakRssKb(commands.npmCli.argv, env)
    return {
      executables: Object.entries(manifest.executables).map(([target, e]) => ({
        target,
        file: e.file,
        bytes: fs.statSync(artifactPath(e.file)).size,
        node: e.node.version,
        codeCache: e.codeCache,
      })),
      debs: Object.values(manifest.debs).map((d) => ({
        file: d.file,
        bytes: fs.statSync(artifactPath(d.file)).size,
        installedSizeKb: d.installedSizeKb,
      })),
      coldStart: {
        runs,
        executableMs: med("executable"),
        executableNoCodeCacheMs: noCache === null ? null : med("executableNoCodeCache"),
        npmCliMs: med("npmCli"),
        embeddedNodeMs: med("embeddedNode"),
        machineNodeMs: med("machineNode"),
        withoutExtraCaCerts:
          extraCa === undefined ? null : { executableMs: med("executableNoCa"), npmCliMs: med("npmCliNoCa") },
        embeddedNode: `v${x64.node.version}`,
        machineNode: process.version,
      },
      peakRssMb:
        rssExe === null || rssNpm === null
          ? null
          : { executable: round(rssExe / 1024, 1), npmCli: round(rssNpm / 1024, 1) },
      buildSteps: manifest.steps,
    }
  } finally {
    await daemon.kill()
    fs.rmSync(work, { recursive: true, force: true })
  }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1)

/** The section of docs/performance.md. */
export const packagingMarkdown = (p: PackagingFigures): ReadonlyArray<string> => {
  const c = p.coldStart
  const steps = Object.entries(p.buildSteps)
  const total = steps.reduce((sum, [, v]) => sum + v, 0)
  return [
    "## The single executables and the .debs",
    "",
    "What `npm run package` built (packages/cli/scripts/package.mjs; packages/lab/src/bench/packaging.ts):",
    "",
    "| file | size (MB) | embedded Node | code cache |",
    "|---|---|---|---|",
    ...p.executables.map(
      (e) =>
        `| \`${e.file}\` | ${mb(e.bytes)} | v${e.node} | ${e.codeCache ? "yes (made by running the bundle on it)" : "no (cross-built)"} |`,
    ),
    ...p.debs.map((d) => `| \`${d.file}\` | ${mb(d.bytes)} (installed ${mb(d.installedSizeKb * 1024)}) | | |`),
    "",
    `Cold start, medians of ${c.runs} runs of each, run in turn in one loop (a pm2 host with 4 processes, as above):`,
    "",
    "| command | ms |",
    "|---|---|",
    `| \`tamanu-linux-x64 status --json\` (the executable, Node ${c.embeddedNode} built in) | ${c.executableMs} |`,
    ...(c.executableNoCodeCacheMs === null
      ? []
      : [
          `| the same executable built without its code cache (as the cross builds are) | ${c.executableNoCodeCacheMs} |`,
        ]),
    `| \`node bin/tamanu.js status --json\` (the npm-installed CLI on this machine's Node ${c.machineNode}) | ${c.npmCliMs} |`,
    `| \`node -e 0\` of the embedded Node ${c.embeddedNode} | ${c.embeddedNodeMs} |`,
    `| \`node -e 0\` of this machine's Node ${c.machineNode} | ${c.machineNodeMs} |`,
    ...(c.withoutExtraCaCerts === undefined || c.withoutExtraCaCerts === null
      ? []
      : [
          `| the executable, NODE_EXTRA_CA_CERTS unset | ${c.withoutExtraCaCerts.executableMs} |`,
          `| the npm-installed CLI, NODE_EXTRA_CA_CERTS unset | ${c.withoutExtraCaCerts.npmCliMs} |`,
        ]),
    "",
    `The executable against the npm-installed CLI: ${(c.executableMs / c.npmCliMs).toFixed(2)}× (target: at most 1×)${
      c.withoutExtraCaCerts === undefined || c.withoutExtraCaCerts === null
        ? ""
        : `; ${(c.withoutExtraCaCerts.executableMs / c.withoutExtraCaCerts.npmCliMs).toFixed(2)}× with NODE_EXTRA_CA_CERTS unset`
    }.` +
      (p.peakRssMb === null
        ? ""
        : ` Peak RSS of \`status --json\`: ${p.peakRssMb.executable} MB for the executable, ${p.peakRssMb.npmCli} MB for the npm CLI.`),
    "",
    `Building them (\`npm run package\`'s steps in the run that built these, ${(total / 1000).toFixed(1)} s in all): ${steps
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
      .join(", ")}.`,
    "",
  ]
}

// `node packages/lab/dist/bench/packaging.js [runs]` prints the figures as JSON and the section as markdown.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const runs = process.argv[2] === undefined ? undefined : Number(process.argv[2])
  const figures = await benchPackaging(runs === undefined ? {} : { runs })
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n\n${packagingMarkdown(figures).join("\n")}\n`)
}
