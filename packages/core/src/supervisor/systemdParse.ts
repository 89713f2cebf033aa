/**
 * Pure readers of what `systemctl` prints, and the checks on what we hand it.
 * Kept apart from the layer so every wording systemd has used (252 on
 * Debian 12, 249 on Ubuntu 22.04, the `●`/`*` marker of older or non-plain
 * listings) is fixed by table tests without a running manager.
 */
import type { Instance, InstanceRef } from "../model/instance.js"
import { signalName } from "./journal.js"
import type { ExitStatus, RunPhase, RunState } from "./runState.js"

/** A discovered unit name split into base name and instance suffix. */
export interface ParsedUnitName {
  readonly name: string
  readonly suffix: string | null
}

/** Characters systemd allows in a unit name (escaped forms like `\x2d` included). */
const unitChars = /^[A-Za-z0-9:_.\\-]+$/

/**
 * `tamanu-x.service` → `{ name: "tamanu-x", suffix: null }`,
 * `tamanu-x@1.service` → `{ name: "tamanu-x", suffix: "1" }`; anything that is
 * not a Tamanu service instance (other prefix, other type, a bare template
 * `tamanu-x@.service`, odd characters) → null.
 */
export const parseUnitName = (unit: string): ParsedUnitName | null => {
  if (!unit.startsWith("tamanu-") || !unit.endsWith(".service")) return null
  const stem = unit.slice(0, -".service".length)
  if (!unitChars.test(stem.replaceAll("@", ""))) return null
  const at = stem.indexOf("@")
  const name = at === -1 ? stem : stem.slice(0, at)
  // `tamanu-.service` / `tamanu-@1.service` name no service (model/unitNames.ts parseUnit agrees).
  if (name === "tamanu-") return null
  if (at === -1) return { name, suffix: null }
  const suffix = stem.slice(at + 1)
  if (suffix === "" || suffix.includes("@")) return null
  return { name, suffix }
}

/** One row of `systemctl list-units`. */
export interface UnitRow {
  readonly unit: string
  readonly load: string
  readonly active: string
  readonly sub: string
  /** The JOB column: a job queued for the unit (`start`, `stop`, …), else null. */
  readonly job: string | null
}

/** systemd's job types (`job_type_table` in src/core/job.c), as the JOB column spells them. */
const jobTypes: ReadonlySet<string> = new Set([
  "start",
  "verify-active",
  "stop",
  "reload",
  "reload-or-start",
  "restart",
  "try-restart",
  "try-reload",
  "nop",
])

/** Whether a word is one of systemd's job types, i.e. could be the JOB column. */
export const isJobType = (word: string): boolean => jobTypes.has(word)

/**
 * Rows of `systemctl list-units --all --plain --no-legend`. Tolerates the
 * leading status marker (`●` in UTF-8 locales, `*` otherwise) that systemd
 * 246+ prints for failed / not-found units when `--plain` is missing or
 * ignored, surrounding blanks, and the free-text description column.
 *
 * systemctl adds a JOB column after SUB only while some listed unit has a
 * job, and leaves it blank for the others, so the field after SUB is either
 * a job or the description's first word. It is taken as a job when it is
 * one of systemd's job type words; a description that starts with such a
 * word reads as a job, which only ever makes a failed unit look not-final
 * (the wait then runs to its limit, as it always did).
 */
export const parseListUnits = (stdout: string): ReadonlyArray<UnitRow> =>
  stdout.split("\n").flatMap((line) => {
    const fields = line.trim().split(/\s+/)
    if (fields[0] === "●" || fields[0] === "*") fields.shift()
    const [unit, load, active, sub, fifth] = fields
    if (unit === undefined || load === undefined || active === undefined || sub === undefined) return []
    return [{ unit, load, active, sub, job: fifth !== undefined && isJobType(fifth) ? fifth : null }]
  })

/** §3: running means active state `active` with sub state `running` or `exited`. */
export const isRunning = (row: Pick<UnitRow, "active" | "sub">): boolean =>
  row.active === "active" && (row.sub === "running" || row.sub === "exited")

/**
 * Failed for good: ACTIVE `failed` and no job queued. A Type=simple unit
 * whose process exits at once is `failed` by the time `systemctl start`
 * returns (measured on 252: the first list 11 ms later already says so),
 * and with Restart= it is `failed` once the start limit is hit; before that
 * it is `activating`/`auto-restart`, not failed. A unit that was failed
 * before and whose start job is still queued (ordered after a slower unit)
 * stays `failed` until the job runs, with `start` in the JOB column:
 * that is not final. `deactivating` and `reloading` are never failures.
 */
