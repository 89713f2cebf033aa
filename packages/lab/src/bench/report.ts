/**
 * docs/performance.md from the benchmark's figures: pure, so what the page
 * says is exactly what was measured (the numbers are never typed by hand).
 */
import { defaultProbeSpacing } from "@tamanu-lifecycle/core"
import { Duration } from "effect"
import type { ColdStartFigures } from "./coldStart.js"
import type { Pm2DiscoveryFigure } from "./discoveryPm2.js"
import type { DiscoveryFigure } from "./discoverySystemd.js"
import { type BootSample, type MethodRun, methodLabels, type RestartMethod, restartMethods } from "./restartMethods.js"
import { median } from "./stats.js"

export interface Machine {
  readonly date: string
  readonly cpus: number
  readonly cpuModel: string
  readonly memoryGb: number
  readonly node: string
  readonly kernel: string
  /** 1, 5 and 15 minute load averages when the benchmark began. */
  readonly loadAverage: ReadonlyArray<number>
  /** `node -e 0` with and without NODE_EXTRA_CA_CERTS (median ms), when this environment sets it. */
  readonly extraCaCerts: { readonly withMs: number; readonly withoutMs: number } | null
}

export interface BenchFigures {
  readonly machine: Machine
  readonly supervisor: "systemd" | "pm2"
  readonly readyDelayMs: number
  readonly instances: ReadonlyArray<string>
  readonly names: ReadonlyArray<string>
  readonly runs: ReadonlyArray<MethodRun>
  /** The instances' real boots, measured in the same run (calibrateBoots). */
  readonly boots: ReadonlyArray<BootSample>
  readonly coldStart: ColdStartFigures | null
  readonly discoverySystemd: ReadonlyArray<DiscoveryFigure> | null
  readonly discoveryPm2: ReadonlyArray<Pm2DiscoveryFigure> | null
  /** What could not be measured, and why. */
  readonly skipped: ReadonlyArray<string>
}

export { median } from "./stats.js"

export interface MeasuredBoots {
  /** Median boot of each instance, in roll order. */
  readonly perInstance: ReadonlyArray<{
    readonly instance: string
    readonly medianMs: number
    readonly samples: number
  }>
  /** Sum of the medians: the boots a one-at-a-time roll cannot avoid. */
  readonly sumMs: number
}

/** Median measured boot per instance and their sum; null unless every instance has a sample. */
export const measuredBoots = (
  samples: ReadonlyArray<BootSample>,
  instances: ReadonlyArray<string>,
): MeasuredBoots | null => {
  const perInstance = instances.map((instance) => {
    const mine = samples.filter((x) => x.instance === instance).map((x) => x.bootMs)
    return { instance, medianMs: median(mine), samples: mine.length }
  })
  if (perInstance.some((x) => x.samples === 0)) return null
  return { perInstance, sumMs: perInstance.reduce((t, x) => t + x.medianMs, 0) }
}

/** Budget over the boots for the rolling restart, per instance (the target). */
export const overheadBudgetPerInstanceMs = 150

export interface MethodSummary {
  readonly method: RestartMethod
  readonly runs: number
  readonly wallMs: number
  readonly overheadMs: number
  readonly overheadPerInstanceMs: number
  readonly served: number
  readonly failed: number
  /** Failed requests over all runs of the method. */
  readonly failedTotal: number
  readonly slow: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly resent: number
  readonly allRestarted: boolean
}

export const summarizeMethod = (
  runs: ReadonlyArray<MethodRun>,
  method: RestartMethod,
  bootSumMs: number,
  instances: number,
): MethodSummary => {
  const mine = runs.filter((r) => r.method === method)
  const wallMs = median(mine.map((r) => r.wallMs))
  return {
    method,
    runs: mine.length,
    wallMs,
    overheadMs: wallMs - bootSumMs,
    overheadPerInstanceMs: (wallMs - bootSumMs) / instances,
    served: median(mine.map((r) => r.served)),
    failed: median(mine.map((r) => r.failed)),
    failedTotal: mine.reduce((n, r) => n + r.failed, 0),
    slow: median(mine.map((r) => r.slow)),
    p99Ms: median(mine.map((r) => r.p99Ms)),
    maxMs: Math.max(...mine.map((r) => r.maxMs)),
    resent: median(mine.map((r) => r.resent)),
    allRestarted: mine.every((r) => r.allRestarted && (r.exitCode === null || r.exitCode === 0)),
  }
}

