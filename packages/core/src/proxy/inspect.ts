/**
 * What Caddy does for these services now (read-only: `status`,
 * `--dry-run`): the handlers that route to each, what their names resolve
 * to, and an earlier run's restore still pending.
 */
import { Effect, Either, Option } from "effect"
import type { CaddyAdminClient } from "./adminClient.js"
import {
  describePath,
  handlersByService,
  isNameDial,
  jsonEqual,
  type ProxyHandler,
  parseDial,
  proxyHandlers,
  type ServiceEndpoints,
} from "./caddyConfig.js"
import { pendingOf } from "./decide.js"
import type { ResolveName } from "./namePins.js"
import type { ProxyView, RouteView } from "./ReverseProxy.js"
import type { StateStore } from "./stateStore.js"

export const inspectCaddy = (
  deps: {
    /** The admin base URL, or why there is none. */
    readonly admin: Either.Either<string, string>
    readonly adminUrl: string
    readonly client: CaddyAdminClient
    readonly store: StateStore
    readonly resolve: ResolveName
  },
  services: ReadonlyArray<ServiceEndpoints>,
): Effect.Effect<ProxyView> =>
  Effect.gen(function* () {
    if (Either.isLeft(deps.admin))
      return { mode: "reload", adminUrl: deps.adminUrl, reason: deps.admin.left, routes: [], pending: null }
    const live = yield* Effect.either(deps.client.getConfig)
    if (Either.isLeft(live))
      return { mode: "reload", adminUrl: deps.adminUrl, reason: live.left.message, routes: [], pending: null }
    const found = yield* deps.store.read
    const original = Option.match(found, {
      onNone: () => live.right,
      onSome: (s) => (jsonEqual(live.right, s.current) ? s.original : live.right),
    })
    const byService = handlersByService(proxyHandlers(original), services)
    const runningHandlers = proxyHandlers(live.right)
    const routes = yield* Effect.forEach(services, (s) =>
      Effect.map(
        Effect.forEach(
          byService.get(s.service) ?? [],
          (h) => viewOf(runningHandlers.find((r) => describePath(r.path) === describePath(h.path)) ?? h, deps.resolve),
          { concurrency: "unbounded" },
        ),
        (handlers) => ({ service: s.service, handlers }),
      ),
    )
    const pending = Option.match(found, { onNone: () => null, onSome: (s) => pendingOf(s, live.right) })
    return { mode: "admin", adminUrl: deps.adminUrl, reason: null, routes, pending } satisfies ProxyView
  })

const viewOf = (h: ProxyHandler, resolve: ResolveName): Effect.Effect<RouteView> => {
  const u = h.upstreams
  const handler = describePath(h.path)
  switch (u._tag) {
    case "DynamicA":
      return Effect.map(resolve(u.name, u.resolvers, u.port), (addresses) => ({
        handler,
        source: `dynamic a ${u.name}:${u.port}`,
        addresses,
        refreshMillis: u.refreshMillis,
      }))
    case "Static":
      // A pin by name (tamanu's, issue #25): what each name resolves to now through the transport's resolvers,
      // the dial itself when it resolves to nothing (then no instance has it, and status says so).
      return Effect.map(
        Effect.forEach(
          u.dials,
          (dial) =>
            Option.match(isNameDial(dial) && (u.resolvers ?? []).length > 0 ? parseDial(dial) : Option.none(), {
              onNone: () => Effect.succeed<ReadonlyArray<string>>([dial]),
              onSome: (d) =>
                Effect.map(resolve(d.host, u.resolvers ?? [], d.port), (found) => (found.length > 0 ? found : [dial])),
            }),
          { concurrency: "unbounded" },
        ),
        (addresses) => ({ handler, source: "static", addresses: addresses.flat(), refreshMillis: null }),
      )
    case "Other":
      return Effect.succeed({ handler, source: u.what, addresses: [], refreshMillis: null })
  }
}