export const isTerminalFailure = (row: Pick<UnitRow, "active" | "job">): boolean =>
  row.active === "failed" && row.job === null

/**
 * Tamanu instances from a `list-units` listing: `tamanu-*.service` units
 * that systemd has loaded (running or not), never the `not-found` ones that
 * only exist because something refers to them. `failed: true` marks a
 * terminal failure (`isTerminalFailure`); healthy rows carry no such key.
 */
export const instancesFromListUnits = (stdout: string): ReadonlyArray<Instance> =>
  parseListUnits(stdout).flatMap((row) => {
    if (row.load === "not-found") return []
    const parsed = parseUnitName(row.unit)
    if (parsed === null) return []
    const instance = { name: parsed.name, suffix: parsed.suffix, pmId: null, running: isRunning(row) }
    return [isTerminalFailure(row) ? { ...instance, failed: true } : instance]
  })

/**
 * Unit file states that mean "starts at boot because of its own install
 * symlinks", the thing `disable` undoes. `static`, `indirect`, `generated`,
 * `alias`, `linked`, `masked`, `disabled` and the empty state of a unit with
 * no unit file are not enabled.
 */
export const isEnabledState = (state: string): boolean => state === "enabled" || state === "enabled-runtime"

/**
 * `systemctl show -p Id,UnitFileState a b c` prints one block per unit, in
 * argument order, separated by blank lines, even for units without a unit
 * file (empty state). Returns the state per requested unit, matched by
 * position (an alias shows its target's Id), or null when the block count
 * does not match the request.
 */
export const parseShowUnitFileState = (
  stdout: string,
  units: ReadonlyArray<string>,
): ReadonlyMap<string, string> | null => {
  const blocks = stdout
    .split(/\n\s*\n/)
    .map((block) => block.trim())
    .filter((block) => block !== "")
  if (blocks.length !== units.length) return null
  const states = new Map<string, string>()
  blocks.forEach((block, index) => {
    const unit = units[index]
    if (unit === undefined) return
    const line = block.split("\n").find((l) => l.startsWith("UnitFileState="))
    states.set(unit, line === undefined ? "" : line.slice("UnitFileState=".length).trim())
  })
  return states
}

/**
 * Whether `systemctl list-unit-files --no-legend NAME` lists NAME. Its
 * column count changed across versions (249 and 252: UNIT FILE, STATE,
 * VENDOR PRESET; older: two), so only the first field is read.
 */
export const listUnitFilesHas = (stdout: string, unitFile: string): boolean =>
  stdout.split("\n").some((line) => line.trim().split(/\s+/)[0] === unitFile)

/**
 * Why a unit name must not reach systemctl, or null when it is fine: only
 * systemd's unit-name characters, never a leading `-` (it would read as an
 * option), a non-empty suffix, at most 255 characters.
 */
export const unitNameProblem = (ref: Pick<InstanceRef, "name" | "suffix">): string | null => {
  if (ref.name === "") return "empty unit name"
  if (ref.name.startsWith("-")) return `unit name ${JSON.stringify(ref.name)} starts with "-"`
  if (!unitChars.test(ref.name)) return `unit name ${JSON.stringify(ref.name)} has characters systemd does not allow`
  if (ref.suffix !== null) {
    if (ref.suffix === "") return `empty instance suffix for ${JSON.stringify(ref.name)}`
    if (!unitChars.test(ref.suffix))
      return `instance suffix ${JSON.stringify(ref.suffix)} has characters systemd does not allow`
  }
  const full = ref.suffix === null ? `${ref.name}.service` : `${ref.name}@${ref.suffix}.service`
  if (full.length > 255) return `unit name ${JSON.stringify(full)} is longer than 255 characters`
  return null
}

/** Same check for a unit file name given whole (`tamanu-patientportal@.service`). */
export const unitFileProblem = (unitFile: string): string | null => {
  if (unitFile.startsWith("-")) return `unit file ${JSON.stringify(unitFile)} starts with "-"`
  if (!/^[A-Za-z0-9:_.\\@-]+$/.test(unitFile) || !unitFile.includes("."))
    return `unit file ${JSON.stringify(unitFile)} is not a unit file name`
  if (unitFile.length > 255) return `unit file ${JSON.stringify(unitFile)} is longer than 255 characters`
  return null
}

