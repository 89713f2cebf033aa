/**
 * The shape of what `status --json` says about Caddy: each service's
 * handlers, the addresses they dial and the running instance at each. A
 * schema of the model, so the status report (model/statusOutcome.ts) and
 * the proxy that fills it in (proxy/caddyStatus.ts) both import it
 * downwards.
 */
import { Schema } from "effect"

export const CaddyAddressJson = Schema.Struct({
  /** `host:port` Caddy dials. */
  address: Schema.String,
  /** The running instance at that address; null: none has it. */
  instance: Schema.NullOr(Schema.String),
})

export const CaddyRouteJson = Schema.Struct({
  service: Schema.String,
  /** Where the handler is in Caddy's config. */
  handler: Schema.String,
  /** `static`, or `dynamic a <name>:<port>`. */
  source: Schema.String,
  /** `dynamic a`: how long Caddy keeps an answer (what it routes to may lag the DNS by this much). */
  refresh_ms: Schema.NullOr(Schema.Number),
  addresses: Schema.Array(CaddyAddressJson),
})

export const CaddyStatusJson = Schema.Struct({
  /** The admin API tamanu reads. */
  admin: Schema.String,
  reachable: Schema.Boolean,
  /** Why routes are not shown, or what to keep in mind. */
  note: Schema.NullOr(Schema.String),
  routes: Schema.Array(CaddyRouteJson),
  /** Some handler routes to an address no running instance has. */
  stale: Schema.Boolean,
  /**
   * Whether the running instances' addresses could be read at all: false when
   * this run cannot see them (a run that is not root on the system manager,
   * whose containers are root's). Then every `instance` is null without
   * meaning "no running instance has it", and `stale` is false.
   */
  instances_seen: Schema.Boolean,
  /** An earlier tamanu run's routing is still in place: since when, and from when its own config may come back. */
  restore_pending: Schema.NullOr(Schema.Struct({ since: Schema.String, due_at: Schema.String })),
})
export type CaddyStatusJson = typeof CaddyStatusJson.Type
