/**
 * Every failure, rendered at the CLI edge as one paragraph an operator can
 * act on (spec §12), and the exit status it deserves: 2 for bad usage
 * (decided before anything changed), 1 for everything that went wrong while
 * looking or acting. Core errors carry facts in fields; the words live here.
 *
 * Nothing printed may leak a database password: every message goes through
 * `redactSecrets`, since stderr of a supervisor call or a config error could
 * quote a connection URL.
 */
import { HelpDoc, ValidationError } from "@effect/cli"
import {
  CheckUrlFailed,
  ConfigMissingDb,
  ConfigUnreadable,
  describeEnded,
  formatDuration,
  InstanceFailed,
  InvalidDuration,
  LockFailed,
  LockHeld,
  NeedsRoot,
  NoTamanuRoot,
  NotReady,
  PlanRefused,
  ProbeFailed,
  ProxyFailed,
  RollStopped,
  SettleFailed,
  SudoFailed,
  SudoRefused,
  SupervisorCallFailed,
  SupervisorUnavailable,
  UnmatchedNames,
  UntrustedPath,
  WaitTimeout,
} from "@tamanu-lifecycle/core"
import { Cause, Duration, Option } from "effect"
import { stripAnsi } from "./color.js"

export interface RenderedError {
  readonly message: string
  /** 2: bad usage (unknown option, bad value, NAMES matching nothing); 1: anything else. */
  readonly exitCode: 1 | 2
}

const CORE_ERRORS = [
  UnmatchedNames,
  InvalidDuration,
  SupervisorUnavailable,
  SupervisorCallFailed,
  WaitTimeout,
  InstanceFailed,
  SettleFailed,
  ProbeFailed,
  NoTamanuRoot,
  ConfigUnreadable,
  ConfigMissingDb,
  LockHeld,
  LockFailed,
  SudoFailed,
  RollStopped,
  NotReady,
  CheckUrlFailed,
  PlanRefused,
  NeedsRoot,
  SudoRefused,
  UntrustedPath,
  ProxyFailed,
] as const

/** Every typed error core can fail with. */
export type CoreError = InstanceType<(typeof CORE_ERRORS)[number]>

const isCoreError = (u: unknown): u is CoreError => CORE_ERRORS.some((c) => u instanceof c)

