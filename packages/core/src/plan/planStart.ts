/**
 * `start` (spec §5): make the host match its expectations, idempotently.
 * A host that already matches gets an empty plan (`nothingToDo`), so the
 * command can say so without asking for sudo.
 */
import type { ExpectationGroup, InstanceRef, SupervisorKind } from "../model/instance.js"
import { unitName } from "../model/instance.js"
import { requiredRefs } from "../model/unitNames.js"
import { type EnabledUnits, inGroupOrder, missingCapacity, settleStep, unknownWarning } from "./common.js"
import { makePlan, type Plan, type PlanFailure, type PlanStep, toRef, uniqueRefs } from "./Plan.js"

export interface PlanStartInput {
  readonly supervisor: SupervisorKind
  /** The chosen expectations with their discovered instances. */
  readonly groups: ReadonlyArray<ExpectationGroup>
  /** Enabled state of the refs `refsNeedingEnabledState` lists; a unit not in the map counts as disabled. */
  readonly enabled: EnabledUnits
  /** `--up-only`: leave Down expectations alone. */
  readonly upOnly: boolean
  /** false with `--no-probe-http`. */
  readonly probeHttp: boolean
  /** `--settle`: how long started instances that no probe judges must stay running; 0: no window. Default 0. */
  readonly settleMillis?: number
}

export const planStart = (input: PlanStartInput): Plan => {
  const { supervisor, groups, enabled } = input
  const warnings: Array<string> = []
  const failures: Array<PlanFailure> = []
  const stop: Array<InstanceRef> = []
  const disable: Array<InstanceRef> = []
  const remove: Array<InstanceRef> = []
  const waitStopped: Array<InstanceRef> = []
  const start: Array<InstanceRef> = []
  const startedBehindCaddy = new Set<string>()

  for (const group of groups) {
    const { expectation } = group
    switch (expectation.state) {
      case "Unknown":
        warnings.push(unknownWarning(expectation))
        break
      case "Down": {
        if (input.upOnly) break
        const present = [...group.instances, ...group.leftovers]
        const running = present.filter((i) => i.running).map(toRef)
        if (supervisor === "pm2") {
          // pm2's Down is "not registered": delete removes stopped ones too.
          remove.push(...present.map(toRef))
        } else {
          stop.push(...running)
          const candidates = uniqueRefs([...present.map(toRef), ...requiredRefs(supervisor, expectation)])
          disable.push(...candidates.filter((ref) => enabled.get(unitName(ref)) === true))
        }
        waitStopped.push(...running)
        break
      }
      case "Up": {
        const missing = missingCapacity(supervisor, group)
        if (missing.underRegistered !== null) failures.push(missing.underRegistered)
        start.push(...missing.start)
        if (missing.start.length > 0 && expectation.behindCaddy) startedBehindCaddy.add(expectation.name)
        break
      }
    }
  }

  // Behind Caddy, a started instance gets traffic once it answers (§9.1): Caddy is held on the
  // instances that already serve while it boots, then routed to every instance that answers.
  const proxied = [...startedBehindCaddy]
  const steps: Array<PlanStep> = [
    { _tag: "Stop", refs: stop },
    { _tag: "Disable", refs: disable },
    { _tag: "Delete", refs: remove },
    { _tag: "WaitStopped", refs: waitStopped },
    { _tag: "RouteProxy", services: proxied, except: start.filter((ref) => startedBehindCaddy.has(ref.name)) },
    { _tag: "Start", refs: start },
    { _tag: "WaitRunning", refs: start },
    // Before the probes: the window runs while the probed instances still boot, so the two overlap.
    settleStep(
      start.filter((ref) => !(input.probeHttp && startedBehindCaddy.has(ref.name))),
      input.settleMillis,
    ),
  ]
  if (proxied.length > 0) {
    if (input.probeHttp) steps.push({ _tag: "ProbeAll", refs: runningBehindCaddy(groups, start) })
    steps.push({ _tag: "RouteProxy", services: proxied, except: [] }, { _tag: "RestoreProxy", probe: input.probeHttp })
  }
  return makePlan("start", steps, warnings, failures)
}

/** Every behind-Caddy instance that runs once the starts are done: the ones already running plus the started ones. */
const runningBehindCaddy = (
  groups: ReadonlyArray<ExpectationGroup>,
  started: ReadonlyArray<InstanceRef>,
): ReadonlyArray<InstanceRef> =>
  inGroupOrder(
    groups,
    groups
      .filter((g) => g.expectation.state === "Up" && g.expectation.behindCaddy)
      .flatMap((g) => [
        ...g.instances.filter((i) => i.running).map(toRef),
        ...started.filter((ref) => ref.name === g.expectation.name),
      ]),
  )
