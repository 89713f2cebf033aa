/**
 * Every command in README.md and docs/*.md is run by a test: this reads the
 * real docs and the repository and fails on any command, yaml or json block
 * that docsCoverage.ts does not account for (and on any claim there that the
 * repository no longer backs).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { type Repository, unaccounted } from "./accounting.js"
import { fencedBlocks } from "./docBlocks.js"
import { docsCoverage, docsToCheck } from "./docsCoverage.js"

const repo = fileURLToPath(new URL("../../../../", import.meta.url))

const read = (file: string): string | null => {
  try {
    return fs.readFileSync(path.join(repo, file), "utf8")
  } catch {
    return null
  }
}

const testFiles = (): ReadonlyArray<string> =>
  fs
    .readdirSync(path.join(repo, "packages"), { withFileTypes: true })
    .filter((p) => p.isDirectory())
    .flatMap((p) => {
      const src = path.join(repo, "packages", p.name, "src")
      if (!fs.existsSync(src)) return []
      return fs
        .readdirSync(src, { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".test.ts"))
        .map((f) => path.posix.join("packages", p.name, "src", f.split(path.sep).join("/")))
    })

/** vitest.config.ts's two projects, as its include/exclude patterns select files. */
const vitestProjects: Repository["vitestProjects"] = {
  unit: (f) => f.endsWith(".test.ts") && !f.endsWith(".it.test.ts"),
  integration: (f) => f.endsWith(".it.test.ts"),
}

const repository: Repository = { read, testFiles: testFiles(), vitestProjects }

const blocks = () =>
  docsToCheck(fs.readdirSync(path.join(repo, "docs"))).flatMap((doc) => fencedBlocks(doc, read(doc) ?? ""))

describe("the docs' commands", () => {
  it("vitest.config.ts still defines the two projects this check models", () => {
    const config = read("vitest.config.ts") ?? ""
    expect(config).toContain('name: "unit",\n          include: ["packages/*/src/**/*.test.ts"]')
    expect(config).toContain('exclude: ["packages/*/src/**/*.it.test.ts"')
    expect(config).toContain('name: "integration",\n          include: ["packages/*/src/**/*.it.test.ts"]')
  })

  it("reads README.md and every docs/*.md, and finds their blocks", () => {
    const docs = new Set(blocks().map((b) => b.doc))
    for (const doc of ["README.md", "docs/operations.md", "docs/testing.md", "docs/systemd.md"])
      expect(docs.has(doc), doc).toBe(true)
  })

  it("every command, yaml and json block in the docs is run or checked by a test, and every claim about which is true", () => {
    expect(unaccounted(blocks(), docsCoverage, repository)).toEqual([])
  })

  it("README.md and docs/operations.md say that this check runs their commands", () => {
    for (const doc of ["README.md", "docs/operations.md"])
      expect(read(doc), doc).toContain("packages/lab/src/docs/docs.it.test.ts")
  })
})
