/**
 * `restart` (spec §7), in the order that keeps Critical services serving:
 * start what is missing (capacity back first) → one bulk restart of
 * Background services and singletons → Caddy routed to what they brought
 * up once it answers → roll each Critical service one instance at a time
 * (Caddy routed away from each before it goes down) → retire leftover
 * singletons → Caddy's own config back → check URL.
 *
 * Instances started in the first step are fresh: they are not restarted
 * again, neither in bulk nor in a roll.
 */
import { isRolling, minCount } from "../model/expectation.js"
import type { ExpectationGroup, InstanceRef, SupervisorKind } from "../model/instance.js"
import { unitName } from "../model/instance.js"
import { type EnabledUnits, inGroupOrder, missingCapacity, settleStep, unknownWarning } from "./common.js"
import { describeFailure, makePlan, type Plan, type PlanStep, toRef } from "./Plan.js"

export interface PlanRestartInput {
  readonly supervisor: SupervisorKind
  readonly groups: ReadonlyArray<ExpectationGroup>
  /**
   * Enabled state of Up expectations' leftovers (see `refsNeedingEnabledState`).
   * A leftover missing from the map counts as enabled, so it is retired rather than forgotten.
   */
  readonly enabled: EnabledUnits
  /** false with `--no-probe-http`: no probes, rolls wait the cooldown instead. */
  readonly probeHttp: boolean
  /** `--check-url`, or null. */
  readonly checkUrl: string | null
  /** `--settle`: how long started/restarted instances no probe judges must stay running; 0: no window. Default 0. */
  readonly settleMillis?: number
}

export const planRestart = (input: PlanRestartInput): Plan => {
  const { supervisor, groups, enabled } = input
  const warnings: Array<string> = []
  const start: Array<InstanceRef> = []
  const bulk: Array<InstanceRef> = []
  const rolls: Array<PlanStep> = []
  const retire: Array<InstanceRef> = []
  const proxied = new Set<string>()
  const behindCaddy = new Set<string>()

  for (const group of groups) {
    const { expectation } = group
    if (expectation.state === "Unknown") warnings.push(unknownWarning(expectation))
    // Restart only concerns services that should run; Down ones are `start`'s business.
    if (expectation.state !== "Up") continue
    if (expectation.behindCaddy) behindCaddy.add(expectation.name)

    const missing = missingCapacity(supervisor, group)
    if (missing.underRegistered !== null) {
      warnings.push(`${describeFailure(missing.underRegistered)} Restarting the registered ones only.`)
    }
    start.push(...missing.start)

    const running = group.instances.filter((i) => i.running).map(toRef)
    if (isRolling(expectation)) {
      rolls.push({
        _tag: "Roll",
        service: expectation.name,
        instances: running,
        behindCaddy: expectation.behindCaddy,
        probe: input.probeHttp,
      })
    } else {
      bulk.push(...running)
      if (expectation.criticality === "Critical" && running.length > 0) {
        warnings.push(
          `${expectation.name} is Critical but has ${minCount(expectation.instances)} instance: it is restarted in bulk and does not serve while it restarts.`,
        )
      }
    }
    if (expectation.behindCaddy && (missing.start.length > 0 || (!isRolling(expectation) && running.length > 0))) {
      proxied.add(expectation.name)
    }

    // A bare singleton beside its instanced replacement: retired last, once the replacements answer (§7.6).
    retire.push(...group.leftovers.filter((l) => l.running || enabled.get(unitName(l)) !== false).map(toRef))
  }

  const services = [...proxied]
  const touched = [...start, ...bulk].filter((ref) => proxied.has(ref.name))
  const steps: Array<PlanStep> = [
    // Caddy held on what serves while the batches start and restart what it proxies (§9.1).
    { _tag: "RouteProxy", services, except: touched },
    { _tag: "Start", refs: start },
    { _tag: "WaitRunning", refs: start },
    { _tag: "Restart", refs: bulk },
    { _tag: "WaitRunning", refs: bulk },
    // One window for everything started or bulk-restarted that no probe judges, before any roll.
    settleStep(
      [...start, ...bulk].filter((ref) => !(input.probeHttp && behindCaddy.has(ref.name))),
      input.settleMillis,
    ),
  ]
  if (input.probeHttp) {
    // Fresh instances must answer before a roll takes their siblings down.
    const probe = [...start, ...bulk].filter((ref) => behindCaddy.has(ref.name))
    steps.push({ _tag: "ProbeAll", refs: inGroupOrder(groups, probe) })
  }
  // Caddy routed to them before any roll begins (§7.3).
  steps.push({ _tag: "RouteProxy", services, except: [] })
  steps.push(...rolls, { _tag: "Retire", refs: retire })
  if (services.length > 0 || rolls.some((r) => r._tag === "Roll" && r.behindCaddy && r.instances.length > 0))
    steps.push({ _tag: "RestoreProxy", probe: input.probeHttp })

  const plan = makePlan("restart", steps, warnings)
  // An end-to-end check only makes sense after something was restarted.
  if (plan.nothingToDo || input.checkUrl === null) return plan
  return makePlan("restart", [...plan.steps, { _tag: "CheckUrl", url: input.checkUrl }], warnings)
}
