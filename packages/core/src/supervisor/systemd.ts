/**
 * The systemd Supervisor: a thin layer over `systemctl` and `journalctl`
 * (spec §3, §5-§7, §12). Every method is one process whatever the number of
 * units; what systemctl prints is read by the pure functions in
 * `systemdParse.ts`.
 *
 * Processes are spawned with `node:child_process` (`execFile`, `spawn`)
 * wrapped in Effect rather than `@effect/platform`'s Command: one short call
 * that collects stdout, stderr and the exit code is exactly what execFile
 * does, it needs no CommandExecutor/FileSystem in the layer's requirements,
 * and interruption still kills the child through the AbortSignal Effect hands
 * us. Arguments always go as an array (never a shell), unit names are
 * checked first and follow `--`, so a name can never read as an option.
 */
import { execFile, spawn } from "node:child_process"
import { Duration, Effect, Layer, Stream } from "effect"
import type { InstanceRef } from "../model/instance.js"
import { unitName } from "../model/instance.js"
import { log } from "../util/logging.js"
import { SupervisorCallFailed, type SupervisorError, SupervisorUnavailable } from "./errors.js"
import { Supervisor, type SupervisorShape } from "./Supervisor.js"
import {
  instancesFromListUnits,
  isEnabledState,
  isUnavailableMessage,
  listUnitFilesHas,
  parseShowUnitFileState,
  unitFileProblem,
  unitNameProblem,
} from "./systemdParse.js"

export interface SystemdSupervisorOptions {
  /** `system` (PID 1's manager) or `user` (`systemctl --user`, the caller's own manager). */
  readonly scope: "system" | "user"
  /** Set over the inherited environment for every call, e.g. `XDG_RUNTIME_DIR` of a user manager. */
  readonly env?: Readonly<Record<string, string>>
  /**
   * The argv that runs systemctl (default `["systemctl"]`). Tests point it at
   * a missing binary, or run it inside the test manager's mount namespace
   * (`nsenter -t PID -m -- systemctl`) so that systemctl sees a booted systemd
   * and enables/disables through the manager as on a real host.
   */
  readonly systemctl?: ReadonlyArray<string>
  /** The argv that runs journalctl (default `["journalctl"]`). */
  readonly journalctl?: ReadonlyArray<string>
  /** Told the argv of every process spawned: benchmarks count calls with it. */
  readonly onSpawn?: (argv: ReadonlyArray<string>) => void
}

