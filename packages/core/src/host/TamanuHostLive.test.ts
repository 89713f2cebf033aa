import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Layer } from "effect"
import { afterAll } from "vitest"
import { TamanuHost } from "./TamanuHost.js"
import { hostFacts, TamanuHostLive } from "./TamanuHostLive.js"

const temps: Array<string> = []
afterAll(() => {
  for (const t of temps) fs.rmSync(t, { recursive: true, force: true })
})

const root = (files: Record<string, string>, name = "tamanu") => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-host-"))
  temps.push(base)
  const r = path.join(base, name)
  fs.mkdirSync(r)
  for (const [rel, text] of Object.entries(files)) fs.writeFileSync(path.join(r, rel), text)
  return r
}

const withEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("TamanuHostLive: versions (issue #22)", () => {
  it.effect("reads the expected versions from the root's env file", () =>
    Effect.gen(function* () {
      const r = root({
        "default.json5": "{}",
        env: "TAMANU_VERSION=v2.65.0\nTAMANU_FRONTEND_VERSION=2.65.1\nNODE_ENV=production\n",
      })
      const ctx = yield* Effect.flatMap(TamanuHost, (h) => h.context).pipe(Effect.provide(TamanuHostLive({ root: r })))
      expect(ctx.versions?.envFile).toBe(path.join(r, "env"))
      expect(Object.fromEntries(ctx.versions?.env ?? [])).toMatchObject({
        TAMANU_VERSION: "v2.65.0",
        TAMANU_FRONTEND_VERSION: "2.65.1",
      })
    }),
  )

  it.effect("a missing env file is a fact (no env, the reason), never an error", () =>
    Effect.gen(function* () {
      const r = root({ "default.json5": "{}" })
      const ctx = yield* Effect.flatMap(TamanuHost, (h) => h.context).pipe(Effect.provide(TamanuHostLive({ root: r })))
      expect(ctx.versions).toMatchObject({ env: null, envProblem: `${path.join(r, "env")} is missing` })
    }),
  )

  it.live("the upgrade marker: its age from the mtime and the target it names; none when absent", () =>
    Effect.gen(function* () {
      const r = root({ "default.json5": "{}", marker: "2.65.0\n" })
      const marker = path.join(r, "marker")
      const tenMinutesAgo = new Date(Date.now() - 10 * 60_000)
      fs.utimesSync(marker, tenMinutesAgo, tenMinutesAgo)
      const read = (p: string) =>
        Effect.flatMap(TamanuHost, (h) => h.upgradeMarker).pipe(
          Effect.provide(TamanuHostLive({ root: r, upgradeMarkerPath: p })),
        )
      const found = yield* read(marker)
      expect(found?.target).toBe("2.65.0")
      // mtime has one-second resolution on some filesystems; the age is ten minutes, give or take that.
      expect(Math.abs((found?.ageMillis ?? 0) - 10 * 60_000)).toBeLessThan(60_000)
      expect(yield* read(path.join(r, "absent"))).toBeNull()
    }),
  )
})

