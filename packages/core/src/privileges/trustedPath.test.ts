import { describe, expect, it } from "vitest"
import { type ChainFs, judgeChain, type PathEntry, resolveChain, type Want } from "./trustedPath.js"

const dir = (path: string, mode = 0o755, uid = 0): PathEntry => ({ path, uid, mode: 0o040000 | mode })
const file = (path: string, mode = 0o644, uid = 0): PathEntry => ({ path, uid, mode: 0o100000 | mode })
const link = (path: string, uid = 0): PathEntry => ({ path, uid, mode: 0o120000 | 0o777 })
const op = 1001

describe("judgeChain: may root read it for the operator (uid 1001)?", () => {
  const table: ReadonlyArray<readonly [string, ReadonlyArray<PathEntry>, Want, RegExp | null]> = [
    ["/etc/tamanu, root's 0755 all the way", [dir("/"), dir("/etc"), dir("/etc/tamanu")], "directory", null],
    [
      "a config file 0640 root:tamanu in it",
      [dir("/"), dir("/etc"), dir("/etc/tamanu"), file("/etc/tamanu/local.json5", 0o640)],
      "file",
      null,
    ],
    [
      "a directory belonging to another user (a tamanu service user), writable by it alone",
      [dir("/"), dir("/var"), dir("/var/lib"), dir("/var/lib/tamanu", 0o750, 998)],
      "directory",
      null,
    ],
    [
      "the operator's own directory",
      [dir("/"), dir("/home"), dir("/home/op", 0o700, op)],
      "directory",
      /belongs to the user sudo runs this for \(uid 1001\)/,
    ],
    [
      "a root-owned directory inside the operator's home (they can rename it away)",
      [dir("/"), dir("/home"), dir("/home/op", 0o755, op), dir("/home/op/tamanu")],
      "directory",
      /\/home\/op belongs/,
    ],
    [
      "a file the operator owns in root's directory",
      [dir("/"), dir("/etc"), dir("/etc/tamanu"), file("/etc/tamanu/local.json5", 0o600, op)],
      "file",
      /local\.json5 belongs/,
    ],
    [
      "a directory its group may write",
      [dir("/"), dir("/etc"), dir("/etc/tamanu", 0o775)],
      "directory",
      /\/etc\/tamanu is writable by its group \(mode 0775\)/,
    ],
    [
      "a file everyone may write",
      [dir("/"), dir("/etc"), file("/etc/caddyfile", 0o666)],
      "file",
      /writable by everyone \(mode 0666\)/,
    ],
    [
      "root's directory under the sticky /tmp: only root may rename it",
      [dir("/"), dir("/tmp", 0o1777), dir("/tmp/tamanu")],
      "directory",
      null,
    ],
    [
      "/tmp itself (sticky, but everyone may add to it)",
      [dir("/"), dir("/tmp", 0o1777)],
      "directory",
      /\/tmp is writable by everyone/,
    ],
    [
      "the operator's directory under /tmp",
      [dir("/"), dir("/tmp", 0o1777), dir("/tmp/x", 0o755, op)],
      "directory",
      /\/tmp\/x belongs/,
    ],
    [
      "a world-writable directory without the sticky bit on the way",
      [dir("/"), dir("/srv", 0o777), dir("/srv/tamanu")],
      "directory",
      /\/srv is writable by everyone/,
    ],
    [
      "a link root made, in root's directory (its 0777 bits mean nothing)",
      [
        dir("/"),
        dir("/etc"),
        dir("/etc/tamanu"),
        link("/etc/tamanu/local.json5"),
        dir("/srv"),
        file("/srv/local.json5"),
      ],
      "file",
      null,
    ],
    [
      "a link the operator owns (in a sticky directory they may replace it)",
      [dir("/"), dir("/tmp", 0o1777), link("/tmp/cfg", op), dir("/etc"), file("/etc/shadow", 0o640)],
      "file",
      /\/tmp\/cfg belongs/,
    ],
    ["a file where a directory is wanted", [dir("/"), file("/x")], "directory", /\/x is not a directory/],
    ["a directory where a file is wanted", [dir("/"), dir("/etc")], "file", /\/etc is not a regular file/],
    [
      "a device where a file is wanted",
      [dir("/"), dir("/dev"), { path: "/dev/sda", uid: 0, mode: 0o060640 }],
      "file",
      /not a regular file/,
    ],
    ["nothing resolved", [], "file", /could not be resolved/],
    [
      "a Caddyfile everyone may read",
      [dir("/"), dir("/etc"), dir("/etc/caddy"), file("/etc/caddy/Caddyfile")],
      "public file",
      null,
    ],
    [
      "/etc/shadow as a Caddyfile (root's, but not for everyone to read)",
      [dir("/"), dir("/etc"), file("/etc/shadow", 0o640)],
      "public file",
      /\/etc\/shadow is not readable by everyone/,
    ],
    [
      "a readable file in a directory others cannot enter",
      [dir("/"), dir("/root", 0o700), file("/root/Caddyfile", 0o644)],
      "public file",
      /\/root is not searchable by everyone/,
    ],
  ]
  for (const [what, chain, want, refused] of table) {
    it(`${refused === null ? "yes" : "no"}: ${what}`, () => {
      const why = judgeChain(chain, op, want)
      if (refused === null) expect(why).toBeNull()
      else expect(why).toMatch(refused)
    })
  }
})

