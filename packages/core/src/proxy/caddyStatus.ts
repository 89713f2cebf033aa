/**
 * What `status` says about Caddy (issue: "the addresses Caddy routes to
 * against the instances"): for each service behind Caddy, each handler's
 * addresses (static upstreams as configured; `dynamic a` as its name
 * resolves now) matched to the running instances, and flagged when no
 * running instance has an address. Pure: the admin layer's `inspect` reads,
 * this judges.
 */
import { Option } from "effect"
import type { CaddyStatusJson } from "../model/caddyStatusJson.js"
import {
  type Endpoint,
  formatMillis,
  parseDial,
  type ServiceEndpoints,
  sameAddress,
  urlAddress,
} from "./caddyConfig.js"
import type { ProxyView } from "./ReverseProxy.js"

const instanceAt = (address: string, endpoints: ReadonlyArray<Endpoint>): string | null =>
  Option.match(parseDial(address), {
    onNone: () => null,
    onSome: (dial) =>
      endpoints.find((e) =>
        Option.match(urlAddress(e.url), { onNone: () => false, onSome: (a) => sameAddress(a, dial) }),
      )?.instance ?? null,
  })

const iso = (millis: number): string => (Number.isFinite(millis) ? new Date(millis).toISOString() : "now")

/**
 * `instancesUnseen`: why the running instances' addresses could not be read
 * (null when they were): the routes are shown as Caddy has them, unmatched.
 */
export const caddyStatus = (
  view: ProxyView,
  services: ReadonlyArray<ServiceEndpoints>,
  instancesUnseen: string | null = null,
): CaddyStatusJson => {
  if (view.mode === "reload")
    return {
      admin: view.adminUrl,
      reachable: false,
      note: `routes not shown: ${view.reason ?? "the admin API cannot be used"}`,
      routes: [],
      stale: false,
      instances_seen: instancesUnseen === null,
      restore_pending: null,
    }
  const routes = view.routes.flatMap(({ service, handlers }) => {
    const endpoints = services.find((s) => s.service === service)?.endpoints ?? []
    return handlers.map((h) => ({
      service,
      handler: h.handler,
      source: h.source,
      refresh_ms: h.refreshMillis,
      addresses: h.addresses.map((address) => ({ address, instance: instanceAt(address, endpoints) })),
    }))
  })
  const unrecognised = view.routes.filter((r) => r.handlers.length === 0).map((r) => r.service)
  const notes = [
    ...(unrecognised.length > 0 ? [`no reverse_proxy tamanu recognises for ${unrecognised.join(", ")}`] : []),
    ...(instancesUnseen !== null ? [`addresses not matched to instances: ${instancesUnseen}`] : []),
    ...(unrecognised.length === 0 && routes.some((r) => r.refresh_ms !== null)
      ? [
          `dynamic a: what the name resolves to now; Caddy keeps an answer for up to ${formatMillis(
            Math.max(...routes.map((r) => r.refresh_ms ?? 0)),
          )}`,
        ]
      : []),
  ]
  return {
    admin: view.adminUrl,
    reachable: true,
    note: notes.length > 0 ? notes.join("; ") : null,
    routes,
    stale: instancesUnseen === null && routes.some((r) => r.addresses.some((a) => a.instance === null)),
    instances_seen: instancesUnseen === null,
    restore_pending: view.pending === null ? null : { since: iso(view.pending.since), due_at: iso(view.pending.dueAt) },
  }
}

/** How long past its due time a pin may hold before `status` calls it a problem: the scheduled restore runs within seconds of it. */
export const pinsGraceMillis = 30_000

/**
 * Why Caddy's routing needs the operator now (issue #25), or null: tamanu's
 * pins still in place past their due time plus `pinsGraceMillis` (the
 * scheduled restore did not run or could not restore), or a pin naming an
 * address no running instance has. `status` then exits 1 and says what to
 * run. Only tamanu's own pins count: Caddy's own `dynamic a` answers are
 * the DNS's business (`stale` shows them).
 */
export const pinsProblem = (caddy: CaddyStatusJson | null, now: number): string | null => {
  const pending = caddy?.restore_pending ?? null
  if (caddy === null || pending === null) return null
  const run =
    "run `tamanu start`: it waits until the pins are due, probes every pinned instance and puts Caddy's own config back"
  const due = Date.parse(pending.due_at)
  const dueAt = Number.isNaN(due) ? Date.parse(pending.since) : due
  if (now > dueAt + pinsGraceMillis)
    return `tamanu's pins (since ${pending.since}) are past their due time (${pending.due_at}) and Caddy's own config is not back: ${run}`
  const dead = caddy.instances_seen
    ? caddy.routes.flatMap((r) =>
        r.source === "static"
          ? r.addresses.filter((a) => a.instance === null).map((a) => `${r.service} → ${a.address}`)
          : [],
      )
    : []
  if (dead.length > 0) return `tamanu's pins name an address no running instance has (${dead.join(", ")}): ${run}`
  return null
}
