/**
 * Naming on the supervisors (spec §1.2): which discovered unit or process
 * belongs to which expectation, and which units an expectation requires.
 */
import { Option } from "effect"
import type { Expectation } from "./expectation.js"
import type { InstanceRef, SupervisorKind } from "./instance.js"

/** A systemd unit name split into the base name and the instance suffix (null for a singleton). */
export interface ParsedUnit {
  readonly name: string
  readonly suffix: string | null
}

// systemd allows ASCII letters, digits, ":", "-", "_", "." and "\" (escapes) in unit names.
// Only `tamanu-` units are Tamanu's, and the base name needs something after the prefix.
const unitPattern = /^(tamanu-[A-Za-z0-9:_.\\-]+?)(?:@([A-Za-z0-9:_.\\-]+))?\.service$/

/**
 * `tamanu-facility-api@2.service` → `{ name: "tamanu-facility-api", suffix: "2" }`.
 * None for anything that is not a Tamanu `.service` unit, for template files
 * (`name@.service`: not a runnable unit) and for empty or odd parts.
 */
export const parseUnit = (unit: string): Option.Option<ParsedUnit> => {
  const match = unitPattern.exec(unit)
  if (match === null) return Option.none()
  const [, name, suffix] = match
  if (name === undefined || name === "tamanu-") return Option.none()
  return Option.some({ name, suffix: suffix ?? null })
}

const allDigits = /^[0-9]+$/

/** Whether a suffix is one of the numbered instances `@1`, `@2`, … */
export const isNumericSuffix = (suffix: string): boolean => allDigits.test(suffix)

/**
 * Whether a discovered instance belongs to an expectation (§1.2). On systemd
 * the suffix must fit the shape: a bare singleton never satisfies a templated
 * expectation (it is a leftover). pm2 has no suffixes: every process with the
 * name belongs.
 */
export const admits = (
  supervisor: SupervisorKind,
  expectation: Expectation,
  instance: Pick<InstanceRef, "name" | "suffix">,
): boolean => {
  if (instance.name !== expectation.name) return false
  if (supervisor === "pm2") return true
  const suffix = instance.suffix
  switch (expectation.instances._tag) {
    case "Single":
      return suffix === null
    case "NumericAtLeast":
      return suffix !== null && isNumericSuffix(suffix)
    case "Named":
      return suffix !== null && expectation.instances.suffixes.includes(suffix)
  }
}

/**
 * The units an Up expectation needs running (§5.2). systemd: `@1..@n` for
 * NumericAtLeast, each suffix for Named, the bare unit for Single. pm2 cannot
 * name individual processes before they exist: one ref for the whole name.
 */
export const requiredRefs = (supervisor: SupervisorKind, expectation: Expectation): ReadonlyArray<InstanceRef> => {
  const ref = (suffix: string | null): InstanceRef => ({ name: expectation.name, suffix, pmId: null })
  if (supervisor === "pm2") return [ref(null)]
  switch (expectation.instances._tag) {
    case "Single":
      return [ref(null)]
    case "NumericAtLeast":
      return Array.from({ length: expectation.instances.count }, (_, i) => ref(String(i + 1)))
    case "Named":
      return expectation.instances.suffixes.map(ref)
  }
}
