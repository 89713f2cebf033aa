/**
 * docs/performance.md from the benchmark's figures: pure, so what the page
 * says is exactly what was measured (the numbers are never typed by hand).
 */

import { isFailedRequest } from "../harness/load.js"
import type { ColdStartFigures } from "./coldStart.js"
import type { Pm2DiscoveryFigure } from "./discoveryPm2.js"
import type { DiscoveryFigure } from "./discoverySystemd.js"
import { longestMs, totalMs } from "./outages.js"
import { type PackagingFigures, packagingMarkdown } from "./packaging.js"
import {
  type BootSample,
  cacheExpiryMs,
  calibrationSpacingMs,
  leadInMs,
  loadedServices,
  type MethodRun,
  methodLabels,
  minTailMs,
  type RestartMethod,
  restartMethods,
  scriptSpacingMs,
} from "./restartMethods.js"
import type { InstanceBreakdown, RollBreakdown } from "./rollTimeline.js"
import { type SettleFigures, settleMarkdown } from "./settle.js"
import { median, round } from "./stats.js"
import { type StatusCallsFigure, statusCallsTable, statusPhasesTable } from "./statusCalls.js"
import { type SystemManagerFigure, systemManagerMarkdown } from "./systemManager.js"

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
  /** `caddy version`'s first word. */
  readonly caddy: string
}

export interface BenchFigures {
  readonly machine: Machine
  /** 1, 5 and 15 minute load averages when the benchmark ended. */
  readonly loadAverageEnd: ReadonlyArray<number>
  /** The whole benchmark, build excluded. */
  readonly durationMs: number
  readonly readyDelayMs: number
  readonly names: ReadonlyArray<string>
  /** The rolled instances in the CLI's roll order. */
  readonly order: ReadonlyArray<string>
  readonly runs: ReadonlyArray<MethodRun>
  /** The instances' boots, measured in the same run (calibrateBoots). */
  readonly boots: ReadonlyArray<BootSample>
  /** Why the restart methods were not measured, when they were not. */
  readonly restartsSkipped: string | null
  readonly coldStart: ColdStartFigures | null
  readonly discoverySystemd: ReadonlyArray<DiscoveryFigure> | null
  readonly discoveryPm2: ReadonlyArray<Pm2DiscoveryFigure> | null
  /** The settle window's cost with N workers and the boot-time crash timings; absent in figures older than it. */
  readonly settle?: SettleFigures | null
  /** `status --json` on the real-shape sandbox at 4 and 16 instances (statusCalls.ts); absent in figures older than it. */
  readonly statusCalls?: ReadonlyArray<StatusCallsFigure> | null
  /** The real system manager's figures, and the rounds asked; null when not run. */
  readonly systemManager: { readonly rounds: number; readonly figures: ReadonlyArray<SystemManagerFigure> } | null
  /** The single executables and the .debs (packaging.ts); absent in figures kept before it was measured. */
  readonly packaging?: PackagingFigures | null
  /** What could not be measured, and why. */
  readonly skipped: ReadonlyArray<string>
}

export { median } from "./stats.js"

/** Budget over the measured boots for tamanu's roll, per instance (the target; issue #20: 60 ms, before it 150). */
export const overheadBudgetPerInstanceMs = 60

const finite = (values: ReadonlyArray<number | null>): ReadonlyArray<number> =>
  values.filter((v): v is number => v !== null && Number.isFinite(v))
/** Median of the values that were measured (NaN when none). */
const med = (values: ReadonlyArray<number | null>): number => median(finite(values))

export interface InstanceBoots {
  readonly instance: string
  readonly bootMs: number
  readonly restartCallMs: number
  readonly lookupMs: number
  readonly untilListeningMs: number
  readonly samples: number
  /** Fewest probe attempts of a sample (1: the look-up came after the boot, which is then overstated). */
  readonly fewestAttempts: number
}

export interface MeasuredBoots {
  /** Medians per instance, in roll order. */
  readonly perInstance: ReadonlyArray<InstanceBoots>
  /** Sum of the median boots: what a one-at-a-time roll cannot avoid. */
  readonly sumMs: number
}

/** Median measured boot per instance and their sum; null unless every instance has a sample. */
export const measuredBoots = (
  samples: ReadonlyArray<BootSample>,
  instances: ReadonlyArray<string>,
): MeasuredBoots | null => {
  const perInstance = instances.map((instance) => {
    const mine = samples.filter((x) => x.instance === instance)
    return {
      instance,
      bootMs: med(mine.map((x) => x.bootMs)),
      restartCallMs: med(mine.map((x) => x.restartCallMs)),
      lookupMs: med(mine.map((x) => x.lookupMs)),
      untilListeningMs: med(mine.map((x) => x.untilListeningMs)),
      samples: mine.length,
      fewestAttempts: Math.min(...mine.map((x) => x.attempts)),
    }
  })
  if (perInstance.some((x) => x.samples === 0)) return null
  return { perInstance, sumMs: perInstance.reduce((t, x) => t + x.bootMs, 0) }
}

/** A run's (roll − Σ boots) / instances against its own repeat's calibration; NaN without a full calibration. */
export const runOverheadPerInstanceMs = (
  run: MethodRun,
  boots: ReadonlyArray<BootSample>,
  instances: number,
): number => {
  const mine = boots.filter((b) => b.repeat === run.repeat)
  const sum = mine.length === instances ? mine.reduce((t, b) => t + b.bootMs, 0) : Number.NaN
  return ((run.rollMs ?? Number.NaN) - sum) / instances
}

