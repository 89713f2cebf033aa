/**
 * `--dry-run` text: one line per step, written as the command an operator
 * would type where there is one (`systemctl start a.service b.service`,
 * `pm2 restart 3 4`). For JSON, encode with the `Plan` schema.
 */
import { Duration } from "effect"
import { displayInstance, type InstanceRef, type SupervisorKind, unitName } from "../model/instance.js"
import { formatDuration } from "../util/duration.js"
import { describeFailure, type Plan, type PlanStep } from "./Plan.js"

export interface RenderOptions {
  /** `user` renders `systemctl --user`. */
  readonly systemdScope?: "system" | "user"
}

export const renderPlan = (plan: Plan, supervisor: SupervisorKind, options: RenderOptions = {}): string => {
  const systemctl = options.systemdScope === "user" ? "systemctl --user" : "systemctl"
  // pm2 addresses one process by pm_id, every process of a name by the name.
  const target = (ref: InstanceRef) =>
    supervisor === "pm2" ? (ref.pmId !== null ? String(ref.pmId) : ref.name) : unitName(ref)
  const call = (verb: string, refs: ReadonlyArray<InstanceRef>) =>
    `${supervisor === "pm2" ? "pm2" : systemctl} ${verb} ${refs.map(target).join(" ")}`
  const names = (refs: ReadonlyArray<InstanceRef>) => refs.map(displayInstance).join(", ")

  const line = (step: PlanStep): string => {
    switch (step._tag) {
      case "Stop":
        return call("stop", step.refs)
      case "Disable":
        return call("disable", step.refs)
      case "Delete":
        return call("delete", step.refs)
      case "WaitStopped":
        return `wait until stopped: ${names(step.refs)}`
      case "Start":
        return call("start", step.refs)
      case "WaitRunning":
        return `wait until running: ${names(step.refs)}`
      case "Restart":
        return call("restart", step.refs)
      case "Settle":
        return `watch for ${formatDuration(Duration.millis(step.millis))} that they stay running (no restart, no exit): ${names(step.refs)}`
      case "RouteProxy":
        return `route Caddy for ${step.services.join(", ")} to the instances that serve${
          step.except.length > 0 ? `, leaving out ${names(step.except)}` : ""
        }`
      case "RestoreProxy":
        return "put Caddy's own config back once no cached answer can name an address taken down"
      case "ProbeAll":
        return `probe until ready (one overall budget): ${names(step.refs)}`
      case "Roll": {
        const each = [
          `${supervisor === "pm2" ? "pm2" : systemctl} restart it`,
          "wait until running",
          step.probe ? "probe until ready" : "watch that it stays running through the settle window and the cooldown",
        ].join(", ")
        const caddy = step.behindCaddy ? "route Caddy away from it, " : ""
        return `roll ${step.service} one instance at a time: ${names(step.instances)} (each: ${caddy}${each})`
      }
      case "Retire":
        return `${call("stop", step.refs)} && ${call("disable", step.refs)}`
      case "CheckUrl":
        return `check ${step.url} answers`
    }
  }

  const lines = [
    ...plan.failures.map((f) => `error: ${describeFailure(f)}`),
    ...plan.warnings.map((w) => `warning: ${w}`),
    ...(plan.nothingToDo ? [`${plan.operation}: nothing to do`] : plan.steps.map((s, i) => `${i + 1}. ${line(s)}`)),
  ]
  return lines.join("\n")
}
