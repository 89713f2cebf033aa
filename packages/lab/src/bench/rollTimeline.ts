/**
 * A `tamanu restart` run as a timeline, from its progress lines as they
 * arrived (render/progress.ts prints them; the benchmark stamps each with
 * the ms since the CLI's spawn). Pure, so the breakdown of docs/performance.md
 * is tested against lines of the exact shape the CLI prints.
 *
 * The lines of a roll behind Caddy, in order:
 *
 *     plan for restart (3 steps):
 *     ⇄ Caddy routes tamanu-frontend → tamanu-frontend@b; … (config load 7 ms)    pin before @a goes down
 *     ↻ restarting tamanu-frontend@a (1/2)
 *     ● tamanu-frontend@a running after 434 ms                                 the restart call returned
 *     ✓ tamanu-frontend@a ready after 1960 ms (http://10.89.130.9:3000/)         the probe's own wait
 *     ⇄ Caddy routes tamanu-frontend → tamanu-frontend@a (config load 3 ms)     pin before @b goes down
 *     …
 *     ⇄ Caddy routes … (config load 7 ms)                                      the last pin (a roll shorter than the cache)
 *     … Caddy's own config comes back in 52s4ms, once …
 *     ✓ Caddy runs its own config again (config load 5 ms)
 *     ✓ restart done in 62.8 s
 */

/** One progress line of the CLI, stamped on arrival (ms since the spawn). */
export interface TimedLine {
  readonly atMs: number
  readonly text: string
}

/** One rolled instance's lines, ms since the CLI's spawn. */
export interface InstanceTimeline {
  readonly instance: string
  /** The `⇄ Caddy routes` line that took it out of Caddy's routing, and that load as Caddy took it (`config load N ms`). */
  readonly pinAtMs: number | null
  readonly pinLoadMs: number | null
  /** `↻ restarting`: the restart call begins right after. */
  readonly restartingAtMs: number
  /** `● … running after`: the restart call returned and the supervisor reports it running. */
  readonly runningAtMs: number | null
  /** `✓ … ready after N ms`: the probe saw it answer. */
  readonly readyAtMs: number | null
  /** The N of `ready after N ms`: how long the probe waited (from its first attempt). */
  readonly probeMs: number | null
}

export interface RollTimeline {
  /** `plan for restart`: Node started, the CLI loaded, the host discovered and the plan made. */
  readonly planAtMs: number | null
  readonly instances: ReadonlyArray<InstanceTimeline>
  /** A `⇄` after the last instance answered: its new address pinned while the cache is waited out. */
  readonly lastPinAtMs: number | null
  readonly lastPinLoadMs: number | null
  /** `… Caddy's own config comes back in …`: the wait for Caddy's cache begins. */
  readonly restoreWaitAtMs: number | null
  /** `✓ Caddy runs its own config again (config load N ms)`. */
  readonly restoredAtMs: number | null
  readonly restoreLoadMs: number | null
  /** The process's exit. */
  readonly exitAtMs: number
}

const planLine = /^plan for restart\b/
const pinLine = /^⇄ Caddy routes .*\(config load (\d+) ms\)\s*$/
const restartingLine = /^↻ restarting (\S+)/
const runningLine = /^● (\S+) running after/
const readyLine = /^✓ (\S+) ready after (\d+) ms/
const waitLine = /^… Caddy's own config comes back in /
const restoredLine = /^✓ Caddy runs its own config again(?: \(config load (\d+) ms\))?/

