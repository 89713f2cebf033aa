/**
 * Pure readers of journald's entries as `journalctl -o json` prints them
 * (one JSON object a line), for the systemd supervisor's logs: the lines an
 * operator sees with `--logs` and after a failed start. JSON rather than
 * journalctl's text because each entry then carries its cursor (so a
 * follower can tell which entries it already showed when it catches up at
 * the end) and the unit it belongs to (so lines of several units say whose
 * they are).
 */
import { Option, Schema } from "effect"
import { displayInstance, type InstanceRef, unitName } from "../model/instance.js"
import type { ExitStatus } from "./runState.js"

/**
 * A field's value: a string, an array of byte values when it is not valid
 * UTF-8, or an array of those when the entry holds the field more than once.
 */
const FieldValue = Schema.Union(
  Schema.String,
  Schema.Array(Schema.Number),
  Schema.Array(Schema.Union(Schema.String, Schema.Array(Schema.Number))),
  Schema.Null,
)

const RawEntry = Schema.Struct({
  __CURSOR: Schema.String,
  __REALTIME_TIMESTAMP: Schema.String,
  MESSAGE: Schema.optional(FieldValue),
  SYSLOG_IDENTIFIER: Schema.optional(FieldValue),
  _COMM: Schema.optional(FieldValue),
  _PID: Schema.optional(FieldValue),
  _SYSTEMD_UNIT: Schema.optional(FieldValue),
  _SYSTEMD_USER_UNIT: Schema.optional(FieldValue),
  UNIT: Schema.optional(FieldValue),
  USER_UNIT: Schema.optional(FieldValue),
})
const decodeRaw = Schema.decodeUnknownOption(Schema.parseJson(RawEntry))

/** One journal entry, reduced to what a log line shows. */
export interface JournaldEntry {
  /** journald's cursor: unique per entry. */
  readonly cursor: string
  /** Wall-clock time, microseconds since the epoch. */
  readonly realtimeMicros: number
  readonly message: string
  /** `SYSLOG_IDENTIFIER`, else `_COMM`, else null. */
  readonly identifier: string | null
  readonly pid: string | null
  /**
   * The units the entry is about: the unit whose process logged it
   * (`_SYSTEMD_UNIT`) and the unit a manager's message concerns (`UNIT`;
   * the `USER_` forms on a user manager).
   */
  readonly units: ReadonlyArray<string>
}

const bytesToText = (bytes: ReadonlyArray<number>): string => Buffer.from(bytes).toString("utf8")

/** A field as text: the first value of a repeated field, bytes decoded leniently. */
const text = (value: typeof FieldValue.Type | undefined): string | null => {
  if (value === undefined || value === null) return null
  if (typeof value === "string") return value
  if (value.length === 0) return ""
  const first = value[0]
  if (typeof first === "number") return bytesToText(value as ReadonlyArray<number>)
  if (typeof first === "string") return first
  return first === undefined ? null : bytesToText(first)
}

/** One line of `journalctl -o json`, or null when it is not an entry (blank, cut short, another format). */
export const parseJournalLine = (line: string): JournaldEntry | null => {
  if (line.trim() === "") return null
  return Option.match(decodeRaw(line), {
    onNone: () => null,
    onSome: (raw) => {
      const realtime = Number(raw.__REALTIME_TIMESTAMP)
      if (!Number.isFinite(realtime)) return null
      const units = [raw._SYSTEMD_UNIT, raw.UNIT, raw._SYSTEMD_USER_UNIT, raw.USER_UNIT]
        .map(text)
        .filter((u): u is string => u !== null && u !== "")
      return {
        cursor: raw.__CURSOR,
        realtimeMicros: realtime,
        message: (text(raw.MESSAGE) ?? "").replace(/\s+$/, ""),
        identifier: text(raw.SYSLOG_IDENTIFIER) ?? text(raw._COMM),
        pid: text(raw._PID),
        units: [...new Set(units)],
      }
    },
  })
}

