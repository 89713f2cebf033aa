import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { statusExitCode, statusFailureReasons } from "./statusExit.js"
import type { VersionStatus } from "./version.js"

const drift = (instance: string, actual: string, expected: string) => ({
  instance,
  actual,
  expected,
  status: "mismatch" as VersionStatus,
  problem: null,
})

const pinsOverdue =
  "tamanu's pins (since 2026-01-01T00:00:00.000Z) are past their due time (2026-01-01T00:05:00.000Z) and Caddy's own config is not back: run `tamanu start`"
const deadPin =
  "tamanu's pins name an address no running instance has (tamanu-frontend → 10.88.0.9:3000): run `tamanu start`"

describe("status exit code", () => {
  it.each([
    [{ unmet: [], drifted: [], caddy: null }, [], 0],
    [{ unmet: ["tamanu-facility-api"], drifted: [], caddy: null }, ["tamanu-facility-api is not as expected"], 1],
    [
      { unmet: [], drifted: [drift("tamanu-facility-api@1", "2.64.0", "2.65.0")], caddy: null },
      ["tamanu-facility-api@1 runs 2.64.0, expected 2.65.0"],
      1,
    ],
    [
      { unmet: ["tamanu-frontend"], drifted: [drift("tamanu-facility-api@2", "2.66.0", "2.65.0")], caddy: null },
      ["tamanu-frontend is not as expected", "tamanu-facility-api@2 runs 2.66.0, expected 2.65.0"],
      1,
    ],
    [{ unmet: [], drifted: [], caddy: pinsOverdue }, [`Caddy: ${pinsOverdue}`], 1],
    [
      { unmet: ["tamanu-frontend"], drifted: [], caddy: deadPin },
      ["tamanu-frontend is not as expected", `Caddy: ${deadPin}`],
      1,
    ],
  ])("%j → %j, exit %i", (input, reasons, code) => {
    expect(statusFailureReasons(input)).toEqual(reasons)
    expect(statusExitCode(statusFailureReasons(input))).toBe(code)
  })

  it("exits 1 exactly when something is unmet, drifted or wrong with the pins, one reason each", () => {
    fc.assert(
      fc.property(fc.array(fc.string()), fc.array(fc.string()), fc.option(fc.string()), (unmet, drifted, caddy) => {
        const reasons = statusFailureReasons({
          unmet,
          drifted: drifted.map((d) => drift(d, "1.0.0", "2.0.0")),
          caddy,
        })
        const expected = unmet.length + drifted.length + (caddy === null ? 0 : 1)
        expect(reasons).toHaveLength(expected)
        expect(statusExitCode(reasons)).toBe(expected > 0 ? 1 : 0)
      }),
    )
  })
})
