/**
 * A plan: the exact supervisor, proxy and probe calls an operation makes, in
 * order (architecture: "pure planners, thin executor"). Planners compute it
 * from discovered groups without any service; `--dry-run` prints it; the
 * executor interprets it step by step. It is a Schema so `--dry-run --json`
 * encodes it as it is.
 *
 * Steps, in the order a planner may emit them:
 * - `Stop`, `Disable` (systemd), `Delete` (pm2), `WaitStopped`: take Down services off the host, or stop Up ones.
 * - `Start`: ONE batched call for every unit/process to start. `WaitRunning` follows it.
 * - `Restart`: ONE batched call (restart's Background services and singletons). `WaitRunning` follows it.
 * - `Settle`: watch the started/restarted instances no probe judges (no HTTP
 *   probe: tasks, sync, FHIR workers, anything with `--no-probe-http`) for
 *   one window; one that stops, fails or restarts in it fails the operation
 *   (supervisor/settle.ts).
 * - `RouteProxy`: make Caddy route each listed service to exactly its running
 *   instances that serve, leaving out `except` (instances about to go down or
 *   come up): before a batch that starts or restarts instances behind Caddy,
 *   and again once they answer (§9.1).
 * - `ProbeAll`: probe these instances for readiness within one overall budget.
 * - `Roll`: one service, one instance at a time in the listed order: if
 *   `behindCaddy`, route Caddy away from it first (§9.1); restart it, wait
 *   until running, probe it (or, when `probe` is false or no probe URL can be
 *   built, wait the cooldown), then the next, whose routing change also puts
 *   this one's new address in. A failed instance stops the roll.
 * - `Retire`: stop and disable leftover singletons (systemd), last.
 * - `RestoreProxy`: put Caddy's own config back at the first moment no cached
 *   answer can route to an address we took down (§9.2); present whenever a
 *   `RouteProxy` or a `Roll` behind Caddy is.
 * - `CheckUrl`: probe an end-to-end URL (bounded).
 *
 * `failures` are reasons the operation must fail (e.g. pm2 processes that were
 * never registered): the executor reports them and changes nothing; the steps
 * are still listed so `--dry-run` shows what would have happened.
 * `nothingToDo` is true when there are no steps and no failures: say so, exit
 * 0, ask for no sudo.
 */
import { Schema } from "effect"
import { InstanceRef, unitName } from "../model/instance.js"

const Refs = Schema.Array(InstanceRef)

export const StopStep = Schema.TaggedStruct("Stop", { refs: Refs })
export const DisableStep = Schema.TaggedStruct("Disable", { refs: Refs })
export const DeleteStep = Schema.TaggedStruct("Delete", { refs: Refs })
export const WaitStoppedStep = Schema.TaggedStruct("WaitStopped", { refs: Refs })
export const StartStep = Schema.TaggedStruct("Start", { refs: Refs })
export const WaitRunningStep = Schema.TaggedStruct("WaitRunning", { refs: Refs })
export const RestartStep = Schema.TaggedStruct("Restart", { refs: Refs })
export const SettleStep = Schema.TaggedStruct("Settle", {
  refs: Refs,
  /** The window (`--settle`): each must stay running this long. */
  millis: Schema.Number,
})
export const RouteProxyStep = Schema.TaggedStruct("RouteProxy", {
  /** Expectation names of the services behind Caddy to route. */
  services: Schema.Array(Schema.String),
  /** Instances left out: about to be started or restarted by the next batch. */
  except: Refs,
})
export const RestoreProxyStep = Schema.TaggedStruct("RestoreProxy", {
  /**
   * Check first that every running instance of the pinned services answers
   * (Caddy's own upstreams would route to all of them); false with
   * `--no-probe-http`, which trusts the cooldown instead.
   */
  probe: Schema.Boolean,
})
export const ProbeAllStep = Schema.TaggedStruct("ProbeAll", { refs: Refs })
export const RollStep = Schema.TaggedStruct("Roll", {
  service: Schema.String,
  instances: Refs,
  behindCaddy: Schema.Boolean,
  /** false with `--no-probe-http`: the executor waits the cooldown between instances instead. */
  probe: Schema.Boolean,
})
export const RetireStep = Schema.TaggedStruct("Retire", { refs: Refs })
export const CheckUrlStep = Schema.TaggedStruct("CheckUrl", { url: Schema.String })