/** The timeline of one `tamanu restart` (pure); null when it never began a roll. */
export const rollTimeline = (lines: ReadonlyArray<TimedLine>, exitAtMs: number): RollTimeline | null => {
  let planAtMs: number | null = null
  let pending: { atMs: number; loadMs: number } | null = null
  const instances: Array<{ -readonly [K in keyof InstanceTimeline]: InstanceTimeline[K] }> = []
  let restoreWaitAtMs: number | null = null
  let restoredAtMs: number | null = null
  let restoreLoadMs: number | null = null
  const find = (instance: string) => instances.find((i) => i.instance === instance)
  for (const { atMs, text } of lines) {
    const t = text.trim()
    const pin = pinLine.exec(t)
    const restarting = restartingLine.exec(t)
    const running = runningLine.exec(t)
    const ready = readyLine.exec(t)
    const restored = restoredLine.exec(t)
    if (planAtMs === null && planLine.test(t)) planAtMs = atMs
    else if (pin !== null) pending = { atMs, loadMs: Number(pin[1]) }
    else if (restarting !== null) {
      instances.push({
        instance: restarting[1] ?? "",
        pinAtMs: pending?.atMs ?? null,
        pinLoadMs: pending?.loadMs ?? null,
        restartingAtMs: atMs,
        runningAtMs: null,
        readyAtMs: null,
        probeMs: null,
      })
      pending = null
    } else if (running !== null) {
      const i = find(running[1] ?? "")
      if (i !== undefined && i.runningAtMs === null) i.runningAtMs = atMs
    } else if (ready !== null) {
      const i = find(ready[1] ?? "")
      if (i !== undefined && i.readyAtMs === null) {
        i.readyAtMs = atMs
        i.probeMs = Number(ready[2])
      }
    } else if (waitLine.test(t)) restoreWaitAtMs = atMs
    else if (restored !== null) {
      restoredAtMs = atMs
      restoreLoadMs = restored[1] === undefined ? null : Number(restored[1])
    }
  }
  if (instances.length === 0) return null
  const lastPin = pending as { atMs: number; loadMs: number } | null
  return {
    planAtMs,
    instances,
    lastPinAtMs: lastPin?.atMs ?? null,
    lastPinLoadMs: lastPin?.loadMs ?? null,
    restoreWaitAtMs,
    restoredAtMs,
    restoreLoadMs,
    exitAtMs,
  }
}

/** The roll order the CLI plans, from `tamanu restart NAMES --dry-run` (its `roll <service> …: a, b (each: …)` lines). */
export const rollOrderFromPlan = (plan: string): ReadonlyArray<string> =>
  plan
    .split("\n")
    .flatMap((line) => {
      const m = /^\s*\d+\. roll \S+ one instance at a time: (.+?) \(each:/.exec(line)
      return m === null ? [] : (m[1] ?? "").split(",").map((s) => s.trim())
    })
    .filter((s) => s !== "")

/** One instance's turn in the roll, against its boot measured in the same run. */
export interface InstanceBreakdown {
  readonly instance: string
  /**
   * The previous instance's `ready` line → this one's `restarting` line: the
   * pin that takes it out of Caddy's routing (read the live config, write
   * the state file, the config load). Null for the first, whose pin is in
   * the start-up.
   */
  readonly pinMs: number | null
  /** That pin's config load as Caddy took it (the CLI's `config load N ms`). */
  readonly pinLoadMs: number | null
  /** `restarting` → `running`: `systemctl restart` (the old container stops, the new one starts) and the check that it runs. */
  readonly restartCallMs: number | null
  /** `running` → the probe's first attempt: the new container's address from `podman ps` + `podman inspect`. */
  readonly lookupMs: number | null
  /** The probe's wait, first attempt → answer (its own figure). */
  readonly probeMs: number | null
  /** This turn: the previous `ready` line (or, first, this `restarting` line) → this `ready` line. */
  readonly turnMs: number | null
  /** `restarting` → the new process listening (its container log's timestamp): this run's boot. Null when unread. */
  readonly untilListeningMs: number | null
  /** Listening → the `ready` line: the probe's lateness, the line's way to the benchmark included. */
  readonly readyAfterListeningMs: number | null
}

export interface RollBreakdown {
  /** Spawn → the `plan` line: Node's start-up, the CLI loaded, discovery, planning. */
  readonly toPlanMs: number | null
  /** The `plan` line → the first `restarting` line: the Caddy session opened and the first pin loaded. */
  readonly planToFirstRestartMs: number | null
  /** Spawn → the first `restarting` line. */
  readonly startupMs: number
  /** The first pin's config load (`config load N ms`). */
  readonly firstPinLoadMs: number | null
  readonly instances: ReadonlyArray<InstanceBreakdown>
  /** Spawn → the last instance's `ready` line: the roll. Null when an instance never answered. */
  readonly rollMs: number | null
  /** The last `ready` line → exit. */
  readonly afterLastReadyMs: number | null
  /** Of which: the last `ready` line → the `comes back in` line (the last pin, when there is one). */
  readonly lastPinMs: number | null
  /** Of which: `comes back in` → `runs its own config again` (the wait for Caddy's cache, one probe per pinned instance, the restore load). */
  readonly cacheWaitMs: number | null
  /** Of which: the restore line → exit. */
  readonly exitMs: number | null
  /** The first pin → the restore line: what Caddy's `refresh` (1 min) + 2 s margin makes it. */
  readonly firstPinToRestoreMs: number | null
  /** The last `running` line: the last address change. */
  readonly lastRunningAtMs: number | null
}

const minus = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a - b)