/** ms without a serving upstream in one run, summed over the services. */
export const noServingMsOf = (run: MethodRun): number =>
  Object.values(run.noServing).reduce((t, windows) => t + totalMs(windows), 0)

export interface MethodSummary {
  readonly method: RestartMethod
  readonly runs: number
  /** Lost requests: median per run, each run's, and the total. */
  readonly lost: number
  readonly lostPerRun: ReadonlyArray<number>
  readonly lostTotal: number
  /** Seconds without a serving upstream, services summed: median per run and each run's (ms). */
  readonly noServingMs: number
  readonly noServingPerRunMs: ReadonlyArray<number>
  /** Per service, median per run (ms). */
  readonly noServingByServiceMs: Readonly<Record<string, number>>
  /** The longest single window over all runs (ms). */
  readonly longestNoServingMs: number
  readonly wallMs: number
  /** Until every instance answered (median). */
  readonly rollMs: number
  /** Median of wall − roll per run. */
  readonly afterLastAnswerMs: number
  /** (median roll − the measured boots) / instances. */
  readonly overheadPerInstanceMs: number
  readonly served: number
  readonly resent: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly allRestarted: boolean
  /** Of the runs that lost requests: the last lost request's start − the method's end (median, ms); NaN when none lost any. */
  readonly lastLossAfterEndMs: number
}

/** The start of a run's last lost request, ms from the method's first command; null when it lost none. */
export const lastLossMs = (run: MethodRun): number | null =>
  Object.values(run.records)
    .flat()
    .reduce<number | null>((m, r) => (isFailedRequest(r) ? Math.max(m ?? r.startMs, r.startMs) : m), null)

export const summarizeMethod = (
  runs: ReadonlyArray<MethodRun>,
  method: RestartMethod,
  bootSumMs: number,
  instances: number,
): MethodSummary => {
  const mine = runs.filter((r) => r.method === method)
  const rollMs = med(mine.map((r) => r.rollMs))
  const byService: Record<string, number> = {}
  for (const { service } of loadedServices)
    byService[service] = med(mine.map((r) => totalMs(r.noServing[service] ?? [])))
  return {
    method,
    runs: mine.length,
    lost: median(mine.map((r) => r.failed)),
    lostPerRun: mine.map((r) => r.failed),
    lostTotal: mine.reduce((n, r) => n + r.failed, 0),
    noServingMs: median(mine.map(noServingMsOf)),
    noServingPerRunMs: mine.map(noServingMsOf),
    noServingByServiceMs: byService,
    longestNoServingMs: Math.max(0, ...mine.flatMap((r) => Object.values(r.noServing).map(longestMs))),
    wallMs: median(mine.map((r) => r.wallMs)),
    rollMs,
    afterLastAnswerMs: med(mine.map((r) => (r.rollMs === null ? null : r.wallMs - r.rollMs))),
    overheadPerInstanceMs: (rollMs - bootSumMs) / instances,
    served: median(mine.map((r) => r.served)),
    resent: median(mine.map((r) => r.resent)),
    p99Ms: median(mine.map((r) => r.p99Ms)),
    maxMs: Math.max(0, ...mine.map((r) => r.maxMs)),
    allRestarted: mine.length > 0 && mine.every((r) => r.allRestarted),
    lastLossAfterEndMs: med(
      mine.map((r) => {
        const last = lastLossMs(r)
        return last === null ? null : last - r.wallMs
      }),
    ),
  }
}

type Position = { readonly [K in keyof InstanceBreakdown]: K extends "instance" ? string : number }

export interface BreakdownSummary {
  readonly runs: number
  readonly toPlanMs: number
  readonly planToFirstRestartMs: number
  readonly startupMs: number
  readonly firstPinLoadMs: number
  /** Per roll position: medians over the rolling runs. */
  readonly positions: ReadonlyArray<Position>
  readonly afterLastReadyMs: number
  readonly lastPinMs: number
  readonly cacheWaitMs: number
  readonly exitMs: number
  readonly firstPinToRestoreMs: number
  /** Rolling runs whose roll order differed from the planned one. */
  readonly orderDiffered: number
}

const positionKeys = [
  "pinMs",
  "pinLoadMs",
  "restartCallMs",
  "lookupMs",
  "probeMs",
  "turnMs",
  "untilListeningMs",
  "readyAfterListeningMs",
] as const

export const summarizeBreakdown = (
  runs: ReadonlyArray<MethodRun>,
  order: ReadonlyArray<string>,
): BreakdownSummary | null => {
  const breakdowns: ReadonlyArray<RollBreakdown> = runs.flatMap((r) =>
    r.method === "rolling" && r.breakdown !== null ? [r.breakdown] : [],
  )
  const first = breakdowns[0]
  if (first === undefined) return null
  const of = (f: (b: RollBreakdown) => number | null) => med(breakdowns.map(f))
  return {
    runs: breakdowns.length,
    toPlanMs: of((b) => b.toPlanMs),
    planToFirstRestartMs: of((b) => b.planToFirstRestartMs),
    startupMs: of((b) => b.startupMs),
    firstPinLoadMs: of((b) => b.firstPinLoadMs),
    positions: first.instances.map((instance, k) => {
      const at = breakdowns.flatMap((b) => (b.instances[k] === undefined ? [] : [b.instances[k]]))
      const position: Record<string, number | string> = { instance: instance.instance }
      for (const key of positionKeys) position[key] = med(at.map((x) => x[key]))
      return position as Position
    }),
    afterLastReadyMs: of((b) => b.afterLastReadyMs),
    lastPinMs: of((b) => b.lastPinMs),
    cacheWaitMs: of((b) => b.cacheWaitMs),
    exitMs: of((b) => b.exitMs),
    firstPinToRestoreMs: of((b) => b.firstPinToRestoreMs),
    orderDiffered: breakdowns.filter((b) => b.instances.map((i) => i.instance).join() !== order.join()).length,
  }
}

