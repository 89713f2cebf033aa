import { Option } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Expectation, Instances } from "./expectation.js"
import { unitName } from "./instance.js"
import { admits, parseUnit, requiredRefs } from "./unitNames.js"

const exp = (name: string, instances: Instances): Expectation => ({
  name,
  instances,
  state: "Up",
  criticality: "Background",
  reason: "test",
  legacy: false,
  behindCaddy: false,
})
const S: Instances = { _tag: "Single" }
const N2: Instances = { _tag: "NumericAtLeast", count: 2 }
const AB: Instances = { _tag: "Named", suffixes: ["a", "b"] }

describe("parseUnit", () => {
  const accepted: ReadonlyArray<[string, string, string | null]> = [
    ["tamanu-facility-api@2.service", "tamanu-facility-api", "2"],
    ["tamanu-facility-api@10.service", "tamanu-facility-api", "10"],
    ["tamanu-frontend@a.service", "tamanu-frontend", "a"],
    ["tamanu-facility.service", "tamanu-facility", null],
    ["tamanu-central-fhir-resolve.service", "tamanu-central-fhir-resolve", null],
    ["tamanu-x@with\\x2ddash.service", "tamanu-x", "with\\x2ddash"],
  ]
  it.each(accepted)("splits %s into its name and suffix", (unit, name, suffix) => {
    expect(parseUnit(unit)).toEqual(Option.some({ name, suffix }))
  })

  const rejected: ReadonlyArray<[string, string]> = [
    ["tamanu-facility-api@.service", "a template file is not a runnable unit"],
    ["caddy.service", "not Tamanu's"],
    ["postgresql@15-main.service", "not Tamanu's"],
    ["tamanu-.service", "empty base name"],
    ["tamanu-@1.service", "empty base name"],
    ["tamanu-api@1.socket", "only services"],
    ["tamanu-api.timer", "only services"],
    ["tamanu-api", "no .service"],
    ["tamanu-api@1@2.service", "two suffixes"],
    ["tamanu-api@1.service ", "trailing space"],
    ["tamanu api.service", "space in the name"],
    ["Tamanu-api.service", "the prefix is case-sensitive"],
    ["", "empty"],
    [".service", "no name"],
  ]
  it.each(rejected)("rejects %s (%s)", (unit) => {
    expect(parseUnit(unit)).toEqual(Option.none())
  })

  const part = fc.stringMatching(/^[A-Za-z0-9:_.\\-]{1,12}$/)
  it("round-trips every unit name it formats (format → parse)", () => {
    fc.assert(
      fc.property(part, fc.option(part, { nil: null }), (base, suffix) => {
        const name = `tamanu-${base}`
        expect(parseUnit(unitName({ name, suffix }))).toEqual(Option.some({ name, suffix }))
      }),
    )
  })
})

describe("admits", () => {
  const rows: ReadonlyArray<[string, "systemd" | "pm2", Instances, string, string | null, boolean]> = [
    ["Single admits the bare unit", "systemd", S, "tamanu-x", null, true],
    ["Single refuses an instance", "systemd", S, "tamanu-x", "1", false],
    ["NumericAtLeast admits a digit suffix", "systemd", N2, "tamanu-x", "1", true],
    ["NumericAtLeast admits a suffix beyond n", "systemd", N2, "tamanu-x", "7", true],
    ["NumericAtLeast admits multi-digit suffixes", "systemd", N2, "tamanu-x", "12", true],
    ["NumericAtLeast refuses letters", "systemd", N2, "tamanu-x", "a", false],
    ["NumericAtLeast refuses mixed", "systemd", N2, "tamanu-x", "1a", false],
    ["NumericAtLeast refuses the bare singleton", "systemd", N2, "tamanu-x", null, false],
    ["Named admits a listed suffix", "systemd", AB, "tamanu-x", "b", true],
    ["Named refuses an unlisted suffix", "systemd", AB, "tamanu-x", "c", false],
    ["Named refuses a digit", "systemd", AB, "tamanu-x", "1", false],
    ["Named refuses the bare singleton", "systemd", AB, "tamanu-x", null, false],
    ["another name never belongs", "systemd", S, "tamanu-y", null, false],
    ["a longer name never belongs", "systemd", S, "tamanu-x-y", null, false],
    ["pm2: every process with the name belongs (Single)", "pm2", S, "tamanu-x", null, true],
    ["pm2: every process with the name belongs (NumericAtLeast)", "pm2", N2, "tamanu-x", null, true],
    ["pm2: every process with the name belongs (Named)", "pm2", AB, "tamanu-x", null, true],
    ["pm2: another name never belongs", "pm2", N2, "tamanu-y", null, false],
  ]
  it.each(rows)("%s", (_, supervisor, instances, name, suffix, expected) => {
    expect(admits(supervisor, exp("tamanu-x", instances), { name, suffix })).toBe(expected)
  })
})

describe("requiredRefs", () => {
  const ref = (suffix: string | null) => ({ name: "tamanu-x", suffix, pmId: null })
  const rows: ReadonlyArray<[string, "systemd" | "pm2", Instances, ReadonlyArray<ReturnType<typeof ref>>]> = [
    ["systemd Single: the bare unit", "systemd", S, [ref(null)]],
    ["systemd NumericAtLeast(2): @1 and @2", "systemd", N2, [ref("1"), ref("2")]],
    [
      "systemd NumericAtLeast(3): @1..@3",
      "systemd",
      { _tag: "NumericAtLeast", count: 3 },
      [ref("1"), ref("2"), ref("3")],
    ],
    ["systemd Named: each suffix", "systemd", AB, [ref("a"), ref("b")]],
    ["pm2 Single: one ref for the name", "pm2", S, [ref(null)]],
    ["pm2 NumericAtLeast: one ref for the name", "pm2", N2, [ref(null)]],
  ]
  it.each(rows)("%s", (_, supervisor, instances, expected) => {
    expect(requiredRefs(supervisor, exp("tamanu-x", instances))).toEqual(expected)
  })

  it("every systemd required ref is admitted by its own expectation", () => {
    const shape = fc.oneof(
      fc.constant(S),
      fc.integer({ min: 1, max: 9 }).map((count): Instances => ({ _tag: "NumericAtLeast", count })),
      fc
        .uniqueArray(fc.stringMatching(/^[a-z]{1,3}$/), { minLength: 1, maxLength: 4 })
        .map((s): Instances => ({ _tag: "Named", suffixes: [s[0]!, ...s.slice(1)] })),
    )
    fc.assert(
      fc.property(shape, (instances) => {
        const e = exp("tamanu-x", instances)
        for (const r of requiredRefs("systemd", e)) expect(admits("systemd", e, r)).toBe(true)
      }),
    )
  })
})