/**
 * Where a roll's time went (pure). `listeningAtMs`: each instance's new
 * process began listening, on the CLI's clock (ms since its spawn), from its
 * container's log.
 */
export const rollBreakdown = (
  timeline: RollTimeline,
  listeningAtMs: Readonly<Record<string, number>> = {},
): RollBreakdown => {
  const first = timeline.instances[0]
  const last = timeline.instances.at(-1)
  const startupMs = first?.restartingAtMs ?? timeline.exitAtMs
  const instances = timeline.instances.map((i, k): InstanceBreakdown => {
    const previousReady = k === 0 ? null : (timeline.instances[k - 1]?.readyAtMs ?? null)
    const listening = listeningAtMs[i.instance] ?? null
    return {
      instance: i.instance,
      pinMs: k === 0 ? null : minus(i.restartingAtMs, previousReady),
      pinLoadMs: i.pinLoadMs,
      restartCallMs: minus(i.runningAtMs, i.restartingAtMs),
      lookupMs: i.readyAtMs === null || i.probeMs === null ? null : minus(i.readyAtMs - i.probeMs, i.runningAtMs),
      probeMs: i.probeMs,
      turnMs: minus(i.readyAtMs, k === 0 ? i.restartingAtMs : previousReady),
      untilListeningMs: minus(listening, i.restartingAtMs),
      readyAfterListeningMs: minus(i.readyAtMs, listening),
    }
  })
  const allReady = timeline.instances.every((i) => i.readyAtMs !== null)
  const lastReady = allReady ? (last?.readyAtMs ?? null) : null
  const firstPin = first?.pinAtMs ?? null
  return {
    toPlanMs: timeline.planAtMs,
    planToFirstRestartMs: minus(first?.restartingAtMs ?? null, timeline.planAtMs),
    startupMs,
    firstPinLoadMs: first?.pinLoadMs ?? null,
    instances,
    rollMs: lastReady,
    afterLastReadyMs: minus(timeline.exitAtMs, lastReady),
    lastPinMs: minus(timeline.restoreWaitAtMs, lastReady),
    cacheWaitMs: minus(timeline.restoredAtMs, timeline.restoreWaitAtMs),
    exitMs: minus(timeline.exitAtMs, timeline.restoredAtMs),
    firstPinToRestoreMs: minus(timeline.restoredAtMs, firstPin),
    lastRunningAtMs: timeline.instances.reduce<number | null>(
      (m, i) => (i.runningAtMs === null ? m : Math.max(m ?? 0, i.runningAtMs)),
      null,
    ),
  }
}
