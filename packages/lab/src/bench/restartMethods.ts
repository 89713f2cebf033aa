/**
 * Benchmark: four ways to restart the instances behind Caddy, side by side on
 * one sandbox host under the same continuous load through Caddy (spec §7):
 *
 * - `rolling`: `tamanu restart api frontend`, the built CLI;
 * - `bulk`: one supervisor call restarting every instance at once;
 * - `sequential`: one restart call per instance, never waiting for readiness;
 * - `naive`: what a hand-written script does: restart one, poll its URL every
 *   500 ms until it answers, reload Caddy, go to the next.
 *
 * Wall time runs from the first command until every restarted instance
 * answers directly (and, for the methods that reload Caddy, the last reload
 * returned); for `rolling` it is the CLI's own life, start-up included. The
 * CLI's progress lines are timestamped as they arrive, so where `rolling`
 * spends its time beyond the boots is measured, not guessed.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { performance } from "node:perf_hooks"
import { Duration, Effect, Schedule } from "effect"
import { type BrowserLoad, type BrowserLoadResult, startBrowserLoad } from "../e2e/browserLoad.js"
import type { HostSnapshot, SandboxHost } from "../e2e/sandboxHost.js"
import { type RequestRecord, summarizeLoad } from "../harness/load.js"

export const restartMethods = ["rolling", "bulk", "sequential", "naive"] as const
export type RestartMethod = (typeof restartMethods)[number]

export const methodLabels: Readonly<Record<RestartMethod, string>> = {
  rolling: "(a) tamanu restart (rolling)",
  bulk: "(b) bulk restart, all at once",
  sequential: "(c) one after another, no readiness wait",
  naive: "(d) 500 ms poll loop + Caddy reload",
}

/** Which instances a flavour's benchmark restarts, the NAMES that select them, and the paths loaded through Caddy. */
export interface RollTarget {
  readonly names: ReadonlyArray<string>
  /** Display names, in the CLI's roll order. */
  readonly instances: ReadonlyArray<string>
  readonly loadPaths: ReadonlyArray<string>
}

export const rollTargets: Readonly<Record<SandboxHost["supervisor"], RollTarget>> = {
  systemd: {
    names: ["api", "frontend"],
    instances: ["tamanu-facility-api@1", "tamanu-facility-api@2", "tamanu-frontend@a", "tamanu-frontend@b"],
    loadPaths: ["/api/patients", "/"],
  },
  pm2: { names: ["api"], instances: ["tamanu-api#0", "tamanu-api#1"], loadPaths: ["/"] },
}

/** One timestamped progress line of the CLI (ms since the spawn). */
export interface TimedLine {
  readonly atMs: number
  readonly text: string
}

/** Where one rolled instance's time went, from the CLI's progress lines. */
export interface InstanceBreakdown {
  readonly instance: string
  /** Restart call + waiting until the supervisor reports it running (the old process drains here). */
  readonly restartCallMs: number
  /** Running → the probe answered (the boot itself, plus probe spacing). */
  readonly probeMs: number
  /** Probe answered → Caddy reload returned. */
  readonly reloadMs: number
  /** This instance's whole turn: its `restarting` line to the next one's (or to the CLI's exit). */
  readonly turnMs: number
  /**
   * Its `restarting` line → the new process's start (systemd's record, or /proc in 10 ms ticks on pm2): the
   * old process's drain and the supervisor's work, the only part of the
   * restart call the boot does not overlap. Null when not measured.
   */
  readonly untilProcessStartMs: number | null
  /** The new process's start → its `ready` line: its boot plus the probe's lateness. Null when not measured. */
  readonly processStartToReadyMs: number | null
}

export interface RollBreakdown {
  /** Spawn → the first instance's `restarting` line: Node start-up, loading, discovery, planning. */
  readonly startupMs: number
  readonly instances: ReadonlyArray<InstanceBreakdown>
  /** ms from the CLI's spawn to each instance's `ready` line (for placing process starts). */
  readonly readyAtMs: Readonly<Record<string, number>>
  /** ms from the CLI's spawn to each instance's `restarting` line. */
  readonly restartingAtMs: Readonly<Record<string, number>>
  /** Last instance's turn end → process exit. */
  readonly tailMs: number
}

