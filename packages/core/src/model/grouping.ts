/**
 * Gathering discovered instances under the expectations they belong to
 * (spec §1.2). Every command works on these groups.
 */
import type { Expectation } from "./expectation.js"
import type { ExpectationGroup, Instance, InstanceRef, SupervisorKind } from "./instance.js"
import { admits, isNumericSuffix } from "./unitNames.js"

/**
 * The stable instance order rolls and output use: numeric suffixes by value
 * (`@2` before `@10`) ahead of named ones, named ones lexicographically, pm2
 * processes by pm_id; singletons first.
 */
export const compareInstances = (a: InstanceRef, b: InstanceRef): number => {
  if (a.suffix !== b.suffix) {
    if (a.suffix === null) return -1
    if (b.suffix === null) return 1
    const an = isNumericSuffix(a.suffix)
    const bn = isNumericSuffix(b.suffix)
    if (an && bn) {
      const byValue = BigInt(a.suffix) - BigInt(b.suffix)
      if (byValue !== 0n) return byValue < 0n ? -1 : 1
    } else if (an !== bn) {
      return an ? -1 : 1
    }
    return a.suffix < b.suffix ? -1 : 1
  }
  if (a.pmId !== b.pmId) {
    if (a.pmId === null) return -1
    if (b.pmId === null) return 1
    return a.pmId - b.pmId
  }
  return 0
}

/** Sorted copy; `Array.prototype.sort` is stable, so equal refs keep their discovery order. */
export const sortInstances = <A extends InstanceRef>(instances: ReadonlyArray<A>): Array<A> =>
  [...instances].sort(compareInstances)

/** A templated shape: instances are `name@suffix`, so a bare `name.service` is a leftover. */
const isTemplated = (e: Expectation): boolean => e.instances._tag !== "Single"

/**
 * One group per expectation, in expectation order. Instances that belong to
 * no expectation are dropped (they are not ours to judge). On systemd, a bare
 * `name.service` of a templated expectation goes to `leftovers`: it never
 * satisfies the expectation and restart retires it (§7.6).
 */
export const groupInstances = (
  supervisor: SupervisorKind,
  expectations: ReadonlyArray<Expectation>,
  instances: ReadonlyArray<Instance>,
): ReadonlyArray<ExpectationGroup> =>
  expectations.map((expectation) => ({
    expectation,
    instances: sortInstances(instances.filter((i) => admits(supervisor, expectation, i))),
    leftovers:
      supervisor === "systemd" && isTemplated(expectation)
        ? instances.filter((i) => i.name === expectation.name && i.suffix === null)
        : [],
  }))
