/**
 * The cold-start benchmark against the built bundle, and the bundle's V8
 * code cache: made on first run, and any trouble with it (garbage, an
 * unwritable place, switched off) costs speed only, never behaviour.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { pm2Prerequisite } from "../harness/pm2Daemon.js"
import { skipUnless } from "../harness/prerequisites.js"
import { benchColdStart, defaultBundle } from "./coldStart.js"

const bundlePrerequisite = () => ({
  component: "tamanu bundle",
  missing: fs.existsSync(path.join(path.dirname(defaultBundle()), "..", "dist", "tamanu.cjs"))
    ? null
    : "packages/cli/dist/tamanu.cjs is not built (run npm run build)",
})

describe.skipIf(skipUnless(pm2Prerequisite(), bundlePrerequisite()))("cold start of tamanu status --json", () => {
  it("measures both commands and a peak RSS (figures are reported, not asserted against the target)", async () => {
    const figures = await benchColdStart({ runs: 2, rssRuns: 1 })
    expect(figures.nodeMedianMs).toBeGreaterThan(0)
    expect(figures.tamanuMedianMs).toBeGreaterThan(0)
    expect(figures.ratio).toBeCloseTo(figures.tamanuMedianMs / figures.nodeMedianMs, 1)
    expect(figures.peakRssMb).toBeGreaterThan(10)
  })
})

describe.skipIf(skipUnless(bundlePrerequisite()))("the bundle's V8 code cache", () => {
  let dir = ""
  let xdg = ""
  const cacheDir = () => path.join(dir, ".cache")
  const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [path.join(dir, "tamanu.mjs"), ...args], {
      encoding: "utf8",
      env: { ...process.env, XDG_CACHE_HOME: xdg, NO_COLOR: "1", ...env },
      timeout: 60_000,
    })
    return { status: r.status, stdout: r.stdout, stderr: r.stderr }
  }
  const cacheFiles = (where: string) => (fs.existsSync(where) ? fs.readdirSync(where) : [])

  beforeAll(() => {
    // A copy of the built bundle, so these runs never touch the real dist/.cache.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-codecache-"))
    xdg = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-xdg-"))
    const dist = path.join(path.dirname(defaultBundle()), "..", "dist")
    for (const f of ["tamanu.mjs", "tamanu-loader.cjs", "tamanu.cjs"]) {
      fs.copyFileSync(path.join(dist, f), path.join(dir, f))
    }
  })
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
    fs.rmSync(xdg, { recursive: true, force: true })
  })

  it("the first run writes a cache beside the bundle and later runs behave the same", () => {
    const first = run(["--version"])
    expect(cacheFiles(cacheDir())).toHaveLength(1)
    const second = run(["--version"])
    expect(second).toEqual(first)
    expect(first.status).toBe(0)
  })

  it("a garbage cache is ignored and replaced, with the same output and exit status", () => {
    const reference = run(["status", "--bogus"])
    const [name] = cacheFiles(cacheDir())
    if (name === undefined) throw new Error("no cache written")
    fs.writeFileSync(path.join(cacheDir(), name), Buffer.from("not a V8 code cache"))
    expect(run(["status", "--bogus"])).toEqual(reference)
    expect(reference.status).toBe(2)
    expect(fs.statSync(path.join(cacheDir(), name)).size).toBeGreaterThan(1000)
  })

  it("where the bundle's directory cannot hold a cache, the user's cache directory does, but never root's run", () => {
    fs.rmSync(cacheDir(), { recursive: true, force: true })
    fs.writeFileSync(cacheDir(), "a file where the cache directory would go")
    const asRoot = process.getuid?.() === 0
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-xdg-user-"))
    try {
      const reference = run(["--version"])
      expect(reference.status).toBe(0)
      // As root (sudo tamanu, and CI) a cache in a user's directory could be anyone's code: none is written.
      expect(cacheFiles(path.join(xdg, "tamanu-lifecycle"))).toHaveLength(asRoot ? 0 : 1)
      expect(run(["--version"])).toEqual(reference)
      if (!asRoot) return
      // The same install run by an unprivileged user: that user's own cache directory holds the cache.
      fs.chmodSync(dir, 0o755)
      fs.chownSync(userDir, 65534, 65534)
      const asUser = () =>
        spawnSync(
          "setpriv",
          [
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            process.execPath,
            path.join(dir, "tamanu.mjs"),
            "--version",
          ],
          {
            encoding: "utf8",
            env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: userDir, XDG_CACHE_HOME: userDir },
            timeout: 60_000,
          },
        )
      const first = asUser()
      expect(first.status, first.stderr).toBe(0)
      expect(first.stdout).toBe(reference.stdout)
      expect(cacheFiles(path.join(userDir, "tamanu-lifecycle"))).toHaveLength(1)
      const second = asUser()
      expect([second.status, second.stdout]).toEqual([0, reference.stdout])
    } finally {
      fs.rmSync(cacheDir(), { force: true })
      fs.rmSync(userDir, { recursive: true, force: true })
    }
  })

  it("TAMANU_CODE_CACHE=0 neither reads nor writes a cache", () => {
    fs.rmSync(path.join(xdg, "tamanu-lifecycle"), { recursive: true, force: true })
    const r = run(["--version"], { TAMANU_CODE_CACHE: "0" })
    expect(r.status).toBe(0)
    expect(cacheFiles(cacheDir())).toHaveLength(0)
    expect(cacheFiles(path.join(xdg, "tamanu-lifecycle"))).toHaveLength(0)
  })
})