describe("resolveChain: every entry met, links followed as the kernel does", () => {
  /** A tiny filesystem: directories, files and links by absolute path. */
  const world = (entries: Record<string, PathEntry & { readonly target?: string }>): ChainFs => ({
    lstat: (p) => {
      const e = entries[p]
      if (e === undefined) throw Object.assign(new Error(`ENOENT ${p}`), { code: "ENOENT" })
      return e
    },
    readlink: (p) => entries[p]?.target ?? "",
  })
  const fsWith = world({
    "/": dir("/"),
    "/etc": dir("/etc"),
    "/etc/tamanu": dir("/etc/tamanu"),
    "/etc/tamanu/local.json5": { ...link("/etc/tamanu/local.json5"), target: "../../srv/conf/local.json5" },
    "/srv": dir("/srv"),
    "/srv/conf": dir("/srv/conf"),
    "/srv/conf/local.json5": file("/srv/conf/local.json5"),
    "/home": dir("/home"),
    "/home/op": dir("/home/op", 0o755, op),
    "/home/op/root": { ...link("/home/op/root", op), target: "/etc/tamanu" },
    "/loop": { ...link("/loop"), target: "/loop" },
  })

  it("a plain path: each directory from / and the path", () => {
    const r = resolveChain("/etc/tamanu", fsWith)
    expect(r.real).toBe("/etc/tamanu")
    expect(r.chain.map((e) => e.path)).toEqual(["/", "/etc", "/etc/tamanu"])
  })

  it("a relative link with ..: the link, then its target resolved from the link's directory", () => {
    const r = resolveChain("/etc/tamanu/local.json5", fsWith)
    expect(r.real).toBe("/srv/conf/local.json5")
    expect(r.chain.map((e) => e.path)).toEqual([
      "/",
      "/etc",
      "/etc/tamanu",
      "/etc/tamanu/local.json5",
      "/srv",
      "/srv/conf",
      "/srv/conf/local.json5",
    ])
    expect(judgeChain(r.chain, op, "file")).toBeNull()
  })

  it("a link in the operator's home to root's directory: the home is on the way, so it is refused", () => {
    const r = resolveChain("/home/op/root", fsWith)
    expect(r.real).toBe("/etc/tamanu")
    expect(r.chain.map((e) => e.path)).toContain("/home/op")
    expect(judgeChain(r.chain, op, "directory")).toMatch(/\/home\/op/)
  })

  it("a missing path throws (ENOENT); a loop stops (ELOOP)", () => {
    expect(() => resolveChain("/etc/nope", fsWith)).toThrow(/ENOENT/)
    expect(() => resolveChain("/loop", fsWith)).toThrow(/too many links/)
  })
})
