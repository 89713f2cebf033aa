import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { mayTakeDown, type TakeDownInput, type Vouched } from "./takeDown.js"

const a = { instance: "tamanu-frontend@a", url: "http://10.89.0.5:3000/" }
const aNew = { instance: "tamanu-frontend@a", url: "http://10.89.0.9:3000/" }
const b = { instance: "tamanu-frontend@b", url: "http://10.89.0.6:3000/" }
const c = { instance: "tamanu-frontend@c", url: "http://10.89.0.7:3000/" }

const input = (
  instance: string,
  routed: TakeDownInput["routed"],
  vouched: ReadonlyArray<readonly [string, Vouched]>,
): TakeDownInput => ({ instance, service: "tamanu-frontend", routed, vouched: new Map(vouched) })

describe("mayTakeDown", () => {
  it.each<[string, TakeDownInput, "Allowed" | "Refused", string]>([
    [
      "the sibling answered in this run at the routed address",
      input(
        b.instance,
        [aNew],
        [
          [a.instance, { url: aNew.url, basis: "answered" }],
          [b.instance, { url: b.url, basis: "serving" }],
        ],
      ),
      "Allowed",
      "tamanu-frontend@a",
    ],
    [
      "the sibling was found serving when the run began",
      input(
        a.instance,
        [b],
        [
          [a.instance, { url: a.url, basis: "serving" }],
          [b.instance, { url: b.url, basis: "serving" }],
        ],
      ),
      "Allowed",
      "tamanu-frontend@b",
    ],
    [
      "--no-probe-http: the sibling stayed running through its cooldown at the routed address",
      input(
        b.instance,
        [aNew],
        [
          [a.instance, { url: aNew.url, basis: "settled" }],
          [b.instance, { url: b.url, basis: "serving" }],
        ],
      ),
      "Allowed",
      "tamanu-frontend@a",
    ],
    [
      "one of two others is enough",
      input(
        a.instance,
        [b, c],
        [
          [a.instance, { url: a.url, basis: "serving" }],
          [c.instance, { url: c.url, basis: "serving" }],
        ],
      ),
      "Allowed",
      "tamanu-frontend@c",
    ],
    [
      "no other instance routed (the restarted one's address was never found)",
      input(b.instance, [], [[b.instance, { url: b.url, basis: "serving" }]]),
      "Refused",
      "to no instance other than tamanu-frontend@b",
    ],
    [
      "its own container was not found when the run began (no PODMAN_SYSTEMD_UNIT label)",
      input(a.instance, [b], [[b.instance, { url: b.url, basis: "serving" }]]),
      "Refused",
      "tamanu-frontend@a's own address is not known",
    ],
    [
      "only the instance itself routed",
      input(b.instance, [b], [[b.instance, { url: b.url, basis: "serving" }]]),
      "Refused",
      "to no instance other than",
    ],
    [
      "the pin names the sibling's old address, gone with its restart",
      input(
        b.instance,
        [a],
        [
          [a.instance, { url: aNew.url, basis: "answered" }],
          [b.instance, { url: b.url, basis: "serving" }],
        ],
      ),
      "Refused",
      "answered at http://10.89.0.9:3000/, not at http://10.89.0.5:3000/",
    ],
    [
      "the routed sibling never answered (restarted, not yet ready)",
      input(b.instance, [aNew], [[b.instance, { url: b.url, basis: "serving" }]]),
      "Refused",
      "neither answered in this run nor was found serving",
    ],
  ])("%s", (_name, given, verdict, said) => {
    const result = mayTakeDown(given)
    expect(result._tag).toBe(verdict)
    expect(result._tag === "Allowed" ? result.servedBy.join(",") : result.reason).toContain(said)
  })

  it("allows exactly when another routed instance is vouched for at the routed address", () => {
    const names = ["x@1", "x@2", "x@3"]
    const urls = ["http://10.0.0.1:3000/", "http://10.0.0.2:3000/", "http://10.0.0.3:3000/"]
    const endpoint = fc.record({ instance: fc.constantFrom(...names), url: fc.constantFrom(...urls) })
    const vouch = fc.record({
      url: fc.constantFrom(...urls),
      basis: fc.constantFrom<Vouched["basis"]>("answered", "settled", "serving"),
    })
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.array(endpoint, { maxLength: 4 }),
        fc.dictionary(fc.constantFrom(...names), vouch),
        (instance, routed, vouched) => {
          const result = mayTakeDown({
            instance,
            service: "x",
            routed,
            vouched: new Map(Object.entries(vouched)),
          })
          const expected =
            vouched[instance] !== undefined &&
            routed.some((e) => e.instance !== instance && vouched[e.instance]?.url === e.url)
          expect(result._tag === "Allowed").toBe(expected)
          if (result._tag === "Allowed") expect(result.servedBy).not.toContain(instance)
        },
      ),
    )
  })
})
