/**
 * Embedding example 2 (docs/embedding.md): run a restart and follow its
 * progress events from another fiber through a PubSub.
 */
import { defaults, type OperationServices, Progress, type ProgressEvent, restart } from "@tamanu-lifecycle/core"
import { Effect, Fiber, Layer, PubSub, Queue } from "effect"

/** Restart the API, collecting every progress event as a line of text. */
export const restartWithProgress = (services: Layer.Layer<Exclude<OperationServices, Progress>>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const hub = yield* PubSub.unbounded<ProgressEvent>()
      const events = yield* PubSub.subscribe(hub)
      const lines: Array<string> = []
      // A follower fiber: here it keeps text; a real program might log or push to a UI.
      const follower = yield* Queue.take(events).pipe(
        Effect.tap((event) => Effect.sync(() => lines.push(describe(event)))),
        Effect.forever,
        Effect.fork,
      )
      const result = yield* restart({
        names: ["api"],
        ignoreUnmatched: false,
        dryRun: false,
        waitLimit: defaults.waitLimit,
        lockFile: null,
        probeHttp: true,
        probeTimeout: defaults.restartProbeTimeout,
        cooldown: defaults.cooldown,
        checkUrl: null,
      }).pipe(Effect.provide(Layer.merge(services, Progress.pubsub(hub))))
      // Let the follower drain what is queued, then stop it.
      while (!(yield* Queue.isEmpty(events))) yield* Effect.yieldNow()
      yield* Fiber.interrupt(follower)
      return { result, lines }
    }),
  )

const describe = (event: ProgressEvent): string => {
  switch (event._tag) {
    case "InstanceRestarting":
      return `restarting ${event.instance} (${event.index}/${event.total})`
    case "ProbeReady":
      return `${event.instance} ready after ${event.afterMillis} ms`
    case "ProxyReloaded":
      return `caddy reloaded: ${event.reloaded}`
    default:
      return event._tag
  }
}
