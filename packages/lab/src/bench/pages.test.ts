import { describe, expect, it } from "vitest"
import { benchGroups, spliceSections } from "./pages.js"

const page = [
  "# Performance",
  "",
  "header",
  "",
  "## A",
  "",
  "old a",
  "",
  "## B",
  "",
  "old b",
  "",
  "## C",
  "old c",
  "",
].join("\n")

describe("spliceSections (npm run bench -- <group>)", () => {
  it("replaces only the named sections, stamped, and keeps the others as they were", () => {
    const fresh = ["# Performance", "", "new header", "", "## B", "", "new b", "", "## C", "new c", ""].join("\n")
    const out = spliceSections(page, fresh, ["B"], "_stamp_")
    expect(out).toBe(
      [
        "# Performance",
        "",
        "new header",
        "",
        "## A",
        "",
        "old a",
        "",
        "## B",
        "",
        "_stamp_",
        "",
        "new b",
        "",
        "## C",
        "old c",
        "",
      ].join("\n"),
    )
  })

  it("keeps a named section the fresh page lacks (not measured), and adds one the page lacks at the end", () => {
    const fresh = ["# P", "", "## A", "", "new a", "", "## D", "", "new d", ""].join("\n")
    const out = spliceSections(page, fresh, ["B", "D"], "_s_")
    expect(out).toContain("## B\n\nold b\n")
    expect(out.endsWith("## D\n\n_s_\n\nnew d\n")).toBe(true)
    expect(out).toContain("## A\n\nold a\n")
  })

  it("keeps the blank line before the next heading when the fresh section is the last of its page", () => {
    const fresh = ["# P", "", "## A", "", "new a"].join("\n")
    expect(spliceSections(page, fresh, ["A"], "_s_")).toContain("## A\n\n_s_\n\nnew a\n\n## B")
  })

  it("takes the opening paragraph (how the page is made) from the fresh page, the rest of the head from the old", () => {
    const old = "# Performance\n\nhow, old\n\n| date | then |\n\n## A\n\na\n"
    const fresh = "# Performance\n\nhow, new\n\n| date | now |\n\n## A\n\nnew a\n"
    expect(spliceSections(old, fresh, ["A"], "_s_")).toBe(
      "# Performance\n\nhow, new\n\n| date | then |\n\n## A\n\n_s_\n\nnew a\n",
    )
  })

  it("builds a page from nothing", () => {
    expect(spliceSections("", "# P\n\n## A\n\na\n", ["A"], "_s_")).toBe("## A\n\n_s_\n\na\n")
  })

  it("names each section of the page exactly once across the groups", () => {
    const all = Object.values(benchGroups).flat()
    expect(new Set(all).size).toBe(all.length)
  })
})
