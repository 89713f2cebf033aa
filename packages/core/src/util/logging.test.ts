import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { layerWithoutConsoleLoggers, log, withoutConsoleLoggers } from "./logging.js"

/** Everything Effect's console loggers could have written, whichever console method they use. */
const consoleWrites = () => {
  const spies = (["log", "info", "warn", "error", "debug", "trace", "group", "groupCollapsed"] as const).map((m) =>
    vi.spyOn(console, m).mockImplementation(() => undefined),
  )
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true)
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true)
  return () => [...spies, stdout, stderr].reduce((n, spy) => n + spy.mock.calls.length, 0)
}

/** A logger the embedding program installs: it must receive every line. */
const capture = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    lines.push(`${logLevel.label} ${(Array.isArray(message) ? message : [message]).join(" ")}`)
  })
  return { lines, logger }
}

describe("core's log lines reach only the loggers the program installed", () => {
  let writes: () => number
  beforeEach(() => {
    writes = consoleWrites()
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it("with Effect's default logger only, a line goes nowhere (not to the console)", async () => {
    await Effect.runPromise(Effect.all([log.warning("w"), log.info("i"), log.debug("d")]))
    expect(writes()).toBe(0)
  })

  it("nor with the pretty logger @effect/platform's runMain installs in the default's place", async () => {
    await Effect.runPromise(
      log.warning("w").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.prettyLoggerDefault))),
    )
    expect(writes()).toBe(0)
  })

  it("a logger added with Logger.add receives every line at its level, the console none", async () => {
    const { lines, logger } = capture()
    await Effect.runPromise(
      Effect.all([log.warning("w"), log.info("i"), log.debug("d")]).pipe(
        Effect.provide(Logger.add(logger)),
        Logger.withMinimumLogLevel(LogLevel.Debug),
      ),
    )
    expect(lines).toEqual(["WARN w", "INFO i", "DEBUG d"])
    expect(writes()).toBe(0)
  })

  it("a logger put in the default's place with Logger.replace receives them too", async () => {
    const { lines, logger } = capture()
    await Effect.runPromise(log.warning("w").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
    expect(lines).toEqual(["WARN w"])
  })

  it("withoutConsoleLoggers quiets any log call inside, e.g. a dependency's, and keeps the program's loggers", async () => {
    const { lines, logger } = capture()
    await Effect.runPromise(withoutConsoleLoggers(Effect.logWarning("from a dependency")))
    expect(writes()).toBe(0)
    await Effect.runPromise(withoutConsoleLoggers(Effect.logWarning("kept")).pipe(Effect.provide(Logger.add(logger))))
    expect(lines).toEqual(["WARN kept"])
    expect(writes()).toBe(0)
  })

  it("layerWithoutConsoleLoggers quiets what a layer logs while it is built", async () => {
    const noisy = Layer.effectDiscard(Effect.logWarning("while building"))
    await Effect.runPromise(Effect.provide(Effect.void, layerWithoutConsoleLoggers(noisy)))
    expect(writes()).toBe(0)
    // The control: the same layer, unwrapped, does reach the console.
    await Effect.runPromise(Effect.provide(Effect.void, noisy))
    expect(writes()).toBeGreaterThan(0)
  })
})

describe("core logs only through util/logging.ts", () => {
  it("no other core source calls Effect.log* (whose line would reach the console by default)", () => {
    const src = fileURLToPath(new URL("../", import.meta.url))
    const offenders = (fs.readdirSync(src, { recursive: true }) as Array<string>)
      .filter((f) => f.endsWith(".ts") && !f.includes(".test.") && f !== path.join("util", "logging.ts"))
      .filter((f) =>
        /\bEffect\.log(?:Warning|Info|Debug|Error|Fatal|Trace)?\b/.test(fs.readFileSync(path.join(src, f), "utf8")),
      )
    expect(offenders).toEqual([])
  })
})