interface CallResult {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

/** systemd translates little, but its error wording is what we match: keep it English, colourless, pagerless. */
const quietEnv = { LC_ALL: "C", SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "", SYSTEMD_LESS: "" }

const unavailable = (message: string) => new SupervisorUnavailable({ supervisor: "systemd", message })

const callFailed = (command: ReadonlyArray<string>, stderr: string, exitCode: number | null) =>
  new SupervisorCallFailed({ supervisor: "systemd", command: [...command], stderr, exitCode })

/** Build the Supervisor for one systemd manager. */
export const makeSystemdSupervisor = (options: SystemdSupervisorOptions): SupervisorShape => {
  const scopeArgs = options.scope === "user" ? ["--user"] : []
  const systemctl = [...(options.systemctl ?? ["systemctl"]), ...scopeArgs]
  const journalctl = [...(options.journalctl ?? ["journalctl"]), ...scopeArgs]
  const env = { ...process.env, ...options.env, ...quietEnv }

  /** Run once; a non-zero exit is a result here, callers decide what it means. */
  const run = (args: ReadonlyArray<string>): Effect.Effect<CallResult, SupervisorError> => {
    const argv = [...systemctl, ...args]
    const [file, ...rest] = argv
    return Effect.async<CallResult, SupervisorError>((resume, signal) => {
      options.onSpawn?.(argv)
      execFile(
        file ?? "systemctl",
        rest,
        { env, signal, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
        (error, stdout, stderr) => {
          if (error === null) return resume(Effect.succeed({ stdout, stderr, exitCode: 0 }))
          if (error.code === "ENOENT")
            return resume(Effect.fail(unavailable(`${file} not found (is systemd installed and on PATH?)`)))
          if (typeof error.code === "number") return resume(Effect.succeed({ stdout, stderr, exitCode: error.code }))
          // Killed by a signal, or could not be spawned for another reason.
          return resume(Effect.fail(callFailed(argv, stderr || error.message, null)))
        },
      )
    }).pipe(
      // What --log-level debug shows: every call and how it ended.
      Effect.timed,
      Effect.tap(([took, result]) =>
        log.debug(`${argv.join(" ")}: exit ${result.exitCode} after ${Math.round(Duration.toMillis(took))} ms`),
      ),
      Effect.map(([, result]) => result),
    )
  }

  /** A manager that cannot be reached is "unavailable", anything else a failed call. */
  const failure = (args: ReadonlyArray<string>, result: CallResult): SupervisorError =>
    isUnavailableMessage(result.stderr)
      ? unavailable(result.stderr.trim())
      : callFailed([...systemctl, ...args], result.stderr.trim(), result.exitCode)

  /** Run and require exit 0. */
  const runOk = (args: ReadonlyArray<string>): Effect.Effect<CallResult, SupervisorError> =>
    Effect.flatMap(run(args), (result) =>
      result.exitCode === 0 ? Effect.succeed(result) : Effect.fail(failure(args, result)),
    )

  /** Checked, de-duplicated unit names, or a failed call that never ran. */
  const units = (
    verb: string,
    refs: ReadonlyArray<InstanceRef>,
  ): Effect.Effect<ReadonlyArray<string>, SupervisorError> => {
    const names = [...new Set(refs.map(unitName))]
    const problems = refs.map(unitNameProblem).filter((p): p is string => p !== null)
    return problems.length === 0
      ? Effect.succeed(names)
      : Effect.fail(
          callFailed([...systemctl, verb, "--", ...names], `refused before running: ${problems.join("; ")}`, null),
        )
  }

  /** start/stop/restart/disable: one call for all refs, none for no refs. */
  const batch = (verb: string) => (refs: ReadonlyArray<InstanceRef>) =>
    refs.length === 0
      ? Effect.void
      : Effect.flatMap(units(verb, refs), (names) => Effect.asVoid(runOk([verb, "--", ...names])))

  const list = Effect.map(
    runOk(["list-units", "--all", "--type=service", "--plain", "--no-legend", "--no-pager", "--", "tamanu-*.service"]),
    (result) => instancesFromListUnits(result.stdout),
  )

  /**
   * `show -p Id,UnitFileState` rather than `is-enabled`: is-enabled stops at
   * the first unit without a unit file and prints nothing for the rest,
   * while show answers every unit, in order, in one call (empty state when
   * there is no unit file). It also answers for units that are not loaded.
   */
  const enabled = (refs: ReadonlyArray<InstanceRef>) =>
    refs.length === 0
      ? Effect.succeed(new Map<string, boolean>() as ReadonlyMap<string, boolean>)
      : Effect.flatMap(units("show", refs), (names) => {
          const args = ["show", "--no-pager", "-p", "Id,UnitFileState", "--", ...names]
          return Effect.flatMap(runOk(args), (result) => {
            const states = parseShowUnitFileState(result.stdout, names)
            if (states === null)
              return Effect.fail(
                callFailed(
                  [...systemctl, ...args],
                  `unexpected output: ${result.stdout.slice(0, 500)}`,
                  result.exitCode,
                ),
              )
            const answer = new Map<string, boolean>()
            for (const [unit, state] of states) answer.set(unit, isEnabledState(state))
            return Effect.succeed(answer as ReadonlyMap<string, boolean>)
          })
        })

  /** `list-unit-files NAME` exits 1 with no output when nothing matches: that is "no", not a failure. */
  const unitFileExists = (unitFile: string) => {
    const args = ["list-unit-files", "--no-legend", "--no-pager", "--", unitFile]
    const problem = unitFileProblem(unitFile)
    if (problem !== null)
      return Effect.fail(callFailed([...systemctl, ...args], `refused before running: ${problem}`, null))
    return Effect.flatMap(run(args), (result) => {
      if (listUnitFilesHas(result.stdout, unitFile)) return Effect.succeed(true)
      if (result.exitCode === 0 || (result.exitCode === 1 && result.stderr.trim() === "")) return Effect.succeed(false)
      return Effect.fail(failure(args, result))
    })
  }

  /**
   * `journalctl -f` from now on (`--lines=0`) for these units, as lines.
   * `--unit=NAME` keeps a name glued to its option. Ends when journalctl
   * ends; interrupting the stream kills it.
   */
  const logs = (refs: ReadonlyArray<InstanceRef>): Stream.Stream<string, SupervisorError> => {
    if (refs.length === 0) return Stream.empty
    const problems = refs.map(unitNameProblem).filter((p): p is string => p !== null)
    const argv = [
      ...journalctl,
      "--follow",
      "--lines=0",
      "--no-pager",
      ...[...new Set(refs.map(unitName))].map((u) => `--unit=${u}`),
    ]
    if (problems.length > 0)
      return Stream.fail(callFailed(argv, `refused before running: ${problems.join("; ")}`, null))
    const [file, ...rest] = argv
    const chunks = Stream.asyncScoped<string, SupervisorError>((emit) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          options.onSpawn?.(argv)
          const child = spawn(file ?? "journalctl", rest, { env, stdio: ["ignore", "pipe", "pipe"] })
          let stderr = ""
          child.stdout.setEncoding("utf8")
          child.stderr.setEncoding("utf8")
          child.stdout.on("data", (chunk: string) => void emit.single(chunk))
          child.stderr.on("data", (chunk: string) => {
            stderr = (stderr + chunk).slice(-8192)
          })
          child.on("error", (error: NodeJS.ErrnoException) => {
            void emit.fail(
              error.code === "ENOENT"
                ? unavailable(`${file} not found (is systemd installed and on PATH?)`)
                : callFailed(argv, error.message, null),
            )
          })
          child.on("close", (code) => {
            if (code === 0) void emit.end()
            else void emit.fail(callFailed(argv, stderr.trim(), code))
          })
          return child
        }),
        (child) =>
          Effect.sync(() => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
          }),
      ),
    )
    return Stream.splitLines(chunks)
  }

  return {
    kind: "systemd",
    list,
    start: batch("start"),
    stop: batch("stop"),
    restart: batch("restart"),
    restartOne: (ref) => batch("restart")([ref]),
    enabled,
    disable: batch("disable"),
    remove: () => Effect.void,
    unitFileExists,
    logs,
  }
}

/** The systemd Supervisor as a layer: `SystemdSupervisorLive({ scope: "system" })`. */
export const SystemdSupervisorLive = (options: SystemdSupervisorOptions): Layer.Layer<Supervisor> =>
  Layer.succeed(Supervisor, makeSystemdSupervisor(options))
