import { readFileSync } from "node:fs"
import { Either, Option } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { containerVersion, imageTag, VERSION_LABEL, versionFromTag } from "./containerVersion.js"
import { containerFromInspect, containerFromPs } from "./podmanTargets.js"

describe("image tags", () => {
  it.each([
    ["localhost/tamanu:v2.64.0", "v2.64.0", "2.64.0"],
    ["ghcr.io/beyondessential/tamanu:2.65.0-rc.1", "2.65.0-rc.1", "2.65.0-rc.1"],
    ["registry:5000/tamanu/api:v2.64.0@sha256:abc", "v2.64.0", "2.64.0"],
    ["registry:5000/tamanu/api", null, null],
    ["tamanu@sha256:0123", null, null],
    ["localhost/tamanu:latest", "latest", null],
    ["localhost/tamanu:sha-1a2b3c4", "sha-1a2b3c4", null],
    ["localhost/tamanu:2.64", "2.64", null],
    ["tamanu:", null, null],
  ])("%s: tag %j, version %j", (image, tag, version) => {
    expect(imageTag(image)).toBe(tag)
    expect(versionFromTag(image)).toBe(version)
  })

  it("any v-tagged semver reads back as its version", () => {
    fc.assert(
      fc.property(fc.nat(50), fc.nat(300), fc.nat(30), fc.boolean(), (a, b, c, v) => {
        expect(versionFromTag(`localhost:5000/tamanu:${v ? "v" : ""}${a}.${b}.${c}`)).toBe(`${a}.${b}.${c}`)
      }),
    )
  })
})

describe("containerVersion(ps, inspect)", () => {
  const labelled = { [VERSION_LABEL]: "2.65.0" }
  it("the label wins over the tag", () => {
    expect(containerVersion({ Image: "localhost/tamanu:v2.64.0" }, { Config: { Labels: labelled } })).toEqual({
      version: "2.65.0",
      source: "label",
      problem: null,
    })
    expect(
      containerVersion({ Image: "localhost/tamanu:latest", Labels: { [VERSION_LABEL]: "v2.65.0" } }, null),
    ).toEqual({ version: "2.65.0", source: "label", problem: null })
  })

  it("a label that is not a version is still what the image says it is (compared as text)", () => {
    expect(containerVersion(null, { Config: { Labels: { [VERSION_LABEL]: "nightly" } } }).version).toBe("nightly")
  })

  it("else the tag, from ps or else inspect", () => {
    expect(containerVersion({ Image: "localhost/tamanu:v2.64.0", Labels: null }, null)).toEqual({
      version: "2.64.0",
      source: "tag",
      problem: null,
    })
    expect(containerVersion({ Image: "" }, { ImageName: "localhost/tamanu:v2.64.0", Config: null }).version).toBe(
      "2.64.0",
    )
  })

  it("unknown, with the reason, when neither says", () => {
    expect(containerVersion({ Image: "localhost/tamanu:latest" }, { Config: { Labels: {} } })).toEqual({
      version: null,
      source: null,
      problem: `image localhost/tamanu:latest has no ${VERSION_LABEL} label and its tag "latest" is not a version`,
    })
    expect(containerVersion({ Image: "localhost/tamanu" }, null).problem).toContain("and no tag")
    expect(containerVersion({}, {}).problem).toContain("no image")
    expect(containerVersion(null, null).version).toBeNull()
  })
})

describe("containerVersion on podman 4's own output", () => {
  const sample = (file: string): string => readFileSync(new URL(`./testdata/${file}`, import.meta.url), "utf8")
  it("the recorded ps and inspect entries of a Tamanu unit give the version in its image tag", () => {
    const ps = Either.getOrThrow(containerFromPs(sample("podman-ps-4.json")))
    const inspect = Either.getOrThrow(containerFromInspect(sample("podman-inspect-4.json")))
    expect(containerVersion(Option.getOrNull(ps), inspect)).toEqual({ version: "2.24.1", source: "tag", problem: null })
  })
})