/** Every entry of a `journalctl -o json` output, in order. */
export const parseJournalOutput = (stdout: string): ReadonlyArray<JournaldEntry> =>
  stdout.split("\n").flatMap((line) => {
    const entry = parseJournalLine(line)
    return entry === null ? [] : [entry]
  })

const two = (n: number) => String(n).padStart(2, "0")

/** `HH:MM:SS.mmm` in the local time zone, as journalctl's short-precise format would show it. */
export const clockTime = (realtimeMicros: number): string => {
  const date = new Date(Math.floor(realtimeMicros / 1000))
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, "0")}`
}

/**
 * An entry as a line for the operator: `name@1 | 12:00:01.123 sh[126]: hello`.
 * The instance is the first of `refs` the entry is about (by unit name); an
 * entry about none of them (rare: a match journalctl made on another field)
 * has no prefix.
 */
export const journalLine = (entry: JournaldEntry, refs: ReadonlyArray<InstanceRef>): string => {
  const ref = refs.find((r) => entry.units.includes(unitName(r)))
  const who = entry.identifier === null ? "" : `${entry.identifier}${entry.pid === null ? "" : `[${entry.pid}]`}: `
  const line = `${clockTime(entry.realtimeMicros)} ${who}${entry.message}`
  return ref === undefined ? line : `${displayInstance(ref)} | ${line}`
}

/** Linux signal numbers (systemd runs on Linux only), for `code=killed, status=9` and `ExecMainStatus`. */
const linuxSignals: Readonly<Record<number, string>> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  16: "SIGSTKFLT",
  17: "SIGCHLD",
  18: "SIGCONT",
  19: "SIGSTOP",
  20: "SIGTSTP",
  21: "SIGTTIN",
  22: "SIGTTOU",
  23: "SIGURG",
  24: "SIGXCPU",
  25: "SIGXFSZ",
  26: "SIGVTALRM",
  27: "SIGPROF",
  28: "SIGWINCH",
  29: "SIGIO",
  30: "SIGPWR",
  31: "SIGSYS",
}

/** A Linux signal's name, `signal 77` for one without a name here. */
export const signalName = (signal: number): string => linuxSignals[signal] ?? `signal ${signal}`

/** `SIGKILL` or `KILL` (as systemd's `status=9/KILL` spells it) as the name `signalName` uses. */
const signalFromWord = (word: string, number: number): string => {
  const named = `SIG${word.replace(/^SIG/, "")}`
  return Object.values(linuxSignals).includes(named) ? named : signalName(number)
}

const mainExited = /Main process exited, code=(exited|killed|dumped), status=(\d+)(?:\/([A-Z0-9_+-]+))?/

/**
 * The `limit` lines worth showing of an instance that failed: the ones that
 * end at systemd's last `Main process exited` line when there is one (so a
 * crash loop that systemd has already started again shows what led to the
 * exit, not the next start's `Scheduled restart job`, `Starting`, podman's
 * container events…), else the last `limit`.
 */
export const linesToShow = (lines: ReadonlyArray<string>, limit: number): ReadonlyArray<string> => {
  const n = Math.max(1, Math.floor(limit))
  let end = lines.length
  for (let i = lines.length - 1; i >= 0; i--)
    if (mainExited.test(lines[i] ?? "")) {
      end = i + 1
      break
    }
  return lines.slice(Math.max(0, end - n), end)
}

/**
 * How a run ended, from systemd's own journal line about it:
 * `x.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED`,
 * `code=killed, status=9/KILL`, `code=dumped, status=11/SEGV`. The last such
 * line of the messages wins; null when there is none. This is how a crash
 * loop's exit is known when systemd has already started the unit again
 * (`systemctl show` then describes the new process, not the one that ended).
 */
export const exitFromJournal = (messages: ReadonlyArray<string>): ExitStatus | null => {
  for (const message of [...messages].reverse()) {
    const match = mainExited.exec(message)
    if (match === null) continue
    const [, code, status, word] = match
    const number = Number(status)
    if (code === "exited") return { _tag: "Exited", code: number }
    return {
      _tag: "Killed",
      signal: word === undefined ? signalName(number) : signalFromWord(word, number),
      coreDumped: code === "dumped",
    }
  }
  return null
}
