/**
 * End to end for the host context (spec §1.1, §11): config fixture files of
 * the four deployment shapes, found by root discovery, plus the real
 * database, produce the canonical expectation set.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import {
  type Expectation,
  expected,
  hostFacts,
  type SupervisorKind,
  TamanuHostLive,
  type TamanuHostOptions,
} from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Logger } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type PostgresCluster, postgresPrerequisite, startPostgres } from "./postgres.js"
import { skipUnless } from "./prerequisites.js"

const fixtures = fileURLToPath(new URL("../../fixtures/hosts/", import.meta.url))
const secret = "FIXTURE-SECRET-never-printed"

interface Shape {
  readonly fixture: string
  readonly supervisor: SupervisorKind
  readonly platform: NodeJS.Platform
  /** Where the shape is installed, relative to the fake filesystem root. */
  readonly installAt: string
  /** Where its config files are, relative to the install. */
  readonly configDir: string
}

const shapes: Record<string, Shape> = {
  "central on systemd": {
    fixture: "central-linux",
    supervisor: "systemd",
    platform: "linux",
    installAt: "etc/tamanu",
    configDir: ".",
  },
  "facility on systemd": {
    fixture: "facility-linux",
    supervisor: "systemd",
    platform: "linux",
    installAt: "opt/bes/tamanu",
    configDir: ".",
  },
  "central on pm2": {
    fixture: "central-windows",
    supervisor: "pm2",
    platform: "win32",
    installAt: "C/Tamanu/release-v2.14.0",
    configDir: "packages/central-server/config",
  },
  "facility on pm2": {
    fixture: "facility-windows",
    supervisor: "pm2",
    platform: "win32",
    installAt: "C/Tamanu/2.13.1",
    configDir: "packages/facility-server/config",
  },
}

/** name, instances, state: what §1.1 says each shape expects. */
type Row = readonly [string, string, string]
const show = (es: ReadonlyArray<Expectation>): ReadonlyArray<Row> =>
  es.map((e) => [
    e.name,
    e.instances._tag === "Named"
      ? `Named(${e.instances.suffixes.join(",")})`
      : e.instances._tag === "NumericAtLeast"
        ? `NumericAtLeast(${e.instances.count})`
        : "Single",
    e.state,
  ])

