/**
 * What `--dry-run` says about Caddy (spec §9.5): which way the run will
 * drive it, and the config loads it will make, in order, with the addresses
 * each service will be routed to. Pure: `mutate` reads Caddy's config and
 * the instances' addresses (both read-only) and this walks the plan the way
 * the executor does. Addresses an instance only gets when it restarts are
 * named as such.
 */
import { displayInstance } from "../model/instance.js"
import type { Plan, PlanStep } from "../plan/Plan.js"
import { formatMillis, type ServiceEndpoints } from "./caddyConfig.js"
import { routeDeferred } from "./decide.js"
import type { ProxyView } from "./ReverseProxy.js"

const newAddress = (instance: string): string => `${instance}'s new address`

/** The lines of the preview (no trailing newline). */
export const renderProxyPreview = (
  plan: Plan,
  view: ProxyView,
  services: ReadonlyArray<ServiceEndpoints>,
): ReadonlyArray<string> => {
  if (view.mode === "reload")
    return [
      `Caddy: the admin API (${view.adminUrl}) cannot be used (${view.reason ?? "unknown"}): the old way, a reload of Caddy after each instance is back; requests may be lost while Caddy still holds restarted instances' old addresses.`,
    ]
  const lines: Array<string> = [`Caddy: through its admin API (${view.adminUrl}), one config load per change:`]
  const unrecognised = view.routes.filter((r) => r.handlers.length === 0).map((r) => r.service)
  if (unrecognised.length > 0)
    lines.push(`  (no reverse_proxy tamanu recognises for ${unrecognised.join(", ")}: Caddy is left alone for it)`)

  // Where each routed service's instances are, as the executor will know them.
  const where = new Map<string, Map<string, string>>()
  for (const s of services) where.set(s.service, new Map(s.endpoints.map((e) => [e.instance, new URL(e.url).host])))
  const routed = services.map((s) => s.service).filter((s) => !unrecognised.includes(s))
  const describe = (service: string, leaveOut: ReadonlySet<string>) =>
    `${service} → ${
      [...(where.get(service) ?? new Map<string, string>())]
        .filter(([instance]) => !leaveOut.has(instance))
        .map(([instance, address]) => `${address} (${instance})`)
        .join(", ") || "(unchanged: no other instance serves)"
    }`
  const load = (why: string, leaveOut: ReadonlySet<string>) =>
    lines.push(`  ${lines.length}. ${why}: ${routed.map((s) => describe(s, leaveOut)).join("; ")}`)

  let drained = false
  const refresh = Math.max(0, ...view.routes.flatMap((r) => r.handlers.map((h) => h.refreshMillis ?? 0)))
  plan.steps.forEach((step: PlanStep, index: number) => {
    const next = plan.steps[index + 1]
    switch (step._tag) {
      case "RouteProxy": {
        if (step.except.length > 0) {
          const leaving = new Set(step.except.map(displayInstance))
          load(`before ${[...leaving].join(", ")} start or restart`, leaving)
          if (step.except.some((r) => where.get(r.name)?.has(displayInstance(r)))) drained = true
        } else if (!routeDeferred(step, next)) load("once they answer", new Set())
        return
      }
      case "Start":
      case "Restart":
        for (const ref of step.refs) where.get(ref.name)?.set(displayInstance(ref), newAddress(displayInstance(ref)))
        return
      case "Roll":
        if (!step.behindCaddy) return
        for (const ref of step.instances) {
          const instance = displayInstance(ref)
          load(`before ${instance} goes down`, new Set([instance]))
          drained = true
          where.get(ref.name)?.set(instance, newAddress(instance))
        }
        return
      case "RestoreProxy":
        lines.push(
          drained && refresh > 0
            ? `  ${lines.length}. every instance's new address, then Caddy's own config back no sooner than ${formatMillis(
                refresh,
              )} + a margin after load 1 (its dynamic a cache may name an address taken down until then)`
            : `  ${lines.length}. Caddy's own config back at once (nothing it cached can name an address taken down)`,
        )
        return
      default:
        return
    }
  })
  return lines
}
