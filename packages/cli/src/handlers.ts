/**
 * The CLI edge: turn parsed options into an operation over the live layers,
 * render the result for a person (or as JSON), and set the exit status.
 * Everything that decides what to do lives in core.
 */

import {
  defaultLockFile,
  type LiveConfig,
  LiveLayer,
  liveConfigFromEnv,
  type MutateOptions,
  NeedsRoot,
  Privileges,
  Progress,
  restart,
  start,
  status,
  stop,
} from "@tamanu-lifecycle/core"
import { type Duration, Effect, Layer, Option } from "effect"
import { colorEnabled, palette } from "./render/color.js"
import { renderError } from "./render/errors.js"
import { CliLoggerLive } from "./render/logger.js"
import { ProgressRendererLive } from "./render/progress.js"
import {
  emptyRecord,
  encodeOperationReport,
  failureReport,
  type OperationReportInput,
  operationReport,
  type Recorded,
  recordEvent,
} from "./render/report.js"
import { renderStatusTable } from "./render/statusTable.js"

interface HostFlags {
  readonly root: Option.Option<string>
  readonly supervisor: Option.Option<"systemd" | "pm2">
  readonly systemdScope: Option.Option<"system" | "user">
  readonly kind: Option.Option<"central" | "facility">
  readonly caddyAdmin: Option.Option<string>
  readonly json: boolean
}

export const liveConfig = (flags: HostFlags): LiveConfig => ({
  supervisor: Option.getOrElse(flags.supervisor, () => (process.platform === "win32" ? "pm2" : "systemd")),
  systemdScope: Option.getOrElse(flags.systemdScope, () => "system" as const),
  root: Option.getOrNull(flags.root),
  kind: Option.getOrNull(flags.kind),
  ...liveConfigFromEnv(process.env),
  caddyAdmin: Option.getOrNull(flags.caddyAdmin),
})

const out = (text: string) => Effect.sync(() => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`))
const err = (text: string) => Effect.sync(() => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`))
const setExit = (code: number) =>
  Effect.sync(() => {
    process.exitCode = code
  })

/** Progress lines go to stderr: stdout is reserved for the result (and for JSON). */
const progressLayer = (json: boolean): Layer.Layer<Progress> =>
  ProgressRendererLive({
    stream: process.stderr,
    color: colorEnabled(process.stderr, process.env),
    spinner: !json && process.stderr.isTTY === true,
  })

/** The progress layer, also keeping what the events said for a failure's `--json` report. */
const recordingProgressLayer = (json: boolean, recorded: { current: Recorded }): Layer.Layer<Progress> =>
  Layer.effect(
    Progress,
    Effect.map(Progress, (renderer) => ({
      emit: (event) =>
        Effect.zipRight(
          Effect.sync(() => {
            recorded.current = recordEvent(recorded.current, event)
          }),
          renderer.emit(event),
        ),
    })),
  ).pipe(Layer.provide(progressLayer(json)))

/** Render a failure as one paragraph (or JSON) and exit 1 or 2. */
const fail = (command: string, json: boolean, error: unknown, began: number, recorded: Recorded = emptyRecord) =>
  Effect.gen(function* () {
    const { message, exitCode } = renderError(error)
    if (json && command !== "status") {
      const { planText, warnings, execution, settled, lastLines } = recorded
      const extra = { elapsedMillis: Date.now() - began, warnings, execution, settled, lastLines }
      yield* out(
        encodeOperationReport(failureReport(command, error, planText === undefined ? extra : { ...extra, planText })),
      )
    }
    yield* err(`tamanu ${command}: ${message}`)
    yield* setExit(exitCode)
  })

export const runStatus = (flags: HostFlags & { readonly names: ReadonlyArray<string>; readonly all: boolean }) => {
  const began = Date.now()
  return Effect.gen(function* () {
    const result = yield* status({ names: flags.names, all: flags.all })
    if (flags.json) {
      yield* out(JSON.stringify(result.json, null, 2))
    } else {
      yield* out(renderStatusTable(result, palette(colorEnabled(process.stdout, process.env))))
    }
    yield* setExit(result.failed ? 1 : 0)
  }).pipe(
    Effect.provide(Layer.merge(LiveLayer(liveConfig(flags)), progressLayer(flags.json))),
    Effect.catchAll((error) => fail("status", flags.json, error, began)),
    Effect.provide(CliLoggerLive),
  )
}

/**
 * Mutating commands: when the plan needs root and we are not, re-run the
 * same command line under sudo and exit with its status (§10).
 */
const mutate = <R>(command: string, flags: HostFlags, run: Effect.Effect<OperationReportInput, unknown, R>) => {
  const began = Date.now()
  const recorded = { current: emptyRecord }
  return run.pipe(
    Effect.flatMap((report) =>
      Effect.gen(function* () {
        if (flags.json) yield* out(encodeOperationReport(operationReport(report)))
        yield* setExit(report.ok ? 0 : 1)
      }),
    ),
    Effect.catchIf(
      (error): error is NeedsRoot => error instanceof NeedsRoot,
      () =>
        Effect.gen(function* () {
          const privileges = yield* Privileges
          const code = yield* privileges.reexecUnderSudo(process.argv)
          yield* setExit(code)
        }),
    ),
    Effect.provide(Layer.merge(LiveLayer(liveConfig(flags)), recordingProgressLayer(flags.json, recorded))),
    Effect.catchAll((error) => fail(command, flags.json, error, began, recorded.current)),
    Effect.provide(CliLoggerLive),
  )
}

type MutateFlags = HostFlags & {
  readonly names: ReadonlyArray<string>
  readonly ignoreUnmatched: boolean
  readonly dryRun: boolean
  readonly waitLimit: Duration.Duration
}

const common = (flags: MutateFlags): MutateOptions => {
  const config = liveConfig(flags)
  return {
    names: flags.names,
    ignoreUnmatched: flags.ignoreUnmatched,
    dryRun: flags.dryRun,
    waitLimit: flags.waitLimit,
    lockFile: defaultLockFile(config.supervisor, config.systemdScope),
  }
}

export const runStart = (
  flags: MutateFlags & {
    readonly upOnly: boolean
    readonly probeHttp: boolean
    readonly probeTimeout: Duration.Duration
    readonly dbWait: Duration.Duration
    readonly logs: boolean
    readonly settle: Duration.Duration
  },
) =>
  mutate(
    "start",
    flags,
    start({
      ...common(flags),
      upOnly: flags.upOnly,
      probeHttp: flags.probeHttp,
      probeTimeout: flags.probeTimeout,
      dbWait: flags.dbWait,
      logs: flags.logs,
      settle: flags.settle,
    }),
  )

export const runStop = (flags: MutateFlags) => mutate("stop", flags, stop(common(flags)))

export const runRestart = (
  flags: MutateFlags & {
    readonly probeHttp: boolean
    readonly probeTimeout: Duration.Duration
    readonly cooldown: Duration.Duration
    readonly checkUrl: string | null
    readonly settle: Duration.Duration
  },
) =>
  mutate(
    "restart",
    flags,
    restart({
      ...common(flags),
      probeHttp: flags.probeHttp,
      probeTimeout: flags.probeTimeout,
      cooldown: flags.cooldown,
      checkUrl: flags.checkUrl,
      settle: flags.settle,
    }),
  )
