/** `stop [NAMES...]` (spec §6): every running instance of the chosen Up services, one batched call. */
import { Duration, type Effect } from "effect"
import { planStop } from "../plan/planStop.js"
import { mutate, type OperationError, type OperationResult, type OperationServices } from "./mutate.js"
import { defaults, type StopOptions } from "./options.js"

export const stop = (options: StopOptions): Effect.Effect<OperationResult, OperationError, OperationServices> =>
  mutate({
    command: "stop",
    options,
    probeHttp: true,
    dbWait: Duration.zero,
    probeTimeout: defaults.startProbeTimeout,
    cooldown: defaults.cooldown,
    plan: (supervisor, groups) => planStop({ supervisor, groups }),
  })
