/**
 * Benchmark: the settle window (issue #23) on a real systemd user manager.
 *
 * 1. Its cost with N workers. The executor's own steps for a start of
 *    services no probe judges (operations/execute.ts: one batched `Start`,
 *    `WaitRunning`, `Settle`), with the live systemd supervisor, on N units
 *    whose boots are staggered over 0-0.9 s (`ExecStartPost=sleep`: the unit
 *    is `activating` until it is done), with no window and with a window of
 *    W, run alternately. With one window for all, the start takes the
 *    longest boot plus W whatever N; each read of the window is ONE
 *    `systemctl show` of all N units (counted from the processes spawned).
 * 2. How soon after systemd calls a worker running a crash at boot comes,
 *    which the default window must outlast: a Node process that exits 3 at
 *    its first statement, and one that first loads a large dependency tree
 *    (fixtures/crash-on-boot.mjs); systemd's own ActiveEnter and ExecMainExit
 *    timestamps, so the figure is the unit's, not the reader's.
 */
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import {
  type InstanceRef,
  makeSystemdSupervisor,
  Supervisor,
  waitUntil,
  watchSettle,
} from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Layer, Schedule } from "effect"
import { startUserManager } from "../harness/systemdUserManager.js"
import { median, round } from "./stats.js"

const crashScript = fileURLToPath(new URL("../../fixtures/crash-on-boot.mjs", import.meta.url))

export interface SettleCostFigure {
  /** Units started in the batch. */
  readonly workers: number
  /** The longest boot among them (the unit's ExecStartPost), ms. */
  readonly longestBootMs: number
  /** Median wall time of start → running, without a window and with one. */
  readonly noWindowMs: number
  readonly withWindowMs: number
  /** What the window added (medians' difference). */
  readonly addedMs: number
  /** `systemctl show` calls per window, and the units each one asked about. */
  readonly readsPerWindow: number
  readonly unitsPerRead: number
}

export interface CrashTimingFigure {
  readonly kind: "at once" | "after loading a large dependency tree"
  /** From systemd calling it running (ActiveEnter) to its process's exit (ExecMainExit), per run, ms. */
  readonly runsMs: ReadonlyArray<number>
  readonly medianMs: number
  readonly maxMs: number
}

export interface SettleFigures {
  /** When it was measured and how busy the machine was (1-minute load average) before and after. */
  readonly date: string
  readonly loadAverage: readonly [number, number]
  readonly windowMs: number
  readonly runs: number
  readonly cost: ReadonlyArray<SettleCostFigure>
  readonly crashes: ReadonlyArray<CrashTimingFigure>
}

export interface SettleBenchOptions {
  readonly sizes?: ReadonlyArray<number>
  /** Runs per size and window setting. */
  readonly runs?: number
  readonly window?: Duration.DurationInput
  readonly crashRuns?: number
  readonly say?: (text: string) => void
}

/** Unit i boots in ((i - 1) mod 10) / 10 s. */
const bootMs = (i: number) => ((i - 1) % 10) * 100
const workerUnit = `[Service]
Type=simple
ExecStart=/bin/sleep infinity
ExecStartPost=/bin/sh -c 'sleep 0.$(( (%i - 1) %% 10 ))'
`
const crashUnit = (heavy: boolean) => `[Unit]
StartLimitIntervalSec=0
[Service]
Type=simple
Environment=HEAVY=${heavy ? "1" : "0"}
ExecStart=${process.execPath} ${crashScript}
`