describe.skipIf(skipUnless(postgresPrerequisite()))("host context end to end: fixture configs + real DB", () => {
  let cluster: PostgresCluster
  const temps: Array<string> = []
  beforeAll(async () => {
    cluster = await startPostgres()
  })
  afterAll(async () => {
    await cluster?.stop()
    for (const t of temps) fs.rmSync(t, { recursive: true, force: true })
  })

  /** Installs a shape on a fresh fake filesystem, pointing its config at the test database. */
  const install = (shape: Shape): TamanuHostOptions => {
    const fsRoot = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-e2e-"))
    temps.push(fsRoot)
    const at = path.join(fsRoot, shape.installAt)
    fs.mkdirSync(path.dirname(at), { recursive: true })
    fs.cpSync(path.join(fixtures, shape.fixture), at, { recursive: true })
    fs.writeFileSync(path.join(at, shape.configDir, "local.json5"), `{ db: { port: ${cluster.port} } }`)
    const home = path.join(fsRoot, "home")
    fs.mkdirSync(home)
    return { fsRoot, home, platform: shape.platform, nodeEnv: "" }
  }

  const expectationsOf = async (shape: Shape, options: TamanuHostOptions, templateInstalled = true) => {
    const lines: Array<string> = []
    const capture = Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ message }) => lines.push(JSON.stringify(message))),
    )
    const facts = await Effect.runPromise(
      hostFacts(shape.supervisor, templateInstalled, Duration.zero).pipe(
        Effect.provide(TamanuHostLive(options)),
        Effect.provide(capture),
      ),
    )
    // The fixture's password is in every config: it must not reach a log line.
    expect(lines.some((l) => l.includes(secret))).toBe(false)
    return show(expected(facts))
  }

  it("central on systemd: portal on in the DB and FHIR on in production.json5", async () => {
    await cluster.setPortalFlag(true)
    const shape = shapes["central on systemd"]!
    expect(await expectationsOf(shape, install(shape))).toEqual([
      ["tamanu-central-tasks", "Single", "Up"],
      ["tamanu-frontend", "Named(a,b)", "Up"],
      ["tamanu-facility", "Single", "Down"],
      ["tamanu-central-api", "NumericAtLeast(2)", "Up"],
      ["tamanu-central-fhir-resolve", "Single", "Up"],
      ["tamanu-central-fhir-refresh", "Single", "Up"],
      ["tamanu-patientportal", "Named(a,b)", "Up"],
    ])
  })

  it("central on systemd: a missing portal row and NODE_ENV without its file turn portal and FHIR down", async () => {
    await cluster.setPortalFlag("missing")
    const shape = shapes["central on systemd"]!
    const rows = await expectationsOf(shape, { ...install(shape), nodeEnv: "staging" }, false)
    expect(rows.slice(4)).toEqual([
      ["tamanu-central-fhir-resolve", "Single", "Down"],
      ["tamanu-central-fhir-refresh", "Single", "Down"],
      ["tamanu-patientportal", "Single", "Down"],
    ])
  })

  it("central on systemd with the DB down: the portal is unknown, the rest is decided", async () => {
    const shape = shapes["central on systemd"]!
    const options = install(shape)
    await cluster.halt()
    try {
      const rows = await expectationsOf(shape, options)
      expect(rows.at(-1)).toEqual(["tamanu-patientportal", "Named(a,b)", "Unknown"])
      expect(rows.filter(([, , state]) => state === "Unknown")).toHaveLength(1)
    } finally {
      await cluster.resume()
    }
  })

  it("facility on systemd: serverFacilityIds makes it a facility with sync and no portal", async () => {
    await cluster.setPortalFlag(true)
    const shape = shapes["facility on systemd"]!
    expect(await expectationsOf(shape, install(shape))).toEqual([
      ["tamanu-facility-tasks", "Single", "Up"],
      ["tamanu-frontend", "Named(a,b)", "Up"],
      ["tamanu-facility", "Single", "Down"],
      ["tamanu-facility-api", "NumericAtLeast(2)", "Up"],
      ["tamanu-facility-sync", "Single", "Up"],
    ])
  })

  it("central on pm2 (Windows layout, found under C:\\Tamanu): FHIR workers on, no frontend or portal", async () => {
    await cluster.setPortalFlag(true)
    const shape = shapes["central on pm2"]!
    expect(await expectationsOf(shape, install(shape))).toEqual([
      ["tamanu-tasks", "Single", "Up"],
      ["tamanu-api", "NumericAtLeast(2)", "Up"],
      ["tamanu-fhir-resolve", "Single", "Up"],
      ["tamanu-fhir-refresh", "Single", "Up"],
    ])
  })

  it("facility on pm2 (facility-server config): serverFacilityId makes it a facility with sync", async () => {
    const shape = shapes["facility on pm2"]!
    expect(await expectationsOf(shape, install(shape))).toEqual([
      ["tamanu-tasks", "Single", "Up"],
      ["tamanu-api", "NumericAtLeast(2)", "Up"],
      ["tamanu-sync", "Single", "Up"],
    ])
  })

  it("--kind overrides the config: the facility fixture driven as central reads the DB", async () => {
    await cluster.setPortalFlag(true)
    const shape = shapes["facility on systemd"]!
    const rows = await expectationsOf(shape, { ...install(shape), kind: "central" })
    expect(rows.at(0)?.[0]).toBe("tamanu-central-tasks")
    // facility fixture's db name does not exist on the test cluster: the flag cannot be read
    expect(rows.at(-1)).toEqual(["tamanu-patientportal", "Named(a,b)", "Unknown"])
  })
})
