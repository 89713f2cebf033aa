/**
 * The one rule checked before every take-down of an instance behind Caddy
 * (spec §7.4, §9.1; issue #20): it goes down only if Caddy routes its
 * service to at least one other instance that answered in this run, or
 * that was found serving when the session opened, at the very address
 * Caddy routes to. And its own address must be known: an instance whose
 * container could not be found before its restart (no `PODMAN_SYSTEMD_UNIT`
 * label) will not be found after it, and the roll must not go blind. Pure:
 * the roll asks it with the routes it is about to
 * load and what it knows of each instance, and stops before the drain when
 * the answer is no, so Caddy keeps routing to what serves.
 *
 * `--no-probe-http` changes how readiness is judged (an instance that
 * stayed running through its cooldown counts), not this rule: Caddy still
 * needs the restarted instance's new address for its pin.
 */
import type { Endpoint } from "./caddyConfig.js"

/** Why an instance may be routed to: what this run saw of it, at which address. */
export interface Vouched {
  readonly url: string
  /**
   * `answered`: it answered a probe in this run at `url`. `settled`: with
   * `--no-probe-http`, it stayed running at `url` through its cooldown.
   * `serving`: found running at `url` when the session opened, and not
   * taken down since.
   */
  readonly basis: "answered" | "settled" | "serving"
}

export interface TakeDownInput {
  /** The instance about to go down (display name). */
  readonly instance: string
  readonly service: string
  /** Where Caddy routes the service once the drain is loaded: tamanu's pin, by instance. */
  readonly routed: ReadonlyArray<Endpoint>
  /** What this run knows of the service's instances (the one going down included), by display name. */
  readonly vouched: ReadonlyMap<string, Vouched>
}

export type TakeDown =
  | { readonly _tag: "Allowed"; readonly servedBy: ReadonlyArray<string> }
  | { readonly _tag: "Refused"; readonly reason: string }

/** Whether `instance` may go down now, and if not, why (one sentence an operator can act on). */
export const mayTakeDown = (input: TakeDownInput): TakeDown => {
  if (!input.vouched.has(input.instance))
    return {
      _tag: "Refused",
      reason: `${input.instance}'s own address is not known (none was found for it when the run began: a container without the PODMAN_SYSTEMD_UNIT label, a pm2 process without PORT): after its restart Caddy could not be told where it serves`,
    }
  const others = input.routed.filter((e) => e.instance !== input.instance)
  const servedBy = others.filter((e) => input.vouched.get(e.instance)?.url === e.url).map((e) => e.instance)
  if (servedBy.length > 0) return { _tag: "Allowed", servedBy }
  if (others.length === 0)
    return {
      _tag: "Refused",
      reason: `Caddy would route ${input.service} to no instance other than ${input.instance}: no other instance's address is known to serve`,
    }
  const why = others.map((e) => {
    const known = input.vouched.get(e.instance)
    return known === undefined
      ? `${e.instance} (${e.url}) neither answered in this run nor was found serving when the run began`
      : `${e.instance} answered at ${known.url}, not at ${e.url}`
  })
  return {
    _tag: "Refused",
    reason: `Caddy would route ${input.service} only to instances not known to serve: ${why.join("; ")}`,
  }
}
