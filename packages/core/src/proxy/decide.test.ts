import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { PlanStep } from "../plan/Plan.js"
import type { Json } from "./caddyConfig.js"
import {
  addressRequired,
  adoption,
  type Book,
  desiredRoutes,
  discovered,
  drained,
  drainFor,
  earlierRestore,
  emptyBook,
  endpointsOf,
  isDue,
  leftOut,
  markUnready,
  movedTo,
  pendingOf,
  repinTo,
  routeDeferred,
  routeFailureFatal,
  routingOf,
  type SavedRouting,
  silentOf,
  vouchServing,
} from "./decide.js"
import { mayTakeDown } from "./takeDown.js"

const ref = (name: string, suffix: string) => ({ name, suffix, pmId: null })
const routeStep = (except: ReadonlyArray<ReturnType<typeof ref>>): Extract<PlanStep, { _tag: "RouteProxy" }> => ({
  _tag: "RouteProxy",
  services: ["tamanu-frontend"],
  except,
})
const roll = (behindCaddy: boolean): PlanStep => ({
  _tag: "Roll",
  service: "tamanu-frontend",
  instances: [ref("tamanu-frontend", "a")],
  behindCaddy,
  probe: true,
})

describe("routeDeferred: the one 'defer this load' rule (executor and --dry-run)", () => {
  const a = ref("tamanu-frontend", "a")
  it.each<[string, ReadonlyArray<ReturnType<typeof ref>>, PlanStep | undefined, boolean]>([
    ["a roll behind Caddy next loads these routes", [], roll(true), true],
    ["the restore next loads these routes", [], { _tag: "RestoreProxy", probe: true }, true],
    ["a roll not behind Caddy loads nothing", [], roll(false), false],
    ["a start next loads nothing", [], { _tag: "Start", refs: [a] }, false],
    ["the last step loads now", [], undefined, false],
    ["a drain is never deferred, even before a roll", [a], roll(true), false],
    ["a drain is never deferred, even before the restore", [a], { _tag: "RestoreProxy", probe: false }, false],
  ])("%s", (_why, except, next, deferred) => {
    expect(routeDeferred(routeStep(except), next)).toBe(deferred)
  })

  it("only a step that drains fails on a refused route", () => {
    expect(routeFailureFatal(routeStep([]))).toBe(false)
    expect(routeFailureFatal(routeStep([ref("tamanu-frontend", "a")]))).toBe(true)
  })
})

describe("earlierRestore: what a command does with a restore an earlier run left", () => {
  const now = 1_000_000
  it.each<[string, Parameters<typeof earlierRestore>[0], ReturnType<typeof earlierRestore>]>([
    [
      "nothing left, nothing to do",
      { dueAt: null, now, nothingToDo: true, dryRun: false, routesCaddy: false },
      { _tag: "Idle", resume: false },
    ],
    [
      "left, not due, nothing else to do: wait for it under the lock",
      { dueAt: now + 5000, now, nothingToDo: true, dryRun: false, routesCaddy: false },
      { _tag: "Idle", resume: true },
    ],
    [
      "left, not due, --dry-run: nothing is waited for",
      { dueAt: now + 5000, now, nothingToDo: true, dryRun: true, routesCaddy: false },
      { _tag: "Idle", resume: false },
    ],
    [
      "left and due: that is work even with nothing else to do",
      { dueAt: now, now, nothingToDo: true, dryRun: false, routesCaddy: false },
      { _tag: "Work", restoreFirst: true, wouldRestore: true },
    ],
    [
      "left, due, and the plan routes Caddy: its session adopts it",
      { dueAt: now - 1, now, nothingToDo: false, dryRun: false, routesCaddy: true },
      { _tag: "Work", restoreFirst: false, wouldRestore: true },
    ],
    [
      "left, not due, a plan that does not route Caddy: restored (waited for) first",
      { dueAt: now + 5000, now, nothingToDo: false, dryRun: false, routesCaddy: false },
      { _tag: "Work", restoreFirst: true, wouldRestore: false },
    ],
    [
      "nothing left, work to do",
      { dueAt: null, now, nothingToDo: false, dryRun: false, routesCaddy: true },
      { _tag: "Work", restoreFirst: false, wouldRestore: false },
    ],
  ])("%s", (_why, input, expected) => {
    expect(earlierRestore(input)).toEqual(expected)
  })

  it("isDue honours the slack of a timer that fires to the second", () => {
    expect(isDue(1000, 999)).toBe(false)
    expect(isDue(1000, 1000)).toBe(true)
    expect(isDue(1000, 999, 1)).toBe(true)
    expect(isDue(Number.NEGATIVE_INFINITY, 0)).toBe(true)
  })
})