/** One round of the system-manager benchmark: its running total plus the teardown (medians). */
const roundMs = (figures: ReadonlyArray<SystemManagerFigure>): number =>
  figures
    .filter((x) => x.what.startsWith("total for the round") || x.what.startsWith("teardown"))
    .reduce((t, x) => t + median(x.ms), 0)

const ms = (n: number) => (Number.isFinite(n) ? `${Math.round(n)}` : "–")
const s1 = (n: number) => (Number.isFinite(n) ? (n / 1000).toFixed(1) : "–")
const s2 = (n: number) => (Number.isFinite(n) ? (n / 1000).toFixed(2) : "–")
const signed = (n: number) => (!Number.isFinite(n) ? "–" : n >= 0 ? `+${ms(n)}` : ms(n))
const list = (values: ReadonlyArray<string>) => values.join(", ")
const load = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(2)).join(" / ")

const bootSection = (boots: MeasuredBoots, f: BenchFigures): ReadonlyArray<string> => [
  "### The boots, measured",
  "",
  "At the start of each repeat, with no tamanu, each instance in turn (roll order) was restarted with",
  "`systemctl --user restart <unit>`, its new container found with `podman ps` + `podman inspect`, and its",
  `new address polled every ${calibrationSpacingMs} ms (a fresh connection per attempt) until it answered, under the same load through`,
  "Caddy. Its **boot** runs from the restart call to that first answer: the old container's stop, the new",
  `one's start, Node's own start-up in it and READY_DELAY_MS (${f.readyDelayMs} ms). Medians over the repeats:`,
  "",
  "| instance | boot (ms) | of which the restart call (ms) | restart returned → address found (ms) | restart call → listening (container log) (ms) | samples |",
  "|---|---|---|---|---|---|",
  ...boots.perInstance.map(
    (x) =>
      `| ${x.instance} | ${ms(x.bootMs)} | ${ms(x.restartCallMs)} | ${ms(x.lookupMs)} | ${ms(x.untilListeningMs)} | ${x.samples} |`,
  ),
  `| **sum** | **${ms(boots.sumMs)}** | | | | |`,
  "",
  "The look-up overlaps the boot (the new container is still waiting out READY_DELAY_MS); the last column",
  "is the moment the process began listening, from the container's log (conmon stamps each line with the",
  `wall clock), so boot − that column is the ${calibrationSpacingMs} ms poll's own lateness.` +
    (boots.perInstance.some((x) => x.fewestAttempts <= 1)
      ? " **A sample answered at the first attempt: the look-up came after the boot, which is then overstated.**"
      : ""),
  "",
]

const ratio = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : "–"
const perRun = (values: ReadonlyArray<number>, format: (n: number) => string) =>
  values.length === 1 ? "" : ` (runs: ${list(values.map(format))})`

/**
 * The short reading of the side-by-side figures at the top of the page:
 * every number in it is one of the tables' below, and every judgement
 * (met/missed, lost or not) is made from them here.
 */
