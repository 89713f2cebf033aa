/**
 * Whether `status` exits 1, and why (spec §4, issues #22 and #25): an unmet
 * expectation (short, down, forbidden), an instance that runs a version
 * other than the expected one, or tamanu's Caddy pins past their due time or
 * naming an address no running instance has (`pinsProblem`). `unknown`
 * (either side) and `upgrading` never fail. Pure, so each reason is added
 * here and tested in a table.
 */
import type { InstanceVersion } from "./version.js"

export interface StatusFailureInput {
  /** Expectations whose outcome is a failure. */
  readonly unmet: ReadonlyArray<string>
  /** Instances whose version is a mismatch. */
  readonly drifted: ReadonlyArray<InstanceVersion & { readonly expected: string | null }>
  /** What is wrong with tamanu's pins in Caddy (proxy/caddyStatus.ts `pinsProblem`); null: nothing. */
  readonly caddy: string | null
}

/** One line per reason to exit 1; empty: exit 0. */
export const statusFailureReasons = (input: StatusFailureInput): ReadonlyArray<string> => [
  ...input.unmet.map((name) => `${name} is not as expected`),
  ...input.drifted.map((d) => `${d.instance} runs ${d.actual}, expected ${d.expected}`),
  ...(input.caddy === null ? [] : [`Caddy: ${input.caddy}`]),
]

export const statusExitCode = (reasons: ReadonlyArray<string>): 0 | 1 => (reasons.length > 0 ? 1 : 0)