describe("adoption: an earlier run's routing state", () => {
  const original: Json = { apps: { v: "own" } }
  const pinned: Json = { apps: { v: "pinned" } }
  const before: Json = { apps: { v: "before the last load" } }
  const saved: SavedRouting = {
    original,
    current: pinned,
    beforeLoad: before,
    clocks: { h: { service: "tamanu-frontend", swappedAt: 10, holdMillis: 62_000, staled: true } },
    staledServices: [],
    since: 5,
    command: "tamanu restart",
  }
  it.each<[string, Json, ReturnType<typeof adoption>]>([
    ["Caddy runs what it loaded", pinned, { _tag: "Adopt", state: routingOf(saved), since: 5 }],
    ["it died during its last load", before, { _tag: "Adopt", state: routingOf(saved, before), since: 5 }],
    ["Caddy runs its own config again: forgotten quietly", original, { _tag: "Forget", warn: false }],
    ["someone loaded another config: forgotten with a warning", { apps: {} }, { _tag: "Forget", warn: true }],
  ])("%s", (_why, live, expected) => {
    expect(adoption(saved, live)).toEqual(expected)
  })

  it("pending only while Caddy runs what it loaded; due at the latest staled swap plus its hold", () => {
    expect(pendingOf(saved, { apps: {} })).toBeNull()
    expect(pendingOf(saved, pinned)).toEqual({ since: 5, dueAt: 62_010, handlers: ["h"] })
    expect(pendingOf(saved, null)).toEqual({ since: 5, dueAt: 62_010, handlers: ["h"] })
  })
})

describe("repinTo / silentOf: the pins while something does not answer", () => {
  const a = { instance: "tamanu-frontend@a", url: "http://10.0.0.1:3000/" }
  const b = { instance: "tamanu-frontend@b", url: "http://10.0.0.2:3000/" }
  const c = { instance: "tamanu-api@c", url: "http://10.0.0.3:3000/" }
  it("re-pins a service to what answers, keeps the pins of one where nothing does", () => {
    const check = [
      { service: "tamanu-frontend", answering: [a], silent: [b] },
      { service: "tamanu-api", answering: [], silent: [c] },
    ]
    expect(repinTo(check)).toEqual({
      among: [
        { service: "tamanu-frontend", endpoints: [a, b] },
        { service: "tamanu-api", endpoints: [c] },
      ],
      desired: [{ service: "tamanu-frontend", endpoints: [a], draining: false }],
    })
    expect(silentOf(check)).toEqual(["tamanu-frontend@b", "tamanu-api@c"])
  })
})

// ---------------------------------------------------------------- the book, by property

const instanceArb: fc.Arbitrary<string> = fc.constantFrom("s@a", "s@b", "s@c", "t@a", "t@b")
const urlArb: fc.Arbitrary<string> = fc.constantFrom(
  "http://10.0.0.1:3000/",
  "http://10.0.0.2:3000/",
  "http://10.0.0.3:3000/",
)
const serviceOf = (instance: string) => instance.split("@")[0] ?? instance

const bookArb: fc.Arbitrary<Book> = fc
  .record({
    found: fc.dictionary(instanceArb, urlArb),
    unready: fc.uniqueArray(instanceArb, { maxLength: 2 }),
    opened: fc.boolean(),
    answered: fc.dictionary(instanceArb, urlArb),
  })
  .map(({ found, unready, opened, answered }) => {
    const byService = (["s", "t"] as const).map((service) => ({
      service,
      endpoints: Object.entries(found)
        .filter(([instance]) => serviceOf(instance) === service)
        .map(([instance, url]) => ({ instance, url })),
    }))
    let book = discovered(markUnready(emptyBook(["s", "t"]), unready), byService)
    if (opened) book = vouchServing(book, byService)
    for (const [instance, url] of Object.entries(answered))
      book = { ...book, vouched: new Map([...book.vouched, [instance, { url, basis: "answered" as const }]]) }
    return book
  })

