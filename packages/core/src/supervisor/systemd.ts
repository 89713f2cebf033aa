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
import { Clock, Duration, Effect, Layer, Option, Stream } from "effect"
import type { InstanceRef } from "../model/instance.js"
import { unitName } from "../model/instance.js"
import { log } from "../util/logging.js"
import { SupervisorCallFailed, type SupervisorError, SupervisorUnavailable } from "./errors.js"
import { type JournaldEntry, journalLine, parseJournalLine, parseJournalOutput } from "./journal.js"
import type { RunStates } from "./runState.js"
import { type LogFollow, type LogMark, Supervisor, type SupervisorShape } from "./Supervisor.js"
import {
  instancesFromListUnits,
  isEnabledState,
  isUnavailableMessage,
  listUnitFilesHas,
  parseShowRunStates,
  parseShowUnitFileState,
  runStateProperties,
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

/** CLOCK_MONOTONIC in milliseconds: the clock of systemd's `*Monotonic` timestamps (Node's hrtime is it on Linux). */
const monotonicNowMillis = (): number => Number(process.hrtime.bigint() / 1000n) / 1000

/** journalctl's `--since` for a wall-clock time in microseconds: `@seconds.fraction` (parsed to the microsecond). */
const sinceArg = (micros: number): string => `--since=@${(micros / 1e6).toFixed(6)}`

/** Refs de-duplicated by unit name, in first-seen order (so `show` blocks match them by position). */
const uniqueUnits = (refs: ReadonlyArray<InstanceRef>): ReadonlyArray<InstanceRef> => {
  const seen = new Set<string>()
  return refs.filter((ref) => {
    const unit = unitName(ref)
    if (seen.has(unit)) return false
    seen.add(unit)
    return true
  })
}

/** Build the Supervisor for one systemd manager. */
export const makeSystemdSupervisor = (options: SystemdSupervisorOptions): SupervisorShape => {
  const scopeArgs = options.scope === "user" ? ["--user"] : []
  const systemctl = [...(options.systemctl ?? ["systemctl"]), ...scopeArgs]
  const journalctl = [...(options.journalctl ?? ["journalctl"]), ...scopeArgs]
  const env = { ...process.env, ...options.env, ...quietEnv }

  /** Run systemctl once; a non-zero exit is a result here, callers decide what it means. */
  const run = (args: ReadonlyArray<string>): Effect.Effect<CallResult, SupervisorError> =>
    runArgv([...systemctl, ...args])

  /** Run any argv once (systemctl, journalctl). */
  const runArgv = (argv: ReadonlyArray<string>): Effect.Effect<CallResult, SupervisorError> => {
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
   * One `systemctl show` of every unit: the settle window's tick. Times are
   * CLOCK_MONOTONIC milliseconds, read on the same clock right after the call.
   */
  const runStates = (refs: ReadonlyArray<InstanceRef>): Effect.Effect<RunStates, SupervisorError> => {
    const unique = uniqueUnits(refs)
    if (unique.length === 0) return Effect.sync(() => ({ readAt: monotonicNowMillis(), instances: [] }))
    return Effect.flatMap(units("show", unique), (names) => {
      const args = ["show", "--no-pager", "-p", runStateProperties.join(","), "--", ...names]
      return Effect.flatMap(runOk(args), (result) => {
        const readAt = monotonicNowMillis()
        const instances = parseShowRunStates(result.stdout, unique)
        return instances === null
          ? Effect.fail(
              callFailed([...systemctl, ...args], `unexpected output: ${result.stdout.slice(0, 500)}`, result.exitCode),
            )
          : Effect.succeed({ readAt, instances })
      })
    })
  }

  /** journalctl's arguments for these units, or a failed call that never ran. */
  const journalArgs = (
    refs: ReadonlyArray<InstanceRef>,
    args: ReadonlyArray<string>,
  ): Effect.Effect<ReadonlyArray<string>, SupervisorError> => {
    const argv = [
      ...journalctl,
      "--no-pager",
      "--output=json",
      ...args,
      // `--unit=NAME` keeps a name glued to its option.
      ...[...new Set(refs.map(unitName))].map((u) => `--unit=${u}`),
    ]
    const problems = refs.map(unitNameProblem).filter((p): p is string => p !== null)
    return problems.length === 0
      ? Effect.succeed(argv)
      : Effect.fail(callFailed(argv, `refused before running: ${problems.join("; ")}`, null))
  }

  /** Entries these units logged since a wall-clock time (µs), at most `limit` (the newest), oldest first. */
  const entriesSince = (
    refs: ReadonlyArray<InstanceRef>,
    sinceMicros: number,
    limit: number | null,
  ): Effect.Effect<ReadonlyArray<JournaldEntry>, SupervisorError> =>
    refs.length === 0
      ? Effect.succeed([])
      : Effect.flatMap(
          journalArgs(refs, [sinceArg(sinceMicros), ...(limit === null ? [] : [`--lines=${limit}`])]),
          (argv) =>
            Effect.flatMap(runArgv(argv), (result) =>
              result.exitCode === 0
                ? Effect.succeed(parseJournalOutput(result.stdout))
                : Effect.fail(callFailed(argv, result.stderr.trim(), result.exitCode)),
            ),
        )

  /** The mark is the wall clock: journald stamps every entry with it, so `--since` needs no call. */
  const logMark = (): Effect.Effect<LogMark> => Effect.map(Clock.currentTimeMillis, (at) => ({ at, files: {} }))

  const logLines = (refs: ReadonlyArray<InstanceRef>, mark: LogMark, limit: number) =>
    Effect.map(entriesSince(refs, mark.at * 1000, Math.max(1, Math.floor(limit))), (entries) =>
      entries.map((entry) => journalLine(entry, refs)),
    )

  /** `journalctl --follow --output=json` for these units, as entries. Ends when journalctl ends; interrupting kills it. */
  const followEntries = (argv: ReadonlyArray<string>): Stream.Stream<JournaldEntry, SupervisorError> => {
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
    return Stream.splitLines(chunks).pipe(
      Stream.filterMap((line) => {
        const entry = parseJournalLine(line)
        return entry === null ? Option.none() : Option.some(entry)
      }),
    )
  }

  /**
   * `journalctl --follow` for these units, as display lines. With `follow`:
   * from its mark (`--since`, so what was logged before journalctl attached
   * is shown too), and once `follow.until` completes, one last read of what
   * was logged since the newest entry shown, without the entries already
   * shown (by cursor): nothing logged until then is lost to journalctl's
   * own delay.
   */
  const logs = (refs: ReadonlyArray<InstanceRef>, follow?: LogFollow): Stream.Stream<string, SupervisorError> => {
    if (refs.length === 0)
      return follow === undefined ? Stream.empty : Stream.fromEffect(follow.until).pipe(Stream.drain)
    return Stream.suspend(() => {
      const shown = new Set<string>()
      let newest: number | null = null
      const fresh = (entry: JournaldEntry): ReadonlyArray<string> => {
        if (shown.has(entry.cursor)) return []
        shown.add(entry.cursor)
        newest = Math.max(newest ?? entry.realtimeMicros, entry.realtimeMicros)
        return [journalLine(entry, refs)]
      }
      const live = Stream.unwrap(
        Effect.map(
          journalArgs(refs, [
            "--follow",
            ...(follow === undefined ? ["--lines=0"] : [sinceArg(follow.since.at * 1000)]),
          ]),
          followEntries,
        ),
      )
      if (follow === undefined) return Stream.mapConcat(live, fresh)
      const catchUp = Stream.unwrap(
        Effect.suspend(() =>
          Effect.map(entriesSince(refs, newest ?? follow.since.at * 1000, null), (entries) =>
            Stream.fromIterable(entries),
          ),
        ),
      )
      return live.pipe(Stream.interruptWhen(follow.until), Stream.concat(catchUp), Stream.mapConcat(fresh))
    })
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
    runStates,
    logMark,
    logLines,
    logs,
  }
}

/** The systemd Supervisor as a layer: `SystemdSupervisorLive({ scope: "system" })`. */
export const SystemdSupervisorLive = (options: SystemdSupervisorOptions): Layer.Layer<Supervisor> =>
  Layer.succeed(Supervisor, makeSystemdSupervisor(options))
