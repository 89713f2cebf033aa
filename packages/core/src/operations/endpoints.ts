/**
 * Where the running instances of services behind Caddy serve now: what
 * Caddy must route them to. One address look-up per instance (podman, or
 * pm2's PORT), all at once.
 */
import { type Duration, Effect, Option } from "effect"
import { displayInstance, type Instance } from "../model/instance.js"
import { Prober, type ProberShape } from "../probe/Prober.js"
import { ProbeTargets, type ProbeTargetsShape } from "../probe/ProbeTargets.js"
import { waitReady } from "../probe/readiness.js"
import type { ServiceEndpoints } from "../proxy/caddyConfig.js"
import type { Answering } from "../proxy/ReverseProxy.js"
import type { SupervisorShape } from "../supervisor/Supervisor.js"

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

/** `--no-probe-http`: no instance is asked; every one counts as answering. */
export const trustAll: Answering = () => Effect.succeed([])

/**
 * For a restore (§9.2): which running instances of these services answer,
 * all probed at once, each given `budget` to answer (an instance still
 * booting, left by a run that stopped, is not taken for a silent one).
 * Caddy's own `dynamic a` upstreams route to every instance on the alias, so
 * its own config comes back only when none is silent.
 */
export const answeringWithin =
  (
    supervisor: SupervisorShape,
    targets: ProbeTargetsShape,
    prober: ProberShape,
    budget: Duration.Duration,
  ): Answering =>
  (services) =>
    Effect.gen(function* () {
      const instances = yield* supervisor.list.pipe(Effect.orElseSucceed((): ReadonlyArray<Instance> => []))
      const found = yield* endpointsOf(services, instances).pipe(Effect.provideService(ProbeTargets, targets))
      return yield* Effect.forEach(found, ({ service, endpoints }) =>
        Effect.map(
          Effect.forEach(
            endpoints,
            (e) =>
              Effect.map(
                Effect.either(waitReady(e.url, { budget }).pipe(Effect.provideService(Prober, prober))),
                (r) => [e, r._tag] as const,
              ),
            { concurrency: "unbounded" },
          ),
          (probed) => ({
            service,
            answering: probed.filter(([, r]) => r === "Right").map(([e]) => e),
            silent: probed.filter(([, r]) => r === "Left").map(([e]) => e),
          }),
        ),
      )
    })
