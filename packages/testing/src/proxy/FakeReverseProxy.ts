/**
 * The ReverseProxy of a fake host: core's own admin-API layer
 * (`makeCaddyAdminProxy`, the code a live host runs) talking to `FakeCaddy`,
 * an in-memory Caddy that models what a real one routes to, its `dynamic a`
 * cache included. So the operations' tests check the real routing decisions
 * (which config, when the own config comes back) under TestClock, and can
 * sample where Caddy would send a request at any moment.
 *
 * When the fake Caddy's admin API is unreachable, the old way (§9.4) is a
 * recorded reload whose answer can be scripted (a failed reload is a
 * warning, never a failure).
 */

import { HttpClient } from "@effect/platform"
import {
  makeCaddyAdminProxy,
  type ProbeTargets,
  type ReloadResult,
  ReverseProxy,
} from "@tamanu-lifecycle/core/internal"
import { Clock, Context, Effect, Layer, Ref } from "effect"
import type { FakeSupervisorControl } from "../supervisor/FakeSupervisor.js"
import { FakeCaddy, type FakeCaddyConfig, FakeCaddyControl, fakeCaddyAdminUrl } from "./FakeCaddy.js"

export interface ProxyReload {
  /** Clock millis of the reload. */
  readonly at: number
  readonly result: ReloadResult
}

export interface FakeReverseProxyControlShape {
  /** Reloads of the old way (only when the admin API is unreachable). */
  readonly reloads: Effect.Effect<ReadonlyArray<ProxyReload>>
  /** What the next reloads answer, e.g. `{ reloaded: false, warnings: ["caddy: connection refused"] }`. */
  readonly answer: (result: ReloadResult) => Effect.Effect<void>
}

export class FakeReverseProxyControl extends Context.Tag("@tamanu-lifecycle/testing/FakeReverseProxyControl")<
  FakeReverseProxyControl,
  FakeReverseProxyControlShape
>() {}

const ok: ReloadResult = { reloaded: true, warnings: [] }

export interface FakeReverseProxyConfig extends FakeCaddyConfig {
  /** What reloads of the old way answer (default: reloaded, no warning). */
  readonly reloadAnswer?: ReloadResult
  /** Keep the routing state in this file between runs, as a live host does beside its lock (default: memory only). */
  readonly stateFile?: string | null
}

export const FakeReverseProxy = {
  layer: (
    config: FakeReverseProxyConfig = {},
  ): Layer.Layer<
    ReverseProxy | FakeReverseProxyControl | FakeCaddyControl,
    never,
    FakeSupervisorControl | ProbeTargets
  > =>
    Layer.effectContext(
      Effect.gen(function* () {
        const answer = yield* Ref.make(config.reloadAnswer ?? ok)
        const reloads = yield* Ref.make<ReadonlyArray<ProxyReload>>([])
        const reload = Effect.gen(function* () {
          const at = yield* Clock.currentTimeMillis
          const result = yield* Ref.get(answer)
          yield* Ref.update(reloads, (all) => [...all, { at, result }])
          return result
        })
        const caddy = yield* FakeCaddyControl
        const proxy = yield* makeCaddyAdminProxy({
          adminUrl: fakeCaddyAdminUrl,
          caddyfile: null,
          stateFile: config.stateFile ?? null,
          reload,
          command: "tamanu (fake host)",
          resolve: (name, _resolvers, port) => caddy.resolveName(name, port),
        }).pipe(Effect.provideService(HttpClient.HttpClient, caddy.adminClient))
        const control: FakeReverseProxyControlShape = { reloads: Ref.get(reloads), answer: (r) => Ref.set(answer, r) }
        return Context.make(ReverseProxy, proxy).pipe(Context.add(FakeReverseProxyControl, control))
      }),
    ).pipe(Layer.provideMerge(FakeCaddy.layer(config))),
}