export interface MethodRun {
  readonly method: RestartMethod
  readonly repeat: number
  readonly wallMs: number
  /** Every restarted instance now runs a new process (pid changed) and answers. */
  readonly allRestarted: boolean
  readonly served: number
  readonly failed: number
  /** Served requests that took over 1 s (held by Caddy's retries while no upstream answered). */
  readonly slow: number
  readonly p99Ms: number
  readonly maxMs: number
  /** Requests resent once after Caddy closed a reused keep-alive connection (a browser does the same). */
  readonly resent: number
  readonly outcomes: Readonly<Record<string, number>>
  /** When the method began and ended, ms from the load's start (for the picture). */
  readonly beganMs: number
  readonly endedMs: number
  readonly records: ReadonlyArray<RequestRecord>
  /** rolling only. */
  readonly breakdown: RollBreakdown | null
  /** rolling only: the CLI's exit code. */
  readonly exitCode: number | null
}

const instanceLine = /^↻ restarting (\S+)/
const runningLine = /^● (\S+) running/
const readyLine = /^✓ (\S+) ready after/
const reloadedLine = /Caddy reload/

/** Per-instance timings from the CLI's timestamped progress lines (pure; exported for tests). */
export const rollBreakdown = (lines: ReadonlyArray<TimedLine>, exitAtMs: number): RollBreakdown | null => {
  const turns: Array<{ instance: string; from: number; running?: number; ready?: number; reloaded?: number }> = []
  for (const { atMs, text } of lines) {
    const t = text.trim()
    const restarting = instanceLine.exec(t)
    if (restarting?.[1] !== undefined) {
      turns.push({ instance: restarting[1], from: atMs })
      continue
    }
    const current = turns.at(-1)
    if (current === undefined) continue
    if (runningLine.exec(t)?.[1] === current.instance && current.running === undefined) current.running = atMs
    else if (readyLine.exec(t)?.[1] === current.instance && current.ready === undefined) current.ready = atMs
    else if (reloadedLine.test(t) && current.ready !== undefined && current.reloaded === undefined)
      current.reloaded = atMs
  }
  const first = turns[0]
  if (first === undefined) return null
  const instances = turns.map((turn, i) => {
    const end = turns[i + 1]?.from ?? turn.reloaded ?? turn.ready ?? exitAtMs
    const running = turn.running ?? turn.from
    const ready = turn.ready ?? running
    return {
      instance: turn.instance,
      restartCallMs: running - turn.from,
      probeMs: ready - running,
      reloadMs: (turn.reloaded ?? ready) - ready,
      turnMs: end - turn.from,
      untilProcessStartMs: null,
      processStartToReadyMs: null,
    }
  })
  const last = turns.at(-1)
  const lastEnd = last?.reloaded ?? last?.ready ?? exitAtMs
  return {
    startupMs: first.from,
    instances,
    tailMs: exitAtMs - lastEnd,
    readyAtMs: Object.fromEntries(turns.flatMap((t) => (t.ready === undefined ? [] : [[t.instance, t.ready]]))),
    restartingAtMs: Object.fromEntries(turns.map((t) => [t.instance, t.from])),
  }
}

/**
 * The breakdown with each instance's process start placed on the CLI's clock
 * (`startedAtMs`: ms from the CLI's spawn), pure.
 */
export const withProcessStarts = (
  breakdown: RollBreakdown,
  startedAtMs: Readonly<Record<string, number>>,
): RollBreakdown => ({
  ...breakdown,
  instances: breakdown.instances.map((i) => {
    const started = startedAtMs[i.instance]
    const from = breakdown.restartingAtMs[i.instance]
    const ready = breakdown.readyAtMs[i.instance]
    return started === undefined || from === undefined
      ? i
      : {
          ...i,
          untilProcessStartMs: started - from,
          processStartToReadyMs: ready === undefined ? null : ready - started,
        }
  }),
})

/** Children the benchmark has running now, so an interruption can end them. */
const liveChildren = new Set<import("node:child_process").ChildProcess>()
export const killLiveChildren = (): void => {
  for (const child of liveChildren) child.kill("SIGKILL")
}

