/**
 * Pure readers of what `systemctl` prints, and the checks on what we hand it.
 * Kept apart from the layer so every wording systemd has used (252 on
 * Debian 12, 249 on Ubuntu 22.04, the `●`/`*` marker of older or non-plain
 * listings) is fixed by table tests without a running manager.
 */
import type { Instance, InstanceRef } from "../model/instance.js"

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
}

/**
 * Rows of `systemctl list-units --all --plain --no-legend`. Tolerates the
 * leading status marker (`●` in UTF-8 locales, `*` otherwise) that systemd
 * 246+ prints for failed / not-found units when `--plain` is missing or
 * ignored, surrounding blanks, and the free-text description column.
 */
export const parseListUnits = (stdout: string): ReadonlyArray<UnitRow> =>
  stdout.split("\n").flatMap((line) => {
    const fields = line.trim().split(/\s+/)
    if (fields[0] === "●" || fields[0] === "*") fields.shift()
    const [unit, load, active, sub] = fields
    if (unit === undefined || load === undefined || active === undefined || sub === undefined) return []
    return [{ unit, load, active, sub }]
  })

/** §3: running means active state `active` with sub state `running` or `exited`. */
export const isRunning = (row: Pick<UnitRow, "active" | "sub">): boolean =>
  row.active === "active" && (row.sub === "running" || row.sub === "exited")

/**
 * Tamanu instances from a `list-units` listing: `tamanu-*.service` units
 * that systemd has loaded (running or not), never the `not-found` ones that
 * only exist because something refers to them.
 */
export const instancesFromListUnits = (stdout: string): ReadonlyArray<Instance> =>
  parseListUnits(stdout).flatMap((row) => {
    if (row.load === "not-found") return []
    const parsed = parseUnitName(row.unit)
    return parsed === null ? [] : [{ name: parsed.name, suffix: parsed.suffix, pmId: null, running: isRunning(row) }]
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
