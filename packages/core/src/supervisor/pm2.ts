/**
 * The pm2 supervisor (spec §3, §5-§7): talks to the pm2 daemon that is
 * already running for PM2_HOME over its RPC socket, the way pm2's own CLI
 * does (`pm2-axon` req/rep, methods exposed by `pm2/lib/Daemon.js`).
 *
 * Why the socket and not the pm2 CLI or `pm2.connect`: both of those start a
 * daemon when none answers, and a lifecycle tool must never do that (§12);
 * they are also 100-1000x slower per list (figures in docs/pm2.md). The RPC
 * method names and argument shapes have been stable across pm2 2.x-7.x, so
 * this works with whichever pm2 the host's daemon runs.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import { Chunk, Clock, Duration, Effect, Either, Layer, Schedule, type Scope, Stream } from "effect"
import axon, { type AxonSocket } from "pm2-axon"
import rpc from "pm2-axon-rpc"
import type { Instance, InstanceRef } from "../model/instance.js"
import { log } from "../util/logging.js"
import { SupervisorCallFailed, type SupervisorError, SupervisorUnavailable } from "./errors.js"
import {
  alreadyStarted,
  instanceFromProcess,
  logEventLines,
  logFileLines,
  type Pm2Process,
  type Pm2ProcessDetails,
  type Pm2Sockets,
  parseProcessList,
  pm2Sockets,
  refSelects,
  resolvePm2Home,
  resolveTargets,
  runStateOfProcess,
} from "./pm2Parse.js"
import type { RunStates } from "./runState.js"
import { type LogFollow, type LogMark, Supervisor, type SupervisorShape } from "./Supervisor.js"

export interface Pm2Options {
  /** Defaults to pm2's own rule: env `PM2_HOME`, else `~/.pm2`. */
  readonly pm2Home?: string
  /** Called once per RPC sent to the daemon; benchmarks count discovery calls with it. */
  readonly onCall?: (method: string) => void
  /** Limit for one RPC; a stop waits for the process's own kill timeout, so be generous. Default 60 s. */
  readonly callTimeout?: Duration.DurationInput
  /** Limit for reaching the socket; a live local daemon answers in milliseconds. Default 5 s. */
  readonly connectTimeout?: Duration.DurationInput
}

