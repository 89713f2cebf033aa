/**
 * The NAMES matcher (spec §2): which expectations a command works on.
 */
import { Either, Schema } from "effect"
import type { Expectation } from "./expectation.js"

/**
 * Patterns that matched no expectation. A usage error (exit 2): it lists the
 * available names so a typo is easy to spot.
 */
export class UnmatchedNames extends Schema.TaggedError<UnmatchedNames>()("UnmatchedNames", {
  patterns: Schema.Array(Schema.String),
  available: Schema.Array(Schema.String),
}) {
  override get message(): string {
    const quoted = this.patterns.map((p) => `"${p}"`).join(", ")
    return `No service matches ${quoted}. Available: ${this.available.join(", ")}.`
  }
}

export interface NameSelection {
  /** Chosen expectations, in their original order. */
  readonly selected: ReadonlyArray<Expectation>
  /** Patterns that matched nothing; non-empty only with `ignoreUnmatched` (the caller warns). */
  readonly unmatched: ReadonlyArray<string>
}

/**
 * No names: everything. Otherwise the union of the expectations each name is
 * a substring of. Names that match nothing are an error, or with
 * `ignoreUnmatched` a warning; the selection then holds only what matched,
 * possibly nothing, and never falls back to "everything".
 */
export const matchNames = (
  expectations: ReadonlyArray<Expectation>,
  names: ReadonlyArray<string>,
  options: { readonly ignoreUnmatched: boolean },
): Either.Either<NameSelection, UnmatchedNames> => {
  if (names.length === 0) return Either.right({ selected: expectations, unmatched: [] })
  const patterns = [...new Set(names)]
  const unmatched = patterns.filter((p) => !expectations.some((e) => e.name.includes(p)))
  if (unmatched.length > 0 && !options.ignoreUnmatched) {
    return Either.left(new UnmatchedNames({ patterns: unmatched, available: expectations.map((e) => e.name) }))
  }
  const selected = expectations.filter((e) => patterns.some((p) => e.name.includes(p)))
  return Either.right({ selected, unmatched })
}
