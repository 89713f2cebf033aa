/**
 * Pure pieces of the pm2 supervisor: where the daemon's sockets are, what its
 * process list means, which pm_ids a batch of refs addresses, and how a log
 * event becomes lines. No I/O here so every rule is tested with tables.
 */
import * as path from "node:path"
import { Either, ParseResult, Schema } from "effect"
import type { Instance, InstanceRef } from "../model/instance.js"
import { releaseVersion } from "../model/version.js"
import type { RunPhase, RunState } from "./runState.js"

/** pm2's own rule (`pm2/paths.js`): `PM2_HOME`, else `~/.pm2`. */
export const resolvePm2Home = (env: Readonly<Record<string, string | undefined>>, homedir: string): string => {
  const fromEnv = env.PM2_HOME
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : path.resolve(homedir, ".pm2")
}

export interface Pm2Sockets {
  /** The daemon's RPC endpoint (axon req/rep). */
  readonly rpc: string
  /** The daemon's event bus (axon pub-emitter): process logs and events. */
  readonly pub: string
}

/**
 * pm2's socket addresses. On Windows pm2 always uses fixed named pipes,
 * whatever PM2_HOME is; elsewhere `rpc.sock` / `pub.sock` in PM2_HOME, unless
 * `PM2_DAEMON_RPC_PORT` / `PM2_DAEMON_PUB_PORT` override them (as pm2 allows).
 */
export const pm2Sockets = (
  platform: NodeJS.Platform,
  pm2Home: string,
  env: Readonly<Record<string, string | undefined>>,
): Pm2Sockets => {
  if (platform === "win32") return { rpc: "\\\\.\\pipe\\rpc.sock", pub: "\\\\.\\pipe\\pub.sock" }
  const rpc = env.PM2_DAEMON_RPC_PORT
  const pub = env.PM2_DAEMON_PUB_PORT
  return {
    rpc: rpc !== undefined && rpc !== "" ? rpc : path.resolve(pm2Home, "rpc.sock"),
    pub: pub !== undefined && pub !== "" ? pub : path.resolve(pm2Home, "pub.sock"),
  }
}

/** Only processes named like this are Tamanu's (spec §3). */
export const TAMANU_PREFIX = "tamanu-"

/** One Tamanu process as the daemon reports it. */
export interface Pm2Process {
  readonly name: string
  readonly pmId: number
  /** pm2's status word: `online`, `stopped`, `stopping`, `launching`, `errored`, … */
  readonly status: string
  /** Running means `online` (spec §3). */
  readonly running: boolean
  /** `PORT` from the process's environment, when it is a valid port (spec §8). */
  readonly port: number | null
  /**
   * The release directory it runs from (issue #22): `release-v2.64.0` in its
   * exec path, else its cwd (`pm_exec_path`, `pm_cwd`); null when neither
   * has one. Optional: a process described without it runs an unknown version.
   */
  readonly version?: string | null
}

/** What the settle window and the log reads need beyond that (parseProcessList gives both). */
export interface Pm2ProcessDetails extends Pm2Process {
  /** `restart_time`: restarts pm2 made (autorestart, or asked); 0 when absent. */
  readonly restarts: number
  /** `pm_uptime`: when the current (or last) process was launched, epoch milliseconds. */
  readonly startedAt: number | null
  /** `exit_code` of the last process that ended, when pm2 recorded one. */
  readonly exitCode: number | null
  /** Where pm2 writes the process's stdout and stderr (`pm_out_log_path`, `pm_err_log_path`). */
  readonly outLog: string | null
  readonly errLog: string | null
}

const PortValue = Schema.Union(Schema.String, Schema.Number)

/**
 * The fields we read from one entry of `getMonitorData`. Everything else is
 * ignored, so newer and older daemons with more or fewer fields still parse.
 */
const MonitorEntry = Schema.Struct({
  name: Schema.String,
  pm_id: Schema.Unknown,
  pm2_env: Schema.Struct({
    status: Schema.String,
    PORT: Schema.optional(Schema.Unknown),
    env: Schema.optional(Schema.Struct({ PORT: Schema.optional(Schema.Unknown) })),
    restart_time: Schema.optional(Schema.Unknown),
    pm_uptime: Schema.optional(Schema.Unknown),
    exit_code: Schema.optional(Schema.Unknown),
    pm_out_log_path: Schema.optional(Schema.Unknown),
    pm_err_log_path: Schema.optional(Schema.Unknown),
    pm_exec_path: Schema.optional(Schema.Unknown),
    pm_cwd: Schema.optional(Schema.Unknown),
  }),
})

