import { Duration, Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { formatDuration, InvalidDuration, parseDuration } from "./duration.js"

const nanosOf = (text: string): bigint | string =>
  Either.match(parseDuration(text), {
    onLeft: (e) => e._tag,
    onRight: (d) => Duration.unsafeToNanos(d),
  })

const MS = 1_000_000n
const S = 1_000n * MS

describe("parseDuration", () => {
  const valid: ReadonlyArray<[string, bigint]> = [
    ["30s", 30n * S],
    ["1m30s", 90n * S],
    ["500ms", 500n * MS],
    ["2h", 7200n * S],
    ["0s", 0n],
    ["1h2m3s4ms", 3723n * S + 4n * MS],
    ["1m", 60n * S],
    ["5m500ms", 300n * S + 500n * MS],
    [" 30s ", 30n * S],
    ["PT30S", 30n * S],
    ["PT1M30S", 90n * S],
    ["PT0.5S", 500n * MS],
    ["PT0,25S", 250n * MS],
    ["PT2H", 7200n * S],
    ["P1D", 86_400n * S],
    ["P1DT1S", 86_401n * S],
    ["pt30s", 30n * S],
  ]
  it.each(valid)("reads %s", (text, nanos) => {
    expect(nanosOf(text)).toBe(nanos)
  })

  const invalid: ReadonlyArray<string> = [
    "",
    "   ",
    "30",
    "s",
    "30 s",
    "-5s",
    "1.5s",
    "30s1m",
    "1s1s",
    "30sec",
    "abc",
    "P",
    "PT",
    "P1Y",
    "P1M",
    "PT1.S",
    "30S",
  ]
  it.each(invalid)("refuses %j with InvalidDuration carrying the input", (text) => {
    const result = parseDuration(text)
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left).toBeInstanceOf(InvalidDuration)
      expect(result.left.input).toBe(text)
    }
  })

  it("says which forms are valid", () => {
    const result = parseDuration("soon")
    const message = Either.isLeft(result) ? result.left.message : ""
    for (const form of ["30s", "1m30s", "500ms", "2h", "PT30S"]) expect(message).toContain(form)
    expect(message).toContain('"soon"')
  })
})

describe("formatDuration", () => {
  const rows: ReadonlyArray<[Duration.Duration, string]> = [
    [Duration.zero, "0s"],
    [Duration.seconds(30), "30s"],
    [Duration.seconds(90), "1m30s"],
    [Duration.millis(500), "500ms"],
    [Duration.hours(2), "2h"],
    [Duration.infinity, "infinity"],
  ]
  it.each(rows)("writes %s as %s", (duration, text) => {
    expect(formatDuration(duration)).toBe(text)
  })

  it("round-trips: whatever it formats parses back to the same duration (format → parse)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 24 * 3600 * 1000 }), (ms) => {
        const text = formatDuration(Duration.millis(ms))
        expect(nanosOf(text)).toBe(BigInt(ms) * MS)
      }),
    )
  })

  it("round-trips hand-built compact and ISO texts", () => {
    const part = fc.option(fc.integer({ min: 0, max: 999 }), { nil: undefined })
    fc.assert(
      fc.property(part, part, part, part, (h, m, s, ms) => {
        fc.pre([h, m, s, ms].some((x) => x !== undefined))
        const expected =
          BigInt(h ?? 0) * 3600n * S + BigInt(m ?? 0) * 60n * S + BigInt(s ?? 0) * S + BigInt(ms ?? 0) * MS
        const piece = (n: number | string | undefined, unit: string) => (n === undefined ? "" : `${n}${unit}`)
        const compact = piece(h, "h") + piece(m, "m") + piece(s, "s") + piece(ms, "ms")
        expect(nanosOf(compact)).toBe(expected)
        const seconds = `${s ?? 0}.${String(ms ?? 0).padStart(3, "0")}`
        const isoText = `PT${piece(h, "H")}${piece(m, "M")}${piece(s === undefined && ms === undefined ? undefined : seconds, "S")}`
        expect(nanosOf(isoText)).toBe(expected)
      }),
    )
  })
})