/** Run the built CLI, timestamping each stderr line as it arrives. */
const runCliTimed = (host: SandboxHost, args: ReadonlyArray<string>) =>
  new Promise<{
    code: number
    lines: ReadonlyArray<TimedLine>
    stdout: string
    stderr: string
    elapsedMs: number
    /** performance.now() at the spawn. */
    began: number
  }>((resolve) => {
    const [file, ...rest] = host.cliArgv(args)
    const began = performance.now()
    const child = spawn(file ?? process.execPath, rest, { env: host.env, stdio: ["ignore", "pipe", "pipe"] })
    liveChildren.add(child)
    const lines: Array<TimedLine> = []
    let stdout = ""
    let stderr = ""
    let partial = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      const at = performance.now() - began
      stderr += d
      const parts = (partial + d).split("\n")
      partial = parts.pop() ?? ""
      for (const text of parts) lines.push({ atMs: at, text })
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      liveChildren.delete(child)
      resolve({ code: code ?? -1, lines, stdout, stderr, elapsedMs: performance.now() - began, began })
    })
  })

/** Resolves when `url` answers below 500, checking every `every` (bounded by `limit`). */
export const untilAnswers = (
  url: string,
  every: Duration.DurationInput,
  limit: Duration.DurationInput = "30 seconds",
) =>
  Effect.runPromise(
    Effect.tryPromise(async () => {
      const r = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      await r.body?.cancel()
      if (r.status >= 500) throw new Error(`${url}: ${r.status}`)
    }).pipe(
      Effect.retry(Schedule.spaced(every)),
      Effect.timeoutFail({ duration: limit, onTimeout: () => new Error(`${url} not answering within ${limit}`) }),
    ),
  )

const ctlOk = async (host: SandboxHost, args: ReadonlyArray<string>) => {
  const r = await host.systemctl(args)
  if (r.exitCode !== 0) throw new Error(`systemctl --user ${args.join(" ")}: ${r.stderr.trim()}`)
}

const pmId = (instance: string) => instance.slice(instance.indexOf("#") + 1)

/** The supervisor call restarting these instances, in one call. */
const restartCall = (host: SandboxHost, instances: ReadonlyArray<string>) =>
  host.supervisor === "systemd"
    ? ctlOk(host, ["restart", "--", ...instances.map((i) => `${i}.service`)])
    : host.pm2(["restart", ...instances.map(pmId)]).then(() => undefined)

/** What a script would run to reload Caddy on this host. */
const reloadCaddy = async (host: SandboxHost) => {
  if (host.supervisor === "systemd") return ctlOk(host, ["reload", "caddy.service"])
  const admin = host.env.TAMANU_CADDY_ADMIN ?? ""
  const caddyfile = fs.readFileSync(host.env.TAMANU_CADDYFILE ?? "", "utf8")
  const r = await fetch(`${admin}/load`, {
    method: "POST",
    headers: { "content-type": "text/caddyfile" },
    body: caddyfile,
    signal: AbortSignal.timeout(10_000),
  })
  await r.body?.cancel()
  if (!r.ok) throw new Error(`caddy /load: ${r.status}`)
}

const allAnswer = (host: SandboxHost, instances: ReadonlyArray<string>) =>
  Promise.all(instances.map((i) => untilAnswers(host.instances[i] ?? "", "20 millis")))

/** Each rolled instance's new process start, on the CLI's clock (ms from its spawn). */
const placeProcessStarts = async (host: SandboxHost, breakdown: RollBreakdown, began: number) => {
  const snapshot = await host.snapshot()
  const started: Record<string, number> = {}
  for (const { instance } of breakdown.instances) {
    const pid = snapshot[instance]?.pid ?? null
    if (pid === null) continue
    const at = await processStartedAt(host, instance, pid)
    // Gone already: that instance's split stays unmeasured.
    if (at !== null) started[instance] = at - began
  }
  return withProcessStarts(breakdown, started)
}

interface MethodOutcome {
  readonly exitCode: number | null
  readonly breakdown: RollBreakdown | null
}

const runMethod = async (host: SandboxHost, target: RollTarget, method: RestartMethod): Promise<MethodOutcome> => {
  switch (method) {
    case "rolling": {
      const r = await runCliTimed(host, ["restart", ...target.names])
      if (r.code !== 0) process.stderr.write(`tamanu restart exited ${r.code}:\n${r.stderr}\n`)
      const breakdown = rollBreakdown(r.lines, r.elapsedMs)
      return {
        exitCode: r.code,
        breakdown: breakdown === null ? null : await placeProcessStarts(host, breakdown, r.began),
      }
    }
    case "bulk":
      await restartCall(host, target.instances)
      await allAnswer(host, target.instances)
      return { exitCode: null, breakdown: null }
    case "sequential":
      for (const instance of target.instances) await restartCall(host, [instance])
      await allAnswer(host, target.instances)
      return { exitCode: null, breakdown: null }
    case "naive":
      for (const instance of target.instances) {
        await restartCall(host, [instance])
        await untilAnswers(host.instances[instance] ?? "", Duration.millis(500))
        await reloadCaddy(host)
      }
      return { exitCode: null, breakdown: null }
  }
}