const decodeList = Schema.decodeUnknownEither(Schema.Array(Schema.Unknown))
const decodeEntry = Schema.decodeUnknownEither(MonitorEntry)
const decodePort = Schema.decodeUnknownOption(PortValue)

/** A TCP port from an env value (`"4001"` or `4001`); anything else is no port. */
export const parsePort = (value: unknown): number | null => {
  const decoded = decodePort(value)
  if (decoded._tag === "None") return null
  const text = String(decoded.value).trim()
  if (!/^\d{1,5}$/.test(text)) return null
  const port = Number(text)
  return port >= 1 && port <= 65535 ? port : null
}

const stringOrNull = (value: unknown): string | null => (typeof value === "string" ? value : null)

/** A JSON integer (pm2 keeps counters and times as numbers), else null. */
const integerOrNull = (value: unknown): number | null =>
  typeof value === "number" && Number.isInteger(value) ? value : null

/**
 * The daemon's process list, reduced to Tamanu's processes in pm_id order.
 * Entries that are not Tamanu's are skipped before they are checked, so an
 * odd foreign process never breaks discovery; a Tamanu entry without a name,
 * status or integer pm_id is an error (it would otherwise vanish from status).
 * pm2 gives a process being reloaded a transient `_old_<id>` pm_id: skipped.
 */
export const parseProcessList = (data: unknown): Either.Either<ReadonlyArray<Pm2ProcessDetails>, string> =>
  Either.gen(function* () {
    const entries = yield* Either.mapLeft(decodeList(data), (e) => ParseResult.TreeFormatter.formatErrorSync(e))
    const out: Array<Pm2ProcessDetails> = []
    for (const raw of entries) {
      const name = typeof raw === "object" && raw !== null && "name" in raw ? raw.name : undefined
      if (typeof name !== "string" || !name.startsWith(TAMANU_PREFIX)) continue
      const entry = yield* Either.mapLeft(
        decodeEntry(raw),
        (e) => `process ${name}: ${ParseResult.TreeFormatter.formatErrorSync(e)}`,
      )
      if (typeof entry.pm_id === "string" && entry.pm_id.startsWith("_old_")) continue
      if (typeof entry.pm_id !== "number" || !Number.isInteger(entry.pm_id)) {
        return yield* Either.left(`process ${name}: pm_id ${JSON.stringify(entry.pm_id)} is not an integer`)
      }
      const env = entry.pm2_env
      const port = parsePort(env.env?.PORT) ?? parsePort(env.PORT)
      const restarts = integerOrNull(env.restart_time)
      out.push({
        name: entry.name,
        pmId: entry.pm_id,
        status: env.status,
        running: env.status === "online",
        port,
        version: releaseVersion(stringOrNull(env.pm_exec_path), stringOrNull(env.pm_cwd)),
        restarts: restarts !== null && restarts >= 0 ? restarts : 0,
        startedAt: integerOrNull(env.pm_uptime),
        exitCode: integerOrNull(env.exit_code),
        outLog: typeof env.pm_out_log_path === "string" && env.pm_out_log_path !== "" ? env.pm_out_log_path : null,
        errLog: typeof env.pm_err_log_path === "string" && env.pm_err_log_path !== "" ? env.pm_err_log_path : null,
      })
    }
    return out.sort((a, b) => a.pmId - b.pmId)
  })

/**
 * pm2 has given up on it: `errored` is set when a process restarted too
 * often too fast (max_restarts unstable restarts) or could not be launched
 * or killed, and pm2 does not restart it by itself. `launching`, `waiting
 * restart` (restart_delay / exp backoff), `stopping` and `stopped` are not
 * failures: the first two are on their way up, the others on their way down.
 */
export const isErrored = (status: string): boolean => status === "errored"

/** A process as discovery reports it; `failed: true` only for `errored`, so healthy entries stay plain. */
export const instanceFromProcess = (p: Pick<Pm2Process, "name" | "pmId" | "status" | "running">): Instance => {
  const instance = { name: p.name, suffix: null, pmId: p.pmId, running: p.running }
  return isErrored(p.status) ? { ...instance, failed: true } : instance
}

/** What a batch of refs addresses on the daemon. */
export interface ResolvedTargets {
  /** pm_ids to act on, first-seen order, no duplicates. */
  readonly ids: ReadonlyArray<number>
  /** Names given with `pmId: null` that no process has. */
  readonly missingNames: ReadonlyArray<string>
}