/** Mask credentials: `user:pass@` in URLs, `password=…` pairs, `"password": "…"` in JSON. */
export const redactSecrets = (text: string): string =>
  text
    // Greedy up to the last `@` before the host, so a password holding a raw `@` is masked whole.
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/?#@]*):([^\s/?#]*)@/gi, "$1$2:***@")
    .replace(/\b((?:pg)?password|passwd|pwd)=([^\s&;,'"]+)/gi, "$1=***")
    .replace(/(["']?(?:password|passwd)["']?\s*:\s*)("[^"]*"|'[^']*')/gi, '$1"***"')

const list = (items: ReadonlyArray<string>): string => (items.length === 0 ? "none" : items.join(", "))
const quoted = (items: ReadonlyArray<string>): string => items.map((i) => `"${i}"`).join(", ")
const millis = (ms: number): string => formatDuration(Duration.millis(ms))
/** `850 ms`, `1.5 s`: a measured moment, not a setting. */
const seconds = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`)
const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`

/** A supervisor's stderr as part of a paragraph: its lines joined, the tail kept when long. */
const stderrText = (stderr: string): string => {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "")
  if (lines.length === 0) return "it printed nothing on stderr"
  const tail = lines.length > 12 ? ["…", ...lines.slice(-12)] : lines
  return `it said: ${tail.join(" ")}`
}

/** Where to read more about an instance that misbehaves: its journal (systemd) or pm2's logs. */
const logsHint = (instances: ReadonlyArray<string>): string => {
  const first = instances[0]
  if (first === undefined) return ""
  return first.includes("#")
    ? ` Look at \`pm2 logs ${first.slice(0, first.indexOf("#"))}\` to see why.`
    : ` Look at \`journalctl -u ${first} -n 50\` to see why.`
}

/**
 * The logs of every failed instance at once. systemd: one journalctl for
 * all units; the error cannot tell the system manager from a user manager,
 * so the `--user` form is named too. pm2: one `pm2 logs` per process name.
 */
const failedLogsHint = (e: InstanceFailed): string => {
  if (e.supervisor === "pm2") {
    const names = [...new Set(e.failed.map((i) => (i.includes("#") ? i.slice(0, i.indexOf("#")) : i)))]
    return ` Look at ${names.map((n) => `\`pm2 logs ${n}\``).join(", ")} to see why.`
  }
  const units = e.failed.map((i) => `-u ${i}`).join(" ")
  return ` Look at \`journalctl ${units} -n 50\` (\`journalctl --user ${units} -n 50\` with --systemd-scope user) to see why.`
}

const usage = (message: string): RenderedError => ({ message, exitCode: 2 })
const failure = (message: string): RenderedError => ({ message, exitCode: 1 })

const renderCore = (e: CoreError): RenderedError => {
  switch (e._tag) {
    case "UnmatchedNames":
      return usage(
        `No service matches ${quoted(e.patterns)}. NAMES are parts of service names; the services on this host are: ${list(
          e.available,
        )}. Check the spelling, or (for start, stop and restart) pass --ignore-unmatched to go on with the names that do match.`,
      )
    case "InvalidDuration":
      return usage(e.message)
    case "SupervisorUnavailable":
      return failure(
        e.supervisor === "pm2"
          ? `${e.message}; start it with your usual ops playbook — tamanu never starts a pm2 daemon, since one started by us would not have your processes registered. If pm2 runs under another PM2_HOME, set PM2_HOME to it.`
          : `systemd cannot be reached: ${e.message}. On a host without systemd use --supervisor pm2; for your own user manager use --systemd-scope user (it needs XDG_RUNTIME_DIR to point at a running \`systemd --user\`).`,
      )
    case "SupervisorCallFailed":
      return failure(
        `The ${e.supervisor} call \`${e.command.join(" ")}\` failed${
          e.exitCode === null ? "" : ` with exit status ${e.exitCode}`
        }; ${stderrText(e.stderr)} Nothing after that call was attempted; fix the cause and run the command again (it only does what is still needed).`,
      )
    case "WaitTimeout":
      return failure(
        `${plural(e.pending.length, "instance was", "instances were")} still not ${e.wanted} after ${millis(
          e.limitMillis,
        )}: ${list(e.pending)}. The supervisor accepted the request but they did not get there;${logsHint(
          e.pending,
        )} If they are only slow, raise --wait.`,
      )
    case "InstanceFailed": {
      const one = e.failed.length === 1
      const what =
        e.supervisor === "pm2"
          ? `pm2 reports ${one ? "the process" : "these processes"} \`errored\` (pm2 gave up restarting ${one ? "it" : "them"})`
          : `systemd reports ${one ? "the unit" : "these units"} \`failed\``
      return failure(
        `${list(e.failed)} failed: ${what} ${millis(e.afterMillis)} after tamanu began waiting for ${
          one ? "it" : "them"
        } to run (most often a process that exits right after it starts), so tamanu stopped waiting rather than running on to the --wait limit.${
          e.pending.length === 0 ? "" : ` Still not running at that moment: ${list(e.pending)}.`
        }${failedLogsHint(e)} Fix the cause, then run the command again (it only does what is still needed).`,
      )
    }
    case "SettleFailed": {
      const who = e.ended.map((x) => x.instance)
      const one = who.length === 1
      const words = one
        ? `it ${e.ended.map(describeEnded).join("")}`
        : e.ended.map((x) => `${x.instance} ${describeEnded(x)}`).join("; ")
      const source = e.supervisor === "pm2" ? "pm2's log files" : "its journal"
      return failure(
        `${list(who)} did not stay up through the ${millis(e.windowMillis)} settle window: ${
          e.supervisor === "pm2" ? "pm2" : "systemd"
        } says ${words}, ${seconds(e.afterMillis)} into the window. ${
          one ? "It does" : "They do"
        } not count as started; the lines ${one ? "it" : "they"} logged since the start (from ${source}) are printed above.${
          e.stillUp.length === 0 ? "" : ` Still running when tamanu stopped watching: ${list(e.stillUp)}.`
        }${failedLogsHint(
          new InstanceFailed({ supervisor: e.supervisor, failed: [...who], pending: [], afterMillis: 0 }),
        )} Fix the cause, then run the command again (it only does what is still needed); --settle sets the window (0s turns it off).`,
      )
    }
    case "ProbeFailed":
      return failure(
        `${e.url} did not answer with an HTTP status below 500; last error: ${e.lastError}. Check that the service listens there and look at its logs.`,
      )
    case "NoTamanuRoot":
      return failure(
        `No Tamanu install found. Looked in: ${list(e.searched)}. Point at the install with --root DIR or TAMANU_ROOT=DIR (the directory holding the Tamanu config).`,
      )
    case "ConfigUnreadable": {
      if (e.permissionDenied === true)
        return failure(
          `Cannot read the Tamanu config at ${e.file}: permission denied for this user. Reading what the host should run needs it: make it readable by the operators' group (e.g. \`chgrp <group> ${e.file} && chmod 640 ${e.file}\`), or run the command as root (\`sudo tamanu …\`); nothing was changed.`,
        )
      const where = e.line === null ? e.file : `${e.file}:${e.line}${e.column === null ? "" : `:${e.column}`}`
      return failure(
        `Cannot read the Tamanu config at ${where}: ${e.message}. Fix the JSON5 there (or point --root at another install); nothing was changed.`,
      )
    }
    case "ConfigMissingDb":
      return failure(
        `The Tamanu config under ${e.root} has no database settings (db.host, db.name, db.username, …), so the database cannot be asked. Set TAMANU_DATABASE_URL, or add a \`db\` section to the config (local.json5).`,
      )
    case "LockHeld":
      return failure(
        `Another ${e.command.startsWith("tamanu") ? e.command : `tamanu ${e.command}`} (pid ${e.pid}, since ${e.since}) is running on this host; wait for it to finish and try again, or stop it. Only if pid ${e.pid} is not a tamanu process, remove the lock file ${e.file}.`,
      )
    case "LockFailed":
      return failure(
        `Cannot take the host lock ${e.file}: ${e.message}. The lock keeps two tamanu commands from changing services at once; check that its directory exists and is writable by this user (commands on the system manager run as root).`,
      )
    case "SudoFailed":
      return failure(
        `This command changes system services and needs root, but re-running it under sudo failed: ${e.message}. Run it as root (e.g. \`sudo tamanu …\`), or use --dry-run to see the plan without changing anything.`,
      )
    case "RollStopped": {
      const done = `Restarted and ready: ${list(e.restarted)}. Not restarted: ${list(e.notRestarted)}; they were left running`
      switch (e.culprit) {
        case "caddy":
          // Caddy is the culprit, not the instance: it was never taken down.
          return failure(
            `The rolling restart of ${e.service} stopped before taking ${e.instance} down, because Caddy did not take the routing change that moves traffic off it: ${e.cause}. ${done}, and Caddy routes to them as before. Check Caddy: that it runs (\`systemctl status caddy\`), that its admin API answers (\`curl <admin>/config/\`, --caddy-admin sets the address), and whether someone reloaded or restarted it during the roll; then run restart again (it does only what is left, and puts Caddy's own config back once it can).`,
          )
        case "rule":
          return failure(
            `The rolling restart of ${e.service} stopped before taking ${e.instance} down: ${e.cause}. ${done}, and Caddy routes to what serves. \`tamanu status\` shows where Caddy routes ${e.service}; once another instance of it answers (or its container can be found), run restart again.`,
          )
        case "address":
          return failure(
            `The rolling restart of ${e.service} stopped: ${e.instance} was restarted, but ${e.cause}. ${done}, and Caddy keeps routing ${e.service} to them. Check that ${e.instance}'s container runs with the label podman gives a unit's container (\`podman ps --filter label=PODMAN_SYSTEMD_UNIT=${e.instance}.service\`; a unit that runs podman itself must pass \`--label PODMAN_SYSTEMD_UNIT=%n\`) and is on the service's network, then run restart again.${logsHint(
              [e.instance],
            )}`,
          )
        default:
          return failure(
            `The rolling restart of ${e.service} stopped: ${e.instance} did not become ready (${e.cause}). ${done}, so the service keeps serving.${logsHint(
              [e.instance],
            )} Fix ${e.instance}, then run restart again.`,
          )
      }
    }
    case "ProxyFailed":
      return failure(
        `${e.message}. Nothing behind Caddy was taken down while it could not be told; check that Caddy runs and that its admin API answers (\`curl ${e.target}/config/\`), and whether someone reloaded it meanwhile, then run the command again.`,
      )
    case "NotReady":
      return failure(
        `${e.instance} did not become ready within ${millis(e.budgetMillis)}: ${e.url} last said: ${e.lastError}.${logsHint(
          [e.instance],
        )} If it is only slow, raise --probe-timeout; --no-probe-http skips the readiness probes.`,
      )
    case "CheckUrlFailed":
      return failure(
        `The end-to-end check ${e.url} never answered with an HTTP status below 500; last error: ${e.lastError}. The services were restarted; check the proxy (Caddy) and that the URL is right.`,
      )
    case "PlanRefused":
      // Each reason is already a paragraph from core's describeFailure (e.g. first-time pm2 registration).
      return failure(
        `tamanu ${e.command} will not go ahead, and changed nothing: ${e.reasons.join(" ")}${
          e.reasons.length === 0 ? "the plan was refused." : ""
        }`,
      )
    case "SudoRefused":
      return usage(
        `tamanu will not take ${e.setting} in a run as root for another user (sudo): ${e.reason}. Nothing was changed.`,
      )
    case "UntrustedPath":
      return usage(
        `Run as root for another user (sudo), tamanu reads only files that user cannot change, and ${e.setting} ${e.path} is not one: ${e.reason}. It, and every directory above it, must belong to root (or another user) and be writable by its owner alone; nothing was changed.`,
      )
    case "NeedsRoot":
      return failure(
        `tamanu ${e.command} changes services of the system manager and needs root: run it with sudo. status and --dry-run need no root, and --systemd-scope user drives your own user manager without it.`,
      )
  }
}

/** Bad usage found by @effect/cli (unknown option, bad choice, missing value): its text, flattened. */
const renderValidation = (e: ValidationError.ValidationError): RenderedError => {
  const text = stripAnsi(HelpDoc.toAnsiText(e.error)).replace(/\s+/g, " ").trim() || e._tag
  return usage(`${text.replace(/([^.!?])$/, "$1.")} See \`tamanu --help\` or \`tamanu <command> --help\`.`)
}

const describeUnknown = (error: unknown): string => {
  if (error instanceof Error) return error.message === "" ? error.name : `${error.name}: ${error.message}`
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string")
    return error.message
  return String(error)
}

/** One paragraph and the exit status for any failure: typed ones in their own words, anything else as is. */
export const renderError = (error: unknown): RenderedError => {
  const rendered = isCoreError(error)
    ? renderCore(error)
    : ValidationError.isValidationError(error)
      ? renderValidation(error)
      : failure(
          `Unexpected error: ${describeUnknown(error)}. This is a bug in tamanu; please report it with the command line you ran.`,
        )
  return { message: redactSecrets(rendered.message), exitCode: rendered.exitCode }
}

/** The same for a whole Cause: its first failure, else an interruption, else the defect. */
export const renderCause = (cause: Cause.Cause<unknown>): RenderedError => {
  const failed = Cause.failureOption(cause)
  if (Option.isSome(failed)) return renderError(failed.value)
  if (Cause.isInterruptedOnly(cause)) return failure("Interrupted before it finished; run the command again to finish.")
  return renderError(Cause.squash(cause))
}
