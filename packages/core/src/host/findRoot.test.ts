import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Either } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import {
  compareVersions,
  describeLocation,
  type FindRootOptions,
  findRoot,
  knownRoots,
  pickRoot,
  versionFromName,
  versionFromPackageJson,
} from "./findRoot.js"

const temps: Array<string> = []
afterEach(() => {
  for (const t of temps.splice(0)) fs.rmSync(t, { recursive: true, force: true })
})

/** A fake machine: `fsRoot` for the absolute roots, `home` inside it. */
const machine = () => {
  const fsRoot = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-root-"))
  temps.push(fsRoot)
  const home = path.join(fsRoot, "home", "ops")
  fs.mkdirSync(home, { recursive: true })
  const dir = (rel: string, packageVersion?: string) => {
    const p = path.join(fsRoot, rel)
    fs.mkdirSync(p, { recursive: true })
    if (packageVersion !== undefined)
      fs.writeFileSync(path.join(p, "package.json"), JSON.stringify({ version: packageVersion }))
    return p
  }
  return { fsRoot, home, dir }
}

const run = (options: FindRootOptions) =>
  Effect.runPromise(findRoot(options).pipe(Effect.either, Effect.provide(NodeFileSystem.layer)))

describe("version rules", () => {
  it.each([
    ["2.3.4", "2.3.4"],
    ["release-2.3.4", "2.3.4"],
    ["release-v2.30.4", "2.30.4"],
    ["v1.0.12", "1.0.12"],
    ["tamanu", null],
    ["2.3", null],
    ["notes", null],
  ])("directory name %s gives version %s", (name, version) => {
    expect(versionFromName(name)).toBe(version)
  })

  it.each([
    ["2.10.0", "2.10.0"],
    ["2.10.0-rc.1", "2.10.0"],
    [210, null],
    [undefined, null],
    ["next", null],
  ])("package.json version %s gives %s", (raw, version) => {
    expect(versionFromPackageJson(raw)).toBe(version)
  })

  it.each([
    ["2.10.0", "2.9.9", 1],
    ["2.9.9", "2.10.0", -1],
    ["10.0.0", "9.99.99", 1],
    ["2.3.4", "2.3.4", 0],
    [null, "0.0.1", -1],
    ["0.0.1", null, 1],
    [null, null, 0],
  ] as const)("compares %s with %s numerically as %i", (a, b, sign) => {
    expect(compareVersions(a, b)).toBe(sign)
  })

  it("the highest version wins, a versionless root only when nothing has a version, ties go to the first", () => {
    expect(pickRoot([])).toBeNull()
    expect(pickRoot([{ path: "a", version: null }])?.path).toBe("a")
    expect(
      pickRoot([
        { path: "a", version: null },
        { path: "b", version: "2.9.0" },
        { path: "c", version: "2.10.0" },
        { path: "d", version: "2.10.0" },
      ])?.path,
    ).toBe("c")
  })
})

describe("known roots", () => {
  it("linux searches /etc, /opt, /var/lib and the developer checkouts in order", () => {
    expect(knownRoots({ home: "/home/ops", platform: "linux" }).map(describeLocation)).toEqual([
      "/etc/tamanu",
      "/etc/tamanu/*",
      "/opt/bes/tamanu",
      "/var/lib/tamanu",
      "/home/ops/tamanu",
      "/home/ops/projects/tamanu",
      "/home/ops/work/tamanu",
      "/home/ops/code/js/tamanu",
    ])
  })

  it("windows searches the versioned C:\\Tamanu folders and the developer checkouts", () => {
    expect(knownRoots({ home: "C:\\Users\\ops", platform: "win32" }).map(describeLocation)).toEqual([
      "C:\\Tamanu\\[12].*.*",
      "C:\\Tamanu\\release-[12].*.*",
      "C:\\Tamanu\\release-v[12].*.*",
      "C:\\Users\\ops\\tamanu",
      "C:\\Users\\ops\\projects\\tamanu",
      "C:\\Users\\ops\\work\\tamanu",
      "C:\\Users\\ops\\code\\js\\tamanu",
    ])
  })
})

