/**
 * Benchmark: three ways to restart the API and frontend instances of a Tamanu
 * Linux host behind Caddy, side by side on one real-shape sandbox host
 * (docs/testing.md: podman containers per unit under a systemd user manager,
 * aardvark-dns aliases, Caddy as a Debian-shaped `caddy.service` with
 * `dynamic a` upstreams, Caddy's default refresh of 1 minute, `lb_try_duration
 * 1s`), each under the same browser-like load through Caddy:
 *
 * - `original`: the algorithm before the admin API, scripted here: for each
 *   instance in the CLI's roll order, `systemctl --user restart` it, find its
 *   new container address (`podman ps --filter
 *   label=PODMAN_SYSTEMD_UNIT=<unit>` + `podman inspect`, spec §8), probe that
 *   address until it answers (20 ms apart, as tamanu's probe), `systemctl
 *   --user reload caddy` (Debian's unit: `caddy reload --force`), next;
 * - `rolling`: the built `tamanu restart api frontend`;
 * - `bulk`: one `systemctl --user restart` of all four instances, then wait
 *   until every new address answers.
 *
 * Caddy keeps a `dynamic a` answer for its `refresh` (1 minute) whatever
 * reloads it: a method's damage can last until a minute after its last
 * restart. So the load runs on until 65 s after the method's last restart
 * call returned (refresh + 1 s of `lb_try_duration` + 3 s of a dial to a gone
 * address + 1 s), which counts that damage and leaves Caddy's cache holding
 * no address of before the method when the next one begins. The boot
 * calibration restarts every instance too: the first method waits as long
 * after it.
 */
import { type ChildProcess, spawn } from "node:child_process"
import http from "node:http"
import * as os from "node:os"
import { performance } from "node:perf_hooks"
import { containerIdFromPs, ipFromInspect } from "@tamanu-lifecycle/core/internal"
import { Either, Option } from "effect"
import { type BrowserLoad, type BrowserLoadResult, startBrowserLoad } from "../e2e/browserLoad.js"
import { type HostSnapshot, runChild, type SandboxHost } from "../e2e/sandboxHost.js"
import { type RequestRecord, summarizeLoad } from "../harness/load.js"
import { noServingWindows, type Outage } from "./outages.js"
import { type RollBreakdown, rollBreakdown, rollOrderFromPlan, rollTimeline, type TimedLine } from "./rollTimeline.js"

export const restartMethods = ["original", "rolling", "bulk"] as const
export type RestartMethod = (typeof restartMethods)[number]

export const methodLabels: Readonly<Record<RestartMethod, string>> = {
  original: "(a) original: restart, probe, reload Caddy",
  rolling: "(b) tamanu restart api frontend",
  bulk: "(c) bulk: all four at once",
}

/** What the benchmark restarts: `tamanu restart api frontend`, the four instances behind Caddy. */
export const rollNames: ReadonlyArray<string> = ["api", "frontend"]
export const rolledInstances: ReadonlyArray<string> = [
  "tamanu-facility-api@1",
  "tamanu-facility-api@2",
  "tamanu-frontend@a",
  "tamanu-frontend@b",
]

/** The services loaded through Caddy: two browser-like clients each. */
export const loadedServices: ReadonlyArray<{ readonly service: string; readonly path: string }> = [
  { service: "api", path: "/api/patients" },
  { service: "frontend", path: "/" },
]

/** Load before each method starts. */
export const leadInMs = 1_000
/** The load runs until this long after a method's last restart call returned (Caddy's refresh + 5 s). */
export const cacheExpiryMs = 65_000
/** …and at least this long after the method ended. */
export const minTailMs = 2_000
/** The calibration's probe spacing. */
export const calibrationSpacingMs = 5
/** The original algorithm's and the bulk restart's probe spacing: tamanu's own (core's defaultProbeSpacing). */
export const scriptSpacingMs = 20