/** One open RPC connection to the daemon. */
export interface Pm2Connection {
  /** One RPC; failures carry the method, the arguments and the daemon's message. */
  readonly call: (method: string, ...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, SupervisorCallFailed>
  /** Tamanu's processes (`getMonitorData`, one RPC). */
  readonly processes: Effect.Effect<ReadonlyArray<Pm2ProcessDetails>, SupervisorCallFailed>
}

/** A handle on the daemon of one PM2_HOME; each use opens (and closes) its own connection. */
export interface Pm2Client {
  readonly pm2Home: string
  readonly sockets: Pm2Sockets
  /** Connect, or fail with SupervisorUnavailable when no daemon answers. Never starts one. */
  readonly connect: Effect.Effect<Pm2Connection, SupervisorUnavailable, Scope.Scope>
  /** Tamanu's processes in one connection and one RPC. */
  readonly processes: Effect.Effect<ReadonlyArray<Pm2ProcessDetails>, SupervisorError>
}

const millis = (d: Duration.Duration): string => `${Math.round(Duration.toMillis(d))} ms`

const describeArg = (arg: unknown): string => (typeof arg === "string" ? arg : (JSON.stringify(arg) ?? String(arg)))

const callFailed = (method: string, args: ReadonlyArray<unknown>, message: string) =>
  new SupervisorCallFailed({
    supervisor: "pm2",
    command: ["pm2", method, ...args.map(describeArg)],
    stderr: message,
    exitCode: null,
  })

const errorMessage = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : JSON.stringify(error)

/** The handle for these options. Reads `PM2_HOME` and the platform once. */
export const makePm2Client = (options: Pm2Options = {}): Pm2Client => {
  const pm2Home = options.pm2Home ?? resolvePm2Home(process.env, os.homedir())
  const sockets = pm2Sockets(process.platform, pm2Home, process.env)
  const callTimeout = Duration.decode(options.callTimeout ?? Duration.minutes(1))
  const connectTimeout = Duration.decode(options.connectTimeout ?? Duration.seconds(5))
  const unavailable = (detail?: string) =>
    new SupervisorUnavailable({
      supervisor: "pm2",
      message: `pm2 is not running (PM2_HOME=${pm2Home})${detail === undefined ? "" : `: ${detail}`}`,
    })

  const open = Effect.async<AxonSocket, SupervisorUnavailable>((resume) => {
    const sock = axon.socket("req")
    // No reconnect loop: a refused or missing socket closes at once, and that is the answer.
    sock.set("retry timeout", 0)
    const onConnect = () => {
      sock.off("close", onClose)
      sock.off("error", onError)
      resume(Effect.succeed(sock))
    }
    const onClose = () => {
      sock.off("connect", onConnect)
      sock.off("error", onError)
      resume(Effect.fail(unavailable()))
    }
    const onError = (error: Error) => {
      sock.off("connect", onConnect)
      sock.off("close", onClose)
      sock.close()
      resume(Effect.fail(unavailable(error.message)))
    }
    sock.once("connect", onConnect)
    sock.once("close", onClose)
    sock.once("error", onError)
    sock.connect(sockets.rpc)
    return Effect.sync(() => sock.close())
  }).pipe(
    Effect.timeoutFail({
      duration: connectTimeout,
      onTimeout: () => unavailable(`no answer on ${sockets.rpc} within ${Duration.format(connectTimeout)}`),
    }),
  )

  const connect = Effect.acquireRelease(open, (sock) => Effect.sync(() => sock.close())).pipe(
    Effect.map((sock): Pm2Connection => {
      const client = new rpc.Client(sock)
      const call = (method: string, ...args: ReadonlyArray<unknown>) =>
        Effect.async<unknown, SupervisorCallFailed>((resume) => {
          options.onCall?.(method)
          const onClose = () => resume(Effect.fail(callFailed(method, args, "the pm2 daemon closed the connection")))
          sock.once("close", onClose)
          client.call(method, ...args, (error: unknown, data: unknown) => {
            sock.off("close", onClose)
            resume(
              error === null || error === undefined
                ? Effect.succeed(data)
                : Effect.fail(callFailed(method, args, errorMessage(error))),
            )
          })
          return Effect.sync(() => sock.off("close", onClose))
        }).pipe(
          Effect.timeoutFail({
            duration: callTimeout,
            onTimeout: () => callFailed(method, args, `no answer within ${Duration.format(callTimeout)}`),
          }),
          // What --log-level debug shows: every call to the daemon and how long it took.
          Effect.timed,
          Effect.tap(([took]) =>
            log.debug(`pm2 ${[method, ...args.map(describeArg)].join(" ")}: answered after ${millis(took)}`),
          ),
          Effect.map(([, data]) => data),
        )
      const processes = call("getMonitorData", {}).pipe(
        Effect.flatMap((data) =>
          Either.match(parseProcessList(data), {
            onLeft: (problem) => Effect.fail(callFailed("getMonitorData", [], `unexpected answer: ${problem}`)),
            onRight: Effect.succeed,
          }),
        ),
      )
      return { call, processes }
    }),
  )

  return {
    pm2Home,
    sockets,
    connect,
    processes: Effect.scoped(Effect.flatMap(connect, (c) => c.processes)),
  }
}

/**
 * Run one RPC per pm_id on one connection, concurrently (as pm2's CLI does),
 * and report every failure of the batch in one SupervisorCallFailed.
 */
const eachId = (
  conn: Pm2Connection,
  method: string,
  ids: ReadonlyArray<number>,
  argFor: (id: number) => unknown,
): Effect.Effect<void, SupervisorCallFailed> =>
  Effect.forEach(ids, (id) => Effect.either(conn.call(method, argFor(id))), { concurrency: 8 }).pipe(
    Effect.flatMap((results) => {
      const failures = results.flatMap((r, i) => (Either.isLeft(r) ? [`pm_id ${ids[i]}: ${r.left.stderr}`] : []))
      return failures.length === 0
        ? Effect.void
        : Effect.fail(
            callFailed(
              method,
              ids.map((id) => argFor(id)),
              failures.join("; "),
            ),
          )
    }),
  )

const noSuchName = (method: string, names: ReadonlyArray<string>) =>
  callFailed(method, names, `no pm2 process named ${names.map((n) => JSON.stringify(n)).join(", ")}`)

/** How much of a log file one read takes at most: a chatty process cannot make a failure report huge. */
const maxLogRead = 256 * 1024

/** The size of a file, 0 when it is not there (pm2 creates log files lazily). */
const fileSize = (file: string): Effect.Effect<number> =>
  Effect.promise(() =>
    fs
      .stat(file)
      .then((st) => st.size)
      .catch(() => 0),
  )

/**
 * The bytes of a file from `offset` to its end as text, at most the last
 * `maxLogRead` of them; a file shorter than `offset` (rotated, truncated)
 * is read from its start. `end`: where the read stopped, for the next one.
 */
const readFrom = (file: string, offset: number): Effect.Effect<{ readonly text: string; readonly end: number }> =>
  Effect.promise(async () => {
    const handle = await fs.open(file, "r").catch(() => null)
    if (handle === null) return { text: "", end: offset }
    try {
      const size = (await handle.stat()).size
      const from = size < offset ? 0 : offset
      const start = Math.max(from, size - maxLogRead)
      const buffer = Buffer.alloc(size - start)
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, start)
      return { text: buffer.subarray(0, bytesRead).toString("utf8"), end: start + bytesRead }
    } finally {
      await handle.close()
    }
  })

