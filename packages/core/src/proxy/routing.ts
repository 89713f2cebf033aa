/**
 * Which config to load next, and when Caddy's own config may come back
 * (spec §9.1-§9.3). Pure: the admin API layer holds a RoutingState, asks
 * `nextLoad` for the config that routes each service to exactly the
 * instances that serve, loads it, and commits the returned state with the
 * load's time.
 *
 * Why the wait: Caddy keeps a `dynamic a` answer for `refresh` (default 1
 * minute) in a process-wide cache that no config load clears. A handler
 * taken off `dynamic a` at time T may have had its name looked up at any
 * time up to T; if an instance it named was then taken down by us (a
 * drain), putting `dynamic a` back before T + refresh could bring that
 * dead address back from the cache. After T + refresh (plus a margin for a
 * request of the old config still retrying), the next request looks the
 * name up afresh and finds the addresses that serve now.
 */
import {
  describePath,
  dialsFor,
  type Endpoint,
  type Json,
  jsonEqual,
  type ProxyHandler,
  pinResolvers,
  restoreMarginMillis,
  type ServiceEndpoints,
  withStaticUpstreams,
} from "./caddyConfig.js"

/** One handler tamanu took off its own upstreams. */
export interface HandlerClock {
  /** The service it routes to. */
  readonly service: string
  /** Clock millis when the load that took it off `dynamic a` (or its static list) returned. */
  readonly swappedAt: number
  /** How long a cached answer from before `swappedAt` may still be used: refresh + margin (0 for static upstreams). */
  readonly holdMillis: number
  /** An instance its cached answer may name was taken down by us since (a drain). */
  readonly staled: boolean
}

export interface RoutingState {
  /** Caddy's own config as read before tamanu changed anything: what the restore loads. */
  readonly original: Json
  /** What Caddy runs now, as far as tamanu knows: the last config it loaded, or the original. */
  readonly current: Json
  /** By handler path (`describePath`). */
  readonly clocks: Readonly<Record<string, HandlerClock>>
  /** Services drained while none of their handlers could be made static yet (no serving instance to name). */
  readonly staledServices: ReadonlyArray<string>
}

export const freshState = (config: Json): RoutingState => ({
  original: config,
  current: config,
  clocks: {},
  staledServices: [],
})

/** What one service should be routed to. */
export interface Desired {
  readonly service: string
  readonly endpoints: ReadonlyArray<Endpoint>
  /** An instance of this service goes down right after this load. */
  readonly draining: boolean
}

export interface HandlerChange {
  readonly service: string
  readonly handler: string
  readonly dials: ReadonlyArray<string>
  readonly instances: ReadonlyArray<string>
}

export interface NextLoad {
  /** The config to load. */
  readonly config: Json
  /** false when Caddy already runs `config`: only the state changes (e.g. a drain noted), no load is needed. */
  readonly load: boolean
  readonly changes: ReadonlyArray<HandlerChange>
  /** The state once Caddy took it (at `loadedAt`, Clock millis, after the load returned). */
  readonly commit: (loadedAt: number) => RoutingState
}

/**
 * The load that routes every desired service to exactly its endpoints. A
 * service with no endpoint keeps its handlers as they are: routing it to
 * nothing would outlive a crash of tamanu, while its own upstreams come
 * back by themselves.
 */
export const nextLoad = (
  state: RoutingState,
  handlers: ReadonlyMap<string, ReadonlyArray<ProxyHandler>>,
  services: ReadonlyArray<ServiceEndpoints>,
  desired: ReadonlyArray<Desired>,
): NextLoad => {
  let config = state.current
  const changes: Array<HandlerChange> = []
  const swapped: Array<{ readonly key: string; readonly handler: ProxyHandler; readonly service: string }> = []
  const drained = new Set(desired.filter((d) => d.draining).map((d) => d.service))

  for (const want of desired) {
    const service = services.find((s) => s.service === want.service)
    if (service === undefined || want.endpoints.length === 0) continue
    for (const handler of handlers.get(want.service) ?? []) {
      const dials = dialsFor(handler, service, want.endpoints)
      if (dials.length === 0) continue
      const next = withStaticUpstreams(config, handler.path, dials, pinResolvers(handler, dials))
      const key = describePath(handler.path)
      if (!jsonEqual(next, config)) {
        changes.push({ service: want.service, handler: key, dials, instances: want.endpoints.map((e) => e.instance) })
        config = next
      }
      if (state.clocks[key] === undefined && !swapped.some((w) => w.key === key))
        swapped.push({ key, handler, service: want.service })
    }
  }

  return {
    config,
    load: !jsonEqual(config, state.current),
    changes,
    commit: (loadedAt) => {
      const serviceOf = new Map<string, string>()
      for (const [service, hs] of handlers) for (const h of hs) serviceOf.set(describePath(h.path), service)
      const staled = new Set([...state.staledServices, ...drained])
      const clocks: Record<string, HandlerClock> = {}
      for (const [key, clock] of Object.entries(state.clocks)) {
        const service = serviceOf.get(key)
        clocks[key] = service !== undefined && drained.has(service) ? { ...clock, staled: true } : clock
      }
      for (const { key, handler, service } of swapped) {
        clocks[key] = {
          service,
          swappedAt: loadedAt,
          holdMillis:
            handler.upstreams._tag === "DynamicA" ? handler.upstreams.refreshMillis + restoreMarginMillis(handler) : 0,
          staled: staled.has(service),
        }
      }
      // A drained service none of whose handlers is static yet: its first swap must start stale.
      const staledServices = [...staled].filter((service) => {
        const own = handlers.get(service) ?? []
        return own.length > 0 && !own.some((h) => clocks[describePath(h.path)] !== undefined)
      })
      return { original: state.original, current: config, clocks, staledServices }
    },
  }
}

/**
 * The first moment Caddy's own config may come back without a cached
 * answer routing to an address we took down: the latest swap of a handler
 * whose instances were drained, plus its hold. Minus infinity when none was
 * drained (nothing cached can be stale because of us).
 */
export const restoreDueAt = (state: RoutingState): number =>
  Object.values(state.clocks).reduce(
    (due, clock) => (clock.staled ? Math.max(due, clock.swappedAt + clock.holdMillis) : due),
    Number.NEGATIVE_INFINITY,
  )

/** Whether Caddy runs something other than its own config because of us. */
export const restorePending = (state: RoutingState): boolean => !jsonEqual(state.current, state.original)

/** The services whose handlers tamanu took off Caddy's own upstreams (they come back with the restore). */
export const pinnedServices = (state: RoutingState): ReadonlyArray<string> => [
  ...new Set(Object.values(state.clocks).map((clock) => clock.service)),
]
