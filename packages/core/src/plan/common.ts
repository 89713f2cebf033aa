/**
 * Decisions the planners share: what an Up expectation lacks, what an Unknown
 * one gets (a warning, nothing else), whose enabled state a plan needs.
 */
import { type Expectation, minCount } from "../model/expectation.js"
import { compareInstances } from "../model/grouping.js"
import type { ExpectationGroup, InstanceRef, SupervisorKind } from "../model/instance.js"
import { unitName } from "../model/instance.js"
import { requiredRefs } from "../model/unitNames.js"
import { type PlanFailure, type PlanStep, toRef, uniqueRefs } from "./Plan.js"

/** Enabled state per unit name (`tamanu-x@1.service`), as `Supervisor.enabled` answers it. */
export type EnabledUnits = ReadonlyMap<string, boolean>

export interface MissingCapacity {
  /** What to start: systemd required units not running; pm2 registered-but-stopped processes. */
  readonly start: ReadonlyArray<InstanceRef>
  /** pm2 only: fewer processes registered than min_count. */
  readonly underRegistered: PlanFailure | null
}

/**
 * What an Up expectation needs started (§5.2). systemd can start a unit that
 * is not loaded yet (a template instance), so every required unit not running
 * counts; pm2 can only start processes it already knows.
 */
export const missingCapacity = (supervisor: SupervisorKind, group: ExpectationGroup): MissingCapacity => {
  const { expectation, instances } = group
  if (supervisor === "pm2") {
    const required = minCount(expectation.instances)
    return {
      start: instances.filter((i) => !i.running).map(toRef),
      underRegistered:
        instances.length < required
          ? { _tag: "Pm2UnderRegistered", service: expectation.name, registered: instances.length, required }
          : null,
    }
  }
  const running = new Set(instances.filter((i) => i.running).map(unitName))
  return {
    start: requiredRefs(supervisor, expectation).filter((ref) => !running.has(unitName(ref))),
    underRegistered: null,
  }
}

export const unknownWarning = (e: Expectation): string =>
  `${e.name}: expected state is unknown (${e.reason}); left alone.`

/**
 * The refs whose enabled state `planStart` and `planRestart` read (systemd
 * only): instances, leftovers and required unit names of Down expectations
 * (a unit can be enabled without being loaded, §5.1), and leftovers of Up
 * expectations (restart retires them only when running or enabled). Ask
 * `Supervisor.enabled` for these in one call.
 */
export const refsNeedingEnabledState = (
  supervisor: SupervisorKind,
  groups: ReadonlyArray<ExpectationGroup>,
): ReadonlyArray<InstanceRef> => {
  if (supervisor === "pm2") return []
  return uniqueRefs(
    groups.flatMap((g) =>
      g.expectation.state === "Down"
        ? [...g.instances, ...g.leftovers, ...requiredRefs(supervisor, g.expectation)].map(toRef)
        : g.expectation.state === "Up"
          ? g.leftovers.map(toRef)
          : [],
    ),
  )
}

/** Unique refs in group order, each group's in the stable instance order (§7.4). */
export const inGroupOrder = (
  groups: ReadonlyArray<ExpectationGroup>,
  refs: ReadonlyArray<InstanceRef>,
): ReadonlyArray<InstanceRef> => {
  const order = (ref: InstanceRef) => groups.findIndex((g) => g.expectation.name === ref.name)
  return [...uniqueRefs(refs)].sort((a, b) => order(a) - order(b) || compareInstances(a, b))
}

/**
 * The settle window over the instances no probe judges; none (an empty step
 * the plan drops) when the window is 0 or there is nothing to watch.
 */
export const settleStep = (refs: ReadonlyArray<InstanceRef>, millis: number | undefined): PlanStep => ({
  _tag: "Settle",
  refs: millis === undefined || millis <= 0 ? [] : uniqueRefs(refs),
  millis: millis ?? 0,
})