/**
 * One instance's real boot: from the process's start (its fork by the
 * supervisor) until it first answered HTTP, so neither the supervisor call
 * nor the CLI is in it. The start is systemd's own record of the fork
 * (`ExecMainStartTimestampMonotonic`, microseconds on the monotonic clock
 * Node's `performance.now()` also runs on); pm2 keeps no such record, so
 * there it is `/proc/<pid>/stat` (one clock tick, 10 ms).
 */
export interface BootSample {
  readonly instance: string
  readonly repeat: number
  readonly bootMs: number
}

const clockTicksPerSecond = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" })
  const n = Number(r.stdout?.trim())
  return Number.isFinite(n) && n > 0 ? n : 100
})()

/** Seconds since the kernel booted, as /proc/uptime says now. */
const uptimeMs = () => Number(fs.readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000

/** When `pid` started, in ms since the kernel booted (field 22 of /proc/<pid>/stat). */
const processStartMs = (pid: number) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19])
  return (startTicks * 1000) / clockTicksPerSecond
}

/** `performance.now()` minus CLOCK_MONOTONIC in ms (`process.hrtime` reads CLOCK_MONOTONIC). */
const monotonicOffset = () => performance.now() - Number(process.hrtime.bigint()) / 1e6

/**
 * When `instance`'s process `pid` started, on `performance.now()`'s clock;
 * null when it is gone. systemd: its record of the main process's fork, in
 * microseconds. pm2: the kernel's, in clock ticks.
 */
const processStartedAt = async (host: SandboxHost, instance: string, pid: number): Promise<number | null> => {
  if (host.supervisor === "systemd") {
    const r = await host.systemctl([
      "show",
      `${instance}.service`,
      "-p",
      "MainPID",
      "-p",
      "ExecMainStartTimestampMonotonic",
    ])
    const fields = Object.fromEntries(
      r.stdout.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    )
    const micros = Number(fields.ExecMainStartTimestampMonotonic)
    if (Number(fields.MainPID) !== pid || !Number.isFinite(micros) || micros <= 0) return null
    return micros / 1000 + monotonicOffset()
  }
  try {
    // The kernel's clock against ours, read together (10 ms resolution).
    return processStartMs(pid) + performance.now() - uptimeMs()
  } catch {
    return null
  }
}

/**
 * The instances' real boot times, measured under the same load through Caddy
 * as the methods: each instance in turn is stopped, started by its
 * supervisor and polled every 5 ms directly until it answers.
 */
export const calibrateBoots = async (
  host: SandboxHost,
  repeat: number,
  target: RollTarget = rollTargets[host.supervisor],
): Promise<ReadonlyArray<BootSample>> => {
  await host.startAll()
  const loads: ReadonlyArray<BrowserLoad> = target.loadPaths.map((p) =>
    startBrowserLoad({ url: `${host.caddyUrl}${p}`, concurrency: 2, maxDurationMs: 60_000 }),
  )
  const samples: Array<BootSample> = []
  try {
    await settle(300)
    for (const instance of target.instances) {
      const before = (await host.snapshot())[instance]?.pid ?? null
      if (host.supervisor === "systemd") {
        await ctlOk(host, ["stop", `${instance}.service`])
        await ctlOk(host, ["start", `${instance}.service`])
      } else {
        await host.pm2(["stop", pmId(instance)])
        await host.pm2(["start", pmId(instance)])
      }
      await untilAnswers(host.instances[instance] ?? "", "5 millis")
      const answeredAt = performance.now()
      const pid = (await host.snapshot())[instance]?.pid ?? null
      if (pid === null || pid === before) throw new Error(`${instance}: no new process after its restart`)
      const startedAt = await processStartedAt(host, instance, pid)
      if (startedAt === null) throw new Error(`${instance}: its process start could not be read`)
      samples.push({ instance, repeat, bootMs: answeredAt - startedAt })
      await settle(200)
    }
  } finally {
    await Promise.all(loads.map((l) => l.stop()))
  }
  return samples
}