export const PlanStep = Schema.Union(
  StopStep,
  DisableStep,
  DeleteStep,
  WaitStoppedStep,
  StartStep,
  WaitRunningStep,
  RestartStep,
  SettleStep,
  RouteProxyStep,
  ProbeAllStep,
  RollStep,
  RetireStep,
  RestoreProxyStep,
  CheckUrlStep,
)
export type PlanStep = typeof PlanStep.Type

/** pm2 knows fewer processes than the expectation needs; registering them is the ops playbook's job. */
export const Pm2UnderRegistered = Schema.TaggedStruct("Pm2UnderRegistered", {
  service: Schema.String,
  registered: Schema.Int,
  required: Schema.Int,
})
export const PlanFailure = Schema.Union(Pm2UnderRegistered)
export type PlanFailure = typeof PlanFailure.Type

export const Operation = Schema.Literal("start", "stop", "restart")
export type Operation = typeof Operation.Type

export const Plan = Schema.Struct({
  operation: Operation,
  steps: Schema.Array(PlanStep),
  warnings: Schema.Array(Schema.String),
  failures: Schema.Array(PlanFailure),
  nothingToDo: Schema.Boolean,
})
export type Plan = typeof Plan.Type

/** One paragraph an operator can act on. */
export const describeFailure = (failure: PlanFailure): string => {
  switch (failure._tag) {
    case "Pm2UnderRegistered":
      return `${failure.service}: pm2 has ${failure.registered} of the ${failure.required} required processes registered. First-time pm2 registration is the ops playbook's job (pm2 start with the ecosystem file, then pm2 save); this command only starts processes pm2 already knows.`
  }
}

/** Assembles a plan, dropping empty steps so an empty plan really means nothing to do. */
export const makePlan = (
  operation: Operation,
  steps: ReadonlyArray<PlanStep>,
  warnings: ReadonlyArray<string>,
  failures: ReadonlyArray<PlanFailure> = [],
): Plan => {
  const candidates = steps.filter((step) => {
    switch (step._tag) {
      case "CheckUrl":
      case "RestoreProxy":
        return true
      case "RouteProxy":
        return step.services.length > 0
      case "Roll":
        return step.instances.length > 0
      default:
        return step.refs.length > 0
    }
  })
  // Restoring Caddy is only ever the end of routing it: alone, it is nothing to do.
  const kept = candidates.every((step) => step._tag === "RestoreProxy") ? [] : candidates
  return { operation, steps: kept, warnings, failures, nothingToDo: kept.length === 0 && failures.length === 0 }
}

/** Identity of a ref: the unit name on systemd, plus the pm_id on pm2. */
export const refKey = (ref: InstanceRef): string => `${unitName(ref)}#${ref.pmId ?? ""}`

/** Drops repeated refs, keeping the first occurrence's position. */
export const uniqueRefs = (refs: ReadonlyArray<InstanceRef>): ReadonlyArray<InstanceRef> => {
  const seen = new Set<string>()
  return refs.filter((ref) => {
    const key = refKey(ref)
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** The address part of a discovered instance (drops `running`), so plans hold refs only. */
export const toRef = (ref: InstanceRef): InstanceRef => ({ name: ref.name, suffix: ref.suffix, pmId: ref.pmId })

/** Services behind Caddy that the steps route or roll, in plan order. */
export const proxiedServices = (steps: ReadonlyArray<PlanStep>): ReadonlyArray<string> => [
  ...new Set(
    steps.flatMap((step) =>
      step._tag === "RouteProxy" ? step.services : step._tag === "Roll" && step.behindCaddy ? [step.service] : [],
    ),
  ),
]