/**
 * A failed systemctl call whose stderr says the manager itself cannot be
 * reached (no user manager / no bus, not booted with systemd): that is the
 * supervisor being unavailable, not the call failing.
 */
export const isUnavailableMessage = (stderr: string): boolean =>
  /Failed to connect to (bus|user scope bus)|Failed to get D-Bus connection|has not been booted with systemd|Can't operate/i.test(
    stderr,
  )

/**
 * The properties `systemctl show` is asked for to read run states
 * (`parseShowRunStates`): one call for every unit of a settle window's tick.
 */
export const runStateProperties: ReadonlyArray<string> = [
  "Id",
  "ActiveState",
  "SubState",
  "NRestarts",
  "ExecMainStartTimestampMonotonic",
  "ExecMainExitTimestampMonotonic",
  "ExecMainCode",
  "ExecMainStatus",
]

/** ActiveState/SubState as a run phase (runState.ts). */
export const runPhaseOf = (active: string, sub: string): RunPhase => {
  switch (active) {
    case "active":
    case "reloading":
      return "running"
    case "activating":
      return sub === "auto-restart" ? "restarting" : "starting"
    case "deactivating":
      return "stopping"
    case "failed":
      return "failed"
    default:
      // inactive, and anything newer we do not know: not up.
      return active === "maintenance" ? "stopping" : "stopped"
  }
}

/** systemd's `ExecMainCode`/`ExecMainStatus` (CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3); null when nothing exited. */
export const exitOfMain = (code: number, status: number): ExitStatus | null => {
  switch (code) {
    case 1:
      return { _tag: "Exited", code: status }
    case 2:
    case 3:
      return { _tag: "Killed", signal: signalName(status), coreDumped: code === 3 }
    default:
      return null
  }
}

/** A monotonic timestamp in microseconds as milliseconds; systemd's 0 means "never". */
const monotonicMillis = (value: string | undefined): number | null => {
  const micros = Number(value ?? "0")
  return Number.isFinite(micros) && micros > 0 ? micros / 1000 : null
}

/**
 * `systemctl show -p <runStateProperties> a b c`: one block per unit, in
 * argument order, whatever order systemd prints the properties in (252 does
 * not follow `-p`). Returns each ref's run state, matched by position, or
 * null when the block count does not match the request. Times are
 * systemd's CLOCK_MONOTONIC in milliseconds (`*Monotonic` properties).
 * A unit systemd does not know reads as `stopped`, never started.
 */
export const parseShowRunStates = (
  stdout: string,
  refs: ReadonlyArray<InstanceRef>,
): ReadonlyArray<RunState> | null => {
  const blocks = stdout
    .split(/\n\s*\n/)
    .map((block) => block.trim())
    .filter((block) => block !== "")
  if (blocks.length !== refs.length) return null
  return blocks.map((block, index) => {
    const ref = refs[index] as InstanceRef
    const p = new Map(
      block.split("\n").map((line) => {
        const eq = line.indexOf("=")
        return eq === -1
          ? ([line.trim(), ""] as const)
          : ([line.slice(0, eq).trim(), line.slice(eq + 1).trim()] as const)
      }),
    )
    const exitedAt = monotonicMillis(p.get("ExecMainExitTimestampMonotonic"))
    const restarts = Number(p.get("NRestarts") ?? "0")
    return {
      name: ref.name,
      suffix: ref.suffix,
      pmId: null,
      phase: runPhaseOf(p.get("ActiveState") ?? "", p.get("SubState") ?? ""),
      restarts: Number.isInteger(restarts) && restarts >= 0 ? restarts : 0,
      startedAt: monotonicMillis(p.get("ExecMainStartTimestampMonotonic")),
      exitedAt,
      exit:
        exitedAt === null
          ? null
          : exitOfMain(Number(p.get("ExecMainCode") ?? "0"), Number(p.get("ExecMainStatus") ?? "0")),
    }
  })
}

/**
 * The units a failed `systemctl start/restart` names in its stderr (`Job for
 * tamanu-facility-sync.service failed because the control process exited
 * with error code.`), as display names (`tamanu-facility-sync`, `name@1`):
 * the instances whose journal says why.
 */
export const failedJobUnits = (stderr: string): ReadonlyArray<string> => [
  ...new Set(
    [...stderr.matchAll(/Job for (\S+?)\.service failed/g)].flatMap((m) =>
      m[1] === undefined || parseUnitName(`${m[1]}.service`) === null ? [] : [m[1]],
    ),
  ),
]
