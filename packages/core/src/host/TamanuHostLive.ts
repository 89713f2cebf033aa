/**
 * The live `TamanuHost`: root and config from the filesystem, the portal
 * flag from PostgreSQL. Explicit options win over the environment
 * (`TAMANU_ROOT`, `TAMANU_KIND`, `TAMANU_DATABASE_URL`, `NODE_ENV`), which
 * wins over the search and the config.
 */
import * as os from "node:os"
import { FileSystem } from "@effect/platform"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Clock, type Duration, Effect, Either, Config as EnvConfig, Layer, Option } from "effect"
import type { HostFacts, ServerKind } from "../model/hostFacts.js"
import type { SupervisorKind } from "../model/instance.js"
import {
  envFileCandidates,
  markerTarget,
  parseEnvFile,
  UPGRADE_MARKER_PATH,
  type UpgradeMarker,
  type VersionSources,
} from "../model/version.js"
import { trustedPath } from "../privileges/trustedPath.js"
import { log } from "../util/logging.js"
import { detectKind, fhirWorkerEnabled, loadConfig } from "./config.js"
import { databaseTarget, type PortalReading, readPatientPortal } from "./database.js"
import type { HostError } from "./errors.js"
import { findRoot } from "./findRoot.js"
import { type HostContext, TamanuHost, type TamanuHostShape } from "./TamanuHost.js"

export interface TamanuHostOptions {
  /** `--root`; else `TAMANU_ROOT`; else the known roots. */
  readonly root?: string | undefined
  /** `--kind`; else `TAMANU_KIND`; else from config. */
  readonly kind?: ServerKind | undefined
  /** Else `TAMANU_DATABASE_URL`; else built from config `db`. */
  readonly databaseUrl?: string | undefined
  /** Else `NODE_ENV`; unset means `production`. */
  readonly nodeEnv?: string | undefined
  /** Else the OS home directory (developer roots live under it). */
  readonly home?: string | undefined
  /** Else `process.platform`. */
  readonly platform?: NodeJS.Platform | undefined
  /** Tests only: where the known absolute roots are looked up (see `findRoot`). */
  readonly fsRoot?: string | undefined
  /**
   * The uid of the operator a run as root acts for (sudo's SUDO_UID), or
   * null. Then the root and every config file must be out of that user's
   * reach (privileges/trustedPath.ts) and are read through their checked
   * real paths; else `UntrustedPath`.
   */
  readonly sudoCaller?: number | null | undefined
  /** Tests only: the upgrade marker (default `/run/tamanu/upgrade-in-progress`). */
  readonly upgradeMarkerPath?: string | undefined
}

const env = (name: string) =>
  EnvConfig.string(name).pipe(
    EnvConfig.option,
    Effect.map(Option.filter((v) => v !== "")),
    Effect.map(Option.getOrUndefined),
    Effect.orElseSucceed(() => undefined),
  )

const kindFromEnv = Effect.gen(function* () {
  const raw = yield* env("TAMANU_KIND")
  if (raw === undefined) return undefined
  if (raw === "central" || raw === "facility") return raw
  yield* log.warning(`ignoring TAMANU_KIND=${raw}: expected central or facility`)
  return undefined
})

/** The context plus what only the live layer knows (which files, why this kind). */
export interface LiveHostContext extends HostContext {
  readonly configFiles: ReadonlyArray<string>
  readonly kindReason: string
}

/**
 * The first env file of the root that exists (issue #22). Missing or
 * unreadable is a fact the versions report as unknown, never an error.
 */
const readVersionSources = (fs: FileSystem.FileSystem, root: string, rootVersion: string | null) =>
  Effect.gen(function* () {
    const candidates = envFileCandidates(root)
    const problems: Array<string> = []
    for (const file of candidates) {
      const read = yield* Effect.either(fs.readFileString(file))
      if (read._tag === "Right") return { envFile: file, env: parseEnvFile(read.right), rootVersion }
      const reason = read.left._tag === "SystemError" ? read.left.reason : "BadArgument"
      problems.push(
        reason === "NotFound"
          ? `${file} is missing`
          : reason === "PermissionDenied"
            ? `${file} is not readable by this user (sudo tamanu status reads it)`
            : `${file} could not be read: ${read.left.message}`,
      )
    }
    return {
      envFile: candidates[0] ?? `${root}/env`,
      env: null,
      envProblem: problems.join("; "),
      rootVersion,
    } satisfies VersionSources
  })

/** The upgrade marker's age (from its mtime) and target; null when absent or unreadable. */
const readUpgradeMarker = (fs: FileSystem.FileSystem, path: string): Effect.Effect<UpgradeMarker | null> =>
  Effect.gen(function* () {
    const info = yield* fs.stat(path)
    const mtime = Option.getOrUndefined(info.mtime)
    const now = yield* Clock.currentTimeMillis
    const text = yield* fs.readFileString(path).pipe(Effect.orElseSucceed(() => ""))
    return { ageMillis: mtime === undefined ? 0 : now - mtime.getTime(), target: markerTarget(text) }
  }).pipe(Effect.orElseSucceed(() => null))