const restartedAll = (before: HostSnapshot, after: HostSnapshot, instances: ReadonlyArray<string>) =>
  instances.every((i) => after[i]?.running === true && after[i]?.pid !== null && after[i]?.pid !== before[i]?.pid)

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** One method, once: all up, load for 300 ms, the method, 300 ms more, load stopped. */
export const measureMethod = async (
  host: SandboxHost,
  method: RestartMethod,
  repeat: number,
  target: RollTarget = rollTargets[host.supervisor],
): Promise<MethodRun> => {
  await host.startAll()
  await settle(500)
  const before = await host.snapshot()
  const t0 = performance.now()
  const loads: ReadonlyArray<BrowserLoad> = target.loadPaths.map((p) =>
    startBrowserLoad({ url: `${host.caddyUrl}${p}`, concurrency: 2, maxDurationMs: 60_000 }),
  )
  let results: ReadonlyArray<BrowserLoadResult> = []
  let outcome: MethodOutcome = { exitCode: null, breakdown: null }
  let beganMs = 0
  let endedMs = 0
  try {
    await settle(300)
    beganMs = performance.now() - t0
    outcome = await runMethod(host, target, method)
    endedMs = performance.now() - t0
    await settle(300)
  } finally {
    results = await Promise.all(loads.map((l) => l.stop()))
  }
  const after = await host.snapshot()
  const records = results.flatMap((r) => r.records).sort((a, b) => a.startMs - b.startMs)
  const summary = summarizeLoad(records)
  return {
    method,
    repeat,
    wallMs: endedMs - beganMs,
    allRestarted: restartedAll(before, after, target.instances),
    served: summary.served,
    failed: summary.failed,
    slow: records.filter((r) => r.latencyMs > 1_000 && r.status !== null && r.status < 500).length,
    p99Ms: summary.latencyMs.p99,
    maxMs: summary.latencyMs.max,
    resent: results.reduce((n, r) => n + r.retriedOnReusedConnection, 0),
    outcomes: summary.outcomes,
    beganMs,
    endedMs,
    records,
    breakdown: outcome.breakdown,
    exitCode: outcome.exitCode,
  }
}

/**
 * Every method `repeats` times, interleaved (a b c d, b c d a, …) so a slow
 * moment of the shared machine does not land on one method only; each
 * repeat begins with a boot calibration (calibrateBoots), so the boots the
 * methods are compared against are measured in the same run.
 */
export const benchRestartMethods = async (
  host: SandboxHost,
  options: {
    readonly repeats?: number
    readonly onRun?: (run: MethodRun) => void
    /** Each repeat's boot calibration, as it completes. */
    readonly onBoots?: (samples: ReadonlyArray<BootSample>) => void
    /** A run that could not complete (an instance never came back, …): reported, and the next run goes on. */
    readonly onError?: (method: RestartMethod | "calibration", repeat: number, error: unknown) => void
  } = {},
): Promise<{ readonly runs: ReadonlyArray<MethodRun>; readonly boots: ReadonlyArray<BootSample> }> => {
  const repeats = options.repeats ?? 3
  const runs: Array<MethodRun> = []
  const boots: Array<BootSample> = []
  for (let repeat = 0; repeat < repeats; repeat++) {
    try {
      const samples = await calibrateBoots(host, repeat)
      boots.push(...samples)
      options.onBoots?.(samples)
    } catch (error) {
      options.onError?.("calibration", repeat, error)
      if (host.supervisor === "systemd") await host.systemctl(["reset-failed"]).catch(() => undefined)
    }
    for (let k = 0; k < restartMethods.length; k++) {
      const method = restartMethods[(k + repeat) % restartMethods.length] ?? "rolling"
      try {
        const run = await measureMethod(host, method, repeat)
        runs.push(run)
        options.onRun?.(run)
      } catch (error) {
        options.onError?.(method, repeat, error)
        // A unit that crashed stays "failed" until reset; the next run starts it again.
        if (host.supervisor === "systemd") await host.systemctl(["reset-failed"]).catch(() => undefined)
      }
    }
  }
  return { runs, boots }
}
