/**
 * Where to probe an instance for readiness (spec §8): the podman container's
 * address on systemd, the process's PORT on pm2. `None` means no probe URL
 * could be built; the caller warns and falls back to the cooldown.
 */
import { Context, type Effect, type Option } from "effect"
import type { InstanceRef } from "../model/instance.js"

export interface ProbeTargetsShape {
  readonly urlFor: (ref: InstanceRef) => Effect.Effect<Option.Option<string>>
  /**
   * Why this process cannot see where any instance is, when it cannot: the
   * system manager's podman containers are root's, and rootless podman in a
   * run that is not root lists only its own (none). Absent when it can.
   * `status` then shows Caddy's routes without matching them to instances,
   * rather than flag every address as one no running instance has.
   */
  readonly unavailable?: string
}

export class ProbeTargets extends Context.Tag("@tamanu-lifecycle/core/ProbeTargets")<
  ProbeTargets,
  ProbeTargetsShape
>() {}
