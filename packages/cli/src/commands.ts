/**
 * The `tamanu` command tree. Exported so the packaged Tamanu CLI (or any
 * @effect/cli program) can mount `status`, `start`, `stop` and `restart` as
 * subcommands of its own: `Command.withSubcommands([...lifecycleCommands])`.
 */
import { Command } from "@effect/cli"
import { runRestart, runStart, runStatus, runStop } from "./handlers.js"
import {
  all,
  checkUrl,
  cooldown,
  dbWait,
  dryRun,
  durationOption,
  hostOptions,
  ignoreUnmatched,
  logs,
  names,
  probeHttp,
  settle,
  upOnly,
  waitLimit,
} from "./options.js"

export const statusCommand = Command.make("status", { ...hostOptions, names, all }, runStatus).pipe(
  Command.withDescription(
    "Show each expected service against what the supervisor runs. Read only: no sudo, no probes. Exit 1 when anything is short, down or forbidden.",
  ),
)

export const startCommand = Command.make(
  "start",
  {
    ...hostOptions,
    names,
    ignoreUnmatched,
    dryRun,
    upOnly,
    probeHttp,
    probeTimeout: durationOption("probe-timeout", "1m", "Overall budget for readiness probes after starting"),
    dbWait,
    logs,
    settle,
    waitLimit,
  },
  runStart,
).pipe(
  Command.withDescription(
    "Make the host match its expectations: stop and disable what must not run, start what is missing (one batched call), probe it (or, without a probe, watch it stay running through --settle), and give Caddy each started instance once it answers. Idempotent.",
  ),
)

export const stopCommand = Command.make(
  "stop",
  { ...hostOptions, names, ignoreUnmatched, dryRun, waitLimit },
  runStop,
).pipe(
  Command.withDescription(
    "Stop every running instance of the chosen services in one batched call. Caddy is not touched.",
  ),
)

export const restartCommand = Command.make(
  "restart",
  {
    ...hostOptions,
    names,
    ignoreUnmatched,
    dryRun,
    probeHttp,
    probeTimeout: durationOption("probe-timeout", "5m", "Readiness budget for each instance during a roll"),
    cooldown,
    settle,
    checkUrl,
    waitLimit,
  },
  runRestart,
).pipe(
  Command.withDescription(
    "Zero-downtime restart: start what is missing, restart background services in bulk, roll critical services one instance at a time (Caddy routed away from each before it goes down, each probed before the next), retire leftovers, then put Caddy's own config back.",
  ),
)

/** The four lifecycle commands, for mounting into another @effect/cli program. */
export const lifecycleCommands = [statusCommand, startCommand, stopCommand, restartCommand] as const

export const tamanuCommand = Command.make("tamanu").pipe(
  Command.withDescription("Look at and drive the processes of a Tamanu server."),
  Command.withSubcommands(lifecycleCommands),
)
