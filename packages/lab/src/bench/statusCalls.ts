/**
 * Issue #20's discovery figures on the real-shape sandbox (e2e/sandboxHost.ts:
 * podman containers under a systemd user manager): `tamanu status --json`
 * cold start against `node -e 0` (both entered the same way, through
 * `nsenter` into the manager's mount namespace), and against the floor: the
 * podman and systemctl calls that status makes, replayed one after another
 * on their own. At 4 instances behind Caddy (api@1, @2, frontend@a, @b) and at
 * 16 (api@1-8, frontend@a-h), on one sandbox. The calls are counted by
 * shims on PATH that note each call and exec the real program (a separate
 * run: the shims are never inside the timed runs). Not asserted anywhere:
 *
 *     npm run build && node packages/lab/dist/bench/statusCalls.js [runs]
 *
 * Prints one Markdown table.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { runChild, type SandboxHost, startSandboxHost } from "../e2e/sandboxHost.js"
import { hasCommand } from "../harness/prerequisites.js"
import { median, round } from "./stats.js"

export interface StatusCallsFigure {
  readonly instances: number
  readonly nodeMs: number
  readonly statusMs: number
  /** The recorded podman and systemctl calls, replayed in sequence (median of the sums). */
  readonly floorMs: number
  readonly podmanCalls: number
  readonly systemctlCalls: number
  /** Each recorded call's program and first two arguments, for the table's footnote. */
  readonly calls: ReadonlyArray<string>
  /** Where one run's time went, from `strace -f -tt` (absent without strace). */
  readonly phases?: StatusPhases | null
}

/**
 * One `status --json` run cut at its process events (`strace -f -tt -e
 * trace=execve,connect`: strace slows every spawn, so these add up to more
 * than an untraced run; the shares are what they say).
 */
export interface StatusPhases {
  /** node's exec → its first podman or systemctl spawn: Node's start-up, the bundle loaded, the host read. */
  readonly startUpMs: number
  /** First spawn → the last one's exit, the calls and what tamanu does between them. */
  readonly callsMs: number
  /** Of which the calls themselves (each exec → its exit, summed). */
  readonly callsOwnMs: number
  /** The last call's exit → tamanu's first connect (Caddy's admin API). */
  readonly beforeCaddyMs: number
  /** That connect → tamanu's exit: Caddy's config, the DNS look-ups of its names, the report written. */
  readonly caddyAndExitMs: number
}