/**
 * Refs to pm_ids. A ref with a pm_id is taken as is (the daemon judges an
 * unknown id, in its own words); a ref with `pmId: null` means every process
 * of exactly that name. Names are compared as data, never parsed, so a name
 * like `--now` can only ever match a process called `--now`.
 */
export const resolveTargets = (
  processes: ReadonlyArray<Pick<Pm2Process, "name" | "pmId">>,
  refs: ReadonlyArray<InstanceRef>,
): ResolvedTargets => {
  const ids: Array<number> = []
  const missingNames: Array<string> = []
  const add = (id: number) => {
    if (!ids.includes(id)) ids.push(id)
  }
  for (const ref of refs) {
    if (ref.pmId !== null) {
      add(ref.pmId)
      continue
    }
    const matching = processes.filter((p) => p.name === ref.name)
    if (matching.length === 0) {
      if (!missingNames.includes(ref.name)) missingNames.push(ref.name)
    } else {
      for (const p of matching) add(p.pmId)
    }
  }
  return { ids, missingNames }
}

/** Statuses in which `startProcessId` would refuse ("already online/started"): start leaves them be. */
export const alreadyStarted = (status: string): boolean => status === "online" || status === "launching"

/** One `log:out` / `log:err` event from the daemon's bus. */
const LogEvent = Schema.Struct({
  process: Schema.Struct({ name: Schema.String, pm_id: Schema.Unknown }),
  data: Schema.Unknown,
})
const decodeLogEvent = Schema.decodeUnknownOption(LogEvent)

/** Whether a process is one of the refs (by pm_id, or by name when the ref has none). */
export const refSelects = (refs: ReadonlyArray<InstanceRef>, name: string, pmId: unknown): boolean =>
  refs.some((ref) => ref.name === name && (ref.pmId === null || ref.pmId === pmId))

/**
 * A bus log event as display lines `name#pm_id | text` (spec §1.2 naming), or
 * none when it is not for these refs. pm2 forwards output in chunks that end
 * at line breaks in practice; a chunk is split into its lines, the empty tail
 * after a final newline dropped.
 */
export const logEventLines = (refs: ReadonlyArray<InstanceRef>, event: unknown): ReadonlyArray<string> => {
  const decoded = decodeLogEvent(event)
  if (decoded._tag === "None") return []
  const { process, data } = decoded.value
  if (!process.name.startsWith(TAMANU_PREFIX) || !refSelects(refs, process.name, process.pm_id)) return []
  const text = typeof data === "string" ? data : data === undefined || data === null ? "" : JSON.stringify(data)
  const lines = text.replace(/\r\n/g, "\n").split("\n")
  if (lines.at(-1) === "") lines.pop()
  const prefix = typeof process.pm_id === "number" ? `${process.name}#${process.pm_id}` : process.name
  return lines.map((line) => `${prefix} | ${line}`)
}

/** pm2's status word as a run phase (runState.ts); a word we do not know is taken as not up. */
export const pm2RunPhase = (status: string): RunPhase => {
  switch (status) {
    case "online":
      return "running"
    case "launching":
    case "one-launch-status":
      return "starting"
    case "waiting restart":
      return "restarting"
    case "stopping":
      return "stopping"
    case "errored":
      return "failed"
    default:
      return "stopped"
  }
}

/**
 * A process's run state. pm2 records the last exit code (kept while the next
 * process runs) but neither when it exited nor a signal: a process killed by
 * a signal is recorded with code 0 (`God.handleExit(clu, code || 0, signal)`),
 * so 0 is only reported when the process is down.
 */
export const runStateOfProcess = (p: Pm2ProcessDetails): RunState => {
  const phase = pm2RunPhase(p.status)
  return {
    name: p.name,
    suffix: null,
    pmId: p.pmId,
    phase,
    restarts: p.restarts,
    startedAt: p.startedAt,
    exitedAt: null,
    exit:
      p.exitCode === null || (p.exitCode === 0 && phase === "running") ? null : { _tag: "Exited", code: p.exitCode },
  }
}

/**
 * Log file bytes as display lines `name#pm_id | text`, like the bus's
 * (`logEventLines`). `complete`: the text ends at a line break or is final;
 * otherwise its unfinished last line is held back (returned as `rest`) for
 * the next read.
 */
export const logFileLines = (
  prefix: string,
  text: string,
  complete: boolean,
): { readonly lines: ReadonlyArray<string>; readonly rest: string } => {
  const parts = text.replace(/\r\n/g, "\n").split("\n")
  const last = parts.pop() ?? ""
  const lines = complete && last !== "" ? [...parts, last] : parts
  return { lines: lines.map((line) => `${prefix} | ${line}`), rest: complete ? "" : last }
}
