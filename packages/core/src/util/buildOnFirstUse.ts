/**
 * Defers building a layer until its service is first used. For live layers
 * whose dependencies are costly to load (Node's HTTP client pulls in
 * undici) but which most runs never touch: `status` and `stop` neither
 * probe nor reload Caddy, and they should not pay for loading what does
 * (docs/performance-cold-start.md).
 */
import { Context, Effect, Layer, type Scope } from "effect"

/**
 * An effect that loads and builds `layer` the first time it runs (into the
 * scope this is called in, so the layer's resources are released with it)
 * and gives every run the same service.
 */
export const buildOnFirstUse = <I, S>(
  tag: Context.Tag<I, S>,
  layer: Effect.Effect<Layer.Layer<I>>,
): Effect.Effect<Effect.Effect<S>, never, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) =>
    Effect.cached(
      layer.pipe(
        Effect.flatMap((l) => Layer.buildWithScope(l, scope)),
        Effect.map((context) => Context.get(context, tag)),
      ),
    ),
  )
