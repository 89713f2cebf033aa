/**
 * Probe URLs for tests: a static map by display name, the pm2 `PORT` of the
 * fake pm2's processes, and `FakeReadiness`, which wires targets and a tied
 * prober for a set of instances in one layer.
 */

import { displayInstance, type InstanceRef, type Prober, ProbeTargets } from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Layer, Option, Ref } from "effect"
import { FakeSupervisorControl } from "../supervisor/FakeSupervisor.js"
import { FakeProber, type FakeProberControl, type ProbeOutcome } from "./FakeProber.js"

export const FakeProbeTargets = {
  /** URL by display name (`tamanu-facility-api@1`, `tamanu-api#0`); others have none. */
  layer: (urls: Readonly<Record<string, string>>): Layer.Layer<ProbeTargets> =>
    Layer.succeed(ProbeTargets, {
      urlFor: (ref) => Effect.succeed(Option.fromNullable(urls[displayInstance(ref)])),
    }),
  /** `http://127.0.0.1:<PORT>/` from the fake pm2's process environment, as the pm2 adapter does (§8). */
  pm2Ports: Layer.effect(
    ProbeTargets,
    Effect.map(FakeSupervisorControl, (control) => ({
      urlFor: (ref: InstanceRef) =>
        Effect.map(control.instances, (instances) =>
          Option.fromNullable(
            instances.find((i) => i.name === ref.name && ref.pmId !== null && i.pmId === ref.pmId)?.port,
          ).pipe(Option.map((port) => `http://127.0.0.1:${port}/`)),
        ),
    })),
  ),
}

export interface ReadinessSpec {
  readonly instance: InstanceRef
  /** From becoming running until it answers (default 0). */
  readonly readyAfter?: Duration.DurationInput
  readonly whileStarting?: ProbeOutcome
  /** false: no probe URL can be built for it (the operations fall back to the cooldown). */
  readonly probeable?: boolean
}

const slug = (ref: InstanceRef): string => displayInstance(ref).replace(/[@#]/g, "-")

/** The fake URL of an instance: `http://<name>-<suffix or pm_id>.test:3000/`. */
export const fakeUrl = (ref: InstanceRef): string => `http://${slug(ref)}.test:3000/`

/** Its address after its `generation`th start, when addresses change at every start (podman). */
export const fakeUrlAt = (ref: InstanceRef, generation: number): string =>
  `http://${slug(ref)}.g${generation}.test:3000/`

export interface FakeReadinessOptions {
  /**
   * `fixed` (default): an instance keeps `fakeUrl` for ever (pm2's `PORT`).
   * `per-start`: a new address at every start (`fakeUrlAt`), none while it is
   * down, and an old one answers nothing: podman's IPAM on a Tamanu Linux host.
   */
  readonly addresses?: "fixed" | "per-start"
}

/**
 * ProbeTargets + a Prober tied to the fake supervisor: each instance answers
 * `readyAfter` after it last became running. Provide a FakeSystemd/FakePm2 layer.
 */
export const FakeReadiness = {
  layer: (
    specs: ReadonlyArray<ReadinessSpec>,
    options: FakeReadinessOptions = {},
  ): Layer.Layer<ProbeTargets | Prober | FakeProberControl, never, FakeSupervisorControl> => {
    const probeable = specs.filter((s) => s.probeable !== false)
    const scripts = Object.fromEntries(
      probeable.map((s) => [
        fakeUrl(s.instance),
        {
          instance: s.instance,
          readyAfter: s.readyAfter ?? Duration.zero,
          ...(s.whileStarting === undefined ? {} : { whileStarting: s.whileStarting }),
        },
      ]),
    )
    if (options.addresses !== "per-start") {
      const targets = FakeProbeTargets.layer(
        Object.fromEntries(probeable.map((s) => [displayInstance(s.instance), fakeUrl(s.instance)])),
      )
      return Layer.merge(targets, FakeProber.tied(scripts))
    }
    const known = new Set(probeable.map((s) => displayInstance(s.instance)))
    return Layer.unwrapEffect(
      Effect.gen(function* () {
        const control = yield* FakeSupervisorControl
        const generations = yield* Ref.make(new Map<string, { readonly since: number; readonly generation: number }>())
        const currentUrl = (ref: InstanceRef): Effect.Effect<Option.Option<string>> =>
          Effect.gen(function* () {
            const name = displayInstance(ref)
            if (!known.has(name)) return Option.none()
            const since = yield* control.runningSince(ref)
            if (since === null) return Option.none()
            const generation = yield* Ref.modify(generations, (all) => {
              const seen = all.get(name)
              if (seen !== undefined && seen.since === since) return [seen.generation, all] as const
              const next = (seen?.generation ?? 0) + 1
              return [next, new Map(all).set(name, { since, generation: next })] as const
            })
            return Option.some(fakeUrlAt(ref, generation))
          })
        return Layer.merge(Layer.succeed(ProbeTargets, { urlFor: currentUrl }), FakeProber.tied(scripts, currentUrl))
      }),
    )
  },
}
