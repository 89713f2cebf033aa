/**
 * Durations as operators type them (spec §12): `30s`, `1m30s`, `500ms`, `2h`,
 * `0s`, or ISO-8601 `PT30S`, `PT1M30S`, `PT0.5S`. Used by `--probe-timeout`,
 * `--cooldown`, `--db-wait`. A bad value is a usage error, decided before
 * anything changes.
 */
import { Duration, Either, Option, Schema } from "effect"

/** The forms the parser accepts, for error messages and help text. */
export const durationForms = ["30s", "1m30s", "500ms", "2h", "0s", "PT30S", "PT1M30S", "PT0.5S"] as const

export class InvalidDuration extends Schema.TaggedError<InvalidDuration>()("InvalidDuration", {
  input: Schema.String,
}) {
  override get message(): string {
    return `"${this.input}" is not a duration. Use a number with units h, m, s, ms, in that order (${durationForms
      .slice(0, 5)
      .join(", ")}), or ISO-8601 (${durationForms.slice(5).join(", ")}).`
  }
}

const NS_PER_MS = 1_000_000n
const NS_PER_S = 1_000n * NS_PER_MS
const NS_PER_M = 60n * NS_PER_S
const NS_PER_H = 60n * NS_PER_M
const NS_PER_D = 24n * NS_PER_H

// Each unit at most once, largest first. `m(?!s)` keeps minutes from eating the `m` of `ms`.
const compact = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/
// Only fixed-length ISO designators: days and the time part (years and months vary in length).
const num = String.raw`(\d+(?:[.,]\d+)?)`
const iso = new RegExp(`^P(?:${num}D)?(?:T(?:${num}H)?(?:${num}M)?(?:${num}S)?)?$`, "i")

/** `"1.5"` of a unit worth `unit` nanoseconds, exactly, truncated to whole nanoseconds. */
const decimalToNanos = (text: string, unit: bigint): bigint => {
  const [whole = "0", fraction = ""] = text.split(/[.,]/)
  return (BigInt(whole + fraction) * unit) / 10n ** BigInt(fraction.length)
}

const total = (parts: ReadonlyArray<readonly [string | undefined, bigint]>): bigint =>
  parts.reduce((sum, [text, unit]) => (text === undefined ? sum : sum + decimalToNanos(text, unit)), 0n)

export const parseDuration = (text: string): Either.Either<Duration.Duration, InvalidDuration> => {
  const input = text.trim()
  const invalid = Either.left(new InvalidDuration({ input: text }))
  if (input === "") return invalid

  const c = compact.exec(input)
  if (c !== null) {
    const [, h, m, s, ms] = c
    return Either.right(
      Duration.nanos(
        total([
          [h, NS_PER_H],
          [m, NS_PER_M],
          [s, NS_PER_S],
          [ms, NS_PER_MS],
        ]),
      ),
    )
  }

  const i = iso.exec(input)
  // `P` alone and `PT` with nothing after it name no duration.
  if (i !== null && !/^P$|T$/i.test(input)) {
    const [, d, h, m, s] = i
    return Either.right(
      Duration.nanos(
        total([
          [d, NS_PER_D],
          [h, NS_PER_H],
          [m, NS_PER_M],
          [s, NS_PER_S],
        ]),
      ),
    )
  }
  return invalid
}

/**
 * The compact form the parser reads back (`1h2m3s500ms`, `0s`), to whole
 * milliseconds: what `--help` defaults and messages show.
 */
export const formatDuration = (duration: Duration.Duration): string => {
  const nanos = Duration.toNanos(duration)
  if (Option.isNone(nanos)) return "infinity"
  let rest = nanos.value / NS_PER_MS
  const units: ReadonlyArray<readonly [string, bigint]> = [
    ["h", NS_PER_H / NS_PER_MS],
    ["m", NS_PER_M / NS_PER_MS],
    ["s", NS_PER_S / NS_PER_MS],
    ["ms", 1n],
  ]
  let out = ""
  for (const [suffix, size] of units) {
    const count = rest / size
    rest -= count * size
    if (count > 0n) out += `${count}${suffix}`
  }
  return out === "" ? "0s" : out
}
