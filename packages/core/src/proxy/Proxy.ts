/**
 * The reverse proxy in front of Tamanu (spec §9). Best effort: a failed
 * reload is reported as a warning in the result, never as a failure.
 */
import { Context, type Effect } from "effect"

export interface ProxyReloadResult {
  /** Whether Caddy took the reload. */
  readonly reloaded: boolean
  /** What went wrong, for the operator (empty when all went well). */
  readonly warnings: ReadonlyArray<string>
}

export interface ProxyShape {
  /** Reload Caddy and flush the DNS cache (Linux), or POST the Caddyfile (Windows). */
  readonly reload: Effect.Effect<ProxyReloadResult>
}

export class Proxy extends Context.Tag("@tamanu-lifecycle/core/Proxy")<Proxy, ProxyShape>() {}
