/**
 * Progress events the operations publish (architecture.md): an embedding
 * program follows along by providing its own `Progress` layer; the CLI renders
 * them for a person. The default layer drops them.
 */
import { Context, Data, Effect, Layer, PubSub, type Queue, type Scope } from "effect"
import type { VersionStatus } from "../model/version.js"
import type { SettleResult } from "../supervisor/settle.js"

/** What a restarted instance ran before and runs now, against what it should run (issue #22). */
export interface VersionMove {
  readonly before: string | null
  readonly after: string | null
  readonly expected: string | null
  /** `after` against `expected` (no upgrade exemption: a restarted instance should be on it). */
  readonly status: VersionStatus
}

export type ProgressEvent = Data.TaggedEnum<{
  /** The plan an operation is about to carry out (also what `--dry-run` prints). */
  PlanComputed: { readonly command: string; readonly steps: number; readonly text: string }
  /** One batched supervisor call going out. */
  BatchStarted: { readonly action: string; readonly instances: ReadonlyArray<string> }
  /** Waiting until instances reach a state. */
  Waiting: { readonly wanted: "running" | "stopped"; readonly instances: ReadonlyArray<string> }
  /** A rolling restart takes this instance down now. */
  InstanceRestarting: { readonly instance: string; readonly index: number; readonly total: number }
  /** The supervisor reports the instance running again. */
  InstanceRunning: {
    readonly instance: string
    readonly afterMillis: number
    /** Its version before the restart and now, when the probe targets know versions. */
    readonly version?: VersionMove | undefined
  }
  /** The readiness probe answered. */
  ProbeReady: {
    readonly instance: string
    readonly url: string
    readonly afterMillis: number
    /** The answer's `X-Version` header: the version it really serves (issue #22). */
    readonly version?: string | null | undefined
  }
  /** No probe URL could be built for this instance; a Warning follows saying what happens instead. */
  ProbeSkipped: { readonly instance: string; readonly reason: string }
  /** Caddy was asked to reload (the old way, without its admin API; best effort). */
  ProxyReloaded: { readonly reloaded: boolean; readonly warnings: ReadonlyArray<string> }
  /** Caddy took a config that routes these services to exactly these instances (admin API, one load). */
  ProxyRouted: {
    readonly routes: ReadonlyArray<{ readonly service: string; readonly instances: ReadonlyArray<string> }>
    readonly loadMillis: number
  }
  /** Caddy's own config comes back in this long, once no cached answer can name an address we took down. */
  ProxyRestoreWaiting: { readonly inMillis: number }
  /** Caddy runs its own config again (as read before tamanu changed it). */
  ProxyRestored: { readonly loadMillis: number }
  /** Waiting a fixed time between instances because no probe was possible. */
  Cooldown: { readonly millis: number }
  /** Watching instances no probe judges through the settle window: each must stay running that long. */
  Settling: { readonly instances: ReadonlyArray<string>; readonly windowMillis: number }
  /** What the settle window found, per instance (also when it failed). */
  Settled: { readonly windowMillis: number; readonly results: ReadonlyArray<SettleResult> }
  /**
   * The last lines an instance that did not start, settle or become ready
   * logged since its start call (its journal, or pm2's log files), whether or
   * not `--logs` was given. Empty when it logged nothing.
   */
  LastLines: { readonly instance: string; readonly lines: ReadonlyArray<string> }
  /** Something an operator should read, not a failure. */
  Warning: { readonly message: string }
  /** Informational line (e.g. nothing to do, waiting for the database). */
  Info: { readonly message: string }
  /**
   * The plan's execution stopped at a failure: what had been done by then (the
   * same lists as a successful execution's), so a report can say it.
   */
  ExecutionFailed: {
    readonly started: ReadonlyArray<string>
    readonly stopped: ReadonlyArray<string>
    readonly restarted: ReadonlyArray<string>
    readonly notRestarted: ReadonlyArray<string>
  }
  /** The operation ended. */
  Done: { readonly command: string; readonly ok: boolean; readonly elapsedMillis: number }
}>

export const ProgressEvent = Data.taggedEnum<ProgressEvent>()

export interface ProgressShape {
  readonly emit: (event: ProgressEvent) => Effect.Effect<void>
}

export class Progress extends Context.Tag("@tamanu-lifecycle/core/Progress")<Progress, ProgressShape>() {
  /** Drops every event: for programs that only want the result. */
  static readonly Silent: Layer.Layer<Progress> = Layer.succeed(Progress, { emit: () => Effect.void })

  /** Calls `f` for every event, e.g. to log them in an embedding program. */
  static readonly callback = (f: (event: ProgressEvent) => void): Layer.Layer<Progress> =>
    Layer.succeed(Progress, { emit: (event) => Effect.sync(() => f(event)) })

  /** Publishes every event to a PubSub that any number of fibers can subscribe to. */
  static readonly pubsub = (hub: PubSub.PubSub<ProgressEvent>): Layer.Layer<Progress> =>
    Layer.succeed(Progress, { emit: (event) => PubSub.publish(hub, event) })
}

/** Emit an event through whatever Progress layer is provided. */
export const emit = (event: ProgressEvent): Effect.Effect<void, never, Progress> =>
  Effect.flatMap(Progress, (p) => p.emit(event))

/** Subscribe to a Progress PubSub within a scope (helper for embedders). */
export const subscribe = (
  hub: PubSub.PubSub<ProgressEvent>,
): Effect.Effect<Queue.Dequeue<ProgressEvent>, never, Scope.Scope> => PubSub.subscribe(hub)
