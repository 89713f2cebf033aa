import { Cause, Effect, Logger, LogLevel } from "effect"
import { describe, expect, it } from "vitest"
import { palette, stripAnsi } from "./color.js"
import { cliLogger, levelWord, renderLogLine } from "./logger.js"

const entry = (logLevel: LogLevel.LogLevel, message: unknown, cause: Cause.Cause<unknown> = Cause.empty) => ({
  logLevel,
  message,
  cause,
})

describe("renderLogLine", () => {
  const plain = palette(false)

  it.each([
    [LogLevel.Fatal, "fatal"],
    [LogLevel.Error, "error"],
    [LogLevel.Warning, "warning"],
    [LogLevel.Info, "info"],
    [LogLevel.Debug, "debug"],
    [LogLevel.Trace, "trace"],
  ])("%s is the word %s", (level, word) => {
    expect(levelWord(level)).toBe(word)
    expect(renderLogLine(entry(level, "the database did not answer"), plain)).toBe(
      `${word}: the database did not answer`,
    )
  })

  it("one line, the level word first: no clock time, no upper-case level, no fiber id", () => {
    const line = renderLogLine(entry(LogLevel.Warning, ["patient portal flag unknown:", "database unreachable"]), plain)
    expect(line).toBe("warning: patient portal flag unknown: database unreachable")
    expect(line).not.toMatch(/WARN|#\d+|\d\d:\d\d:\d\d|timestamp=|fiber=/)
  })

  it("masks credentials, as error messages do", () => {
    const line = renderLogLine(
      entry(LogLevel.Warning, "database postgres://tamanu:s3cr3t@127.0.0.1:1/tamanu unreachable; password=s3cr3t"),
      plain,
    )
    expect(line).not.toContain("s3cr3t")
    expect(line).toContain("postgres://tamanu:***@127.0.0.1:1/tamanu")
  })

  it("further lines (a multi-line message, a cause) are indented under the first", () => {
    const line = renderLogLine(entry(LogLevel.Debug, "first\nsecond", Cause.fail("boom")), plain)
    const [head, ...rest] = line.split("\n")
    expect(head).toBe("debug: first")
    expect(rest.length).toBeGreaterThanOrEqual(2)
    expect(rest.every((l) => l.startsWith("  "))).toBe(true)
    expect(line).toContain("boom")
  })

  it("colours the level word only when colour is on", () => {
    const coloured = renderLogLine(entry(LogLevel.Warning, "w"), palette(true))
    expect(coloured).not.toBe("warning: w")
    expect(stripAnsi(coloured)).toBe("warning: w")
    expect(renderLogLine(entry(LogLevel.Error, "e"), palette(false))).toBe("error: e")
  })
})

describe("cliLogger", () => {
  const sink = (isTTY: boolean) => {
    const written: Array<string> = []
    return { written, stream: { isTTY, write: (text: string) => written.push(text) } }
  }

  it("writes each line to its stream, coloured as the stream's rule says at that moment", async () => {
    const { written, stream } = sink(false)
    let color = false
    const logger = cliLogger({ stream, color: () => color })
    const run = Effect.logWarning("w").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    await Effect.runPromise(run)
    color = true
    await Effect.runPromise(run)
    expect(written[0]).toBe("warning: w\n")
    expect(written[1]).not.toBe("warning: w\n")
    expect(stripAnsi(written[1] ?? "")).toBe("warning: w\n")
  })

  it("on a terminal, clears the line first, so a spinner's line gives way to it", async () => {
    const { written, stream } = sink(true)
    const logger = cliLogger({ stream, color: () => false })
    await Effect.runPromise(Effect.logInfo("i").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
    expect(written).toEqual(["\r\u001b[2Kinfo: i\n"])
  })

  it("installed twice (the binary, then the command), one instance writes each line once", async () => {
    const { written, stream } = sink(false)
    const logger = cliLogger({ stream, color: () => false })
    await Effect.runPromise(
      Effect.logWarning("once").pipe(
        Effect.provide(Logger.add(logger)),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      ),
    )
    expect(written).toEqual(["warning: once\n"])
  })
})
