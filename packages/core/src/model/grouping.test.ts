import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Expectation, Instances } from "./expectation.js"
import { groupInstances, sortInstances } from "./grouping.js"
import type { Instance } from "./instance.js"

const exp = (name: string, instances: Instances): Expectation => ({
  name,
  instances,
  state: "Up",
  criticality: "Background",
  reason: "test",
  legacy: false,
  behindCaddy: false,
})
const unit = (name: string, suffix: string | null, running = true): Instance => ({ name, suffix, pmId: null, running })
const proc = (name: string, pmId: number, running = true): Instance => ({ name, suffix: null, pmId, running })

const api = exp("tamanu-facility-api", { _tag: "NumericAtLeast", count: 2 })
const tasks = exp("tamanu-facility-tasks", { _tag: "Single" })
const portal = exp("tamanu-patientportal", { _tag: "Named", suffixes: ["a", "b"] })

describe("groupInstances on systemd", () => {
  const discovered = [
    unit("tamanu-patientportal", "b"),
    unit("tamanu-facility-api", "10"),
    unit("tamanu-unrelated", null),
    unit("tamanu-facility-api", "2"),
    unit("tamanu-patientportal", null, false),
    unit("tamanu-facility-tasks", null),
    unit("tamanu-patientportal", "a"),
    unit("tamanu-facility-api", "1"),
    unit("tamanu-patientportal", "zzz"),
    unit("tamanu-facility-tasks", "1"),
  ]
  const groups = groupInstances("systemd", [tasks, api, portal], discovered)

  it("keeps the expectation order", () => {
    expect(groups.map((g) => g.expectation.name)).toEqual([
      "tamanu-facility-tasks",
      "tamanu-facility-api",
      "tamanu-patientportal",
    ])
  })
  it("sorts numeric suffixes by value, so @10 comes after @2", () => {
    expect(groups[1]!.instances.map((i) => i.suffix)).toEqual(["1", "2", "10"])
  })
  it("admits only the listed suffixes of a Named expectation", () => {
    expect(groups[2]!.instances.map((i) => i.suffix)).toEqual(["a", "b"])
  })
  it("puts a bare singleton of a templated expectation in leftovers, never in instances", () => {
    expect(groups[2]!.leftovers).toEqual([unit("tamanu-patientportal", null, false)])
    expect(groups[1]!.leftovers).toEqual([])
  })
  it("gives a Single expectation its bare unit and no leftovers", () => {
    expect(groups[0]!.instances).toEqual([unit("tamanu-facility-tasks", null)])
    expect(groups[0]!.leftovers).toEqual([])
  })
  it("drops instances that belong to no expectation", () => {
    const all = groups.flatMap((g) => [...g.instances, ...g.leftovers])
    expect(all.some((i) => i.name === "tamanu-unrelated")).toBe(false)
    expect(all.some((i) => i.suffix === "zzz")).toBe(false)
  })
})

describe("groupInstances on pm2", () => {
  it("groups every process with the name, ordered by pm_id, with no leftovers", () => {
    const pm2Api = exp("tamanu-api", { _tag: "NumericAtLeast", count: 2 })
    const groups = groupInstances(
      "pm2",
      [pm2Api],
      [proc("tamanu-api", 7), proc("tamanu-tasks", 0), proc("tamanu-api", 3, false), proc("tamanu-api", 12)],
    )
    expect(groups).toEqual([
      {
        expectation: pm2Api,
        instances: [proc("tamanu-api", 3, false), proc("tamanu-api", 7), proc("tamanu-api", 12)],
        leftovers: [],
      },
    ])
  })
})

describe("sortInstances", () => {
  it("orders a mixed set: singleton, numeric by value, then named lexicographically", () => {
    const sorted = sortInstances([
      unit("x", "b"),
      unit("x", "10"),
      unit("x", "a"),
      unit("x", null),
      unit("x", "9"),
      unit("x", "09"),
    ])
    expect(sorted.map((i) => i.suffix)).toEqual([null, "09", "9", "10", "a", "b"])
  })

  it("is a permutation whose order does not depend on the input order", () => {
    const instance = fc.record({
      name: fc.constant("x"),
      suffix: fc.option(fc.oneof(fc.stringMatching(/^[0-9]{1,3}$/), fc.stringMatching(/^[a-z]{1,3}$/)), {
        nil: null,
      }),
      pmId: fc.constant(null),
      running: fc.constant(true),
    })
    const instancesAndShuffle = fc
      .uniqueArray(instance, { selector: (i) => i.suffix })
      .chain((instances) =>
        fc.tuple(
          fc.constant(instances),
          fc.shuffledSubarray(instances, { minLength: instances.length, maxLength: instances.length }),
        ),
      )
    fc.assert(
      fc.property(instancesAndShuffle, ([instances, shuffled]) => {
        expect(sortInstances(shuffled)).toEqual(sortInstances(instances))
        expect(sortInstances(instances)).toHaveLength(instances.length)
      }),
    )
  })
})
