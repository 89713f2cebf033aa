/**
 * The CLI edge: turn parsed options into an operation over the live layers,
 * render the result for a person (or as JSON), and set the exit status.
 * Everything that decides what to do lives in core.
 */

import type { ValidationError } from "@effect/cli"
import {
  type CoreFailure,
  currentInvocation,
  currentSudoCaller,
  defaultLockFile,
  detachedScheduler,
  type LiveConfig,
  LiveLayer,
  lockWatchMillis,
  type MutateOptions,
  NeedsRoot,
  nextRestoreTry,
  ownTamanuArgv,
  Privileges,
  Progress,
  restart,
  restoreCaddy,
  scheduledRestoreEnv,
  start,
  status,
  stop,
  systemdScheduler,
  trustedPath,
} from "@tamanu-lifecycle/core/internal"
import { Array as Arr, Duration, Effect, Either, Layer, Option, Schedule } from "effect"
import { usageError } from "./options.js"
import { type ColorChoice, colorEnabled, currentColorChoice, palette } from "./render/color.js"
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
import {
  type HostSettings,
  type ResolvedSettings,
  refusedSettings,
  rerunInvocation,
  resolveSettings,
  SETTING_KEYS,
  type SettingFlags,
} from "./settings.js"

type HostFlags = SettingFlags & {
  readonly color: Option.Option<ColorChoice>
  readonly json: boolean
}

/** The live config of a run: its settings, with the defaults (§10: the system manager, else pm2 on Windows). */
export const liveConfig = (values: HostSettings, sudoCaller: number | null): LiveConfig => ({
  supervisor: values.supervisor ?? (process.platform === "win32" ? "pm2" : "systemd"),
  systemdScope: values.systemdScope ?? "system",
  root: values.root,
  kind: values.kind,
  databaseUrl: values.databaseUrl,
  pm2Home: values.pm2Home,
  caddyAdmin: values.caddyAdmin,
  caddyfile: values.caddyfile,
  nodeEnv: values.nodeEnv,
  sudoCaller,
})

/** This run's settings and the operator a run under sudo acts for. */
interface Run {
  readonly settings: ResolvedSettings
  readonly config: LiveConfig
}

/**
 * Flags, then the environment; then, for a run as root on an operator's
 * behalf, the sudo policy (docs/security.md): a refused setting, or a
 * Caddyfile the operator could change, is a usage error before anything is
 * read or changed. The root and the config files are checked where they are
 * read (TamanuHostLive).
 */
const runOf = (flags: HostFlags) =>
  Effect.gen(function* () {
    const settings = yield* Either.match(resolveSettings(flags, process.env), {
      onLeft: (message) => Effect.fail(usageError(message)),
      onRight: Effect.succeed,
    })
    const caller = currentSudoCaller()
    if (caller === null) return { settings, config: liveConfig(settings.values, null) } satisfies Run
    const refused = refusedSettings(settings)[0]
    if (refused !== undefined) return yield* Effect.fail(refused)
    const caddyfile =
      settings.values.caddyfile === null
        ? null
        : yield* Either.match(trustedPath("--caddyfile", settings.values.caddyfile, caller, "public file"), {
            onLeft: Effect.fail,
            onRight: Effect.succeed,
          })
    return { settings, config: liveConfig({ ...settings.values, caddyfile }, caller) } satisfies Run
  })

const colorChoice = (flags: HostFlags): ColorChoice => Option.getOrElse(flags.color, () => "auto" as const)

const out = (text: string) => Effect.sync(() => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`))
const err = (text: string) => Effect.sync(() => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`))
const setExit = (code: number) =>
  Effect.sync(() => {
    process.exitCode = code
  })

/** Progress lines go to stderr: stdout is reserved for the result (and for JSON). */
const progressLayer = (json: boolean, color: ColorChoice): Layer.Layer<Progress> =>
  ProgressRendererLive({
    stream: process.stderr,
    color: colorEnabled(process.stderr, process.env, color),
    spinner: !json && process.stderr.isTTY === true,
  })