/** One instance's boot, measured with no tamanu in the same run. */
export interface BootSample {
  readonly instance: string
  readonly repeat: number
  /** `systemctl --user restart <unit>` called → its NEW address first answered HTTP (polled every 5 ms). */
  readonly bootMs: number
  /** The restart call itself (until systemctl returned: the old container stopped, the new one started). */
  readonly restartCallMs: number
  /** The restart call returned → the new address found (podman ps + inspect). */
  readonly lookupMs: number
  /** The restart call → the new process listening (its container log's timestamp); null when unread. */
  readonly untilListeningMs: number | null
  /** Probe attempts until it answered (1 would mean the look-up came after the boot: the boot is then overstated). */
  readonly attempts: number
}

/** One instance's turn in the original algorithm. */
export interface OriginalStep {
  readonly instance: string
  readonly restartCallMs: number
  readonly lookupMs: number
  readonly probeMs: number
  readonly reloadMs: number
}

export interface MethodRun {
  readonly method: RestartMethod
  readonly repeat: number
  /** 1-minute load average when the run began. */
  readonly loadAverage: number
  /** The method's first command → its end (rolling: the CLI's exit; original: the last Caddy reload returned; bulk: every new address answered). */
  readonly wallMs: number
  /** The method's first command → every restarted instance answered (rolling: the last `ready` line). Null when one never did. */
  readonly rollMs: number | null
  /** The last restart call returned (ms from the method's start): the last address change. */
  readonly lastRestartMs: number
  /** When the load stopped (ms from the method's start). */
  readonly loadEndMs: number
  readonly served: number
  readonly failed: number
  readonly resent: number
  readonly outcomes: Readonly<Record<string, number>>
  readonly p99Ms: number
  readonly maxMs: number
  /** Per service: the windows in which every request failed (ms from the method's start). */
  readonly noServing: Readonly<Record<string, ReadonlyArray<Outage>>>
  /** Per service: every request (startMs from the method's start; negative in the lead-in). */
  readonly records: Readonly<Record<string, ReadonlyArray<RequestRecord>>>
  /** Every rolled instance runs a new process and answers; for rolling, the CLI exited 0. */
  readonly allRestarted: boolean
  readonly exitCode: number | null
  /** rolling only. */
  readonly breakdown: RollBreakdown | null
  /** rolling only: the CLI's progress lines (for a closer look). */
  readonly lines: ReadonlyArray<TimedLine>
  /** original only. */
  readonly steps: ReadonlyArray<OriginalStep> | null
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

/** Children the benchmark has running now, so an interruption can end them. */
const liveChildren = new Set<ChildProcess>()
export const killLiveChildren = (): void => {
  for (const child of liveChildren) child.kill("SIGKILL")
}

const ctlOk = async (host: SandboxHost, args: ReadonlyArray<string>) => {
  const r = await host.systemctl(args)
  if (r.exitCode !== 0) throw new Error(`systemctl --user ${args.join(" ")}: ${r.stderr.trim()}`)
}

const unit = (instance: string) => `${instance}.service`

/** The sandbox's podman (its CONTAINERS_CONF and storage, from the CLI's environment), asynchronously. */
const podman = (host: SandboxHost, args: ReadonlyArray<string>) => runChild(["podman", ...args], host.env)

export interface Container {
  readonly id: string
  readonly ip: string
}

/** The container running `instance` now and its address, found as spec §8 says (podman ps + podman inspect); null if none. */
export const containerOf = async (host: SandboxHost, instance: string): Promise<Container | null> => {
  const ps = await podman(host, ["ps", "--filter", `label=PODMAN_SYSTEMD_UNIT=${unit(instance)}`, "--format", "json"])
  if (ps.code !== 0) return null
  const id = Either.getOrElse(containerIdFromPs(ps.stdout), () => Option.none<string>())
  if (Option.isNone(id)) return null
  const inspect = await podman(host, ["inspect", id.value])
  if (inspect.code !== 0) return null
  const ip = Either.getOrElse(ipFromInspect(inspect.stdout), () => Option.none<string>())
  return Option.isNone(ip) ? null : { id: id.value, ip: ip.value }
}

/** The container that replaced `old` (asked again every 20 ms, up to 30 s). */
const newContainerOf = async (host: SandboxHost, instance: string, old: Container | null): Promise<Container> => {
  const deadline = performance.now() + 30_000
  for (;;) {
    const c = await containerOf(host, instance)
    if (c !== null && c.id !== old?.id) return c
    if (performance.now() > deadline) throw new Error(`${instance}: no new container with an address within 30 s`)
    await sleep(20)
  }
}

const urlOf = (c: Container) => `http://${c.ip}:3000/`

/** One probe attempt as tamanu makes it: a fresh connection, any status below 500 is an answer. */
const answersOnce = (url: string, timeoutMs = 1_000): Promise<boolean> =>
  new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      resolve((res.statusCode ?? 500) < 500)
      req.destroy()
    })
    req.on("timeout", () => req.destroy())
    req.on("error", () => resolve(false))
  })

