/**
 * The published packages work on their own: `npm pack` each workspace,
 * install the tarballs into a scratch project, and run the `tamanu` bin and
 * an embedding script from there (not from this repository's sources).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const repo = fileURLToPath(new URL("../../../../", import.meta.url))
const run = (cmd: string, args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv = process.env) =>
  execFileSync(cmd, [...args], { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 })

const built = fs.existsSync(path.join(repo, "packages/cli/dist/tamanu.mjs"))

describe.skipIf(!built && process.env.CI !== "true")("packaging (npm pack → install → run)", () => {
  let scratch = ""

  beforeAll(() => {
    if (!built) throw new Error("packages are not built: run `npm run build` first")
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-pack-"))
    const tarballs = ["core", "cli", "testing"].map((pkg) => {
      const out = run("npm", ["pack", "--silent", "--pack-destination", scratch], path.join(repo, "packages", pkg))
      return path.join(scratch, out.trim().split("\n").pop() ?? "")
    })
    fs.writeFileSync(
      path.join(scratch, "package.json"),
      JSON.stringify({ name: "scratch", private: true, type: "module" }, null, 2),
    )
    // From the npm cache `npm ci` filled; the registry only for what it lacks.
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", ...tarballs], scratch)
  }, 300_000)

  afterAll(() => {
    if (scratch !== "") fs.rmSync(scratch, { recursive: true, force: true })
  })

  it("the tamanu bin prints its help and the four commands", () => {
    const help = run(path.join(scratch, "node_modules/.bin/tamanu"), ["--help"], scratch, {
      ...process.env,
      NO_COLOR: "1",
    })
    for (const command of ["status", "start", "stop", "restart"]) expect(help).toContain(command)
  })

  it("a bad option is a usage error (exit 2) from the installed bin", () => {
    let code = 0
    try {
      run(path.join(scratch, "node_modules/.bin/tamanu"), ["restart", "--cooldown", "5x"], scratch)
    } catch (error) {
      code = (error as { status: number }).status
    }
    expect(code).toBe(2)
  })

  it("an embedding script imports the SDK and gets a typed error from the live layers", () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-pack-pm2-"))
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-pack-root-"))
    fs.writeFileSync(path.join(root, "local.json5"), '{ serverFacilityIds: ["f1"] }')
    fs.writeFileSync(
      path.join(scratch, "embed.mjs"),
      `import { LiveLayer, Progress, status, expected, planStart } from "@tamanu-lifecycle/core"
import { FakePm2 } from "@tamanu-lifecycle/testing"
import { lifecycleCommands } from "@tamanu-lifecycle/cli"
import { Effect, Layer } from "effect"
const config = { supervisor: "pm2", systemdScope: "system", root: ${JSON.stringify(root)}, kind: null,
  databaseUrl: null, pm2Home: ${JSON.stringify(home)}, caddyAdmin: null }
const result = await Effect.runPromise(
  status({ names: [], all: false }).pipe(Effect.provide(Layer.merge(LiveLayer(config), Progress.Silent)), Effect.either))
console.log(JSON.stringify({
  tag: result._tag === "Left" ? result.left._tag : "Right",
  expectations: expected({ supervisor: "pm2", kind: "facility", fhirWorkerEnabled: null, patientPortal: null, portalTemplateInstalled: false }).length,
  commands: lifecycleCommands.length, fake: typeof FakePm2.layer, planner: typeof planStart }))
`,
    )
    const out = JSON.parse(run("node", ["embed.mjs"], scratch))
    // No pm2 daemon for that PM2_HOME: a typed error, and no daemon started.
    expect(out).toEqual({
      tag: "SupervisorUnavailable",
      expectations: 3,
      commands: 4,
      fake: "function",
      planner: "function",
    })
    expect(fs.existsSync(path.join(home, "rpc.sock"))).toBe(false)
    fs.rmSync(home, { recursive: true, force: true })
    fs.rmSync(root, { recursive: true, force: true })
  })
})
