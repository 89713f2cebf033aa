/**
 * A recording reverse proxy: every reload is kept with its clock time, so a
 * test can check that Caddy was reloaded once, or after each rolled instance.
 * Its answer can be scripted (a failed reload is a warning, never a failure).
 */

import { type ReloadResult, ReverseProxy } from "@tamanu-lifecycle/core"
import { Clock, Context, Effect, Layer, Ref } from "effect"

export interface ProxyReload {
  /** Clock millis of the reload. */
  readonly at: number
  readonly result: ReloadResult
}

export interface FakeReverseProxyControlShape {
  readonly reloads: Effect.Effect<ReadonlyArray<ProxyReload>>
  /** What the next reloads answer, e.g. `{ reloaded: false, warnings: ["caddy: connection refused"] }`. */
  readonly answer: (result: ReloadResult) => Effect.Effect<void>
}

export class FakeReverseProxyControl extends Context.Tag("@tamanu-lifecycle/testing/FakeReverseProxyControl")<
  FakeReverseProxyControl,
  FakeReverseProxyControlShape
>() {}

const ok: ReloadResult = { reloaded: true, warnings: [] }

export const FakeReverseProxy = {
  layer: (result: ReloadResult = ok): Layer.Layer<ReverseProxy | FakeReverseProxyControl> =>
    Layer.effectContext(
      Effect.gen(function* () {
        const answer = yield* Ref.make(result)
        const reloads = yield* Ref.make<ReadonlyArray<ProxyReload>>([])
        const reload = Effect.gen(function* () {
          const at = yield* Clock.currentTimeMillis
          const result = yield* Ref.get(answer)
          yield* Ref.update(reloads, (all) => [...all, { at, result }])
          return result
        })
        const control: FakeReverseProxyControlShape = {
          reloads: Ref.get(reloads),
          answer: (r) => Ref.set(answer, r),
        }
        return Context.make(ReverseProxy, { reload }).pipe(Context.add(FakeReverseProxyControl, control))
      }),
    ),
}
