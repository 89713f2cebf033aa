/**
 * The reverse proxy in front of Tamanu (spec §9): keep Caddy routing only to
 * instances that serve. An operation opens a session over the services it
 * will start or roll, routes each one to exactly the instances that serve
 * before one goes down and once a new one answers, and restores Caddy's own
 * config at the first moment no cached answer can route to an address it
 * took down.
 *
 * Two ways, chosen when a session opens:
 * - `admin`: Caddy's admin API (caddyAdmin.ts). Each `route` is at most one
 *   config load; Caddy never sends a request to an instance we take down.
 * - `reload`: no admin API (unreachable, or turned off). The old way: a
 *   reload after an instance comes back (systemd reload + DNS cache flush on
 *   Linux, the Caddyfile through `/load` or `caddy reload` on Windows). Said
 *   once with a warning: requests may be lost meanwhile.
 */
import { Context, type Effect, Schema, type Scope } from "effect"
import type { Progress } from "../events/Progress.js"
import type { Endpoint, ServiceEndpoints } from "./caddyConfig.js"
import type { Desired } from "./routing.js"

export class ProxyFailed extends Schema.TaggedError<ProxyFailed>()("ProxyFailed", {
  /** The admin API (or the reload command) that failed. */
  target: Schema.String,
  /** What tamanu was asking of Caddy. */
  action: Schema.Literal("route", "restore"),
  reason: Schema.String,
}) {
  override get message(): string {
    return `Caddy (${this.target}) did not take the ${this.action === "route" ? "routing change" : "restore of its own config"}: ${this.reason}`
  }
}

export type ProxyMode = "admin" | "reload"

/**
 * Which running instances of these services answer now (one probe each): a
 * restore gives Caddy's own upstreams back, and a `dynamic a` name then
 * routes to every instance on its alias, answering or not.
 */
export type Answering = (services: ReadonlyArray<string>) => Effect.Effect<
  ReadonlyArray<{
    readonly service: string
    readonly answering: ReadonlyArray<Endpoint>
    /** Running instances with an address that did not answer. */
    readonly silent: ReadonlyArray<Endpoint>
  }>
>

/**
 * What one session call did to Caddy, as a value: the executor adds them
 * up for its result (progress events are for watching only).
 */
export interface ProxyTally {
  /** Config loads through the admin API (routing changes and the restore). */
  readonly configLoads: number
  /** Reloads of the old way. */
  readonly reloads: number
  /** Caddy runs its own config again. */
  readonly restored: boolean
  /** How long the call waited for Caddy's cache before the restore. */
  readonly waitedMillis: number
  /**
   * The warnings said during the call, in order (also published as progress
   * events, for watching): the old way's reloads, a restore not scheduled,
   * Caddy's own config not back yet.
   */
  readonly warnings: ReadonlyArray<string>
}

export const noTally: ProxyTally = { configLoads: 0, reloads: 0, restored: false, waitedMillis: 0, warnings: [] }

export const addTally = (a: ProxyTally, b: ProxyTally): ProxyTally => ({
  configLoads: a.configLoads + b.configLoads,
  reloads: a.reloads + b.reloads,
  restored: a.restored || b.restored,
  waitedMillis: a.waitedMillis + b.waitedMillis,
  warnings: [...a.warnings, ...b.warnings],
})

export interface ProxySession {
  readonly mode: ProxyMode
  /** The warnings said while the session opened (the old way, a handler not recognised, an earlier state forgotten). */
  readonly openWarnings: ReadonlyArray<string>
  /**
   * Route each desired service to exactly its endpoints. `admin`: at most
   * one config load for all of them; a failure means Caddy still routes as
   * before, so the caller must not take the drained instance down. `reload`:
   * a reload when an endpoint was added since the last one, else nothing.
   */
  readonly route: (desired: ReadonlyArray<Desired>) => Effect.Effect<ProxyTally, ProxyFailed, Progress>
  /**
   * Caddy's own config back, routing to `desired` until then: at once when
   * nothing cached can be stale because of us, else once every cached answer
   * from before our first change has expired (it waits). Not while a running
   * instance of a pinned service does not answer (`answering`): Caddy's own
   * upstreams would route to it; the pins then name only the ones that do,
   * and the next run tries again. Best effort: a failure is a warning.
   */
  readonly restore: (
    desired: ReadonlyArray<Desired>,
    answering: Answering,
  ) => Effect.Effect<ProxyTally, never, Progress>
  /** `admin` only: the pins re-made to every instance of each pinned service that answers now (nothing drained). */
  readonly repin?: (answering: Answering) => Effect.Effect<void, never, Progress>
}

/** A handler routing to one service, as read from Caddy's live config. */
export interface RouteView {
  /** Where it is in the config (`apps.http.servers.srv0.routes[0]…`). */
  readonly handler: string
  /** `dynamic a <name>:<port>` or `static`. */
  readonly source: string
  /** Static upstreams: the dials; `dynamic a`: what the name resolves to now (best effort; empty if unknown). */
  readonly addresses: ReadonlyArray<string>
  /** `dynamic a` only: how long Caddy keeps an answer. */
  readonly refreshMillis: number | null
}

/** What Caddy does for these services now (read-only: status, --dry-run). */
export interface ProxyView {
  readonly mode: ProxyMode
  /** The admin API base URL tamanu uses (or tried). */
  readonly adminUrl: string
  /** Why `reload` (the admin API unreachable, turned off, …); null in `admin` mode. */
  readonly reason: string | null
  /** Per service: the handlers that route to it (empty: Caddy has none tamanu recognises). */
  readonly routes: ReadonlyArray<{ readonly service: string; readonly handlers: ReadonlyArray<RouteView> }>
  /** An earlier run's routing not yet restored: since when and when it may be. */
  readonly pending: {
    readonly since: number
    readonly dueAt: number
    readonly handlers: ReadonlyArray<string>
  } | null
}

export interface ReverseProxyShape {
  /**
   * A session over these services (their endpoints: where their running
   * instances serve now). Its scope's close leaves a note for the next run
   * if Caddy's own config is not back yet (failure, interruption).
   */
  readonly open: (
    services: ReadonlyArray<ServiceEndpoints>,
  ) => Effect.Effect<ProxySession, never, Scope.Scope | Progress>
  /** Read-only view of Caddy's routing for these services. */
  readonly inspect: (services: ReadonlyArray<ServiceEndpoints>) => Effect.Effect<ProxyView>
  /** Whether an earlier run left Caddy's own config unrestored, and when it may come back (read-only). */
  readonly pendingRestore: Effect.Effect<{ readonly dueAt: number } | null>
  /** Restore Caddy's own config if an earlier run left it, it is due now and every pinned service's instances answer; say why not otherwise. */
  readonly resume: (answering: Answering) => Effect.Effect<void, never, Progress>
  /**
   * If an earlier run left pins, re-make them to every instance of each
   * pinned service that answers now, before the restore is due (the
   * scheduled restore, issue #25). Absent: not supported (pins stay as left).
   */
  readonly refresh?: (answering: Answering) => Effect.Effect<void, never, Progress>
}

export class ReverseProxy extends Context.Tag("@tamanu-lifecycle/core/ReverseProxy")<
  ReverseProxy,
  ReverseProxyShape
>() {}
