/**
 * `stop` (spec §6): every running instance of the chosen Up expectations in
 * one batched call, then wait until stopped. Caddy is not touched; Down and
 * Unknown expectations are left alone.
 */
import type { ExpectationGroup, SupervisorKind } from "../model/instance.js"
import { unknownWarning } from "./common.js"
import { makePlan, type Plan, toRef } from "./Plan.js"

export interface PlanStopInput {
  readonly supervisor: SupervisorKind
  readonly groups: ReadonlyArray<ExpectationGroup>
}

export const planStop = (input: PlanStopInput): Plan => {
  const warnings = input.groups
    .filter((g) => g.expectation.state === "Unknown")
    .map((g) => unknownWarning(g.expectation))
  // A running leftover singleton is still that service running: stopping the service stops it too.
  const running = input.groups
    .filter((g) => g.expectation.state === "Up")
    .flatMap((g) => [...g.instances, ...g.leftovers])
    .filter((i) => i.running)
    .map(toRef)
  return makePlan(
    "stop",
    [
      { _tag: "Stop", refs: running },
      { _tag: "WaitStopped", refs: running },
    ],
    warnings,
  )
}
