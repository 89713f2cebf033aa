import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  envFileCandidates,
  expectedVersionOf,
  expectedVersions,
  isVersionDrift,
  markerTarget,
  normalizeVersion,
  parseEnvFile,
  releaseVersion,
  semverOf,
  type UpgradeMarker,
  upgradeInProgress,
  upgradeWindowMillis,
  versionOrder,
  versionStatus,
  versionWord,
} from "./version.js"

const fresh: UpgradeMarker = { ageMillis: 60_000, target: "2.65.0" }
const stale: UpgradeMarker = { ageMillis: upgradeWindowMillis, target: "2.65.0" }

describe("versionStatus: every rule of issue #22", () => {
  // expected, actual, marker, status
  const table: ReadonlyArray<readonly [string | null, string | null, UpgradeMarker | null, string]> = [
    ["2.65.0", "2.65.0", null, "match"],
    ["v2.65.0", "2.65.0", null, "match"],
    ["2.65.0", " V2.65.0 ", null, "match"],
    ["2.65.0", "2.65.0+build.7", null, "match"],
    ["2.65.0", "2.64.0", null, "mismatch"],
    ["2.65.0", "2.66.0", null, "mismatch"],
    ["2.10.0", "2.9.0", null, "mismatch"],
    ["2.65.0", "2.65.0-rc.1", null, "mismatch"],
    // not versions: compared as text
    ["nightly", "nightly", null, "match"],
    ["nightly", "latest", null, "mismatch"],
    ["2.65.0", "sha-1a2b3c", null, "mismatch"],
    ["2.65.0", "sha-1a2b3c", fresh, "mismatch"],
    // a missing side is unknown, whatever else
    [null, "2.65.0", null, "unknown"],
    ["2.65.0", null, null, "unknown"],
    [null, null, fresh, "unknown"],
    ["2.65.0", "", null, "unknown"],
    ["  ", "2.65.0", fresh, "unknown"],
    // the upgrade marker: older is upgrading, newer is still a mismatch
    ["2.65.0", "2.64.0", fresh, "upgrading"],
    ["2.65.0", "2.65.0-rc.1", fresh, "upgrading"],
    ["2.65.0", "2.66.0", fresh, "mismatch"],
    ["2.65.0", "2.65.0", fresh, "match"],
    ["2.65.0", "2.64.0", stale, "mismatch"],
    ["2.65.0", "2.64.0", { ageMillis: upgradeWindowMillis - 1, target: null }, "upgrading"],
    ["2.65.0", "2.64.0", { ageMillis: -5_000, target: null }, "upgrading"],
  ]
  it.each(table)("expected %j, actual %j, marker %j → %s", (expected, actual, marker, status) => {
    expect(versionStatus(expected, actual, marker)).toBe(status)
  })

  it("only a mismatch is drift", () => {
    expect(["match", "mismatch", "unknown", "upgrading"].filter((s) => isVersionDrift(s as never))).toEqual([
      "mismatch",
    ])
    expect(["match", "mismatch", "unknown", "upgrading"].map((s) => versionWord(s as never))).toEqual([
      "ok",
      "drift",
      "unknown",
      "upgrading",
    ])
  })
})

const semverArb = fc.tuple(fc.nat(40), fc.nat(200), fc.nat(30)).map(([a, b, c]) => `${a}.${b}.${c}`)
const anyVersionText = fc.oneof(
  semverArb,
  semverArb.map((v) => `v${v}`),
  fc.string({ maxLength: 12 }),
)
const marker = fc.option(
  fc.record({ ageMillis: fc.integer({ min: -3_600_000, max: 4 * 3_600_000 }), target: fc.option(semverArb) }),
)

describe("versionStatus: properties", () => {
  it("a missing side is unknown and never drift", () => {
    fc.assert(
      fc.property(fc.option(anyVersionText), marker, (v, m) => {
        expect(versionStatus(null, v, m)).toBe("unknown")
        expect(versionStatus(v, null, m)).toBe("unknown")
      }),
    )
  })

  it("a version always matches itself, with or without v, with or without a marker", () => {
    fc.assert(
      fc.property(semverArb, marker, (v, m) => {
        expect(versionStatus(v, `v${v}`, m)).toBe("match")
        expect(versionStatus(`v${v}`, v, m)).toBe("match")
      }),
    )
  })

  it("the marker never turns a match or a newer version into anything else, and never makes drift out of nothing", () => {
    fc.assert(
      fc.property(anyVersionText, anyVersionText, marker, (e, a, m) => {
        const without = versionStatus(e, a, null)
        const withMarker = versionStatus(e, a, m)
        if (without !== "mismatch") expect(withMarker).toBe(without)
        else expect(["mismatch", "upgrading"]).toContain(withMarker)
        if (withMarker === "upgrading") expect(versionOrder(a, e)).toBe("older")
      }),
    )
  })

  it("semver order is antisymmetric and agrees with the numbers", () => {
    fc.assert(
      fc.property(semverArb, semverArb, (a, b) => {
        const ab = versionOrder(a, b)
        const ba = versionOrder(b, a)
        expect({ same: "same", older: "newer", newer: "older", different: "different" }[ab]).toBe(ba)
        const num = (v: string) => v.split(".").map(Number)
        const [x, y] = [num(a), num(b)]
        const numeric = (x[0]! - y[0]!) * 1e8 + (x[1]! - y[1]!) * 1e4 + (x[2]! - y[2]!)
        expect(ab).toBe(numeric === 0 ? "same" : numeric < 0 ? "older" : "newer")
      }),
    )
  })

  it("an upgrade marker counts exactly while it is younger than 90 minutes", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e7, max: 1e8 }), (age) => {
        expect(upgradeInProgress({ ageMillis: age, target: null })).toBe(age < 90 * 60_000)
      }),
    )
    expect(upgradeInProgress(null)).toBe(false)
  })
})

