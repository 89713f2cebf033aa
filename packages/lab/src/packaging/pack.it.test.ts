/**
 * The published packages work on their own, from their tarballs (not from
 * this repository's sources):
 * - an embedder's test project installs only @tamanu-lifecycle/testing (and
 *   the core it depends on), runs a test of its own against the fakes with
 *   `node --test`, and gets neither pm2 nor the CLI;
 * - an operator's install of @tamanu-lifecycle/cli runs the `tamanu` bin, and
 *   an embedding script imports the SDK and its commands.
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

/** A scratch project with these tarballs installed (from the npm cache `npm ci` filled; the registry only for what it lacks). */
const scratchProject = (dir: string, tarballs: ReadonlyArray<string>): string => {
  fs.mkdirSync(dir)
  fs.writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({ name: path.basename(dir), private: true, type: "module" }, null, 2),
  )
  run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", ...tarballs], dir)
  return dir
}

/** Every package name under node_modules (scoped ones as `@scope/name`), nested ones included. */
const installedPackages = (dir: string): ReadonlyArray<string> => {
  const lock = JSON.parse(fs.readFileSync(path.join(dir, "package-lock.json"), "utf8")) as {
    packages: Record<string, unknown>
  }
  return Object.keys(lock.packages)
    .filter((key) => key !== "")
    .map((key) => key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length))
}

let packs = ""
const tarball: Record<string, string> = {}

beforeAll(() => {
  if (!built) throw new Error("packages are not built: run `npm run build` first")
  packs = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-pack-"))
  for (const pkg of ["core", "cli", "testing"]) {
    const out = run("npm", ["pack", "--silent", "--pack-destination", packs], path.join(repo, "packages", pkg))
    tarball[pkg] = path.join(packs, out.trim().split("\n").pop() ?? "")
  }
}, 300_000)

afterAll(() => {
  if (packs !== "") fs.rmSync(packs, { recursive: true, force: true })
})

/** An embedder's own test: a rolling restart over the fakes, under TestClock, with node's test runner. */
const embedderTest = `import { test } from "node:test"
import assert from "node:assert/strict"
import { Effect, Fiber, Layer, TestClock, TestContext } from "effect"
import { Progress, restart, defaults } from "@tamanu-lifecycle/core/internal"
import { FakeSupervisorControl, fakeHost } from "@tamanu-lifecycle/testing"

const api = (suffix) => ({ name: "tamanu-central-api", suffix, pmId: null })
const host = fakeHost({
  supervisor: { systemd: { units: [
    { name: "tamanu-central-api", suffix: "1", running: true, enabled: true },
    { name: "tamanu-central-api", suffix: "2", running: true, enabled: true },
  ] } },
  readiness: [{ instance: api("1"), readyAfter: "20 seconds" }, { instance: api("2"), readyAfter: "20 seconds" }],
})

test("my tool's restart of the API never takes both instances down", async () => {
  const program = Effect.gen(function* () {
    const fiber = yield* Effect.fork(restart({
      names: ["central-api"], ignoreUnmatched: false, dryRun: false, waitLimit: defaults.waitLimit,
      lockFile: null, probeHttp: true, probeTimeout: defaults.restartProbeTimeout, cooldown: defaults.cooldown,
      checkUrl: null,
    }))
    for (let i = 0; i < 120; i++) yield* TestClock.adjust("1 second")
    yield* Fiber.join(fiber)
    const control = yield* FakeSupervisorControl
    return (yield* control.calls("restartOne")).map((c) => ({ suffix: c.refs[0].suffix, at: c.at }))
  })
  const calls = await Effect.runPromise(
    program.pipe(Effect.provide(Layer.mergeAll(host, Progress.Silent)), Effect.provide(TestContext.TestContext)),
  )
  assert.deepEqual(calls.map((c) => c.suffix), ["1", "2"])
  assert.ok(calls[1].at - calls[0].at >= 20_000, "the second instance waited for the first to answer")
})
`

describe("the testing package alone (an embedder's test project)", () => {
  let scratch = ""
  beforeAll(() => {
    scratch = scratchProject(path.join(packs, "embedder"), [tarball.testing ?? "", tarball.core ?? ""])
  }, 300_000)

  it("brings neither pm2 nor the CLI", () => {
    const installed = installedPackages(scratch)
    expect(installed).toContain("@tamanu-lifecycle/testing")
    expect(installed).toContain("effect")
    for (const absent of ["pm2", "@tamanu-lifecycle/cli", "@effect/cli", "@tamanu-lifecycle/lab"])
      expect(installed).not.toContain(absent)
  })

  it("runs the embedder's own test against the fakes", () => {
    fs.writeFileSync(path.join(scratch, "restart.test.mjs"), embedderTest)
    const out = run("node", ["--test", "--test-reporter=tap", "restart.test.mjs"], scratch)
    expect(out).toContain("# pass 1")
    expect(out).toContain("# fail 0")
  })
})

describe("the CLI and the SDK (an operator's install, an embedding script)", () => {
  let scratch = ""

  beforeAll(() => {
    scratch = scratchProject(path.join(packs, "operator"), [
      tarball.core ?? "",
      tarball.cli ?? "",
      tarball.testing ?? "",
    ])
  }, 300_000)

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
      `import { LiveLayer, Progress, status, expected, planStart } from "@tamanu-lifecycle/core/internal"
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