/** The progress layer, also keeping what the events said for a failure's `--json` report. */
const recordingProgressLayer = (
  json: boolean,
  color: ColorChoice,
  recorded: { current: Recorded },
): Layer.Layer<Progress> =>
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
  ).pipe(Layer.provide(progressLayer(json, color)))

/**
 * Render a failure as one paragraph (or JSON) and exit 1 or 2. Typed: every
 * error a command's program can fail with is core's (rendered exhaustively)
 * or a usage error, so nothing typed reaches the operator as "a bug".
 */
const fail = (
  command: string,
  json: boolean,
  error: CoreFailure | ValidationError.ValidationError,
  began: number,
  recorded: Recorded = emptyRecord,
) =>
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
  const color = colorChoice(flags)
  return Effect.gen(function* () {
    const run = yield* runOf(flags)
    const result = yield* status({ names: flags.names, all: flags.all }).pipe(Effect.provide(LiveLayer(run.config)))
    if (flags.json) {
      yield* out(JSON.stringify(result.json, null, 2))
    } else {
      yield* out(renderStatusTable(result, palette(colorEnabled(process.stdout, process.env, color))))
    }
    yield* setExit(result.failed ? 1 : 0)
  }).pipe(
    Effect.provide(progressLayer(flags.json, color)),
    Effect.catchAll((error) => fail("status", flags.json, error, began)),
    Effect.provide(CliLoggerLive),
    Effect.locally(currentColorChoice, color),
  )
}

/**
 * Mutating commands: when the plan needs root and we are not, re-run the
 * same command line under sudo and exit with its status (§10). The re-run
 * is told the settings that came from the environment as options
 * (settings.ts), and is never asked for when it would refuse them.
 */
const mutate = <R>(
  command: string,
  flags: HostFlags,
  operation: (config: LiveConfig) => Effect.Effect<OperationReportInput, CoreFailure, R>,
) => {
  const began = Date.now()
  const recorded = { current: emptyRecord }
  const color = colorChoice(flags)
  return Effect.gen(function* () {
    const run = yield* runOf(flags)
    yield* operation(run.config).pipe(
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
            // --color given: it is among the arguments already; else this run's decision for stderr,
            // where everything the re-run shows goes.
            const decided = Option.isSome(flags.color) ? null : colorEnabled(process.stderr, process.env, "auto")
            const rerun = yield* Either.match(rerunInvocation(currentInvocation(), run.settings, decided), {
              onLeft: (refused) => Effect.fail(Arr.headNonEmpty(refused)),
              onRight: Effect.succeed,
            })
            const privileges = yield* Privileges
            yield* setExit(yield* privileges.reexecUnderSudo(rerun))
          }),
      ),
      // Caddy pinned by this run is put back by tamanu itself even if the run never finishes (issue #25).
      Effect.provide(LiveLayer({ ...run.config, scheduleRestoreWith: ownTamanuArgv() })),
    )
  }).pipe(
    Effect.provide(recordingProgressLayer(flags.json, color, recorded)),
    Effect.catchAll((error) => fail(command, flags.json, error, began, recorded.current)),
    Effect.provide(CliLoggerLive),
    Effect.locally(currentColorChoice, color),
  )
}

type MutateFlags = HostFlags & {
  readonly names: ReadonlyArray<string>
  readonly ignoreUnmatched: boolean
  readonly dryRun: boolean
  readonly waitLimit: Duration.Duration
}

const common = (flags: MutateFlags, config: LiveConfig): MutateOptions => ({
  names: flags.names,
  ignoreUnmatched: flags.ignoreUnmatched,
  dryRun: flags.dryRun,
  waitLimit: flags.waitLimit,
  lockFile: defaultLockFile(
    config.supervisor,
    config.systemdScope,
    config.pm2Home === null ? process.env : { ...process.env, PM2_HOME: config.pm2Home },
  ),
})

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
  mutate("start", flags, (config) =>
    start({
      ...common(flags, config),
      upOnly: flags.upOnly,
      probeHttp: flags.probeHttp,
      probeTimeout: flags.probeTimeout,
      dbWait: flags.dbWait,
      logs: flags.logs,
      settle: flags.settle,
    }),
  )

