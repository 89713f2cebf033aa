import * as fs from "node:fs"
import { Option } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { containerNameFromPs, nameFits, unitOfInstance } from "./containerNames.js"

/** `podman ps --format json` of podman 4.x (probe/testdata). */
const ps4 = fs.readFileSync(new URL("../probe/testdata/podman-ps-4.json", import.meta.url), "utf8")

describe("the name a pin may give an instance", () => {
  it("is the running container's first name in podman ps output", () => {
    expect(containerNameFromPs(ps4)).toEqual(Option.some("tamanu-central-api-a"))
    expect(
      containerNameFromPs(
        JSON.stringify([
          { Names: ["old"], State: "exited" },
          { Names: ["tamanu-frontend-b"], State: "running" },
        ]),
      ),
    ).toEqual(Option.some("tamanu-frontend-b"))
  })

  it("none for no container, podman's null, garbage, or a name DNS cannot carry", () => {
    expect(containerNameFromPs("[]")).toEqual(Option.none())
    expect(containerNameFromPs("null")).toEqual(Option.none())
    expect(containerNameFromPs("not json")).toEqual(Option.none())
    expect(containerNameFromPs(JSON.stringify([{ Names: [] }]))).toEqual(Option.none())
    expect(containerNameFromPs(JSON.stringify([{ Names: ["a b"] }]))).toEqual(Option.none())
  })

  it("systemd instances have a unit, pm2 ones none", () => {
    expect(unitOfInstance("tamanu-frontend@a")).toEqual(Option.some("tamanu-frontend@a.service"))
    expect(unitOfInstance("tamanu-patientportal")).toEqual(Option.some("tamanu-patientportal.service"))
    expect(unitOfInstance("tamanu-api#3")).toEqual(Option.none())
  })

  it("fits only when it resolves to exactly the instance's address", () => {
    expect(nameFits("10.89.0.5:3000", ["10.89.0.5:3000"])).toBe(true)
    expect(nameFits("10.89.0.5:3000", [])).toBe(false)
    expect(nameFits("10.89.0.5:3000", ["10.89.0.7:3000"])).toBe(false)
    // An alias (several instances) is never a pin's name.
    expect(nameFits("10.89.0.5:3000", ["10.89.0.5:3000", "10.89.0.6:3000"])).toBe(false)
    fc.assert(
      fc.property(fc.ipV4(), fc.array(fc.ipV4(), { maxLength: 3 }), (ip, others) => {
        const answers = others.map((o) => `${o}:3000`)
        expect(nameFits(`${ip}:3000`, answers)).toBe(answers.length > 0 && others.every((o) => o === ip))
      }),
    )
  })
})
