/**
 * Progress events (core's `Progress`) as lines for a person: one line per
 * event, a symbol first so the eye finds failures and waits quickly. The CLI
 * writes them to stderr, keeping stdout for the result (and for `--json`).
 *
 * On a terminal a `Waiting` event becomes a spinner line that the next event
 * replaces, so a long wait shows that tamanu is alive without filling the
 * screen; elsewhere (a pipe, a log file, `--json`) it is an ordinary line.
 * The ticker is a Schedule-driven fiber in the layer's scope, a few lines
 * instead of a dependency.
 */

import { describeEnded, formatDuration, Progress, type ProgressEvent } from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Fiber, Layer, Option, Ref, Schedule } from "effect"
import { type Palette, palette } from "./color.js"

const ms = (millis: number): string => `${Math.round(millis)} ms`

/** Elapsed time of a whole command: milliseconds when short, seconds with one decimal after. */
const elapsed = (millis: number): string => (millis < 10_000 ? ms(millis) : `${(millis / 1000).toFixed(1)} s`)

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`

/** One event as text (possibly several lines, no trailing newline); null for events not worth a line. */
export const renderEvent = (event: ProgressEvent, p: Palette): string | null => {
  switch (event._tag) {
    case "PlanComputed": {
      if (event.steps === 0) return null
      const steps = event.text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => `  ${line}`)
      return [p.bold(`plan for ${event.command} (${plural(event.steps, "step", "steps")}):`), ...steps].join("\n")
    }
    case "BatchStarted":
      return `${p.cyan("→")} ${event.action} ${event.instances.join(" ")}`
    case "Waiting":
      return p.dim(`… waiting until ${event.wanted}: ${event.instances.join(", ")}`)
    case "InstanceRestarting":
      return `${p.cyan("↻")} restarting ${event.instance} ${p.dim(`(${event.index}/${event.total})`)}`
    case "InstanceRunning": {
      const v = event.version
      // Before → after (issue #22): red when it came back on another version than expected.
      const move =
        v === undefined
          ? ""
          : ` ${(v.status === "mismatch" ? p.red : v.status === "match" ? p.green : p.yellow)(
              `${v.before ?? "unknown"} → ${v.after ?? "unknown"}`,
            )}${v.status === "mismatch" ? p.red(` (expected ${v.expected})`) : ""}`
      return `${p.green("●")} ${event.instance} running ${p.dim(`after ${ms(event.afterMillis)}`)}${move}`
    }
    case "ProbeReady":
      return `${p.green("✓")} ${event.instance} ready after ${ms(event.afterMillis)}${
        event.version === undefined || event.version === null ? "" : `, serving ${event.version}`
      } ${p.dim(`(${event.url})`)}`
    case "ProbeSkipped":
      // Core follows it with a Warning that also says what happens instead (the cooldown, or not probed).
      return null
    case "ProxyReloaded": {
      const warnings = event.warnings.map((w) => p.yellow(`⚠ ${w}`))
      const head = event.reloaded ? `${p.green("✓")} Caddy reloaded` : p.yellow("⚠ Caddy reload failed (going on)")
      return [head, ...warnings].join("\n")
    }
    case "ProxyRouted": {
      const routes = event.routes.map((r) => `${r.service} → ${r.instances.join(", ") || "(unchanged)"}`)
      return `${p.cyan("⇄")} Caddy routes ${routes.join("; ")} ${p.dim(`(config load ${ms(event.loadMillis)})`)}`
    }
    case "ProxyRestoreWaiting":
      return p.dim(
        `… Caddy's own config comes back in ${formatDuration(Duration.millis(event.inMillis))}, once its DNS cache can no longer hold a restarted instance's old address`,
      )
    case "ProxyRestored":
      return `${p.green("✓")} Caddy runs its own config again ${p.dim(`(config load ${ms(event.loadMillis)})`)}`
    case "Cooldown":
      return p.dim(`cooldown ${formatDuration(Duration.millis(event.millis))} (no readiness probe)`)
    case "Settling":
      return p.dim(
        `… watching for ${formatDuration(Duration.millis(event.windowMillis))} that they stay running: ${event.instances.join(", ")}`,
      )
    case "Settled": {
      const window = formatDuration(Duration.millis(event.windowMillis))
      const steady = event.results.flatMap((r) => (r._tag === "Steady" ? [r.instance] : []))
      const unfinished = event.results.flatMap((r) => (r._tag === "Unfinished" ? [r.instance] : []))
      const ended = event.results.flatMap((r) => (r._tag === "EndedInWindow" ? [r.ended] : []))
      return [
        ...(steady.length === 0
          ? []
          : [`${p.green("✓")} stayed running through the ${window} settle window: ${steady.join(", ")}`]),
        ...ended.map((e) => p.red(`✗ ${e.instance} did not stay up: it ${describeEnded(e)}`)),
        ...(unfinished.length === 0 ? [] : [p.dim(`  still running when the watch stopped: ${unfinished.join(", ")}`)]),
      ].join("\n")
    }
    case "LastLines":
      return event.lines.length === 0
        ? p.dim(`${event.instance} logged nothing since its start`)
        : [
            p.bold(`last ${plural(event.lines.length, "line", "lines")} of ${event.instance} since its start:`),
            ...event.lines.map((l) => `  ${p.dim("│")} ${l}`),
          ].join("\n")
    case "Warning":
      return p.yellow(`⚠ ${event.message}`)
    case "Info":
      return event.message
    case "ExecutionFailed": {
      const done = [
        ["started", event.started],
        ["stopped", event.stopped],
        ["restarted", event.restarted],
      ] as const
      const said = done.filter(([, names]) => names.length > 0).map(([verb, names]) => `${verb} ${names.join(", ")}`)
      return said.length === 0 ? null : p.dim(`before it failed: ${said.join("; ")}`)
    }
    case "Done":
      return event.ok
        ? p.green(`✓ ${event.command} done in ${elapsed(event.elapsedMillis)}`)
        : p.red(`✗ ${event.command} failed after ${elapsed(event.elapsedMillis)}`)
  }
}

/** Anything text can be written to: `process.stderr`, or a fake in tests. */
export interface TextSink {
  readonly write: (text: string) => unknown
}

export interface ProgressRendererOptions {
  readonly stream: TextSink
  readonly color: boolean
  /** Animate `Waiting` lines; only on a TTY (the caller decides). */
  readonly spinner: boolean
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"] as const
const FRAME_INTERVAL = Duration.millis(80)
/** Carriage return and erase the line: the spinner's line disappears before the next one. */
const CLEAR_LINE = "\r\u001b[2K"

/** A `Progress` layer that writes every event as a line to `stream`. */
export const ProgressRendererLive = (options: ProgressRendererOptions): Layer.Layer<Progress> =>
  Layer.scoped(
    Progress,
    Effect.gen(function* () {
      const p = palette(options.color)
      const scope = yield* Effect.scope
      // Events may come from concurrent fibers (e.g. --logs): one writer at a time keeps lines whole.
      const lock = yield* Effect.makeSemaphore(1)
      const spinning = yield* Ref.make(Option.none<Fiber.RuntimeFiber<void>>())
      const write = (text: string) => Effect.sync(() => void options.stream.write(text))

      const stopSpinner = Effect.flatMap(Ref.getAndSet(spinning, Option.none()), (fiber) =>
        Option.match(fiber, {
          onNone: () => Effect.void,
          onSome: (f) => Effect.zipRight(Fiber.interrupt(f), write(CLEAR_LINE)),
        }),
      )

      const startSpinner = (text: string) =>
        Effect.gen(function* () {
          const frame = yield* Ref.make(0)
          const tick = Effect.flatMap(
            Ref.getAndUpdate(frame, (n) => n + 1),
            (n) => write(`${CLEAR_LINE}${p.cyan(FRAMES[n % FRAMES.length] ?? "…")} ${text}`),
          )
          const fiber = yield* tick.pipe(
            Effect.repeat(Schedule.spaced(FRAME_INTERVAL)),
            Effect.asVoid,
            Effect.forkIn(scope),
          )
          yield* Ref.set(spinning, Option.some(fiber))
        })

      // Leave the terminal clean when the command ends, even on failure.
      yield* Effect.addFinalizer(() => lock.withPermits(1)(stopSpinner))

      return {
        emit: (event: ProgressEvent) =>
          lock.withPermits(1)(
            Effect.gen(function* () {
              yield* stopSpinner
              const text = renderEvent(event, p)
              if (text === null) return
              if (options.spinner && (event._tag === "Waiting" || event._tag === "Settling")) yield* startSpinner(text)
              else yield* write(`${text}\n`)
            }),
          ),
      }
    }),
  )
