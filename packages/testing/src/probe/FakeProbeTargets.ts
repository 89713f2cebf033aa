/**
 * Probe URLs for tests: a static map by display name, the pm2 `PORT` of the
 * fake pm2's processes, and `FakeReadiness`, which wires targets and a tied
 * prober for a set of instances in one layer.
 */

import { displayInstance, type InstanceRef, type Prober, ProbeTargets } from "@tamanu-lifecycle/core"
import { Duration, Effect, Layer, Option } from "effect"
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

/** The fake URL of an instance: `http://<display name>.test/`. */
export const fakeUrl = (ref: InstanceRef): string => `http://${displayInstance(ref)}.test/`

/**
 * ProbeTargets + a Prober tied to the fake supervisor: each instance answers
 * `readyAfter` after it last became running. Provide a FakeSystemd/FakePm2 layer.
 */
export const FakeReadiness = {
  layer: (
    specs: ReadonlyArray<ReadinessSpec>,
  ): Layer.Layer<ProbeTargets | Prober | FakeProberControl, never, FakeSupervisorControl> => {
    const probeable = specs.filter((s) => s.probeable !== false)
    const targets = FakeProbeTargets.layer(
      Object.fromEntries(probeable.map((s) => [displayInstance(s.instance), fakeUrl(s.instance)])),
    )
    const prober = FakeProber.tied(
      Object.fromEntries(
        probeable.map((s) => [
          fakeUrl(s.instance),
          {
            instance: s.instance,
            readyAfter: s.readyAfter ?? Duration.zero,
            ...(s.whileStarting === undefined ? {} : { whileStarting: s.whileStarting }),
          },
        ]),
      ),
    )
    return Layer.merge(targets, prober)
  },
}