export const whatThisShows = (input: {
  readonly summaries: ReadonlyArray<MethodSummary>
  readonly breakdown: BreakdownSummary | null
  readonly boots: MeasuredBoots | null
  readonly instances: number
  /** Each tamanu run's (roll − Σ boots) / instances against its own repeat's calibration, in run order. */
  readonly rollingRunOverheadsMs?: ReadonlyArray<number>
  /** Each repeat's calibration, its boots summed. */
  readonly repeatBootSumsMs?: ReadonlyArray<number>
}): ReadonlyArray<string> => {
  const { summaries, breakdown, boots, instances: n } = input
  const perRunOverheads = (input.rollingRunOverheadsMs ?? []).filter(Number.isFinite)
  const sums = (input.repeatBootSumsMs ?? []).filter(Number.isFinite)
  const of = (method: RestartMethod) => summaries.find((x) => x.method === method && x.runs > 0)
  const rolling = of("rolling")
  const original = of("original")
  const bulk = of("bulk")
  if (rolling === undefined && original === undefined && bulk === undefined) return []
  const bootSumMs = boots?.sumMs ?? Number.NaN
  const longestBootMs = Math.max(...(boots?.perInstance.map((x) => x.bootMs) ?? [Number.NaN]))
  const runs = Math.max(...summaries.map((x) => x.runs))
  const lines: Array<string> = [
    "## What this shows",
    "",
    `Medians over ${runs} run${runs === 1 ? "" : "s"} of each method, all measured in this one run on the same host under the same load`,
    "(how, and every run's figures: below).",
    "",
  ]
  const losses = (x: MethodSummary) =>
    `${x.lost} lost per run${perRun(x.lostPerRun, String)}, its services without a serving upstream for ${s1(x.noServingMs)} s per run, the two summed (longest single window ${s1(x.longestNoServingMs)} s)`
  const lost: Array<string> = []
  if (rolling !== undefined)
    lost.push(
      rolling.lostTotal === 0
        ? `\`tamanu restart api frontend\` lost **0** requests in ${rolling.runs} run${rolling.runs === 1 ? "" : "s"} (${s1(rolling.noServingMs)} s without a serving upstream).`
        : `\`tamanu restart api frontend\` lost **${rolling.lostTotal}** requests over ${rolling.runs} runs: ${losses(rolling)}.`,
    )
  if (original !== undefined) {
    const after = original.lastLossAfterEndMs
    lost.push(
      `The original algorithm: **${losses(original)}**.` +
        (Number.isFinite(after) && after > 5_000
          ? ` Its last lost request started ${s1(after)} s after its last \`systemctl reload caddy\` returned: a reload leaves Caddy's \`dynamic a\` cache as it is, and Caddy goes on sending requests to the addresses the restarts took away until its 1-minute \`refresh\` runs out.`
          : ""),
    )
  }
  if (bulk !== undefined) lost.push(`The bulk restart: ${losses(bulk)}.`)
  lines.push(`- **Requests lost.** ${lost.join(" ")}`)

  if (boots !== null) {
    const roll = (x: MethodSummary | undefined, label: string) =>
      x === undefined ? [] : [`${label} ${s2(x.rollMs)} s (${ratio(x.rollMs, bootSumMs)} Σ boots)`]
    lines.push(
      `- **Time against the boots.** The ${n} instances' boots, measured in this run, sum to ${s2(bootSumMs)} s (a one-at-a-time roll`,
      `  cannot be shorter). Until every instance answered: ${list([...roll(rolling, "tamanu"), ...roll(original, "the original")])}` +
        (bulk === undefined
          ? "."
          : `; bulk ${s2(bulk.rollMs)} s, ${ratio(bulk.rollMs, longestBootMs)} the longest single boot (${s2(longestBootMs)} s), its instances booting side by side.`),
    )
  }

  if (rolling !== undefined && boots !== null) {
    const overMs = rolling.rollMs - bootSumMs
    const startupMs = breakdown?.startupMs ?? Number.NaN
    const pinsMs = breakdown?.positions.reduce((t, p) => t + (Number.isFinite(p.pinMs) ? p.pinMs : 0), 0) ?? Number.NaN
    const lateMs = breakdown?.positions.reduce((t, p) => t + p.readyAfterListeningMs, 0) ?? Number.NaN
    const own = startupMs + pinsMs + lateMs
    const ownMs = Number.isFinite(own) ? own : null
    const met = rolling.overheadPerInstanceMs <= overheadBudgetPerInstanceMs
    lines.push(
      `- **tamanu's overhead.** (median roll − Σ median boots) / ${n} = **${signed(rolling.overheadPerInstanceMs)} ms per instance** against the ${overheadBudgetPerInstanceMs} ms target: **${met ? "met" : "missed"}**` +
        (met ? "" : ` by ${ms(rolling.overheadPerInstanceMs - overheadBudgetPerInstanceMs)} ms per instance`) +
        (perRunOverheads.length > 1
          ? (() => {
              const m = median(perRunOverheads)
              const agrees = m <= overheadBudgetPerInstanceMs === met
              return `; each run against its own repeat's calibration: ${list(perRunOverheads.map(signed))} ms (median ${signed(m)}${agrees ? "" : `, **${m <= overheadBudgetPerInstanceMs ? "met" : "missed"}** by that reckoning`}).${agrees ? "" : ` Σ boots ranged over ${s2(Math.min(...sums))}–${s2(Math.max(...sums))} s from one repeat's calibration to the next (${ms((Math.max(...sums) - Math.min(...sums)) / n)} ms per instance), more than the verdict's ${ms(Math.abs(rolling.overheadPerInstanceMs - overheadBudgetPerInstanceMs))} ms margin: this run does not settle the target either way.`}`
            })()
          : ".") +
        (Number.isFinite(startupMs)
          ? ` Of the roll's ${signed(overMs)} ms over Σ boots, ${ms(startupMs)} ms (${ms(startupMs / n)} per instance) is before the first restart (Node's start-up, the CLI, discovery, the Caddy session and its first pin) and ${signed(overMs - startupMs)} ms (${signed((overMs - startupMs) / n)} per instance) the ${n} turns (pins, the probe's lateness, boots slower or faster than the calibration's).`
          : "") +
        (ownMs === null
          ? ""
          : ` What tamanu adds by itself, free of the boots' noise (the start-up, the pins, and each probe's lateness after the new process began listening by its container's log): ${ms(ownMs)} ms, **${ms(ownMs / n)} ms per instance**.`) +
        (original === undefined
          ? ""
          : ` The original algorithm, with a Caddy reload instead of a pin per instance, spends ${signed(original.overheadPerInstanceMs)} ms per instance over the same boots.`),
    )
  }

  if (rolling !== undefined) {
    const restore =
      breakdown === null
        ? ""
        : ` It pins Caddy to the instances that serve while Caddy's cache may still hold a gone address, and restores Caddy's own config only once it cannot (first pin → restore ${s2(breakdown.firstPinToRestoreMs)} s: \`refresh\` + 2 s; the wait itself, \`comes back in\` → restored, ${s2(breakdown.cacheWaitMs)} s).`
    lines.push(
      `- **The restore wait.** After its last instance answered, tamanu ran on for **${s2(rolling.afterLastAnswerMs)} s** (wall ${s2(rolling.wallMs)} s, ${ratio(rolling.wallMs, rolling.rollMs)} its roll).` +
        restore +
        (rolling.lostTotal === 0 ? " Nothing was lost in that time either." : "") +
        (original === undefined
          ? ""
          : ` The original algorithm is done ${s2(original.afterLastAnswerMs)} s after its last answer (wall ${s2(original.wallMs)} s)` +
            (Number.isFinite(original.lastLossAfterEndMs) && original.lastLossAfterEndMs > 0
              ? `, but its requests went on failing for up to ${s1(original.lastLossAfterEndMs)} s after it: the shorter wall is not a shorter outage.`
              : ".")),
    )
  }
  lines.push("")
  return lines
}