/** Probes `url` every `spacingMs` (from the end of one attempt to the next) until it answers. */
export const untilAnswers = async (
  url: string,
  spacingMs: number,
  limitMs = 60_000,
): Promise<{ readonly answeredAt: number; readonly attempts: number }> => {
  const deadline = performance.now() + limitMs
  for (let attempts = 1; ; attempts++) {
    if (await answersOnce(url)) return { answeredAt: performance.now(), attempts }
    if (performance.now() > deadline) throw new Error(`${url} did not answer within ${limitMs} ms`)
    await sleep(spacingMs)
  }
}

/** `performance.now()` minus the wall clock (ms): places a wall-clock timestamp on the benchmark's clock. */
const wallOffset = () => performance.now() - Date.now()

/** `2026-12-06T21:54:38.992314292Z` → ms since the epoch, sub-ms kept. */
export const parseLogTimestamp = (stamp: string): number | null => {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(stamp)
  if (m === null) return null
  const whole = Date.parse(`${m[1]}${m[3]}`)
  return Number.isNaN(whole) ? null : whole + Number(`0${m[2] ?? ""}`) * 1000
}

/**
 * When the container's process began listening, on `performance.now()`'s
 * clock: the fixture prints `… listening on …` from its listen callback, and
 * conmon stamps each line of the container's log with the wall clock as it
 * reads it. Null when the log has no such line.
 */
const listeningAt = async (host: SandboxHost, c: Container): Promise<number | null> => {
  const r = await podman(host, ["logs", "--timestamps", c.id])
  if (r.code !== 0) return null
  const line = r.stdout.split("\n").find((l) => l.includes(" listening on "))
  const stamp = line === undefined ? null : parseLogTimestamp(line.slice(0, line.indexOf(" ")))
  return stamp === null ? null : stamp + wallOffset()
}

interface Loads {
  readonly stop: () => Promise<{
    readonly records: Readonly<Record<string, ReadonlyArray<RequestRecord>>>
    readonly resent: number
    readonly all: ReadonlyArray<RequestRecord>
  }>
}

/** Two browser-like clients per service through Caddy; records come back on the clock of `origin` (a performance.now()). */
const startLoads = (host: SandboxHost, origin: () => number): Loads => {
  const loads: ReadonlyArray<{ readonly service: string; readonly load: BrowserLoad }> = loadedServices.map((s) => ({
    service: s.service,
    load: startBrowserLoad({ url: `${host.caddyUrl}${s.path}`, concurrency: 2, maxDurationMs: 600_000 }),
  }))
  return {
    stop: async () => {
      const results: ReadonlyArray<BrowserLoadResult> = await Promise.all(loads.map((l) => l.load.stop()))
      const records: Record<string, ReadonlyArray<RequestRecord>> = {}
      loads.forEach((l, k) => {
        const shift = l.load.startedAt - origin()
        records[l.service] = (results[k]?.records ?? [])
          .map((r) => ({ ...r, startMs: r.startMs + shift }))
          .sort((a, b) => a.startMs - b.startMs)
      })
      return {
        records,
        resent: results.reduce((n, r) => n + r.retriedOnReusedConnection, 0),
        all: Object.values(records).flat(),
      }
    },
  }
}