/**
 * The log files (stdout, then stderr) of the processes these refs address,
 * each once, with its display prefix: `name#pm_id`, or the bare name for a
 * file several processes write (pm2's default for processes sharing a name,
 * e.g. both `tamanu-api`), whose lines cannot be told apart.
 */
const logFilesOf = (
  processes: ReadonlyArray<Pm2ProcessDetails>,
  refs: ReadonlyArray<InstanceRef>,
): ReadonlyArray<{ readonly prefix: string; readonly file: string }> => {
  const writers = new Map<string, number>()
  for (const p of processes)
    for (const file of new Set([p.outLog, p.errLog])) if (file !== null) writers.set(file, (writers.get(file) ?? 0) + 1)
  const seen = new Set<string>()
  return processes
    .filter((p) => refSelects(refs, p.name, p.pmId))
    .flatMap((p) =>
      [p.outLog, p.errLog].flatMap((file) => {
        if (file === null || seen.has(file)) return []
        seen.add(file)
        return [{ prefix: (writers.get(file) ?? 0) > 1 ? p.name : `${p.name}#${p.pmId}`, file }]
      }),
    )
}

/** How often `--logs` looks at pm2's log files for new lines. */
const logPollInterval = Duration.millis(200)

/** The Supervisor over an existing daemon. */
export const makePm2Supervisor = (options: Pm2Options = {}): SupervisorShape => {
  const client = makePm2Client(options)
  const withConnection = <A, E>(use: (conn: Pm2Connection) => Effect.Effect<A, E>) =>
    Effect.scoped(Effect.flatMap(client.connect, use))

  /**
   * Resolve refs against the current list, then act on each pm_id. Names with
   * no process fail for start/restart (nothing could be made to run) and are
   * nothing to do for stop/remove (already the wanted state).
   */
  const act =
    (
      method: string,
      opts: {
        readonly missingNameFails: boolean
        readonly skip?: (p: Pm2Process) => boolean
        readonly argFor?: (id: number) => unknown
      },
    ) =>
    (refs: ReadonlyArray<InstanceRef>): Effect.Effect<void, SupervisorError> =>
      refs.length === 0
        ? Effect.void
        : withConnection((conn) =>
            Effect.gen(function* () {
              const processes = yield* conn.processes
              const { ids, missingNames } = resolveTargets(processes, refs)
              if (missingNames.length > 0 && opts.missingNameFails) {
                return yield* Effect.fail(noSuchName(method, missingNames))
              }
              const skip = opts.skip
              const todo =
                skip === undefined
                  ? ids
                  : ids.filter((id) => {
                      const known = processes.find((p) => p.pmId === id)
                      return known === undefined || !skip(known)
                    })
              yield* eachId(conn, method, todo, opts.argFor ?? ((id) => id))
            }),
          )

  const restart = act("restartProcessId", { missingNameFails: true, argFor: (id) => ({ id }) })

  const list = Effect.map(client.processes, (processes): ReadonlyArray<Instance> => processes.map(instanceFromProcess))

  const busLogs = (refs: ReadonlyArray<InstanceRef>): Stream.Stream<string, SupervisorError> =>
    Stream.asyncScoped<string, SupervisorError>((emit) =>
      Effect.gen(function* () {
        // The bus has no handshake; ask the RPC side first so a dead daemon is an error, not silence.
        yield* withConnection((conn) => conn.call("ping", {}))
        const sub = yield* Effect.acquireRelease(
          Effect.sync(() => axon.socket("sub-emitter")),
          (s) => Effect.sync(() => s.close()),
        )
        sub.on("log:*", (_kind: unknown, event: unknown) => {
          const lines = logEventLines(refs, event)
          if (lines.length > 0) void emit.chunk(Chunk.unsafeFromArray(lines))
        })
        sub.connect(client.sockets.pub)
      }),
    )

  /** One process list (one RPC) for every instance: the settle window's tick. */
  const runStates = (refs: ReadonlyArray<InstanceRef>): Effect.Effect<RunStates, SupervisorError> =>
    Effect.flatMap(client.processes, (processes) =>
      Effect.map(Clock.currentTimeMillis, (readAt) => ({
        // pm_uptime is epoch milliseconds: read on the same (wall) clock.
        readAt,
        instances: processes.filter((p) => refSelects(refs, p.name, p.pmId)).map(runStateOfProcess),
      })),
    )

  /** The size of each of their log files now: later reads start there. */
  const logMark = (refs: ReadonlyArray<InstanceRef>): Effect.Effect<LogMark, SupervisorError> =>
    Effect.gen(function* () {
      const at = yield* Clock.currentTimeMillis
      if (refs.length === 0) return { at, files: {} }
      const files = logFilesOf(yield* client.processes, refs)
      const sizes = yield* Effect.forEach(files, ({ file }) =>
        Effect.map(fileSize(file), (size) => [file, size] as const),
      )
      return { at, files: Object.fromEntries(sizes) }
    })

  /** The last `limit` lines since the mark: stdout's lines, then stderr's (pm2 keeps them apart, without times). */
  const logLines = (refs: ReadonlyArray<InstanceRef>, mark: LogMark, limit: number) =>
    Effect.gen(function* () {
      if (refs.length === 0) return []
      const files = logFilesOf(yield* client.processes, refs)
      const lines = yield* Effect.forEach(files, ({ prefix, file }) =>
        Effect.map(readFrom(file, mark.files[file] ?? 0), ({ text }) => logFileLines(prefix, text, true).lines),
      )
      return lines.flat().slice(-Math.max(1, Math.floor(limit)))
    })

  /**
   * With `follow`: pm2's log files from the mark's offsets, looked at every
   * 200 ms, and once more after `follow.until` (the bus only carries what is
   * written after it attached, and a fast start would be over by then).
   * Without: the bus from now on, as before.
   */
  const logs = (refs: ReadonlyArray<InstanceRef>, follow?: LogFollow): Stream.Stream<string, SupervisorError> => {
    if (follow === undefined) return busLogs(refs)
    return Stream.unwrap(
      Effect.gen(function* () {
        const files = refs.length === 0 ? [] : logFilesOf(yield* client.processes, refs)
        const offsets = new Map(files.map(({ file }) => [file, follow.since.files[file] ?? 0]))
        const partial = new Map<string, string>()
        const read = (complete: boolean) =>
          Effect.map(
            Effect.forEach(files, ({ prefix, file }) =>
              Effect.map(readFrom(file, offsets.get(file) ?? 0), ({ text, end }) => {
                offsets.set(file, end)
                const { lines, rest } = logFileLines(prefix, `${partial.get(file) ?? ""}${text}`, complete)
                partial.set(file, rest)
                return lines
              }),
            ),
            (lines) => Chunk.unsafeFromArray(lines.flat()),
          )
        const polling = Stream.repeatEffectWithSchedule(read(false), Schedule.spaced(logPollInterval))
        return polling.pipe(
          Stream.interruptWhen(follow.until),
          Stream.concat(Stream.fromEffect(Effect.suspend(() => read(true)))),
          Stream.flattenChunks,
        )
      }),
    )
  }

  return {
    kind: "pm2",
    list,
    start: act("startProcessId", { missingNameFails: true, skip: (p) => alreadyStarted(p.status) }),
    stop: act("stopProcessId", { missingNameFails: false }),
    restart,
    restartOne: (ref) => restart([ref]),
    enabled: () => Effect.succeed(new Map<string, boolean>()),
    disable: () => Effect.void,
    remove: act("deleteProcessId", { missingNameFails: false }),
    unitFileExists: () => Effect.succeed(false),
    runStates,
    logMark,
    logLines,
    logs,
  }
}

/** The pm2 Supervisor for the daemon of `options.pm2Home` (default: pm2's own PM2_HOME rule). */
export const Pm2SupervisorLive = (options: Pm2Options = {}): Layer.Layer<Supervisor> =>
  Layer.sync(Supervisor, () => makePm2Supervisor(options))