export const runStop = (flags: MutateFlags) => mutate("stop", flags, (config) => stop(common(flags, config)))

export const runRestart = (
  flags: MutateFlags & {
    readonly probeHttp: boolean
    readonly probeTimeout: Duration.Duration
    readonly cooldown: Duration.Duration
    readonly checkUrl: string | null
    readonly settle: Duration.Duration
  },
) =>
  mutate("restart", flags, (config) =>
    restart({
      ...common(flags, config),
      probeHttp: flags.probeHttp,
      probeTimeout: flags.probeTimeout,
      cooldown: flags.cooldown,
      checkUrl: flags.checkUrl,
      settle: flags.settle,
    }),
  )

/**
 * `tamanu restore-caddy [--at=EPOCH_MS]`, internal (not in the command tree,
 * not in the help): what a scheduled restore runs (issue #25). Its settings
 * come from the environment the schedule gave it. It puts Caddy's own
 * config back if a run left it pinned and it is due, under the host lock,
 * and schedules itself again when it cannot yet (not due, the lock held, an
 * instance not answering, Caddy unreachable). `--at`: wait until then first
 * (the detached process of a host without systemd).
 */
export const runRestoreCaddy = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const at = args.flatMap((a) => (a.startsWith("--at=") ? [Number(a.slice(5))] : []))[0]
    if (at !== undefined && Number.isFinite(at) && at > Date.now())
      yield* Effect.sleep(Duration.millis(at - Date.now()))
    const flags = Object.fromEntries(SETTING_KEYS.map((k) => [k, Option.none()])) as unknown as SettingFlags
    const settings = yield* Either.match(resolveSettings(flags, process.env), {
      onLeft: (message) => Effect.fail(usageError(message)),
      onRight: Effect.succeed,
    })
    const config = liveConfig(settings.values, null)
    const target = { tamanu: ownTamanuArgv(), env: scheduledRestoreEnv(config, process.env) }
    const scheduler =
      config.supervisor === "systemd" && process.platform !== "win32"
        ? systemdScheduler(config.systemdScope, target)
        : detachedScheduler(target)
    const lockFile = defaultLockFile(
      config.supervisor,
      config.systemdScope,
      config.pm2Home === null ? process.env : { ...process.env, PM2_HOME: config.pm2Home },
    )
    // The run that holds the lock may be killed (SIGKILL leaves its lock to a dead pid, taken over at once): the lock
    // is looked at again every 250 ms for up to `retryMillis` before the next try is scheduled, so Caddy's own
    // config (or, before the due time, the refreshed pins) follows a killed run within a second, not up to 15 s on.
    const outcome = yield* restoreCaddy({ lockFile, probeTimeout: Duration.seconds(10) }).pipe(
      Effect.filterOrFail(
        (o) => o._tag !== "LockHeld",
        (o) => o,
      ),
      Effect.retry(
        Schedule.intersect(Schedule.spaced("250 millis"), Schedule.recurUpTo(Duration.millis(lockWatchMillis))),
      ),
      Effect.catchAll((o) => Effect.succeed(o)),
      Effect.provide(LiveLayer({ ...config, scheduleRestoreWith: target.tamanu })),
    )
    const next = nextRestoreTry(outcome, Date.now())
    const line = outcome._tag === "LockHeld" ? `the host lock is ${outcome.why}` : outcome._tag
    if (next === null) {
      yield* err(`tamanu restore-caddy: ${line}`)
      return
    }
    const problems = yield* scheduler.schedule(next)
    yield* err(
      `tamanu restore-caddy: ${line}; ${problems.length === 0 ? `tries again at ${new Date(next).toISOString()}` : `could not schedule the next try: ${problems.join("; ")}`}`,
    )
    if (problems.length > 0) yield* setExit(1)
  }).pipe(
    Effect.provide(progressLayer(false, "never")),
    Effect.catchAll((error) => fail("restore-caddy", false, error, Date.now())),
    Effect.provide(CliLoggerLive),
  )
