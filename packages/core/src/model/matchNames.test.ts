import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Expectation } from "./expectation.js"
import { single } from "./expectation.js"
import { matchNames, UnmatchedNames } from "./matchNames.js"

const exp = (name: string): Expectation => ({
  name,
  instances: single,
  state: "Up",
  criticality: "Background",
  reason: "test",
  legacy: false,
  behindCaddy: false,
})

const host = [
  "tamanu-central-tasks",
  "tamanu-frontend",
  "tamanu-facility",
  "tamanu-central-api",
  "tamanu-central-fhir-resolve",
  "tamanu-central-fhir-refresh",
  "tamanu-patientportal",
].map(exp)

const names = (r: ReturnType<typeof matchNames>) =>
  Either.match(r, {
    onLeft: (e) => ({ error: { patterns: e.patterns, available: e.available } }),
    onRight: (s) => ({ selected: s.selected.map((e) => e.name), unmatched: s.unmatched }),
  })

describe("matchNames (spec §2)", () => {
  it.each([
    {
      case: "no names chooses every expectation",
      given: [],
      ignore: false,
      want: { selected: host.map((e) => e.name), unmatched: [] },
    },
    {
      case: "a substring chooses every expectation containing it",
      given: ["fhir"],
      ignore: false,
      want: { selected: ["tamanu-central-fhir-resolve", "tamanu-central-fhir-refresh"], unmatched: [] },
    },
    {
      case: "several names give the union, in the expectations' own order",
      given: ["portal", "api", "tasks"],
      ignore: false,
      want: { selected: ["tamanu-central-tasks", "tamanu-central-api", "tamanu-patientportal"], unmatched: [] },
    },
    {
      case: "overlapping names choose an expectation once",
      given: ["fhir-re", "fhir"],
      ignore: false,
      want: { selected: ["tamanu-central-fhir-resolve", "tamanu-central-fhir-refresh"], unmatched: [] },
    },
    {
      case: "a full name selects its expectation",
      given: ["tamanu-facility"],
      ignore: false,
      want: { selected: ["tamanu-facility"], unmatched: [] },
    },
    {
      case: "a name matching nothing is an error naming it and listing the available names",
      given: ["api", "apii", "sync"],
      ignore: false,
      want: { error: { patterns: ["apii", "sync"], available: host.map((e) => e.name) } },
    },
    {
      case: "with ignoreUnmatched a bad name is reported but the rest still go ahead",
      given: ["api", "sync"],
      ignore: true,
      want: { selected: ["tamanu-central-api"], unmatched: ["sync"] },
    },
    {
      case: "with ignoreUnmatched and nothing matching, the selection is empty, never everything",
      given: ["sync", "nope"],
      ignore: true,
      want: { selected: [], unmatched: ["sync", "nope"] },
    },
    {
      case: "matching is case-sensitive, as unit names are",
      given: ["API"],
      ignore: true,
      want: { selected: [], unmatched: ["API"] },
    },
  ])("$case", ({ given, ignore, want }) => {
    expect(names(matchNames(host, given, { ignoreUnmatched: ignore }))).toEqual(want)
  })

  it("renders an operator-facing message with the bad patterns and the choices", () => {
    const r = matchNames(host, ["apii"], { ignoreUnmatched: false })
    expect(Either.isLeft(r)).toBe(true)
    if (Either.isLeft(r)) {
      expect(r.left).toBeInstanceOf(UnmatchedNames)
      expect(r.left.message).toContain('"apii"')
      expect(r.left.message).toContain("tamanu-central-api")
    }
  })

  const nameArb = fc.stringMatching(/^[a-z-]{1,12}$/)
  const expectationsArb = fc.uniqueArray(nameArb, { maxLength: 8 }).map((ns) => ns.map(exp))
  const patternsArb = fc.array(fc.stringMatching(/^[a-z-]{1,4}$/), { maxLength: 4 })

  it("only ever selects expectations that some given name matches, in order", () => {
    fc.assert(
      fc.property(expectationsArb, patternsArb, fc.boolean(), (es, ps, ignore) => {
        const r = matchNames(es, ps, { ignoreUnmatched: ignore })
        if (Either.isLeft(r)) {
          expect(ignore).toBe(false)
          expect(r.left.patterns.length).toBeGreaterThan(0)
          for (const p of r.left.patterns) expect(es.some((e) => e.name.includes(p))).toBe(false)
          return
        }
        const { selected, unmatched } = r.right
        // selected is an order-preserving subsequence of the expectations
        const indices = selected.map((s) => es.indexOf(s))
        expect(indices.every((i) => i >= 0)).toBe(true)
        expect([...indices].sort((a, b) => a - b)).toEqual(indices)
        if (ps.length === 0) {
          expect(selected).toEqual(es)
        } else {
          for (const s of selected) expect(ps.some((p) => s.name.includes(p))).toBe(true)
          // nothing that matches is left out
          for (const e of es) if (ps.some((p) => e.name.includes(p))) expect(selected).toContain(e)
        }
        for (const u of unmatched) expect(es.some((e) => e.name.includes(u))).toBe(false)
        if (!ignore) expect(unmatched).toEqual([])
      }),
    )
  })
})