export const benchSettle = async (options: SettleBenchOptions = {}): Promise<SettleFigures> => {
  const sizes = options.sizes ?? [1, 4, 16]
  const runs = options.runs ?? 3
  const window = Duration.decode(options.window ?? Duration.seconds(2))
  const say = options.say ?? (() => undefined)
  const date = new Date().toISOString().replace(/\.\d+Z$/, "Z")
  const loadBefore = os.loadavg()[0] ?? 0
  const manager = await startUserManager({
    units: [
      { name: "tamanu-settle@.service", text: workerUnit },
      { name: "tamanu-crash-light.service", text: crashUnit(false) },
      { name: "tamanu-crash-heavy.service", text: crashUnit(true) },
    ],
  })
  try {
    let shows = 0
    let unitsShown = 0
    const supervisor = makeSystemdSupervisor({
      ...manager.supervisorOptions,
      onSpawn: (argv) => {
        const show = argv.indexOf("show")
        if (show === -1) return
        shows++
        unitsShown += argv.length - argv.indexOf("--", show) - 1
      },
    })
    const layer = Layer.succeed(Supervisor, supervisor)
    const run = <A, E>(effect: Effect.Effect<A, E, Supervisor>) => Effect.runPromise(Effect.provide(effect, layer))

    const cost: Array<SettleCostFigure> = []
    for (const workers of sizes) {
      const refs: ReadonlyArray<InstanceRef> = Array.from({ length: workers }, (_, i) => ({
        name: "tamanu-settle",
        suffix: String(i + 1),
        pmId: null,
      }))
      const units = refs.map((r) => `tamanu-settle@${r.suffix}.service`)
      const times: Record<"none" | "window", Array<number>> = { none: [], window: [] }
      let reads = 0
      let perRead = 0
      for (let i = 0; i < runs; i++) {
        for (const setting of ["none", "window"] as const) {
          await manager.ctl(["stop", "--", ...units])
          shows = 0
          unitsShown = 0
          const began = performance.now()
          // The executor's Start, WaitRunning and Settle steps.
          await run(
            Effect.gen(function* () {
              yield* supervisor.start(refs)
              yield* waitUntil(refs, "running")
              if (setting === "window") yield* watchSettle(refs, { window })
            }),
          )
          times[setting].push(performance.now() - began)
          if (setting === "window") {
            reads = shows
            perRead = shows === 0 ? 0 : unitsShown / shows
          }
        }
      }
      await manager.ctl(["stop", "--", ...units])
      const noWindowMs = median(times.none)
      const withWindowMs = median(times.window)
      const figure: SettleCostFigure = {
        workers,
        longestBootMs: Math.max(...refs.map((_, i) => bootMs(i + 1))),
        noWindowMs: round(noWindowMs, 0),
        withWindowMs: round(withWindowMs, 0),
        addedMs: round(withWindowMs - noWindowMs, 0),
        readsPerWindow: reads,
        unitsPerRead: perRead,
      }
      say(`  ${workers} workers: ${JSON.stringify(figure)}`)
      cost.push(figure)
    }

    const crashes: Array<CrashTimingFigure> = []
    for (const heavy of [false, true]) {
      const unit = heavy ? "tamanu-crash-heavy.service" : "tamanu-crash-light.service"
      const runsMs: Array<number> = []
      for (let i = 0; i < (options.crashRuns ?? 5); i++) {
        await manager.ctl(["reset-failed", unit])
        await manager.ctl(["start", unit])
        // Until systemd has it down (failed), on a schedule, bounded.
        await run(
          Effect.flatMap(Supervisor, (s) =>
            Effect.repeat(s.runStates([{ name: unit.slice(0, -".service".length), suffix: null, pmId: null }]), {
              until: (states) => states.instances.every((st) => st.phase === "failed" || st.phase === "stopped"),
              schedule: Schedule.spaced(Duration.millis(50)),
            }).pipe(Effect.timeout(Duration.seconds(60))),
          ),
        ).catch(() => undefined)
        const shown = await manager.ctl([
          "show",
          "-p",
          "ActiveEnterTimestampMonotonic,ExecMainExitTimestampMonotonic,ExecMainStatus",
          "--",
          unit,
        ])
        const p = Object.fromEntries(
          shown.stdout
            .trim()
            .split("\n")
            .map((l) => [l.slice(0, l.indexOf("=")), Number(l.slice(l.indexOf("=") + 1))]),
        )
        if (p.ExecMainStatus !== 3) throw new Error(`${unit} did not exit 3: ${shown.stdout}`)
        runsMs.push(round(((p.ExecMainExitTimestampMonotonic ?? 0) - (p.ActiveEnterTimestampMonotonic ?? 0)) / 1000, 0))
      }
      const figure: CrashTimingFigure = {
        kind: heavy ? "after loading a large dependency tree" : "at once",
        runsMs,
        medianMs: round(median(runsMs), 0),
        maxMs: Math.max(...runsMs),
      }
      say(`  crash ${figure.kind}: ${JSON.stringify(figure)}`)
      crashes.push(figure)
    }
    return {
      date,
      loadAverage: [loadBefore, os.loadavg()[0] ?? 0],
      windowMs: Duration.toMillis(window),
      runs,
      cost,
      crashes,
    }
  } finally {
    await manager.stop()
  }
}

/** The section of docs/performance.md for these figures. */
export const settleMarkdown = (f: SettleFigures): string =>
  [
    "## The settle window",
    "",
    "`packages/lab/src/bench/settle.ts` on a real systemd user manager (measured " +
      `${f.date}, 1-minute load average ${f.loadAverage[0].toFixed(1)} before and ${f.loadAverage[1].toFixed(1)} after).`,
    `The executor's Start, WaitRunning and Settle steps with the live systemd supervisor, N units booting in`,
    `0–0.9 s, ${f.runs} runs of each setting alternately (medians): with N workers the start takes the longest`,
    `boot plus ONE window of ${f.windowMs} ms, and each read of the window is one \`systemctl show\` of all N.`,
    "",
    "| workers | longest boot (ms) | no window (ms) | with the window (ms) | added (ms) | reads per window | units per read |",
    "|---:|---:|---:|---:|---:|---:|---:|",
    ...f.cost.map(
      (c) =>
        `| ${c.workers} | ${c.longestBootMs} | ${c.noWindowMs} | ${c.withWindowMs} | ${c.addedMs} | ${c.readsPerWindow} | ${c.unitsPerRead} |`,
    ),
    "",
    "How soon after systemd calls a worker running it crashes at boot (systemd's own ActiveEnter → ExecMainExit;",
    "`fixtures/crash-on-boot.mjs`), which the default window (`--settle`, 5 s) is chosen to outlast:",
    "",
    "| crash | runs (ms) | median (ms) | max (ms) |",
    "|---|---|---:|---:|",
    ...f.crashes.map((c) => `| ${c.kind} | ${c.runsMs.join(", ")} | ${c.medianMs} | ${c.maxMs} |`),
    "",
  ].join("\n")

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  benchSettle({ say: (text) => process.stderr.write(`${text}\n`) }).then(
    (figures) => process.stdout.write(`${JSON.stringify(figures)}\n\n${settleMarkdown(figures)}`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
      process.exitCode = 1
    },
  )
}
