/**
 * The reverse proxy in front of Tamanu (spec §9). Best effort: a failed
 * reload is reported as a warning in the result, never as a failure.
 */
import { Context, type Effect } from "effect"

export interface ReloadResult {
  /** Whether Caddy took the reload. */
  readonly reloaded: boolean
  /** What went wrong, for the operator (empty when all went well). */
  readonly warnings: ReadonlyArray<string>
}

export interface ReverseProxyShape {
  /** Reload Caddy and flush the DNS cache (Linux), or POST the Caddyfile (Windows). */
  readonly reload: Effect.Effect<ReloadResult>
}

export class ReverseProxy extends Context.Tag("@tamanu-lifecycle/core/ReverseProxy")<
  ReverseProxy,
  ReverseProxyShape
>() {}
