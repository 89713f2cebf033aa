/**
 * The SDK never writes to stdout or stderr by itself: what its log lines
 * reach is the embedding program's decision (docs/embedding.md). Effect
 * starts every program with a console logger (`Logger.defaultLogger`, which
 * `@effect/platform`'s `runMain` swaps for `Logger.prettyLoggerDefault`), so
 * a warning logged deep in a live layer would land on the caller's stdout,
 * in front of a `--json` document. Core therefore logs only through the
 * helpers below, and runs its operations and builds its live layers, with
 * those two console loggers taken out. Any logger the embedder installed
 * (`Logger.add`, `Logger.replace`) stays and receives every line; the CLI
 * installs one that writes to stderr.
 */
import { Effect, FiberRef, HashSet, Layer, Logger } from "effect"

/** Effect's own console loggers: the default one, and the one `runMain` puts in its place. */
const consoleLoggers: ReadonlyArray<Logger.Logger<unknown, void>> = [Logger.defaultLogger, Logger.prettyLoggerDefault]

const withoutConsole = (
  loggers: HashSet.HashSet<Logger.Logger<unknown, unknown>>,
): HashSet.HashSet<Logger.Logger<unknown, unknown>> =>
  consoleLoggers.reduce((set, logger) => HashSet.remove(set, logger), loggers)

/** Runs `effect` with Effect's console loggers removed; the caller's own loggers still receive its lines. */
export const withoutConsoleLoggers = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locallyWith(effect, FiberRef.currentLoggers, withoutConsole)

/** The same for building a layer (a live layer may log while it is built). */
export const layerWithoutConsoleLoggers = <ROut, E, RIn>(layer: Layer.Layer<ROut, E, RIn>): Layer.Layer<ROut, E, RIn> =>
  Layer.locallyWith(layer, FiberRef.currentLoggers, withoutConsole)

/**
 * Core's log lines, one sentence each. Use these, never `Effect.log*`
 * directly (a test holds core to it): each line reaches the loggers the
 * program installed, never the console by default, whichever way the SDK
 * is called (an operation, a live layer, a service used on its own).
 */
export const log = {
  warning: (message: string): Effect.Effect<void> => withoutConsoleLoggers(Effect.logWarning(message)),
  info: (message: string): Effect.Effect<void> => withoutConsoleLoggers(Effect.logInfo(message)),
  debug: (message: string): Effect.Effect<void> => withoutConsoleLoggers(Effect.logDebug(message)),
} as const

/**
 * A `log.warning` that says each distinct message once for as long as the
 * returned function lives (a layer's lifetime, so one command): a probe-URL
 * lookup that fails the same way before the roll and after each restart
 * warns once, not three times.
 */
export const warningOnce = (): ((message: string) => Effect.Effect<void>) => {
  const said = new Set<string>()
  return (message) =>
    Effect.suspend(() => {
      if (said.has(message)) return Effect.void
      said.add(message)
      return log.warning(message)
    })
}
