/**
 * What a supervisor reports (spec §1.2, §3): one unit or process.
 */
import { Schema } from "effect"
import type { Expectation } from "./expectation.js"

export const SupervisorKind = Schema.Literal("systemd", "pm2")
export type SupervisorKind = typeof SupervisorKind.Type

/**
 * How an operation addresses one instance.
 * - systemd: `name` + `suffix` (null for a singleton) make the unit name; `pmId` is null.
 * - pm2: `name` is the process name; `pmId` picks one process, or null for
 *   every process of that name (pm2 has no suffixes, so `suffix` is null).
 */
export const InstanceRef = Schema.Struct({
  name: Schema.String,
  suffix: Schema.NullOr(Schema.String),
  pmId: Schema.NullOr(Schema.Int),
})
export type InstanceRef = typeof InstanceRef.Type

/** A discovered instance. */
export const Instance = Schema.Struct({
  ...InstanceRef.fields,
  running: Schema.Boolean,
  /**
   * The supervisor reports it as failed for good: systemd ACTIVE `failed`
   * with no job queued, pm2 `errored`. It will not come up by waiting, so a
   * wait for it to run ends at once (supervisor/wait.ts). Absent or false
   * otherwise, including every state that is on its way somewhere
   * (`activating`/auto-restart, `deactivating`, `reloading`, pm2 `launching`,
   * `waiting restart`, `stopping`). Optional so a plain `{ ..., running }`
   * still describes a healthy or stopped instance.
   */
  failed: Schema.optional(Schema.Boolean),
})
export type Instance = typeof Instance.Type

/** `name@suffix` on systemd, `name#pm_id` on pm2, the bare name otherwise (§1.2). */
export const displayInstance = (ref: InstanceRef): string =>
  ref.suffix !== null ? `${ref.name}@${ref.suffix}` : ref.pmId !== null ? `${ref.name}#${ref.pmId}` : ref.name

/** systemd unit name: `<name>.service` or `<name>@<suffix>.service` (§1.2). */
export const unitName = (ref: Pick<InstanceRef, "name" | "suffix">): string =>
  ref.suffix === null ? `${ref.name}.service` : `${ref.name}@${ref.suffix}.service`

/** Discovered instances gathered under the expectation they belong to (§1.2). */
export interface ExpectationGroup {
  readonly expectation: Expectation
  /** Instances the expectation admits (§1.2). */
  readonly instances: ReadonlyArray<Instance>
  /**
   * systemd only: bare singleton units (`name.service`) of an expectation that
   * is now templated. They never satisfy it; restart retires them last (§7.6).
   */
  readonly leftovers: ReadonlyArray<Instance>
}