/** The phases of one traced run (pure; statusCalls.test.ts). */
export const statusPhases = (trace: string): StatusPhases | null => {
  const at = (line: string): number => {
    const [h, m, sec] = (line.split(/\s+/)[1] ?? "").split(":")
    return (Number(h) * 3600 + Number(m) * 60 + Number(sec)) * 1000
  }
  const lines = trace.split("\n").filter((l) => /^\d+\s+\d\d:\d\d:\d\d\.\d+ /.test(l))
  const pid = (l: string) => l.split(/\s+/)[0] ?? ""
  const node = lines.find((l) => /execve\("[^"]*\/node"/.test(l))
  if (node === undefined) return null
  const main = pid(node)
  const calls = lines.filter((l) => /execve\("[^"]*\/(podman|systemctl)"/.test(l) && !l.includes("ENOENT"))
  const exitOf = (p: string) => lines.find((l) => pid(l) === p && l.includes("+++ exited"))
  const spans = calls.flatMap((l) => {
    const end = exitOf(pid(l))
    return end === undefined ? [] : [{ from: at(l), to: at(end) }]
  })
  const connect = lines.find(
    (l) => pid(l) === main && l.includes("connect(") && at(l) > Math.max(0, ...spans.map((x) => x.to)),
  )
  const exit = exitOf(main)
  const first = spans[0]
  const last = spans.at(-1)
  if (first === undefined || last === undefined || exit === undefined) return null
  const caddyAt = connect === undefined ? at(exit) : at(connect)
  return {
    startUpMs: round(first.from - at(node), 0),
    callsMs: round(last.to - first.from, 0),
    callsOwnMs: round(
      spans.reduce((t, x) => t + x.to - x.from, 0),
      0,
    ),
    beforeCaddyMs: round(caddyAt - last.to, 0),
    caddyAndExitMs: round(at(exit) - caddyAt, 0),
  }
}

/** One run of `argv` under strace, cut into phases; null without strace or when the trace does not parse. */
const tracedPhases = async (host: SandboxHost, file: string): Promise<StatusPhases | null> => {
  if (!hasCommand("strace")) return null
  const r = await runChild(
    ["strace", "-f", "-tt", "-e", "trace=execve,connect", "-o", file, ...host.cliArgv(["status", "--json"])],
    host.env,
  )
  if (![0, 1].includes(r.code) || !fs.existsSync(file)) return null
  return statusPhases(fs.readFileSync(file, "utf8"))
}

const which = (program: string): string => {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const file = path.join(dir, program)
    if (fs.existsSync(file)) return file
  }
  throw new Error(`${program} not on PATH`)
}

/** Shims for podman and systemctl that append their argv (NUL-separated, one call a line) to `log`. */
const writeShims = (dir: string, log: string): string => {
  fs.mkdirSync(dir, { recursive: true })
  for (const program of ["podman", "systemctl"]) {
    const file = path.join(dir, program)
    fs.writeFileSync(
      file,
      `#!/bin/sh\n{ printf '%s\\0' ${program} "$@"; printf '\\n'; } >> '${log}'\nexec '${which(program)}' "$@"\n`,
    )
    fs.chmodSync(file, 0o755)
  }
  return dir
}

const timed = async (run: () => Promise<{ readonly code: number; readonly stderr: string }>, ok = [0, 1]) => {
  const began = performance.now()
  const r = await run()
  if (!ok.includes(r.code)) throw new Error(`exit ${r.code}: ${r.stderr}`)
  return performance.now() - began
}

const measure = async (host: SandboxHost, instances: number, runs: number): Promise<StatusCallsFigure> => {
  const log = path.join(host.dir, `calls-${instances}.log`)
  const shims = writeShims(path.join(host.dir, "shims"), log)
  fs.writeFileSync(log, "")
  const counted = await host.run(["status", "--json"], { env: { PATH: `${shims}:${host.env.PATH ?? ""}` } })
  if (![0, 1].includes(counted.code)) throw new Error(`status --json: exit ${counted.code}: ${counted.stderr}`)
  const calls = fs
    .readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split("\0").slice(0, -1))
  const nodeMs: Array<number> = []
  const statusMs: Array<number> = []
  const floorMs: Array<number> = []
  // One untimed warm-up each, then alternately, so load from anything else hits all alike.
  await host.runNode(["-e", "0"])
  await host.run(["status", "--json"])
  for (let i = 0; i < runs; i++) {
    nodeMs.push(await timed(() => host.runNode(["-e", "0"])))
    statusMs.push(await timed(() => host.run(["status", "--json"])))
    let floor = 0
    // What the CLI spawned, spawned again as the CLI would (inside the manager's namespace, its env).
    for (const argv of calls)
      floor += await timed(() => runChild(host.cliArgv([]).slice(0, 5).concat(argv), host.env), [0, 1, 3, 4, 125])
    floorMs.push(floor)
  }
  return {
    instances,
    nodeMs: round(median(nodeMs), 1),
    statusMs: round(median(statusMs), 1),
    floorMs: round(median(floorMs), 1),
    podmanCalls: calls.filter((c) => c[0] === "podman").length,
    systemctlCalls: calls.filter((c) => c[0] === "systemctl").length,
    calls: calls.map((c) => c.slice(0, 3).join(" ")),
    phases: await tracedPhases(host, path.join(host.dir, `strace-${instances}.txt`)),
  }
}

export const benchStatusCalls = async (runs = 10): Promise<ReadonlyArray<StatusCallsFigure>> => {
  const host = await startSandboxHost({ supervisor: "systemd", readyDelayMs: 200 })
  try {
    const figures = [await measure(host, 4, runs)]
    const more = [
      ...[3, 4, 5, 6, 7, 8].map((n) => `tamanu-facility-api@${n}.service`),
      ...["c", "d", "e", "f", "g", "h"].map((n) => `tamanu-frontend@${n}.service`),
    ]
    const r = await host.systemctl(["start", ...more])
    if (r.exitCode !== 0) throw new Error(`systemctl start: ${r.stderr}`)
    figures.push(await measure(host, 16, runs))
    return figures
  } finally {
    await host.stop()
  }
}

export const statusCallsTable = (figures: ReadonlyArray<StatusCallsFigure>): string =>
  [
    "| instances | `node -e 0` ms | `status --json` ms | × node | its podman + systemctl calls alone ms | podman calls | systemctl calls |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...figures.map(
      (f) =>
        `| ${f.instances} | ${f.nodeMs} | ${f.statusMs} | ${round(f.statusMs / f.nodeMs)} | ${f.floorMs} | ${f.podmanCalls} | ${f.systemctlCalls} |`,
    ),
  ].join("\n")

/** Where one traced run's time went, at each size (empty when no run was traced). */
export const statusPhasesTable = (figures: ReadonlyArray<StatusCallsFigure>): string => {
  const traced = figures.flatMap((f) =>
    f.phases === undefined || f.phases === null ? [] : [{ ...f.phases, n: f.instances }],
  )
  if (traced.length === 0) return ""
  return [
    "| instances | start-up to the first call ms | the calls, first spawn → last exit ms | of which the calls themselves ms | last call → Caddy's admin API ms | Caddy, DNS, report, exit ms |",
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ...traced.map(
      (p) => `| ${p.n} | ${p.startUpMs} | ${p.callsMs} | ${p.callsOwnMs} | ${p.beforeCaddyMs} | ${p.caddyAndExitMs} |`,
    ),
  ].join("\n")
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const figures = await benchStatusCalls(Number(process.argv[2] ?? 10))
  process.stdout.write(`${statusCallsTable(figures)}\n\n`)
  for (const f of figures) process.stdout.write(`${f.instances} instances: ${f.calls.join("; ")}\n`)
}