export interface BreakdownSummary {
  readonly startupMs: number
  readonly tailMs: number
  /** Per roll position: medians over the rolling runs. */
  readonly positions: ReadonlyArray<{
    readonly instance: string
    readonly restartCallMs: number
    readonly probeMs: number
    readonly reloadMs: number
    readonly turnMs: number
    /** NaN when never measured. */
    readonly untilProcessStartMs: number
    readonly processStartToReadyMs: number
  }>
}

export const summarizeBreakdown = (runs: ReadonlyArray<MethodRun>): BreakdownSummary | null => {
  const breakdowns = runs.flatMap((r) => (r.method === "rolling" && r.breakdown !== null ? [r.breakdown] : []))
  const first = breakdowns[0]
  if (first === undefined) return null
  return {
    startupMs: median(breakdowns.map((b) => b.startupMs)),
    tailMs: median(breakdowns.map((b) => b.tailMs)),
    positions: first.instances.map((instance, i) => {
      const at = breakdowns.flatMap((b) => (b.instances[i] === undefined ? [] : [b.instances[i]]))
      return {
        instance: instance.instance,
        restartCallMs: median(at.map((x) => x.restartCallMs)),
        probeMs: median(at.map((x) => x.probeMs)),
        reloadMs: median(at.map((x) => x.reloadMs)),
        turnMs: median(at.map((x) => x.turnMs)),
        untilProcessStartMs: median(at.flatMap((x) => (x.untilProcessStartMs === null ? [] : [x.untilProcessStartMs]))),
        processStartToReadyMs: median(
          at.flatMap((x) => (x.processStartToReadyMs === null ? [] : [x.processStartToReadyMs])),
        ),
      }
    }),
  }
}

const ms = (n: number) => (Number.isFinite(n) ? `${Math.round(n)}` : "–")
const s = (n: number) => (Number.isFinite(n) ? (n / 1000).toFixed(2) : "–")
const signed = (n: number) => (n >= 0 ? `+${ms(n)}` : ms(n))