/** The order `tamanu restart api frontend` rolls the instances in, from its own `--dry-run`. */
export const cliRollOrder = async (host: SandboxHost): Promise<ReadonlyArray<string>> => {
  const r = await host.run(["restart", ...rollNames, "--dry-run"])
  const order = rollOrderFromPlan(`${r.stdout}\n${r.stderr}`)
  const expected = [...rolledInstances].sort()
  if (r.code !== 0 || JSON.stringify([...order].sort()) !== JSON.stringify(expected))
    throw new Error(
      `tamanu restart ${rollNames.join(" ")} --dry-run planned ${order.join(", ") || "no roll"} (exit ${r.code})`,
    )
  return order
}

/**
 * The instances' boots, measured in the same run under the same load and
 * with no tamanu: each in turn is restarted with `systemctl --user restart`,
 * its new container found with podman, and its address polled every 5 ms
 * until it answers. Returns the samples and when the last restart call
 * returned (Caddy's cache may hold the old addresses until a minute after).
 */
export const calibrateBoots = async (
  host: SandboxHost,
  order: ReadonlyArray<string>,
  repeat: number,
): Promise<{ readonly samples: ReadonlyArray<BootSample>; readonly lastRestartAt: number }> => {
  await host.startAll()
  const origin = performance.now()
  const loads = startLoads(host, () => origin)
  const samples: Array<BootSample> = []
  let lastRestartAt = performance.now()
  try {
    await sleep(leadInMs)
    for (const instance of order) {
      const old = await containerOf(host, instance)
      const began = performance.now()
      await ctlOk(host, ["restart", unit(instance)])
      const returned = performance.now()
      lastRestartAt = returned
      const c = await newContainerOf(host, instance, old)
      const found = performance.now()
      const answer = await untilAnswers(urlOf(c), calibrationSpacingMs)
      const listening = await listeningAt(host, c)
      samples.push({
        instance,
        repeat,
        bootMs: answer.answeredAt - began,
        restartCallMs: returned - began,
        lookupMs: found - returned,
        untilListeningMs: listening === null ? null : listening - began,
        attempts: answer.attempts,
      })
      await sleep(300)
    }
  } finally {
    await loads.stop()
  }
  return { samples, lastRestartAt }
}

interface MethodOutcome {
  /** performance.now() of the method's first command. */
  readonly began: number
  readonly ended: number
  /** Every instance answered; null when one never did. */
  readonly answered: number | null
  readonly lastRestartAt: number
  readonly exitCode: number | null
  readonly breakdown: RollBreakdown | null
  readonly lines: ReadonlyArray<TimedLine>
  readonly steps: ReadonlyArray<OriginalStep> | null
}

/** Run the built CLI, stamping each stderr line as it arrives (ms since the spawn). */
const runCliTimed = (host: SandboxHost, args: ReadonlyArray<string>) =>
  new Promise<{ code: number; lines: ReadonlyArray<TimedLine>; stderr: string; began: number; exitAt: number }>(
    (resolve) => {
      const [file, ...rest] = host.cliArgv(args)
      const began = performance.now()
      const child = spawn(file ?? process.execPath, rest, { env: host.env, stdio: ["ignore", "pipe", "pipe"] })
      liveChildren.add(child)
      const lines: Array<TimedLine> = []
      let stderr = ""
      let partial = ""
      child.stdout.resume()
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        const at = performance.now() - began
        stderr += d
        const parts = (partial + d).split("\n")
        partial = parts.pop() ?? ""
        for (const text of parts) lines.push({ atMs: at, text })
      })
      const timer = setTimeout(() => child.kill("SIGKILL"), 180_000)
      child.on("close", (code) => {
        const exitAt = performance.now()
        clearTimeout(timer)
        liveChildren.delete(child)
        resolve({ code: code ?? -1, lines, stderr, began, exitAt })
      })
    },
  )