describe("findRoot on a filesystem", () => {
  it.each(["etc/tamanu", "opt/bes/tamanu", "var/lib/tamanu"])("finds the linux root /%s", async (rel) => {
    const m = machine()
    const p = m.dir(rel, "2.1.0")
    expect(await run({ home: m.home, platform: "linux", fsRoot: m.fsRoot })).toEqual(
      Either.right({ path: p, version: "2.1.0" }),
    )
  })

  it.each(["tamanu", "projects/tamanu", "work/tamanu", "code/js/tamanu"])(
    "finds the developer checkout ~/%s with its package.json version",
    async (rel) => {
      const m = machine()
      const p = path.join(m.home, rel)
      fs.mkdirSync(p, { recursive: true })
      fs.writeFileSync(path.join(p, "package.json"), JSON.stringify({ version: "2.7.1" }))
      expect(await run({ home: m.home, platform: "linux", fsRoot: m.fsRoot })).toEqual(
        Either.right({ path: p, version: "2.7.1" }),
      )
    },
  )

  it("a version directory under /etc/tamanu beats /etc/tamanu itself and an older /opt root", async () => {
    const m = machine()
    m.dir("etc/tamanu")
    m.dir("opt/bes/tamanu", "2.9.0")
    const winner = m.dir("etc/tamanu/2.10.1")
    expect(await run({ home: m.home, platform: "linux", fsRoot: m.fsRoot })).toEqual(
      Either.right({ path: winner, version: "2.10.1" }),
    )
  })

  it("the directory name's version wins over its package.json", async () => {
    const m = machine()
    const p = m.dir("etc/tamanu/release-v2.4.0", "9.9.9")
    expect(await run({ home: m.home, platform: "linux", fsRoot: m.fsRoot })).toEqual(
      Either.right({ path: p, version: "2.4.0" }),
    )
  })

  it("on windows the highest of all three folder forms wins, compared numerically", async () => {
    const m = machine()
    m.dir("C/Tamanu/2.9.3")
    m.dir("C/Tamanu/release-2.10.0")
    const winner = m.dir("C/Tamanu/release-v2.11.2")
    m.dir("C/Tamanu/3.0.0") // not 1.x or 2.x: not a Tamanu release folder
    m.dir("C/Tamanu/backup")
    expect(await run({ home: m.home, platform: "win32", fsRoot: m.fsRoot })).toEqual(
      Either.right({ path: winner, version: "2.11.2" }),
    )
  })

  it("files matching a root pattern are not roots", async () => {
    const m = machine()
    m.dir("C/Tamanu")
    fs.writeFileSync(path.join(m.fsRoot, "C/Tamanu/2.9.9"), "")
    const result = await run({ home: m.home, platform: "win32", fsRoot: m.fsRoot })
    expect(Either.isLeft(result)).toBe(true)
  })

  it("an explicit root wins over a higher known root, and its version is read", async () => {
    const m = machine()
    m.dir("etc/tamanu/2.99.0")
    const mine = m.dir("srv/mine", "2.0.0")
    expect(await run({ root: mine, home: m.home, platform: "linux", fsRoot: m.fsRoot })).toEqual(
      Either.right({ path: mine, version: "2.0.0" }),
    )
  })

  it("an explicit root that does not exist is NoTamanuRoot naming it", async () => {
    const m = machine()
    const missing = path.join(m.fsRoot, "nowhere")
    const result = await run({ root: missing, home: m.home, platform: "linux", fsRoot: m.fsRoot })
    expect(result).toMatchObject(Either.left({ _tag: "NoTamanuRoot", searched: [missing] }))
  })

  it("nothing found is NoTamanuRoot listing every place searched", async () => {
    const m = machine()
    const result = await run({ home: m.home, platform: "linux", fsRoot: m.fsRoot })
    expect(result).toMatchObject(
      Either.left({
        _tag: "NoTamanuRoot",
        searched: knownRoots({ home: m.home, platform: "linux" }).map(describeLocation),
      }),
    )
  })
})
