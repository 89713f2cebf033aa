/**
 * A pin by name (issue #25): each endpoint of a service whose handler can
 * pin by name gets the name a pin may give it, its container's name, when
 * that resolves through the handler's own resolvers to exactly the
 * endpoint's address (`nameFits`, containerNames.ts). Thin I/O: one DNS
 * look-up per endpoint, and the container name found once per instance.
 */
import { Resolver } from "node:dns/promises"
import { Duration, Effect, Option, Ref } from "effect"
import { type Endpoint, namePinnable, type ProxyHandler, type ServiceEndpoints, urlAddress } from "./caddyConfig.js"
import { nameFits } from "./containerNames.js"

/** How a name is resolved through a handler's resolvers: `host:port` answers, empty when none. */
export type ResolveName = (
  name: string,
  resolvers: ReadonlyArray<string>,
  port: string,
) => Effect.Effect<ReadonlyArray<string>>

/**
 * What a `dynamic a` name resolves to now, through the handler's own
 * resolvers (read-only, bounded); empty when it does not answer. Caddy may
 * still route to an older answer for up to its `refresh`.
 */
export const resolveNow = (
  name: string,
  resolvers: ReadonlyArray<string>,
  port: string,
): Effect.Effect<ReadonlyArray<string>> =>
  Effect.tryPromise(() => {
    const resolver = new Resolver({ timeout: 1500, tries: 1 })
    if (resolvers.length > 0) resolver.setServers(resolvers.map((r) => r.replace(/^(udp|tcp)\//, "")))
    return resolver.resolve4(name)
  }).pipe(
    Effect.map((ips) => ips.map((ip) => `${ip}:${port}`)),
    Effect.timeout(Duration.seconds(3)),
    Effect.orElseSucceed((): ReadonlyArray<string> => []),
  )

/** `withNames(among, handlers)`: the endpoints, each with the DNS name a pin may give it (or as they are). */
export const makeNamePins = (options: {
  /** The container name of an instance (by display name); absent: pins name addresses. */
  readonly containerName?: (instance: string) => Effect.Effect<Option.Option<string>>
  readonly resolve: ResolveName
}): Effect.Effect<
  (
    among: ReadonlyArray<ServiceEndpoints>,
    handlers: ReadonlyMap<string, ReadonlyArray<ProxyHandler>>,
  ) => Effect.Effect<ReadonlyArray<ServiceEndpoints>>
> =>
  Effect.gen(function* () {
    const resolve = options.resolve
    /** Container names found so far, by instance: a unit's container keeps its name across restarts. */
    const knownNames = yield* Ref.make(new Map<string, string>())
    const containerName = (instance: string): Effect.Effect<Option.Option<string>> =>
      Effect.gen(function* () {
        const known = (yield* Ref.get(knownNames)).get(instance)
        if (known !== undefined) return Option.some(known)
        if (options.containerName === undefined) return Option.none()
        const found = yield* options.containerName(instance)
        if (Option.isSome(found)) yield* Ref.update(knownNames, (m) => new Map([...m, [instance, found.value]]))
        return found
      })

    /**
     * Each endpoint of a service whose handler can pin by name, with the
     * name a pin may give it: its container's name, when that resolves
     * through the handler's own resolvers to exactly the endpoint's address
     * (`nameFits`). Any other endpoint is left as it is (pinned by address).
     */
    return (
      among: ReadonlyArray<ServiceEndpoints>,
      handlers: ReadonlyMap<string, ReadonlyArray<ProxyHandler>>,
    ): Effect.Effect<ReadonlyArray<ServiceEndpoints>> =>
      Effect.forEach(
        among,
        (service) => {
          const pinnable = (handlers.get(service.service) ?? []).find(namePinnable)?.upstreams
          if (options.containerName === undefined || pinnable === undefined || pinnable._tag !== "DynamicA")
            return Effect.succeed(service)
          const named = (e: Endpoint): Effect.Effect<Endpoint> =>
            Effect.gen(function* () {
              const address = urlAddress(e.url)
              const name = yield* containerName(e.instance)
              if (Option.isNone(address) || Option.isNone(name)) return e
              const answers = yield* resolve(name.value, pinnable.resolvers, pinnable.port)
              return nameFits(`${address.value.host}:${pinnable.port}`, answers) ? { ...e, dnsName: name.value } : e
            })
          return Effect.map(Effect.forEach(service.endpoints, named, { concurrency: "unbounded" }), (endpoints) => ({
            service: service.service,
            endpoints,
          }))
        },
        { concurrency: "unbounded" },
      )
  })