describe("version texts", () => {
  it.each([
    ["v2.64.0", "2.64.0", "2.64.0"],
    ["2.64.0", "2.64.0", "2.64.0"],
    [" 2.64.0\n", "2.64.0", "2.64.0"],
    ["latest", "latest", null],
    ["sha-1a2b3c", "sha-1a2b3c", null],
    ["2.64", "2.64", null],
    ["v", "v", null],
    ["", null, null],
  ])("%j normalises to %j, semver %j", (raw, normal, sv) => {
    expect(normalizeVersion(raw)).toBe(normal)
    expect(semverOf(raw)).toBe(sv)
  })
})

describe("expected versions", () => {
  const env = parseEnvFile(
    [
      "# Tamanu",
      "TAMANU_VERSION=v2.65.0",
      'TAMANU_FRONTEND_VERSION="2.65.1"',
      "export OTHER = 'x y'",
      "garbage line",
      "",
    ].join("\n"),
  )

  it("parses an EnvironmentFile", () => {
    expect(Object.fromEntries(env)).toEqual({
      TAMANU_VERSION: "v2.65.0",
      TAMANU_FRONTEND_VERSION: "2.65.1",
      OTHER: "x y",
    })
    expect(parseEnvFile("A=1\nA=2").get("A")).toBe("2")
  })

  it("systemd: the env file, the frontend its own when set", () => {
    const v = expectedVersions("systemd", { envFile: "/etc/tamanu/env", env, rootVersion: "2.60.0" })
    expect(v).toEqual({ default: "2.65.0", frontend: "2.65.1", source: "/etc/tamanu/env" })
    expect(expectedVersionOf(v, "tamanu-frontend")).toBe("2.65.1")
    expect(expectedVersionOf(v, "tamanu-facility-api")).toBe("2.65.0")
  })

  it("systemd: the frontend falls back to TAMANU_VERSION", () => {
    const v = expectedVersions("systemd", {
      envFile: "/etc/tamanu/env",
      env: parseEnvFile("TAMANU_VERSION=2.65.0"),
      rootVersion: null,
    })
    expect(expectedVersionOf(v, "tamanu-frontend")).toBe("2.65.0")
  })

  it("systemd: no env file, or one without versions, is unknown (never the root's version)", () => {
    expect(
      expectedVersions("systemd", {
        envFile: "/etc/tamanu/env",
        env: null,
        envProblem: "/etc/tamanu/env: not found",
        rootVersion: "2.64.0",
      }),
    ).toEqual({ default: null, frontend: null, source: "/etc/tamanu/env: not found" })
    expect(
      expectedVersions("systemd", { envFile: "/etc/tamanu/env", env: parseEnvFile("X=1"), rootVersion: "2.64.0" }),
    ).toEqual({ default: null, frontend: null, source: "/etc/tamanu/env sets no TAMANU_VERSION" })
  })

  it("pm2: the install root's version for every process", () => {
    const v = expectedVersions("pm2", { envFile: "C:/Tamanu/release-v2.64.0/env", env, rootVersion: "2.64.0" })
    expect(v).toEqual({ default: "2.64.0", frontend: "2.64.0", source: "the install root" })
    expect(expectedVersions("pm2", { envFile: "x", env: null, rootVersion: null }).default).toBeNull()
  })

  it.each([
    ["/etc/tamanu", ["/etc/tamanu/env"]],
    ["/etc/tamanu/", ["/etc/tamanu/env"]],
    ["/opt/bes/tamanu", ["/opt/bes/tamanu/env"]],
    ["/etc/tamanu/2.64.0", ["/etc/tamanu/2.64.0/env", "/etc/tamanu/env"]],
  ])("env file of root %s", (root, files) => {
    expect(envFileCandidates(root)).toEqual(files)
  })

  it.each([
    ["2.65.0\n", "2.65.0"],
    ["v2.65.0", "2.65.0"],
    ["TAMANU_VERSION=2.65.0\nstarted by ansible", "2.65.0"],
    ["", null],
    ["in progress", null],
  ])("upgrade marker %j names target %j", (text, target) => {
    expect(markerTarget(text)).toBe(target)
  })
})

describe("pm2 release directories", () => {
  it.each([
    [["C:\\Tamanu\\release-v2.64.0\\packages\\central-server\\dist\\index.js", null], "2.64.0"],
    [["C:\\Tamanu\\release-2.65.0\\packages\\x.js", null], "2.65.0"],
    [["C:\\Tamanu\\2.63.1\\packages\\x.js", null], "2.63.1"],
    [["/usr/lib/node_modules/pm2/lib/ProcessContainerFork.js", "/srv/release-v2.65.0-rc.2/api"], "2.65.0-rc.2"],
    [["/srv/tamanu/dist/index.js", "/srv/tamanu"], null],
    [[null, null], null],
    [["/srv/release-v2.6/x.js", null], null],
  ] as const)("%j → %j", (paths, version) => {
    expect(releaseVersion(...paths)).toBe(version)
  })
})
