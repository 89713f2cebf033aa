/**
 * Figures of the real system manager (harness/systemdSystemManager.ts, the
 * central host of e2e/centralSystemHost.ts), for docs/testing.md and
 * docs/systemd.md: how long the harness takes, and what the built `tamanu`
 * costs there as a non-root operator, sudo included. Not asserted anywhere.
 * `npm run bench` runs one round of it (docs/performance.md); for more,
 * on a quiet machine:
 *
 *     npm run build && node packages/lab/dist/bench/systemManager.js [rounds]
 *
 * Prints one Markdown table (median, min-max over the rounds).
 */
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { type CentralSystemHost, startCentralSystemHost } from "../e2e/centralSystemHost.js"
import { median } from "./stats.js"

export interface SystemManagerFigure {
  readonly what: string
  readonly ms: ReadonlyArray<number>
}

const upUnits = [
  "tamanu-central-tasks.service",
  "tamanu-frontend@a.service",
  "tamanu-frontend@b.service",
  "tamanu-central-api@1.service",
  "tamanu-central-api@2.service",
  "tamanu-patientportal@a.service",
  "tamanu-patientportal@b.service",
]

const timed = async (run: () => Promise<{ readonly code: number; readonly stderr: string }>) => {
  const began = performance.now()
  const r = await run()
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`)
  return performance.now() - began
}

export const benchSystemManager = async (
  rounds = 3,
  /** Each round's host as it starts, and null once it is stopped: a caller that may be interrupted stops it. */
  onHost: (host: CentralSystemHost | null) => void = () => undefined,
): Promise<ReadonlyArray<SystemManagerFigure>> => {
  const figures = new Map<string, Array<number>>()
  const leftovers: Array<string> = []
  const add = (what: string, ms: number) => figures.set(what, [...(figures.get(what) ?? []), ms])
  for (let round = 0; round < rounds; round++) {
    const began = performance.now()
    const host: CentralSystemHost = await startCentralSystemHost({ readyDelayMs: 1000 })
    onHost(host)
    try {
      add("boot: podman run → systemctl is-system-running = running", host.system.bootMs)
      add("setup inside: units, Caddy site, PostgreSQL role and table, operator, sudoers", host.setupMs)
      const units = performance.now()
      await host.startUnits(upUnits)
      add("7 Tamanu units started as root, each container answering (READY_DELAY_MS 1000)", performance.now() - units)
      add("`tamanu status` as the operator (no sudo)", await timed(() => host.tamanu(["status"])))
      add("`tamanu start`, nothing to do (no sudo)", await timed(() => host.tamanu(["start"])))
      add("`tamanu stop tasks` (re-run under sudo)", await timed(() => host.tamanu(["stop", "tasks"])))
      add(
        "`tamanu start tasks --no-probe-http` (re-run under sudo)",
        await timed(() => host.tamanu(["start", "tasks", "--no-probe-http"])),
      )
      add("`tamanu stop tasks` run as root (no sudo)", await timed(() => host.system.exec(["tamanu", "stop", "tasks"])))
      await host.startUnits(["tamanu-central-tasks.service"])
      add(
        "`tamanu restart frontend` (admin API; Caddy's own config back after its 1 min refresh)",
        await timed(() => host.tamanu(["restart", "frontend"])),
      )
      add("total for the round so far", performance.now() - began)
    } finally {
      const stop = performance.now()
      const left = await host.system.stop()
      onHost(null)
      add("teardown: podman stop (systemd shutdown) + rm + network rm + leftover check", performance.now() - stop)
      if (Object.values(left).some((l) => l.length > 0)) leftovers.push(JSON.stringify(left))
    }
  }
  if (leftovers.length > 0) throw new Error(`left on the host: ${leftovers.join("; ")}`)
  return [...figures].map(([what, ms]) => ({ what, ms }))
}

export const systemManagerMarkdown = (figures: ReadonlyArray<SystemManagerFigure>): string =>
  [
    "| step | median ms | min-max ms |",
    "| --- | ---: | ---: |",
    ...figures.map(
      (f) =>
        `| ${f.what} | ${Math.round(median(f.ms))} | ${Math.round(Math.min(...f.ms))}-${Math.round(Math.max(...f.ms))} |`,
    ),
  ].join("\n")

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rounds = Number(process.argv[2] ?? "3")
  benchSystemManager(Number.isInteger(rounds) && rounds > 0 ? rounds : 3).then(
    (figures) => process.stdout.write(`${systemManagerMarkdown(figures)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
      process.exitCode = 1
    },
  )
}
