import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Either } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { configFileNames, deepMerge, detectKind, fhirWorkerEnabled, loadConfig } from "./config.js"

const temps: Array<string> = []
afterEach(() => {
  for (const t of temps.splice(0)) fs.rmSync(t, { recursive: true, force: true })
})

const root = (files: Record<string, string>) => {
  const r = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-config-"))
  temps.push(r)
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(r, rel)), { recursive: true })
    fs.writeFileSync(path.join(r, rel), text)
  }
  return r
}

const load = (r: string, nodeEnv?: string) =>
  Effect.runPromise(loadConfig(r, nodeEnv).pipe(Effect.either, Effect.provide(NodeFileSystem.layer)))

describe("deepMerge", () => {
  it.each([
    [{ a: { b: 1, c: 2 } }, { a: { c: 3 } }, { a: { b: 1, c: 3 } }],
    [{ a: [1, 2, 3] }, { a: [4] }, { a: [4] }],
    [{ a: { b: 1 } }, { a: 5 }, { a: 5 }],
    [{ a: 5 }, { a: { b: 1 } }, { a: { b: 1 } }],
    [{ a: 1 }, { b: null }, { a: 1, b: null }],
    [{ a: { b: { c: 1, d: 2 } } }, { a: { b: { d: 3 } } }, { a: { b: { c: 1, d: 3 } } }],
  ])("merging %j with %j gives %j", (base, over, merged) => {
    expect(deepMerge(base, over)).toEqual(merged)
  })

  it("does not modify its inputs", () => {
    const base = { a: { b: 1 } }
    deepMerge(base, { a: { b: 2 } })
    expect(base).toEqual({ a: { b: 1 } })
  })
})

describe("config file order", () => {
  it.each([
    [undefined, ["default.json5", "production.json5", "local.json5"]],
    ["", ["default.json5", "production.json5", "local.json5"]],
    ["test", ["default.json5", "test.json5", "local.json5"]],
    ["development", ["default.json5", "development.json5", "local.json5"]],
    ["local", ["default.json5", "local.json5"]],
  ])("NODE_ENV=%s loads %j", (env, names) => {
    expect(configFileNames(env)).toEqual(names)
  })
})

describe("facility detection", () => {
  it.each([
    [{ serverFacilityIds: ["f1"] }, "facility"],
    [{ serverFacilityIds: [] }, "central"],
    [{ serverFacilityId: "f1" }, "facility"],
    [{ serverFacilityId: "" }, "central"],
    [{ serverFacilityId: null }, "central"],
    [{ sync: { host: "https://central.example" } }, "facility"],
    [{ sync: { host: "" } }, "central"],
    [{ sync: { enabled: true } }, "central"],
    [{ serverFacilityIds: [], sync: { host: "https://c" } }, "facility"],
    [{}, "central"],
  ] as const)("config %j is %s", (config, kind) => {
    expect(detectKind(config).kind).toBe(kind)
  })

  it("an explicit kind wins over the config", () => {
    expect(detectKind({ serverFacilityIds: ["f1"] }, "central").kind).toBe("central")
    expect(detectKind({}, "facility").kind).toBe("facility")
    expect(detectKind(null, "facility").kind).toBe("facility")
  })

  it("without config nor override it says it is assuming central", () => {
    expect(detectKind(null)).toEqual({ kind: "central", reason: "no config found; assuming central" })
  })
})

describe("FHIR worker flag", () => {
  it.each([
    [null, null],
    [{}, false],
    [{ integrations: { fhir: { worker: { enabled: true } } } }, true],
    [{ integrations: { fhir: { worker: { enabled: false } } } }, false],
    [{ integrations: { fhir: { worker: { enabled: "yes" } } } }, false],
  ])("config %j gives %s", (config, flag) => {
    expect(fhirWorkerEnabled(config)).toBe(flag)
  })
})

describe("loadConfig on a filesystem", () => {
  it("linux layout: default, production and local merged from the root", async () => {
    const r = root({
      "default.json5": "{ db: { name: 'd', port: 5432 }, list: [1, 2], // comment\n }",
      "production.json5": "{ db: { name: 'p' } }",
      "local.json5": "{ list: [3] }",
      "test.json5": "{ db: { name: 't' } }",
    })
    expect(await load(r)).toEqual(
      Either.right({
        config: { db: { name: "p", port: 5432 }, list: [3] },
        files: ["default.json5", "production.json5", "local.json5"].map((f) => path.join(r, f)),
      }),
    )
  })

  it("NODE_ENV picks its own file instead of production", async () => {
    const r = root({
      "default.json5": "{ a: 'd' }",
      "production.json5": "{ a: 'p' }",
      "test.json5": "{ a: 't' }",
    })
    expect(await load(r, "test")).toMatchObject(Either.right({ config: { a: "t" } }))
  })

  it("local.json5 overrides everything before it", async () => {
    const r = root({ "default.json5": "{ a: 'd' }", "production.json5": "{ a: 'p' }", "local.json5": "{ a: 'l' }" })
    expect(await load(r)).toMatchObject(Either.right({ config: { a: "l" } }))
  })

  it("windows layout: the central-server config wins over the facility-server one and the root", async () => {
    const r = root({
      "packages/central-server/config/default.json5": "{ who: 'central' }",
      "packages/facility-server/config/default.json5": "{ who: 'facility' }",
      "default.json5": "{ who: 'root' }",
    })
    expect(await load(r)).toMatchObject(Either.right({ config: { who: "central" } }))
  })

  it("windows facility layout: the facility-server config wins over the root", async () => {
    const r = root({
      "packages/facility-server/config/local.json5": "{ who: 'facility' }",
      "local.json5": "{ who: 'root' }",
    })
    expect(await load(r)).toMatchObject(Either.right({ config: { who: "facility" } }))
  })

  it("no config files at all is a null config, not an error", async () => {
    expect(await load(root({ "README.md": "hi" }))).toEqual(Either.right({ config: null, files: [] }))
  })

  it("a broken file is ConfigUnreadable with the file, line and column", async () => {
    const r = root({ "default.json5": "{ a: 1 }", "local.json5": "{\n  a: 1,\n  b: ,\n}" })
    expect(await load(r)).toMatchObject(
      Either.left({ _tag: "ConfigUnreadable", file: path.join(r, "local.json5"), line: 3, column: 6 }),
    )
  })

  it("a file whose top level is not an object is ConfigUnreadable", async () => {
    const r = root({ "default.json5": "[1, 2]" })
    expect(await load(r)).toMatchObject(
      Either.left({ _tag: "ConfigUnreadable", file: path.join(r, "default.json5"), line: null }),
    )
  })
})