const runRolling = async (host: SandboxHost): Promise<MethodOutcome> => {
  const r = await runCliTimed(host, ["restart", ...rollNames])
  if (r.code !== 0) process.stderr.write(`tamanu restart exited ${r.code}:\n${r.stderr}\n`)
  const timeline = rollTimeline(r.lines, r.exitAt - r.began)
  // Each rolled instance's new process began listening: its container's log, placed on the CLI's clock.
  const listening: Record<string, number> = {}
  for (const i of timeline?.instances ?? []) {
    const c = await containerOf(host, i.instance)
    const at = c === null ? null : await listeningAt(host, c)
    if (at !== null) listening[i.instance] = at - r.began
  }
  const breakdown = timeline === null ? null : rollBreakdown(timeline, listening)
  return {
    began: r.began,
    ended: r.exitAt,
    answered: breakdown?.rollMs == null ? null : r.began + breakdown.rollMs,
    lastRestartAt: r.began + (breakdown?.lastRunningAtMs ?? r.exitAt - r.began),
    exitCode: r.code,
    breakdown,
    lines: r.lines,
    steps: null,
  }
}

const runOriginal = async (host: SandboxHost, order: ReadonlyArray<string>): Promise<MethodOutcome> => {
  const old = new Map<string, Container | null>()
  for (const instance of order) old.set(instance, await containerOf(host, instance))
  const steps: Array<OriginalStep> = []
  const began = performance.now()
  let lastRestartAt = began
  let answered = began
  for (const instance of order) {
    const t0 = performance.now()
    await ctlOk(host, ["restart", unit(instance)])
    const t1 = performance.now()
    lastRestartAt = t1
    const c = await newContainerOf(host, instance, old.get(instance) ?? null)
    const t2 = performance.now()
    answered = (await untilAnswers(urlOf(c), scriptSpacingMs)).answeredAt
    await ctlOk(host, ["reload", "caddy.service"])
    const t4 = performance.now()
    steps.push({ instance, restartCallMs: t1 - t0, lookupMs: t2 - t1, probeMs: answered - t2, reloadMs: t4 - answered })
  }
  return {
    began,
    ended: performance.now(),
    answered,
    lastRestartAt,
    exitCode: null,
    breakdown: null,
    lines: [],
    steps,
  }
}

const runBulk = async (host: SandboxHost, order: ReadonlyArray<string>): Promise<MethodOutcome> => {
  const old = new Map<string, Container | null>()
  for (const instance of order) old.set(instance, await containerOf(host, instance))
  const began = performance.now()
  await ctlOk(host, ["restart", ...order.map(unit)])
  const lastRestartAt = performance.now()
  const answers = await Promise.all(
    order.map(async (instance) => {
      const c = await newContainerOf(host, instance, old.get(instance) ?? null)
      return (await untilAnswers(urlOf(c), scriptSpacingMs)).answeredAt
    }),
  )
  const answered = Math.max(...answers)
  return { began, ended: answered, answered, lastRestartAt, exitCode: null, breakdown: null, lines: [], steps: null }
}

const restartedAll = (before: HostSnapshot, after: HostSnapshot, instances: ReadonlyArray<string>) =>
  instances.every((i) => after[i]?.running === true && after[i]?.pid !== null && after[i]?.pid !== before[i]?.pid)

/**
 * One method, once: the load starts, 1 s later the method, and the load runs
 * on until 65 s after the method's last restart call returned (at least 2 s
 * after the method ended). Every time in the result is ms from the method's
 * first command.
 */
