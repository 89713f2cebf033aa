/** `restart [NAMES...]` (spec §7): start missing → bulk background → roll critical → retire → check. */
import { Duration, type Effect } from "effect"
import { planRestart } from "../plan/planRestart.js"
import { mutate, type OperationError, type OperationResult, type OperationServices } from "./mutate.js"
import { defaults, type RestartOptions } from "./options.js"

export const restart = (options: RestartOptions): Effect.Effect<OperationResult, OperationError, OperationServices> =>
  mutate({
    command: "restart",
    options,
    probeHttp: options.probeHttp,
    dbWait: Duration.zero,
    probeTimeout: options.probeTimeout,
    cooldown: options.cooldown,
    settle: options.settle ?? defaults.settle,
    plan: (supervisor, groups, enabled) =>
      planRestart({
        supervisor,
        groups,
        enabled,
        probeHttp: options.probeHttp,
        checkUrl: options.checkUrl,
        settleMillis: Duration.toMillis(options.settle ?? defaults.settle),
      }),
  })