export const performanceMarkdown = (f: BenchFigures): string => {
  const m = f.machine
  const n = f.order.length
  const boots = measuredBoots(f.boots, f.order)
  const bootSumMs = boots?.sumMs ?? Number.NaN
  const bootOf = (instance: string) => boots?.perInstance.find((x) => x.instance === instance)?.bootMs ?? Number.NaN
  const summaries = restartMethods.map((method) => summarizeMethod(f.runs, method, bootSumMs, n))
  const byMethod = (method: RestartMethod) => summaries.find((x) => x.method === method)
  const rolling = byMethod("rolling")
  const original = byMethod("original")
  const bulk = byMethod("bulk")
  const breakdown = summarizeBreakdown(f.runs, f.order)
  const rollTarget = bootSumMs + overheadBudgetPerInstanceMs * n
  const repeats = Math.max(0, ...summaries.map((x) => x.runs))
  const lines: Array<string> = [
    "# Performance",
    "",
    "Measured by `npm run bench` (packages/lab/src/bench/main.ts), which writes this page and",
    "[restart-requests.svg](restart-requests.svg). Every figure below comes from the run described here,",
    "except a section stamped as measured again on its own (`npm run bench -- <group>`, the groups: restart,",
    "startup, packaging, settle, system); nothing is typed by hand. Run it again on the machine you care about.",
    "",
    "| | |",
    "|---|---|",
    `| date | ${m.date} |`,
    `| machine | ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGb.toFixed(1)} GB memory, ${m.kernel}; shared with other engineers' test runs |`,
    `| load average (1/5/15 min) | ${load(m.loadAverage)} at the start, ${load(f.loadAverageEnd)} at the end (each run's 1-minute figure is in the table of every run) |`,
    `| node | ${m.node} |`,
    ...(m.extraCaCerts === null
      ? []
      : [
          `| NODE_EXTRA_CA_CERTS | set in this environment: every Node start (tamanu's, each service's) reads that CA bundle first; \`node -e 0\` takes ${m.extraCaCerts.withMs} ms with it, ${m.extraCaCerts.withoutMs} ms without (median of 10) |`,
        ]),
    `| Caddy | ${m.caddy} |`,
    `| this run | ${(f.durationMs / 60_000).toFixed(1)} min, the build before it excluded |`,
    "",
    ...(f.restartsSkipped === null
      ? whatThisShows({
          summaries,
          breakdown,
          boots,
          instances: n,
          rollingRunOverheadsMs: f.runs
            .filter((r) => r.method === "rolling")
            .map((r) => runOverheadPerInstanceMs(r, f.boots, n)),
          repeatBootSumsMs: [...new Set(f.boots.map((b) => b.repeat))].flatMap((repeat) => {
            const mine = f.boots.filter((b) => b.repeat === repeat)
            return mine.length === n ? [mine.reduce((t, b) => t + b.bootMs, 0)] : []
          }),
        })
      : []),
    "## Restarting the instances behind Caddy under load",
    "",
  ]
  if (f.restartsSkipped !== null) {
    lines.push(`**Not measured in this run**: ${f.restartsSkipped}.`, "")
  } else {
    lines.push(
      "On the real shape of a Tamanu Linux host (docs/testing.md, `packages/lab/src/e2e/sandboxHost.ts`): a",
      "systemd user manager runs one unit per instance, each a podman container on a bridge network, the",
      "instances of a service sharing an aardvark-dns alias (`api.facility.tamanu.internal`,",
      "`frontend.tamanu.internal`, port 3000) and getting a new address at every restart; Caddy runs as a",
      "Debian-shaped `caddy.service` (reload = `caddy reload --force`) with `dynamic a` upstreams on the",
      "aliases, Caddy's default `refresh` (1 minute) and `lb_try_duration 1s`. The instances restarted:",
      `${list(f.order.map((i) => `\`${i}\``))} (the CLI's roll order, read from \`tamanu restart ${f.names.join(" ")} --dry-run\`),`,
      `each told to wait ${f.readyDelayMs} ms (READY_DELAY_MS) before it listens.`,
      "",
      "### The three methods",
      "",
      `- ${methodLabels.original}: what tamanu did before it drove Caddy's admin API, scripted in the`,
      "  benchmark. For each instance in the CLI's roll order: `systemctl --user restart <unit>`; its new",
      "  container's address from `podman ps --filter label=PODMAN_SYSTEMD_UNIT=<unit>` + `podman inspect`",
      `  (spec §8); probe that address until it answers (a fresh connection every ${scriptSpacingMs} ms, as tamanu's probe);`,
      "  `systemctl --user reload caddy` (Debian's unit: `caddy reload --force`); next.",
      `- ${methodLabels.rolling}: the built CLI. Before each instance goes down, one admin-API config load pins`,
      "  its service to the instances that serve (static upstreams, the previous one's new address included);",
      "  Caddy's own config comes back once its `dynamic a` cache can no longer hold an address the roll took",
      "  down: `refresh` + 2 s after the first pin (docs/probes-and-caddy.md).",
      `- ${methodLabels.bulk}: one \`systemctl --user restart\` of all four units, then wait until every new`,
      "  address answers.",
      "",
      `Each repeat (${repeats} here) begins with the boot calibration below, then runs the three methods,`,
      "interleaved across repeats (a b c, b c a, c a b) so a busy moment of the shared machine does not land",
      "on one method only. For every run, two browser-like clients per service loop through Caddy",
      "(`/api/patients` for the API, `/` for the frontend; keep-alive, 5 ms pause; a request on a reused",
      "keep-alive connection that Caddy closed at a config load is resent once on a fresh one, as browsers",
      `do, and counted apart as **resent**). The load starts ${leadInMs / 1000} s before the method and runs on until`,
      `${cacheExpiryMs / 1000} s after the method's last restart call returned (and at least ${minTailMs / 1000} s after the method ended).`,
      `Why ${cacheExpiryMs / 1000} s: Caddy keeps a \`dynamic a\` answer for its \`refresh\`, 60 s, whatever reloads it, so an answer`,
      "cached before the last restart can send requests to a gone address until 60 s after it; a request",
      "sent then waits up to 3 s for the dial to fail (and 1 s of `lb_try_duration`); 1 s more is margin. So",
      "each method's losses are all counted in its own run, and when the next method begins Caddy's cache",
      "holds no address from before the previous one. The calibration restarts every instance too, so the",
      `first method of a repeat begins only ${cacheExpiryMs / 1000} s after the calibration's last restart (with no load meanwhile).`,
      "",
      "### Definitions",
      "",
      "- **lost**: a request through Caddy that got a status ≥ 500 or no response (reset, refused, 10 s timeout),",
      "  after the one resend above. Every request of the run counts, lead-in and tail included.",
      "- **without a serving upstream** (`packages/lab/src/bench/outages.ts`): per service, every request is a",
      "  sample, at its start, of whether the service serves. A window opens at the start of a failed request",
      "  and lasts, through every further failed one, until the start of the next request that was served:",
      "  every request of that service that started in it failed. The figure is the total length of those",
      "  windows, summed over the two services (a lone failure among served requests adds a few ms; a service",
      "  whose every address Caddy tries is gone adds as long as that lasts).",
      "- **boot**: below; **Σ boots** is the sum of the four instances' median boots in this run.",
      "- **roll**: from the method's first command (for tamanu, the CLI's spawn) until every restarted",
      "  instance answered: tamanu's last `✓ <instance> ready after` line; the original's and bulk's own probe.",
      "- **wall**: from the first command until the method is done: tamanu's exit; the original's last",
      "  `systemctl reload caddy` returned; bulk's last answer. **After the last answer** = wall − roll.",
      `- **per instance over the boots** = (roll − Σ boots) / ${n}; tamanu's target is ${overheadBudgetPerInstanceMs} ms.`,
      "",
    )
    if (boots !== null) lines.push(...bootSection(boots, f))
    else lines.push("**The boot calibration did not complete: no boots to compare with.**", "")

    lines.push(
      "### Side by side",
      "",
      `Medians over ${repeats} runs of each method (lost and seconds without a serving upstream: each run's figure in brackets).`,
      "",
      `| method | lost | without a serving upstream (s) | longest window (s) | roll (s) | roll − Σ boots (${s2(bootSumMs)} s) per instance (ms) | after the last answer (s) | wall (s) | served | resent | p99 latency (ms) | all restarted |`,
      "|---|---|---|---|---|---|---|---|---|---|---|---|",
      ...summaries.map(
        (x) =>
          `| ${methodLabels[x.method]} | ${x.lost} (${list(x.lostPerRun.map(String))}) | ${s1(x.noServingMs)} (${list(x.noServingPerRunMs.map(s1))}) | ${s1(x.longestNoServingMs)} | ${s2(x.rollMs)} | ${signed(x.overheadPerInstanceMs)} | ${s2(x.afterLastAnswerMs)} | ${s2(x.wallMs)} | ${ms(x.served)} | ${ms(x.resent)} | ${ms(x.p99Ms)} | ${x.allRestarted ? "yes" : "**no**"} |`,
      ),
      "",
      "Seconds without a serving upstream, per service (median per run):",
      "",
      `| method | ${loadedServices.map((x) => `${x.service} (s)`).join(" | ")} |`,
      `|---|${loadedServices.map(() => "---|").join("")}`,
      ...summaries.map(
        (x) =>
          `| ${methodLabels[x.method]} | ${loadedServices.map((sv) => s1(x.noServingByServiceMs[sv.service] ?? Number.NaN)).join(" | ")} |`,
      ),
      "",
    )

    if (rolling !== undefined && rolling.runs > 0) {
      const overBudget = rolling.overheadPerInstanceMs - overheadBudgetPerInstanceMs
      lines.push(
        "### Targets",
        "",
        `- **0 lost** with tamanu: **${rolling.lostTotal === 0 ? "met" : "missed"}** (${rolling.lostTotal} lost over ${rolling.runs} runs, ${rolling.resent} resent per run (median)).` +
          (original !== undefined && original.runs > 0
            ? ` Beside it, the original algorithm lost ${original.lost} per run (${list(original.lostPerRun.map(String))}), with its services answering nothing for ${s1(original.noServingMs)} s per run (median, the two summed)`
            : "") +
          (bulk !== undefined && bulk.runs > 0
            ? `; bulk lost ${bulk.lost} per run (${list(bulk.lostPerRun.map(String))}), ${s1(bulk.noServingMs)} s without a serving upstream.`
            : "."),
        `- **tamanu's roll within ${overheadBudgetPerInstanceMs} ms per instance of the measured boots** (≤ ${s2(rollTarget)} s): **${rolling.overheadPerInstanceMs <= overheadBudgetPerInstanceMs ? "met" : "missed"}**: median roll ${s2(rolling.rollMs)} s against Σ boots ${s2(bootSumMs)} s, ${signed(rolling.overheadPerInstanceMs)} ms per instance` +
          (overBudget > 0
            ? `, ${ms(overBudget)} ms per instance (${ms(overBudget * n)} ms per roll) over the target.`
            : ".") +
          ` Per run against its own repeat's calibration: ${list(f.runs.filter((r) => r.method === "rolling").map((r) => signed(runOverheadPerInstanceMs(r, f.boots, n))))} ms per instance.` +
          " Where it goes is broken down below.",
        "",
      )
    }

    lines.push(
      "### Every run",
      "",
      "In the order they ran; Σ boots is that repeat's calibration (its four samples summed).",
      "",
      "| # | repeat | method | load average (1 min) | lost | without a serving upstream (s) | roll (s) | Σ boots (s) | roll − Σ boots per instance (ms) | wall (s) | resent |",
      "|---|---|---|---|---|---|---|---|---|---|---|",
      ...f.runs.map((r, k) => {
        const repeatBoots = f.boots.filter((b) => b.repeat === r.repeat)
        const sum = repeatBoots.length === n ? repeatBoots.reduce((t, b) => t + b.bootMs, 0) : Number.NaN
        return `| ${k + 1} | ${r.repeat + 1} | ${methodLabels[r.method]} | ${r.loadAverage.toFixed(2)} | ${r.failed} | ${s1(noServingMsOf(r))} | ${s2(r.rollMs ?? Number.NaN)} | ${s2(sum)} | ${signed(runOverheadPerInstanceMs(r, f.boots, n))} | ${s2(r.wallMs)} | ${r.resent} |`
      }),
      "",
      "![requests through Caddy during each method](restart-requests.svg)",
      "",
    )

    if (breakdown !== null && rolling !== undefined) {
      const turnsOver = breakdown.positions.reduce((t, p) => t + (p.turnMs - bootOf(p.instance)), 0)
      const pins = breakdown.positions.reduce((t, p) => t + (Number.isFinite(p.pinMs) ? p.pinMs : 0), 0)
      const late = breakdown.positions.reduce((t, p) => t + p.readyAfterListeningMs, 0)
      lines.push(
        "### Where tamanu's roll goes",
        "",
        `From the CLI's progress lines, stamped as they arrived (medians over ${breakdown.runs} runs), and each new`,
        "process's first `listening` line in its container's log.",
        "",
        `Start-up, spawn → the first \`↻ restarting\` line: **${ms(breakdown.startupMs)} ms**, of which spawn → the \`plan for restart\``,
        `line (Node's start-up, the CLI loaded, the host discovered, the plan made) ${ms(breakdown.toPlanMs)} ms, and the plan line → the`,
        `first restart (the Caddy session opened: every instance's address from podman, Caddy's live config read, the`,
        `first pin loaded, ${ms(breakdown.firstPinLoadMs)} ms of it Caddy's config load) ${ms(breakdown.planToFirstRestartMs)} ms.`,
        "",
        "Then per instance (**pin**: the previous `ready` line → this `restarting` line, the config load that",
        "takes it out of Caddy's routing and puts the previous one's new address in; **restart call**:",
        "`restarting` → `running`; **look-up**: `running` → the probe's first attempt; **probe**: the probe's",
        "own wait; **turn**: the previous `ready` line (for the first, its `restarting` line) → its `ready` line):",
        "",
        "| instance | pin (ms) | of which the config load (ms) | restart call (ms) | look-up (ms) | probe (ms) | restarting → listening, this roll (ms) | listening → ready line (ms) | turn (ms) | its boot (ms) | turn − boot (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        ...breakdown.positions.map(
          (p) =>
            `| ${p.instance} | ${ms(p.pinMs)} | ${ms(p.pinLoadMs)} | ${ms(p.restartCallMs)} | ${ms(p.lookupMs)} | ${ms(p.probeMs)} | ${ms(p.untilListeningMs)} | ${ms(p.readyAfterListeningMs)} | ${ms(p.turnMs)} | ${ms(bootOf(p.instance))} | ${signed(p.turnMs - bootOf(p.instance))} |`,
        ),
        "",
        "The restart call, the look-up and the probe's wait all happen inside the boot (the new container is",
        "waiting out READY_DELAY_MS meanwhile), so per instance the roll adds the pin before the restart call",
        "and the probe's lateness after the process began listening (at most one 20 ms probe spacing plus the",
        "attempt and the line's way to the benchmark), and `turn − boot` also holds how much slower or faster",
        "this boot was than the calibration's (compare `restarting → listening` with the calibration's",
        "`restart call → listening`).",
        "",
        `So the roll's ${signed(rolling.rollMs - bootSumMs)} ms over Σ boots (medians) is: start-up ${ms(breakdown.startupMs)} ms + the turns' ${signed(turnsOver)} ms over their`,
        `boots, of which pins ${ms(pins)} ms and probe lateness ${ms(late)} ms` +
          (breakdown.orderDiffered > 0
            ? ` (**${breakdown.orderDiffered} rolling runs rolled in another order than the dry-run planned**).`
            : "."),
        "",
        "### After the last instance answered: Caddy's cache",
        "",
        `tamanu's wall is not its roll: after the last instance answered it ran **${s2(breakdown.afterLastReadyMs)} s** more (median): the last`,
        `pin (every new address, ${ms(breakdown.lastPinMs)} ms until the \`… Caddy's own config comes back in …\` line), the wait for Caddy's`,
        `cache, one probe of each pinned instance and the restore load (\`… comes back\` → \`✓ Caddy runs its own config again\`:`,
        `${s2(breakdown.cacheWaitMs)} s), and the exit (${ms(breakdown.exitMs)} ms). The restore is due \`refresh\` + 2 s after the first pin, whatever`,
        `the roll's length: first pin → restore line ${s2(breakdown.firstPinToRestoreMs)} s here. So while the roll is shorter than that,`,
        "tamanu's wall is about the start-up to the first pin + 62 s + the restore + the exit, and a longer roll",
        "(slower boots, more instances) waits less: its restore follows its last instance at once. The original",
        "algorithm's wall is shorter but its damage lasts as long: Caddy's cache still routes to the gone",
        "addresses after its last reload, which is what its losses and its seconds without a serving upstream are.",
        "",
      )
    }

    const originalSteps = f.runs.flatMap((r) => (r.method === "original" && r.steps !== null ? r.steps : []))
    if (originalSteps.length > 0) {
      const of = (k: "restartCallMs" | "lookupMs" | "probeMs" | "reloadMs") => ms(med(originalSteps.map((x) => x[k])))
      lines.push(
        `The original algorithm's turns (medians over its ${originalSteps.length} instance turns): restart call ${of("restartCallMs")} ms, address`,
        `look-up ${of("lookupMs")} ms, probe ${of("probeMs")} ms, \`systemctl --user reload caddy\` ${of("reloadMs")} ms.`,
        "",
      )
    }
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
  if (f.statusCalls !== undefined && f.statusCalls !== null && f.statusCalls.length > 0) {
    const at = (n: number) => f.statusCalls?.find((c) => c.instances === n)
    const four = at(4)
    const sixteen = at(16)
    lines.push(
      "`tamanu status --json` on the real shape (a systemd user manager running podman containers, the sandbox of",
      "docs/testing.md; packages/lab/src/bench/statusCalls.ts), against `node -e 0` entered the same way and against",
      "the podman and systemctl calls it made, replayed one after another on their own (counted by PATH shims):",
      "",
      statusCallsTable(f.statusCalls),
      "",
      ...(four === undefined || sixteen === undefined
        ? []
        : [
            `Targets (issue #20): at most 2.5× \`node -e 0\` at 4 instances: ${round(four.statusMs / four.nodeMs)}×, ` +
              `${four.statusMs / four.nodeMs <= 2.5 ? "met" : "missed"}; no more podman calls at 16 instances than at 4: ` +
              `${four.podmanCalls} and ${sixteen.podmanCalls}, ${sixteen.podmanCalls <= four.podmanCalls ? "met" : "missed"}. ` +
              `\`node -e 0\` and the calls alone, one after the other, already take ${round((four.nodeMs + four.floorMs) / four.nodeMs)}× \`node -e 0\` at 4 instances ` +
              `(${round((sixteen.nodeMs + sixteen.floorMs) / sixteen.nodeMs)}× at 16): what tamanu adds over both is ${round(four.statusMs - four.nodeMs - four.floorMs, 0)} ms at 4, ` +
              `${round(sixteen.statusMs - sixteen.nodeMs - sixteen.floorMs, 0)} ms at 16.`,
            "",
          ]),
      ...(statusPhasesTable(f.statusCalls) === ""
        ? []
        : [
            "Where one run's time goes, from its process events (`strace -f -tt -e trace=execve,connect`, one run at each",
            "size after the timed ones; strace slows every spawn, so the phases add up to more than the medians above):",
            "",
            statusPhasesTable(f.statusCalls),
            "",
          ]),
    )
  }
  if (f.settle !== undefined && f.settle !== null) lines.push(settleMarkdown(f.settle))
  if (f.packaging !== undefined && f.packaging !== null) lines.push(...packagingMarkdown(f.packaging))
  if (f.systemManager !== null) {
    lines.push(
      "## On a real system manager",
      "",
      'The harness of docs/testing.md\'s "The real system manager" (`packages/lab/src/bench/systemManager.ts`): a',
      "systemd system manager booted in a podman container from the host's root, Debian's own `caddy.service`",
      "and PostgreSQL in it, the built `tamanu` run by a non-root operator (sudo included) and by root.",
      `${f.systemManager.rounds} round${f.systemManager.rounds === 1 ? "" : "s"} in this run (a round takes ${s1(roundMs(f.systemManager.figures))} s, most of it the restart's`,
      "wait for Caddy's cache; `node packages/lab/dist/bench/systemManager.js 3` runs 3 rounds on their own):",
      "",
      systemManagerMarkdown(f.systemManager.figures),
      "",
    )
  }
  if (f.skipped.length > 0)
    lines.push("Not measured, or not completed, in this run:", "", ...f.skipped.map((x) => `- ${x}`), "")
  return lines.join("\n")
}
