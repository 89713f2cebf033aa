/**
 * Where the running instances of services behind Caddy serve now: what
 * Caddy must route them to. One batched address look-up for all of them
 * (podman: one `podman ps` and one `podman inspect`, whatever their number;
 * pm2: its PORTs). And which of them answer, for a restore: the `Answering`
 * the proxy asks before Caddy's own config comes back (`answeringFor`).
 */
import { type Duration, Effect, Either, Option } from "effect"
import { displayInstance, type Instance } from "../model/instance.js"
import { locate } from "../probe/locate.js"
import { Prober, type ProberShape } from "../probe/Prober.js"
import { lookupOnce, ProbeTargets, type ProbeTargetsShape, urlsOf } from "../probe/ProbeTargets.js"
import { Supervisor, type SupervisorShape } from "../supervisor/Supervisor.js"
import type { Endpoint, ServiceEndpoints } from "./caddyConfig.js"
import type { Answering } from "./ReverseProxy.js"

/** The endpoints of each service among `instances` (running ones with a known address), in `services` order. */
export const endpointsOf = (
  services: ReadonlyArray<string>,
  instances: ReadonlyArray<Instance>,
): Effect.Effect<ReadonlyArray<ServiceEndpoints>, never, ProbeTargets> =>
  Effect.gen(function* () {
    const targets = yield* ProbeTargets
    const running = instances.filter((i) => i.running && services.includes(i.name))
    const urls = yield* urlsOf(targets, running)
    return services.map((service) => ({
      service,
      endpoints: running
        .filter((i) => i.name === service)
        .flatMap((i) => {
          const instance = displayInstance(i)
          return Option.toArray(Option.map(Option.fromNullable(urls.get(instance)), (url) => ({ instance, url })))
        }),
    }))
  })

/** `--no-probe-http`: no instance is asked; every one counts as answering. */
export const trustAll: Answering = () => Effect.succeed([])

/**
 * For a restore (§9.2): which running instances of these services answer,
 * all probed at once, each given `budget` to answer (an instance still
 * booting, left by a run that stopped, is not taken for a silent one). The
 * addresses come from one batched look-up; an instance it did not find is
 * looked up again within the same budget (its container may appear late),
 * and one never found counts as silent: Caddy's own `dynamic a` upstreams
 * route to every instance on the alias, so its own config comes back only
 * when none is silent.
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
      const running = instances.filter((i) => i.running && services.includes(i.name))
      const urls = yield* urlsOf(targets, running)
      const probed = yield* Effect.forEach(
        running,
        (i) => {
          const instance = displayInstance(i)
          const known = urls.get(instance)
          const lookup = known === undefined ? lookupOnce(targets, i) : Effect.succeed(known)
          return locate(lookup, { budget, probe: true }).pipe(
            Effect.map((found): Endpoint => ({ instance, url: found.url })),
            Effect.mapError((e): Endpoint => ({ instance, url: e._tag === "ProbeFailed" ? e.url : "" })),
            Effect.either,
            Effect.map((r) => [i.name, r] as const),
            Effect.provideService(Prober, prober),
          )
        },
        { concurrency: "unbounded" },
      )
      return services.map((service) => {
        const own = probed.filter(([name]) => name === service).map(([, r]) => r)
        return {
          service,
          answering: own.flatMap((r) => (Either.isRight(r) ? [r.right] : [])),
          silent: own.flatMap((r) => (Either.isLeft(r) ? [r.left] : [])),
        }
      })
    })

/**
 * What a restore asks before Caddy's own config comes back: every running
 * instance probed within `budget` (`answeringWithin`), or, with
 * `--no-probe-http`, none (`trustAll`).
 */
export const answeringFor = (
  probe: boolean,
  budget: Duration.Duration,
): Effect.Effect<Answering, never, Supervisor | ProbeTargets | Prober> =>
  Effect.map(Effect.all([Supervisor, ProbeTargets, Prober]), ([supervisor, targets, prober]) =>
    probe ? answeringWithin(supervisor, targets, prober, budget) : trustAll,
  )