describe("Book: what a run knows of the instances behind Caddy", () => {
  it("never routes to an instance a probe found unready, nor to one left out", () => {
    fc.assert(
      fc.property(bookArb, fc.uniqueArray(instanceArb, { maxLength: 3 }), fc.boolean(), (book, out, draining) => {
        const desired = desiredRoutes(book, new Set(out), draining)
        expect(desired.map((d) => d.service)).toEqual(["s", "t"])
        for (const d of desired)
          for (const e of d.endpoints) {
            expect(book.unready.has(e.instance)).toBe(false)
            expect(out).not.toContain(e.instance)
          }
      }),
    )
  })

  it("marks a service draining exactly when the load takes one of its endpoints away", () => {
    fc.assert(
      fc.property(bookArb, fc.uniqueArray(instanceArb, { maxLength: 3 }), (book, out) => {
        for (const d of desiredRoutes(book, new Set(out), true))
          expect(d.draining).toBe(endpointsOf(book, d.service).some((e) => out.includes(e.instance)))
        for (const d of desiredRoutes(book, new Set(out), false)) expect(d.draining).toBe(false)
      }),
    )
  })

  it("the drain asks the take-down rule with exactly the routes it loads", () => {
    fc.assert(
      fc.property(bookArb, instanceArb, (book, instance) => {
        const service = serviceOf(instance)
        const { desired, verdict } = drainFor(book, service, instance)
        const routed = desired.find((d) => d.service === service)?.endpoints ?? []
        expect(routed.map((e) => e.instance)).not.toContain(instance)
        expect(verdict).toEqual(mayTakeDown({ instance, service, routed, vouched: book.vouched }))
      }),
    )
  })

  it("a drained instance is neither routed to nor vouched for until it moves and answers again", () => {
    fc.assert(
      fc.property(bookArb, instanceArb, urlArb, (book, instance, url) => {
        const service = serviceOf(instance)
        const after = drained(book, service, instance)
        expect(endpointsOf(after, service).map((e) => e.instance)).not.toContain(instance)
        expect(after.vouched.has(instance)).toBe(false)
        const back = movedTo(after, service, instance, url)
        if (book.endpoints.has(service)) expect(endpointsOf(back, service)).toContainEqual({ instance, url })
        expect(back.vouched.has(instance)).toBe(false)
      }),
    )
  })

  it("leftOut removes the instances from the listed services only", () => {
    fc.assert(
      fc.property(bookArb, fc.uniqueArray(instanceArb, { maxLength: 3 }), (book, out) => {
        const after = leftOut(book, ["s"], new Set(out))
        expect(endpointsOf(after, "s")).toEqual(endpointsOf(book, "s", new Set(out)))
        expect(endpointsOf(after, "t")).toEqual(endpointsOf(book, "t"))
      }),
    )
  })

  it("vouches for every instance serving when the session opens, without overriding what this run saw", () => {
    const book = discovered(emptyBook(["s"]), [{ service: "s", endpoints: [{ instance: "s@a", url: "u1" }] }])
    const seen = { ...book, vouched: new Map([["s@a", { url: "u2", basis: "answered" as const }]]) }
    const over = [{ service: "s", endpoints: endpointsOf(book, "s") }]
    expect(vouchServing(book, over).vouched.get("s@a")).toEqual({ url: "u1", basis: "serving" })
    expect(vouchServing(seen, over).vouched.get("s@a")).toEqual({ url: "u2", basis: "answered" })
  })
})

describe("addressRequired: an address never found stops the roll wherever Caddy routes by address (§7.3 point 4)", () => {
  it.each([
    { mode: "admin", supervisor: "systemd", required: true },
    { mode: "admin", supervisor: "pm2", required: true },
    // The old reload way on Linux: Caddy's own dynamic a upstreams route by address.
    { mode: "reload", supervisor: "systemd", required: true },
    // pm2's upstreams are fixed localhost ports: no PORT, the cooldown.
    { mode: "reload", supervisor: "pm2", required: false },
    // Not behind Caddy.
    { mode: null, supervisor: "systemd", required: false },
    { mode: null, supervisor: "pm2", required: false },
  ] as const)("$mode on $supervisor: $required", ({ mode, supervisor, required }) => {
    expect(addressRequired(mode, supervisor)).toBe(required)
  })
})