/** Builds the service over any `FileSystem`; see `TamanuHostLive` for the Node one. */
export const makeTamanuHost = (options: TamanuHostOptions = {}) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const root = options.root ?? (yield* env("TAMANU_ROOT"))
    const kind = options.kind ?? (yield* kindFromEnv)
    const databaseUrl = options.databaseUrl ?? (yield* env("TAMANU_DATABASE_URL"))
    const nodeEnv = options.nodeEnv ?? (yield* env("NODE_ENV"))

    const caller = options.sudoCaller ?? null
    const trusted = (setting: string, path: string, want: "directory" | "file") =>
      caller === null
        ? Effect.succeed(path)
        : Either.match(trustedPath(setting, path, caller, want), {
            onLeft: Effect.fail,
            onRight: Effect.succeed,
          })

    const load: Effect.Effect<LiveHostContext, HostError> = Effect.gen(function* () {
      const found = yield* findRoot({
        root: root === undefined || root === "" ? root : yield* trusted("--root", root, "directory"),
        home: options.home ?? os.homedir(),
        platform: options.platform ?? process.platform,
        fsRoot: options.fsRoot,
      })
      const rootPath = yield* trusted("the Tamanu root", found.path, "directory")
      const loaded = yield* loadConfig(rootPath, nodeEnv, (file) => trusted("the Tamanu config file", file, "file"))
      const decision = detectKind(loaded.config, kind)
      const versions = yield* readVersionSources(fs, rootPath, found.version)
      return {
        root: rootPath,
        version: found.version,
        config: loaded.config,
        kind: decision.kind,
        kindReason: decision.reason,
        fhirWorkerEnabled: fhirWorkerEnabled(loaded.config),
        configFiles: loaded.files,
        versions,
      }
    }).pipe(Effect.provideService(FileSystem.FileSystem, fs))

    const context = yield* Effect.cached(load)

    /** The full reading (with the reason), for callers that show why the flag is unknown. */
    const portalReading = (wait: Duration.Duration): Effect.Effect<PortalReading> =>
      context.pipe(
        Effect.either,
        Effect.flatMap((ctx) =>
          ctx._tag === "Right"
            ? readPatientPortal(databaseTarget(ctx.right.root, ctx.right.config, databaseUrl), wait)
            : databaseUrl !== undefined
              ? readPatientPortal(databaseTarget("", null, databaseUrl), wait)
              : Effect.succeed<PortalReading>({
                  enabled: null,
                  reason: `no database to ask: ${ctx.left._tag}`,
                  warnings: [],
                }),
        ),
      )

    const patientPortal = (wait: Duration.Duration) =>
      portalReading(wait).pipe(
        Effect.tap((r) => Effect.forEach(r.warnings, (w) => log.warning(w), { discard: true })),
        Effect.tap((r) => (r.enabled === null ? log.warning(`patient portal flag unknown: ${r.reason}`) : Effect.void)),
        Effect.map((r) => r.enabled),
      )

    const service: TamanuHostShape & { readonly portalReading: typeof portalReading } = {
      context,
      patientPortal,
      portalReading,
      upgradeMarker: readUpgradeMarker(fs, options.upgradeMarkerPath ?? UPGRADE_MARKER_PATH),
    }
    return service
  })

/** `TamanuHost` over a provided `FileSystem`. */
export const TamanuHostLayer = (
  options: TamanuHostOptions = {},
): Layer.Layer<TamanuHost, never, FileSystem.FileSystem> => Layer.effect(TamanuHost, makeTamanuHost(options))

/** `TamanuHost` on the real filesystem and database; the context is read once and cached. */
export const TamanuHostLive = (options: TamanuHostOptions = {}): Layer.Layer<TamanuHost> =>
  TamanuHostLayer(options).pipe(Layer.provide(NodeFileSystem.layer))

/**
 * The facts `expected()` needs. The DB is only asked when an expectation
 * depends on it (the patient portal: systemd, central); elsewhere the flag
 * is reported as null (not read).
 */
export const hostFacts = (
  supervisor: SupervisorKind,
  portalTemplateInstalled: boolean,
  dbWait: Duration.Duration,
): Effect.Effect<HostFacts, HostError, TamanuHost> =>
  Effect.gen(function* () {
    const host = yield* TamanuHost
    const ctx = yield* host.context
    const needsDb = supervisor === "systemd" && ctx.kind === "central"
    return {
      supervisor,
      kind: ctx.kind,
      fhirWorkerEnabled: ctx.fhirWorkerEnabled,
      patientPortal: needsDb ? yield* host.patientPortal(dbWait) : null,
      portalTemplateInstalled: supervisor === "systemd" && portalTemplateInstalled,
    }
  })
