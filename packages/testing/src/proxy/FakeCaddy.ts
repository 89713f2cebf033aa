/**
 * An in-memory Caddy, as far as tamanu can tell it from a real one: its
 * admin API (`GET /config/`, `POST /load`) behind an `HttpClient`, a live
 * JSON config shaped like `caddy adapt`'s output for a Tamanu Caddyfile, and
 * what a request would be routed to. The routing model is Caddy's own
 * (modules/caddyhttp/reverseproxy/upstreams.go): a `dynamic a` handler
 * resolves its name (the service's instances that run now, at their current
 * addresses) and keeps the answer for `refresh` in a cache keyed by name and
 * port that no config load clears; a static handler routes to its dials.
 *
 * `routedTo` is a request: it refreshes a stale cache entry, as traffic
 * does. Tests that sample it while an operation runs see exactly the
 * addresses Caddy would send requests to, stale ones included.
 */

import { HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import { type Json, ProbeTargets, proxyHandlers, serviceAliases, urlAddress } from "@tamanu-lifecycle/core"
import { Clock, Context, Duration, Effect, Layer, Option, Ref } from "effect"
import { FakeNetwork } from "../probe/FakeProbeTargets.js"
import { FakeSupervisorControl } from "../supervisor/FakeSupervisor.js"

export interface FakeCaddyConfig {
  /** Services Caddy proxies (expectation names); default the four Tamanu ones. */
  readonly services?: ReadonlyArray<string>
  /**
   * How Caddy's own config reaches them: `dynamic` (Linux: `dynamic a` on the
   * service's network alias, port 3000) or `static` (Windows: each instance's
   * address, read from the world when the config is first asked for).
   */
  readonly upstreams?: "dynamic" | "static"
  /** `dynamic a` refresh (default 1 minute, Caddy's). */
  readonly refresh?: Duration.DurationInput
  /** `lb_try_duration` (default 1 s, as Tamanu's Caddyfile). */
  readonly tryDuration?: Duration.DurationInput
  /** false: the admin API refuses connections (the old way is then used). Default true. */
  readonly reachable?: boolean
}

export interface FakeCaddyLoad {
  /** Clock millis when Caddy took it. */
  readonly at: number
  readonly config: Json
}

export interface FakeCaddyControlShape {
  /** Its admin API, for `makeCaddyAdminProxy` (base URL `fakeCaddyAdminUrl`). */
  readonly adminClient: HttpClient.HttpClient
  /** Every config loaded through the admin API, in order. */
  readonly loads: Effect.Effect<ReadonlyArray<FakeCaddyLoad>>
  /** The config Caddy runs now. */
  readonly config: Effect.Effect<Json>
  /** Caddy's own config (the one it started with). */
  readonly ownConfig: Effect.Effect<Json>
  /** What a `dynamic a` name resolves to now (the service's running instances on that port), as aardvark-dns answers. */
  readonly resolveName: (name: string, port: string) => Effect.Effect<ReadonlyArray<string>>
  /** Where a request for this service would go now (`host:port` dials); a stale cache entry is refreshed. */
  readonly routedTo: (service: string) => Effect.Effect<ReadonlyArray<string>>
  readonly setReachable: (reachable: boolean) => Effect.Effect<void>
  /** The next `POST /load` answers this HTTP status (and body) instead of taking the config. */
  readonly failNextLoad: (status: number, body: string) => Effect.Effect<void>
  /**
   * The next `count` connections to `GET /config/` are reset, as Caddy 2.6.2
   * does to a connection made while a load replaces its admin server.
   */
  readonly resetNextReads: (count: number) => Effect.Effect<void>
  /** Someone else loads a config (an operator's `systemctl reload caddy`): Caddy's own comes back. */
  readonly reloadOwnConfig: Effect.Effect<void>
}

export class FakeCaddyControl extends Context.Tag("@tamanu-lifecycle/testing/FakeCaddyControl")<
  FakeCaddyControl,
  FakeCaddyControlShape
>() {}

/** The admin API base the fake answers on. */
export const fakeCaddyAdminUrl = "http://caddy.test:2019"

const nanos = (d: Duration.DurationInput): number => Duration.toMillis(d) * 1e6

/** A Tamanu-shaped Caddy config, as `caddy adapt` writes it: one subroute per service. */
export const fakeCaddyConfig = (
  routes: ReadonlyArray<{ readonly service: string; readonly dials: ReadonlyArray<string> | null }>,
  refresh: Duration.DurationInput,
  tryDuration: Duration.DurationInput,
): Json => ({
  apps: {
    http: {
      servers: {
        srv0: {
          listen: [":443"],
          routes: [
            {
              handle: [
                {
                  handler: "subroute",
                  routes: routes.map(({ service, dials }) => ({
                    match: [{ path: [`/${service}/*`] }],
                    handle: [
                      {
                        handler: "reverse_proxy",
                        load_balancing: { try_duration: nanos(tryDuration) },
                        ...(dials === null
                          ? {
                              dynamic_upstreams: {
                                source: "a",
                                name: serviceAliases[service] ?? `${service}.tamanu.internal`,
                                port: "3000",
                                refresh: nanos(refresh),
                                resolver: { addresses: ["udp/10.89.0.1:53"] },
                              },
                            }
                          : { upstreams: dials.map((dial) => ({ dial })) }),
                      },
                    ],
                  })),
                },
              ],
              terminal: true,
            },
          ],
        },
      },
    },
  },
})

const dialOf = (url: string): Option.Option<string> =>
  Option.map(urlAddress(url), ({ host, port }) => `${host}:${port}`)

interface CacheEntry {
  readonly dials: ReadonlyArray<string>
  readonly at: number
  readonly refreshMillis: number
}

/**
 * The fake Caddy and its control (whose `adminClient` is its admin API).
 * Needs the world it proxies: the fake supervisor (what runs) and probe
 * targets (where each instance serves now).
 */
export const FakeCaddy = {
  layer: (config: FakeCaddyConfig = {}): Layer.Layer<FakeCaddyControl, never, FakeSupervisorControl | ProbeTargets> =>
    Layer.effect(
      FakeCaddyControl,
      Effect.gen(function* () {
        const supervisor = yield* FakeSupervisorControl
        const targets = yield* ProbeTargets
        // Where instances really are (the alias's answer); without a FakeNetwork, what the lookups find.
        const network = yield* Effect.serviceOption(FakeNetwork)
        const addressOf = Option.match(network, { onNone: () => targets.urlFor, onSome: (n) => n.addressOf })
        const services = config.services ?? Object.keys(serviceAliases)
        const refresh = config.refresh ?? Duration.minutes(1)
        const tryDuration = config.tryDuration ?? Duration.seconds(1)

        /** Where the running instances of a service serve now: what its alias resolves to. */
        const resolve = (service: string): Effect.Effect<ReadonlyArray<string>> =>
          Effect.gen(function* () {
            const running = (yield* supervisor.instances).filter((i) => i.name === service && i.running)
            const urls = yield* Effect.forEach(running, (i) => addressOf(i))
            return urls.flatMap((u) => Option.toArray(Option.flatMap(u, dialOf)))
          })

        /** Every instance of a service the supervisor knows, running or not: what a Caddyfile lists statically. */
        const listed = (service: string): Effect.Effect<ReadonlyArray<string>> =>
          Effect.gen(function* () {
            const all = (yield* supervisor.instances).filter((i) => i.name === service)
            const urls = yield* Effect.forEach(all, (i) => targets.urlFor(i))
            return urls.flatMap((u) => Option.toArray(Option.flatMap(u, dialOf)))
          })

        const own = yield* Ref.make(Option.none<Json>())
        const ownConfig = Effect.gen(function* () {
          const known = yield* Ref.get(own)
          if (Option.isSome(known)) return known.value
          const routes = yield* Effect.forEach(
            services,
            (service): Effect.Effect<{ service: string; dials: ReadonlyArray<string> | null }> =>
              config.upstreams === "static"
                ? Effect.map(listed(service), (dials) => ({ service, dials }))
                : Effect.succeed({ service, dials: null }),
          )
          const made = fakeCaddyConfig(routes, refresh, tryDuration)
          yield* Ref.set(own, Option.some(made))
          return made
        })

        const running = yield* Ref.make(Option.none<Json>())
        const current = Effect.flatMap(
          Ref.get(running),
          Option.match({ onNone: () => ownConfig, onSome: Effect.succeed }),
        )
        const loads = yield* Ref.make<ReadonlyArray<FakeCaddyLoad>>([])
        const cache = yield* Ref.make(new Map<string, CacheEntry>())
        const reachable = yield* Ref.make(config.reachable ?? true)
        const failNext = yield* Ref.make(Option.none<{ status: number; body: string }>())
        const resets = yield* Ref.make(0)

        /** The handler routing `/<service>/*` in a config of `fakeCaddyConfig`'s shape. */
        const handlerOf = (config: Json, service: string) => {
          const routes =
            (
              config as {
                apps?: {
                  http?: { servers?: { srv0?: { routes?: Array<{ handle?: Array<{ routes?: Array<Json> }> }> } } }
                }
              }
            ).apps?.http?.servers?.srv0?.routes?.[0]?.handle?.[0]?.routes ?? []
          const route = routes.find((r) => JSON.stringify(r).includes(`"/${service}/*"`))
          return route === undefined ? undefined : proxyHandlers(route)[0]
        }

        const routedTo = (service: string) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const handler = handlerOf(yield* current, service)
            if (handler === undefined) return []
            const u = handler.upstreams
            if (u._tag === "Static") return u.dials
            if (u._tag !== "DynamicA") return []
            const key = `${u.name}:${u.port}`
            const entry = (yield* Ref.get(cache)).get(key)
            if (entry !== undefined && now - entry.at < entry.refreshMillis) return entry.dials
            const fresh = (yield* resolve(service)).map((d) => d.replace(/:\d+$/, `:${u.port}`))
            yield* Ref.update(cache, (m) =>
              new Map(m).set(key, { dials: fresh, at: now, refreshMillis: u.refreshMillis }),
            )
            return fresh
          })

        const respond = (request: Parameters<Parameters<typeof HttpClient.make>[0]>[0], status: number, body: string) =>
          HttpClientResponse.fromWeb(
            request,
            new Response(body, { status, headers: { "content-type": "application/json" } }),
          )

        const client = HttpClient.make((request, url) =>
          Effect.gen(function* () {
            if (!(yield* Ref.get(reachable)))
              return yield* Effect.fail(
                new HttpClientError.RequestError({
                  request,
                  reason: "Transport",
                  cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
                }),
              )
            if (request.method === "GET" && url.pathname === "/config/") {
              if ((yield* Ref.getAndUpdate(resets, (n) => Math.max(0, n - 1))) > 0)
                return yield* Effect.fail(
                  new HttpClientError.RequestError({
                    request,
                    reason: "Transport",
                    cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
                  }),
                )
              return respond(request, 200, JSON.stringify(yield* current))
            }
            if (request.method === "POST" && url.pathname === "/load") {
              const failure = yield* Ref.getAndSet(failNext, Option.none())
              if (Option.isSome(failure)) return respond(request, failure.value.status, failure.value.body)
              const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
              const loaded = JSON.parse(body) as Json
              const at = yield* Clock.currentTimeMillis
              yield* Ref.set(running, Option.some(loaded))
              yield* Ref.update(loads, (all) => [...all, { at, config: loaded }])
              return respond(request, 200, "")
            }
            return respond(request, 404, `{"error":"not found: ${request.method} ${url.pathname}"}`)
          }),
        )

        const resolveName = (name: string, port: string): Effect.Effect<ReadonlyArray<string>> => {
          const service =
            Object.entries(serviceAliases).find(([, alias]) => alias === name)?.[0] ?? name.split(".")[0] ?? name
          return Effect.map(resolve(service), (dials) => dials.map((d) => d.replace(/:\d+$/, `:${port}`)))
        }

        const control: FakeCaddyControlShape = {
          adminClient: client,
          resolveName,
          loads: Ref.get(loads),
          config: current,
          ownConfig,
          routedTo,
          setReachable: (r) => Ref.set(reachable, r),
          failNextLoad: (status, body) => Ref.set(failNext, Option.some({ status, body })),
          resetNextReads: (count) => Ref.set(resets, count),
          reloadOwnConfig: Ref.set(running, Option.none()),
        }
        return control
      }),
    ),
}