export const performanceMarkdown = (f: BenchFigures): string => {
  const n = f.instances.length
  const nominalBootSumMs = n * f.readyDelayMs
  const boots = measuredBoots(f.boots, f.instances)
  // The target is judged against the boots measured in this run; the nominal delay only when none could be.
  const bootSumMs = boots?.sumMs ?? nominalBootSumMs
  const bootOf = (instance: string) =>
    boots?.perInstance.find((x) => x.instance === instance)?.medianMs ?? f.readyDelayMs
  const spacingMs = Duration.toMillis(defaultProbeSpacing)
  const summaries = restartMethods.map((m) => summarizeMethod(f.runs, m, bootSumMs, n))
  const rolling = summaries.find((x) => x.method === "rolling")
  const breakdown = summarizeBreakdown(f.runs)
  const wallTarget = bootSumMs + overheadBudgetPerInstanceMs * n
  const zeroFailed = rolling !== undefined && rolling.failedTotal === 0
  const withinWall = rolling !== undefined && rolling.wallMs <= wallTarget
  const m = f.machine
  const lines: Array<string> = [
    "# Performance",
    "",
    "Measured by `npm run bench` (packages/lab/src/bench/main.ts), which writes this page and",
    "[restart-requests.svg](restart-requests.svg). Every figure below comes from the run described here;",
    "nothing is typed by hand. Run it again on the machine you care about.",
    "",
    "| | |",
    "|---|---|",
    `| date | ${m.date} |`,
    `| machine | ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGb.toFixed(1)} GB memory, ${m.kernel} |`,
    `| node | ${m.node} |`,
    ...(m.extraCaCerts === null
      ? []
      : [
          `| NODE_EXTRA_CA_CERTS | set in this environment: every Node start (tamanu's, each service's) reads that CA bundle first; \`node -e 0\` takes ${m.extraCaCerts.withMs} ms with it, ${m.extraCaCerts.withoutMs} ms without (median of 10) |`,
        ]),
    `| load average at start (1/5/15 min) | ${m.loadAverage.map((x) => x.toFixed(2)).join(" / ")} |`,
    `| host | a sandbox ${f.supervisor === "systemd" ? "systemd user manager (Tamanu units, Caddy as a user unit)" : "pm2 daemon behind a real Caddy"} |`,
    `| restarted | ${f.instances.join(", ")} (\`tamanu restart ${f.names.join(" ")}\`), each told to wait ${f.readyDelayMs} ms (READY_DELAY_MS) before it listens: ${s(nominalBootSumMs)} s nominal |`,
    `| measured boots | ${boots === null ? "**not measured** (the calibration did not complete): figures below use the nominal delay" : `${boots.perInstance.map((x) => `${Math.round(x.medianMs)} ms`).join(" + ")} = ${s(boots.sumMs)} s (median of ${boots.perInstance[0]?.samples ?? 0} per instance, this run; see below)`} |`,
    "| load | 2 browser-like loops per path through Caddy (" +
      (f.supervisor === "systemd" ? "`/api/patients` and `/`" : "`/`") +
      "), keep-alive, 5 ms pause; 300 ms before and after each method |",
    "",
    "## Restarting the instances behind Caddy under load",
    "",
    ...(boots === null
      ? []
      : [
          "### The boots, measured",
          "",
          "Before each round of methods, every instance in turn was stopped, started by its supervisor and polled",
          "directly every 5 ms, under the same load through Caddy; its boot runs from the process's start (its fork",
          f.supervisor === "systemd"
            ? "by systemd, from systemd's own record: `ExecMainStartTimestampMonotonic`, in microseconds) to its first"
            : "by pm2, `/proc/<pid>/stat`, one 10 ms clock tick) to its first",
          "HTTP answer, so it holds Node's own start-up and the READY_DELAY_MS wait, and neither the supervisor call",
          "nor tamanu.",
          "",
          "| instance | boot, median (ms) | over READY_DELAY_MS (ms) | samples |",
          "|---|---|---|---|",
          ...boots.perInstance.map(
            (x) => `| ${x.instance} | ${ms(x.medianMs)} | ${signed(x.medianMs - f.readyDelayMs)} | ${x.samples} |`,
          ),
          `| **sum** | **${ms(boots.sumMs)}** | ${signed(boots.sumMs - nominalBootSumMs)} | |`,
          "",
        ]),
    `Each method ran ${rolling?.runs ?? 0} times, interleaved; figures are medians (failed: median, and the total over all runs).`,
    "Wall time: from the first command until every restarted instance answers again (and the last Caddy reload returned);",
    "for (a) it is the life of the `tamanu` process, start-up included.",
    "",
    `| method | wall (s) | over the ${s(bootSumMs)} s of ${boots === null ? "nominal" : "measured"} boots (ms) | per instance (ms) | per instance over the nominal ${f.readyDelayMs} ms (ms) | served | failed (median / total) | served but > 1 s | p99 latency (ms) | max latency (ms) | resent on a closed keep-alive | all restarted |`,
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...summaries.map(
      (x) =>
        `| ${methodLabels[x.method]} | ${s(x.wallMs)} | ${signed(x.overheadMs)} | ${signed(x.overheadPerInstanceMs)} | ${signed((x.wallMs - nominalBootSumMs) / n)} | ${ms(x.served)} | ${ms(x.failed)} / ${x.failedTotal} | ${ms(x.slow)} | ${ms(x.p99Ms)} | ${ms(x.maxMs)} | ${ms(x.resent)} | ${x.allRestarted ? "yes" : "**no**"} |`,
    ),
    "",
    "Targets for (a):",
    "",
    `- zero failed requests through Caddy: **${zeroFailed ? "met" : "missed"}** (${rolling?.failedTotal ?? "–"} failed over ${rolling?.runs ?? 0} runs).`,
    `- wall time within ${overheadBudgetPerInstanceMs} ms per instance of the ${boots === null ? "nominal" : "measured"} boots (≤ ${s(wallTarget)} s): **${withinWall ? "met" : "missed"}** (median ${s(rolling?.wallMs ?? Number.NaN)} s, ${signed(rolling?.overheadPerInstanceMs ?? Number.NaN)} ms per instance; against the nominal ${s(nominalBootSumMs)} s: ${signed(((rolling?.wallMs ?? Number.NaN) - nominalBootSumMs) / n)} ms per instance).` +
      (withinWall || breakdown === null ? "" : " Where the time beyond the boots goes is broken down below."),
    "",
    "Reading the table: (b) and (c) are fast because every instance boots at the same time, but while",
    "no upstream answers Caddy holds each request (its `lb_try_duration`), so clients wait as long as",
    "a boot (see the latency columns and the gap in the picture); with a shorter try duration, or",
    "none, those requests fail instead. (a) and (d) keep one instance serving throughout.",
    "",
    "![requests per 100 ms during each restart method](restart-requests.svg)",
    "",
  ]
  if (breakdown !== null) {
    const turns = breakdown.positions.reduce((t, p) => t + p.turnMs, 0)
    lines.push(
      "### Where (a)'s time goes",
      "",
      "From the CLI's progress lines, timestamped as they arrived (medians over the rolling runs, per roll position).",
      "`restart call` is the supervisor call plus waiting until it reports the unit running (the old process",
      "drains here); `probe` runs from then until the probe saw it answer (the probe-URL lookup, the rest of its boot, the",
      "probe's lateness);",
      `\`over boot\` is the whole turn minus the instance's ${boots === null ? "nominal" : "measured"} boot, i.e. what the roll adds to it.`,
      "",
      "| instance | restart call (ms) | of which until the new process started (ms) | probe (ms) | process start → ready line (ms) | its boot (ms) | ready line after the boot (ms) | Caddy reload (ms) | turn (ms) | over boot (ms) |",
      "|---|---|---|---|---|---|---|---|---|---|",
      ...breakdown.positions.map(
        (p) =>
          `| ${p.instance} | ${ms(p.restartCallMs)} | ${ms(p.untilProcessStartMs)} | ${ms(p.probeMs)} | ${ms(p.processStartToReadyMs)} | ${ms(bootOf(p.instance))} | ${Number.isFinite(p.processStartToReadyMs) ? signed(p.processStartToReadyMs - bootOf(p.instance)) : "–"} | ${ms(p.reloadMs)} | ${ms(p.turnMs)} | ${signed(p.turnMs - bootOf(p.instance))} |`,
      ),
      "",
      "The new process starts during the restart call, once the old one has drained (its start is read after the run,",
      f.supervisor === "systemd"
        ? "from systemd's record, in microseconds): from then on the boot runs, and the rest of the restart"
        : "from `/proc/<pid>/stat`, 10 ms resolution): from then on the boot runs, and the rest of the restart",
      "call, the wait for the supervisor to report it running and the probe-URL lookup all overlap it. So per",
      "instance, what the roll adds to a boot is: the time until the new process started, the probe's lateness",
      `(\`ready line after the boot\`: at most one probe spacing, ${spacingMs} ms, plus the attempt itself; against the`,
      "calibration's median boot, so it carries that run's boot noise too) and the Caddy reload. The service counts READY_DELAY_MS from its first line of JavaScript, so its boot also holds",
      `its own Node start-up${f.coldStart === null ? "" : ` (\`node -e 0\` takes ${f.coldStart.nodeMedianMs} ms here, below)`}: time any restart of a Node service pays, not tamanu's.`,
      "",
      `CLI start-up to the first restart (Node, loading, discovery, planning): ${ms(breakdown.startupMs)} ms;`,
      `after the last reload to exit: ${ms(breakdown.tailMs)} ms; the turns add up to ${ms(turns)} ms.`,
      `Beyond the boots (medians): start-up ${ms(breakdown.startupMs)} + turns over their boots ${ms(turns - breakdown.positions.reduce((t, p) => t + bootOf(p.instance), 0))}` +
        ` (of which Caddy reloads ${ms(breakdown.positions.reduce((t, p) => t + p.reloadMs, 0))}) + exit ${ms(breakdown.tailMs)} ms.`,
      "",
    )
  }
  lines.push("## Start-up and discovery", "")
  if (f.coldStart !== null) {
    const c = f.coldStart
    lines.push(
      "Cold start of `tamanu status --json` (a pm2 host with 4 processes) against `node -e 0`, run alternately",
      "(packages/lab/src/bench/coldStart.ts):",
      "",
      "| `node -e 0` (ms) | `tamanu status --json` (ms) | ratio | peak RSS (MB) |",
      "|---|---|---|---|",
      `| ${c.nodeMedianMs} | ${c.tamanuMedianMs} | ${c.ratio}× | ${c.peakRssMb} |`,
      "",
    )
  }
  if (f.discoverySystemd !== null || f.discoveryPm2 !== null) {
    const sizes = [
      ...new Set([
        ...(f.discoverySystemd ?? []).map((d) => d.units),
        ...(f.discoveryPm2 ?? []).map((d) => d.processes),
      ]),
    ].sort((a, b) => a - b)
    lines.push(
      "Discovery (one `list` of the supervisor, median) by number of Tamanu units/processes; calls are",
      "systemctl processes spawned (systemd) or RPC calls to the daemon (pm2) per discovery:",
      "",
      "| units | systemd calls | systemd (ms) | pm2 calls | pm2 (ms) |",
      "|---|---|---|---|---|",
      ...sizes.map((size) => {
        const sd = f.discoverySystemd?.find((d) => d.units === size)
        const pm = f.discoveryPm2?.find((d) => d.processes === size)
        return `| ${size} | ${sd?.calls ?? "–"} | ${sd?.medianMs ?? "–"} | ${pm?.calls ?? "–"} | ${pm?.medianMs ?? "–"} |`
      }),
      "",
    )
  }
  if (f.skipped.length > 0)
    lines.push("Not measured, or not completed, in this run:", "", ...f.skipped.map((x) => `- ${x}`), "")
  return lines.join("\n")
}
