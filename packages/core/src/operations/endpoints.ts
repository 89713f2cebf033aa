/**
 * Where the running instances of services behind Caddy serve now: what
 * Caddy must route them to. One address look-up per instance (podman, or
 * pm2's PORT), all at once.
 */
import { Effect, Option } from "effect"
import { displayInstance, type Instance } from "../model/instance.js"
import { ProbeTargets } from "../probe/ProbeTargets.js"
import type { ServiceEndpoints } from "../proxy/caddyConfig.js"

/** The endpoints of each service among `instances` (running ones with a known address), in `services` order. */
export const endpointsOf = (
  services: ReadonlyArray<string>,
  instances: ReadonlyArray<Instance>,
): Effect.Effect<ReadonlyArray<ServiceEndpoints>, never, ProbeTargets> =>
  Effect.gen(function* () {
    const targets = yield* ProbeTargets
    const running = instances.filter((i) => i.running && services.includes(i.name))
    const found = yield* Effect.forEach(
      running,
      (instance) =>
        Effect.map(targets.urlFor(instance), (url) =>
          Option.map(url, (u) => ({ service: instance.name, instance: displayInstance(instance), url: u })),
        ),
      { concurrency: "unbounded" },
    )
    const known = found.flatMap(Option.toArray)
    return services.map((service) => ({
      service,
      endpoints: known.filter((e) => e.service === service).map(({ instance, url }) => ({ instance, url })),
    }))
  })
