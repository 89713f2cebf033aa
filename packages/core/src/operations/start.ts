/** `start [NAMES...]` (spec §5): make the host match its expectations, idempotently. */
import { Duration, type Effect } from "effect"
import { planStart } from "../plan/planStart.js"
import { mutate, type OperationError, type OperationResult, type OperationServices, touchedRefs } from "./mutate.js"
import { defaults, type StartOptions } from "./options.js"

export const start = (options: StartOptions): Effect.Effect<OperationResult, OperationError, OperationServices> =>
  mutate({
    command: "start",
    options,
    probeHttp: options.probeHttp,
    // Boot-time use: start waits for the database before deciding DB-gated expectations (§5.7).
    dbWait: options.dbWait,
    probeTimeout: options.probeTimeout,
    cooldown: defaults.cooldown,
    settle: options.settle ?? defaults.settle,
    plan: (supervisor, groups, enabled) =>
      planStart({
        supervisor,
        groups,
        enabled,
        upOnly: options.upOnly,
        probeHttp: options.probeHttp,
        settleMillis: Duration.toMillis(options.settle ?? defaults.settle),
      }),
    ...(options.logs ? { followLogs: touchedRefs } : {}),
  })