export const measureMethod = async (
  host: SandboxHost,
  method: RestartMethod,
  repeat: number,
  order: ReadonlyArray<string>,
): Promise<MethodRun> => {
  await host.startAll()
  const before = await host.snapshot()
  const loadAverage = os.loadavg()[0] ?? Number.NaN
  let origin = performance.now()
  const loads = startLoads(host, () => origin)
  let outcome: MethodOutcome | null = null
  let loadEnd = 0
  let stopped: Awaited<ReturnType<Loads["stop"]>> | null = null
  try {
    await sleep(leadInMs)
    outcome =
      method === "rolling"
        ? await runRolling(host)
        : method === "original"
          ? await runOriginal(host, order)
          : await runBulk(host, order)
    origin = outcome.began
    await sleep(Math.max(outcome.ended + minTailMs, outcome.lastRestartAt + cacheExpiryMs) - performance.now())
  } finally {
    loadEnd = performance.now()
    stopped = await loads.stop()
  }
  const after = await host.snapshot()
  const summary = summarizeLoad(stopped.all)
  const noServing: Record<string, ReadonlyArray<Outage>> = {}
  for (const [service, records] of Object.entries(stopped.records)) noServing[service] = noServingWindows(records)
  return {
    method,
    repeat,
    loadAverage,
    wallMs: outcome.ended - outcome.began,
    rollMs: outcome.answered === null ? null : outcome.answered - outcome.began,
    lastRestartMs: outcome.lastRestartAt - outcome.began,
    loadEndMs: loadEnd - outcome.began,
    served: summary.served,
    failed: summary.failed,
    resent: stopped.resent,
    outcomes: summary.outcomes,
    p99Ms: summary.latencyMs.p99,
    maxMs: summary.latencyMs.max,
    noServing,
    records: stopped.records,
    allRestarted: restartedAll(before, after, order) && (outcome.exitCode === null || outcome.exitCode === 0),
    exitCode: outcome.exitCode,
    breakdown: outcome.breakdown,
    lines: outcome.lines,
    steps: outcome.steps,
  }
}

export interface RestartBench {
  readonly order: ReadonlyArray<string>
  readonly runs: ReadonlyArray<MethodRun>
  readonly boots: ReadonlyArray<BootSample>
}

/**
 * Every method `repeats` times, interleaved (a b c, b c a, c a b, …) so a
 * slow moment of the shared machine does not land on one method only; each
 * repeat begins with a boot calibration, and the first method waits until
 * Caddy's cache can no longer hold an address the calibration took down.
 */
export const benchRestartMethods = async (
  host: SandboxHost,
  options: {
    readonly repeats?: number
    readonly onRun?: (run: MethodRun) => void
    readonly onBoots?: (samples: ReadonlyArray<BootSample>) => void
    /** A run that could not complete: reported, and the next goes on (once Caddy's cache is clean again). */
    readonly onError?: (method: RestartMethod | "calibration", repeat: number, error: unknown) => void
    readonly say?: (text: string) => void
  } = {},
): Promise<RestartBench> => {
  const repeats = options.repeats ?? 3
  const order = await cliRollOrder(host)
  const runs: Array<MethodRun> = []
  const boots: Array<BootSample> = []
  const cleanAfter = async (restartedAt: number) => {
    const wait = restartedAt + cacheExpiryMs - performance.now()
    if (wait > 0) options.say?.(`  waiting ${(wait / 1000).toFixed(0)} s for Caddy's cache to expire`)
    await sleep(wait)
  }
  for (let repeat = 0; repeat < repeats; repeat++) {
    try {
      const calibration = await calibrateBoots(host, order, repeat)
      boots.push(...calibration.samples)
      options.onBoots?.(calibration.samples)
      await cleanAfter(calibration.lastRestartAt)
    } catch (error) {
      options.onError?.("calibration", repeat, error)
      await host.systemctl(["reset-failed"]).catch(() => undefined)
      await cleanAfter(performance.now())
    }
    for (let k = 0; k < restartMethods.length; k++) {
      const method = restartMethods[(k + repeat) % restartMethods.length] ?? "rolling"
      options.say?.(`  ${methodLabels[method]}, run ${repeat + 1}`)
      try {
        const run = await measureMethod(host, method, repeat, order)
        runs.push(run)
        options.onRun?.(run)
      } catch (error) {
        options.onError?.(method, repeat, error)
        // A unit that crashed stays "failed" until reset; the next run starts it again, on a clean cache.
        await host.systemctl(["reset-failed"]).catch(() => undefined)
        await cleanAfter(performance.now())
      }
    }
  }
  return { order, runs, boots }
}