describe("TamanuHostLive", () => {
  it.effect("reads root, version, config, kind and FHIR flag from an explicit root", () =>
    Effect.gen(function* () {
      const r = root(
        { "default.json5": "{ serverFacilityIds: ['f'], integrations: { fhir: { worker: { enabled: true } } } }" },
        "release-v2.12.3",
      )
      const ctx = yield* Effect.flatMap(TamanuHost, (h) => h.context).pipe(Effect.provide(TamanuHostLive({ root: r })))
      expect(ctx).toMatchObject({ root: r, version: "2.12.3", kind: "facility", fhirWorkerEnabled: true })
    }),
  )

  it.effect("TAMANU_ROOT, TAMANU_KIND and NODE_ENV from the environment are used when no option is given", () =>
    Effect.gen(function* () {
      const r = root({ "default.json5": "{ a: 'd' }", "staging.json5": "{ a: 's' }" })
      const ctx = yield* Effect.flatMap(TamanuHost, (h) => h.context).pipe(
        Effect.provide(
          TamanuHostLive({}).pipe(
            Layer.provide(withEnv({ TAMANU_ROOT: r, TAMANU_KIND: "facility", NODE_ENV: "staging" })),
          ),
        ),
      )
      expect(ctx).toMatchObject({ root: r, kind: "facility", config: { a: "s" } })
    }),
  )

  it.effect("options win over the environment", () =>
    Effect.gen(function* () {
      const mine = root({ "default.json5": "{}" })
      const other = root({ "default.json5": "{}" })
      const ctx = yield* Effect.flatMap(TamanuHost, (h) => h.context).pipe(
        Effect.provide(
          TamanuHostLive({ root: mine, kind: "central" }).pipe(
            Layer.provide(withEnv({ TAMANU_ROOT: other, TAMANU_KIND: "facility" })),
          ),
        ),
      )
      expect(ctx).toMatchObject({ root: mine, kind: "central" })
    }),
  )

  it.effect("the context is read once: later edits to the config do not change it", () =>
    Effect.gen(function* () {
      const r = root({ "default.json5": "{ a: 1 }" })
      const [first, second] = yield* Effect.gen(function* () {
        const host = yield* TamanuHost
        const first = yield* host.context
        fs.writeFileSync(path.join(r, "default.json5"), "{ a: 2 }")
        return [first, yield* host.context] as const
      }).pipe(Effect.provide(TamanuHostLive({ root: r })))
      expect(first.config).toEqual({ a: 1 })
      expect(second).toBe(first)
    }),
  )

  it.effect("no config at all: central, FHIR unknown", () =>
    Effect.gen(function* () {
      const r = root({})
      const ctx = yield* Effect.flatMap(TamanuHost, (h) => h.context).pipe(Effect.provide(TamanuHostLive({ root: r })))
      expect(ctx).toMatchObject({ config: null, kind: "central", fhirWorkerEnabled: null })
    }),
  )

  it.effect("a facility host never asks the database (no portal expectation depends on it)", () =>
    Effect.gen(function* () {
      // The URL points nowhere: asking would log a warning and take time; the facts come back at once.
      const r = root({ "default.json5": "{ sync: { host: 'https://central' }, db: { name: 'x', port: 1 } }" })
      const facts = yield* hostFacts("systemd", true, Duration.minutes(2)).pipe(
        Effect.provide(TamanuHostLive({ root: r })),
      )
      expect(facts).toEqual({
        supervisor: "systemd",
        kind: "facility",
        fhirWorkerEnabled: false,
        patientPortal: null,
        portalTemplateInstalled: true,
      })
    }),
  )

  it.effect("a central host with no db section reports the portal flag as unknown", () =>
    Effect.gen(function* () {
      const r = root({ "default.json5": "{}" })
      const facts = yield* hostFacts("systemd", false, Duration.zero).pipe(Effect.provide(TamanuHostLive({ root: r })))
      expect(facts.patientPortal).toBeNull()
      expect(facts.kind).toBe("central")
    }),
  )

  it.effect("pm2 never has the portal template", () =>
    Effect.gen(function* () {
      const r = root({ "default.json5": "{ serverFacilityId: 'f' }" })
      const facts = yield* hostFacts("pm2", true, Duration.zero).pipe(Effect.provide(TamanuHostLive({ root: r })))
      expect(facts.portalTemplateInstalled).toBe(false)
    }),
  )

  it.effect("a broken config fails the context with ConfigUnreadable", () =>
    Effect.gen(function* () {
      const r = root({ "default.json5": "{ a: }" })
      const error = yield* Effect.flatMap(TamanuHost, (h) => h.context).pipe(
        Effect.flip,
        Effect.provide(TamanuHostLive({ root: r })),
      )
      expect(error).toMatchObject({ _tag: "ConfigUnreadable", file: path.join(r, "default.json5"), line: 1 })
    }),
  )
})

describe("TamanuHostLive for a run as root on an operator's behalf (sudoCaller)", () => {
  const me = typeof process.getuid === "function" ? process.getuid() : 0
  const other = me + 4242
  const context = (options: Parameters<typeof TamanuHostLive>[0]) =>
    Effect.flatMap(TamanuHost, (h) => h.context).pipe(Effect.provide(TamanuHostLive(options)), Effect.either)

  it.effect("a root the operator owns is refused before anything in it is read", () =>
    Effect.gen(function* () {
      const r = root({ "default.json5": "{ serverFacilityId: 'f' }" })
      const result = yield* context({ root: r, sudoCaller: me })
      expect(result._tag === "Left" && result.left).toMatchObject({
        _tag: "UntrustedPath",
        setting: "--root",
        reason: expect.stringMatching(/belongs to the user sudo runs this for/),
      })
    }),
  )

  it.effect("a root out of the operator's reach is read through its real path", () =>
    Effect.gen(function* () {
      const r = root({ "default.json5": "{ serverFacilityId: 'f' }" })
      const link = `${r}-link`
      fs.symlinkSync(r, link)
      const result = yield* context({ root: link, sudoCaller: other })
      expect(result._tag === "Right" && result.right).toMatchObject({ root: fs.realpathSync(r), kind: "facility" })
    }),
  )

  it.effect("a config file everyone may write, or a root its group may write, is refused", () =>
    Effect.gen(function* () {
      const r = root({ "default.json5": "{}", "local.json5": "{}" })
      fs.chmodSync(path.join(r, "local.json5"), 0o666)
      const file = yield* context({ root: r, sudoCaller: other })
      expect(file._tag === "Left" && file.left).toMatchObject({
        _tag: "UntrustedPath",
        setting: "the Tamanu config file",
        reason: expect.stringMatching(/local\.json5 is writable by everyone/),
      })
      const g = root({ "default.json5": "{}" })
      fs.chmodSync(g, 0o775)
      const dir = yield* context({ root: g, sudoCaller: other })
      expect(dir._tag === "Left" && dir.left).toMatchObject({ reason: expect.stringMatching(/writable by its group/) })
    }),
  )

  it.effect("without sudoCaller nothing is judged (status as the operator reads their own checkout)", () =>
    Effect.gen(function* () {
      const r = root({ "default.json5": "{}" })
      fs.chmodSync(r, 0o777)
      const result = yield* context({ root: r, sudoCaller: null })
      expect(result._tag).toBe("Right")
    }),
  )
})
