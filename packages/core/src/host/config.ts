/**
 * Tamanu's JSON5 config (spec §11) and what the lifecycle reads from it:
 * the server kind (§1.1) and the FHIR worker flag. Layout, file order, merge
 * and kind detection are pure; `loadConfig` is the thin filesystem layer.
 */
import * as nodePath from "node:path"
import { FileSystem } from "@effect/platform"
import { Effect } from "effect"
import JSON5 from "json5"
import type { ServerKind } from "../model/hostFacts.js"
import { ConfigUnreadable } from "./errors.js"

export type TamanuConfig = Readonly<Record<string, unknown>>

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Where a root keeps its config, in the order they are tried: the Windows
 * layout (central then facility server package), then the Linux layout
 * (files directly in the root).
 */
export const configDirectories = (root: string): ReadonlyArray<string> => [
  nodePath.join(root, "packages", "central-server", "config"),
  nodePath.join(root, "packages", "facility-server", "config"),
  root,
]

/**
 * Why a NODE_ENV cannot name a config file, or null: it becomes a file name
 * (`<NODE_ENV>.json5`) in the config directory, so it must be a plain name,
 * never a path that leads out of it (`../../etc/x`).
 */
export const nodeEnvProblem = (nodeEnv: string): string | null =>
  /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(nodeEnv) && !nodeEnv.includes("..")
    ? null
    : `"${nodeEnv}" is not a plain name (letters, digits, "-", "_", "."; it names the config file <NODE_ENV>.json5)`

/** File names in merge order: defaults, the environment's file, local overrides. */
export const configFileNames = (nodeEnv: string | undefined): ReadonlyArray<string> => {
  const env = nodeEnv === undefined || nodeEnv === "" ? "production" : nodeEnv
  return [...new Set(["default.json5", `${env}.json5`, "local.json5"])]
}

/** Objects merge key by key; anything else (arrays included) from `over` replaces. */
export const deepMerge = (base: unknown, over: unknown): unknown => {
  if (!isObject(base) || !isObject(over)) return over
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) {
    // Own keys only, defined rather than assigned: a config key `__proto__`
    // must stay a key, not replace the merged object's prototype.
    const merged = Object.hasOwn(out, key) ? deepMerge(out[key], value) : value
    Object.defineProperty(out, key, { value: merged, enumerable: true, writable: true, configurable: true })
  }
  return out
}

/** A dotted path into the config (`integrations.fhir.worker.enabled`); undefined when absent. */
export const configPath = (config: TamanuConfig, path: string): unknown =>
  path.split(".").reduce<unknown>((node, key) => (isObject(node) ? node[key] : undefined), config)

const nonEmpty = (value: unknown): boolean =>
  Array.isArray(value) ? value.length > 0 : typeof value === "string" ? value.trim() !== "" : false

export interface KindDecision {
  readonly kind: ServerKind
  /** Why, for status output and logs. */
  readonly reason: string
}

/**
 * A facility config names its facilities or the central server it syncs
 * with; anything else is central. An explicit kind (`--kind`/`TAMANU_KIND`)
 * always wins. Without config or override we say central and say why.
 */
export const detectKind = (config: TamanuConfig | null, override?: ServerKind): KindDecision => {
  if (override !== undefined) return { kind: override, reason: `kind ${override} given explicitly` }
  if (config === null) return { kind: "central", reason: "no config found; assuming central" }
  if (nonEmpty(config.serverFacilityIds)) return { kind: "facility", reason: "config has serverFacilityIds" }
  if (nonEmpty(config.serverFacilityId)) return { kind: "facility", reason: "config has serverFacilityId" }
  if (nonEmpty(configPath(config, "sync.host"))) return { kind: "facility", reason: "config has sync.host" }
  return { kind: "central", reason: "config names no facility and no sync.host" }
}

/** `integrations.fhir.worker.enabled`: null without config; a missing or non-true value is false. */
export const fhirWorkerEnabled = (config: TamanuConfig | null): boolean | null =>
  config === null ? null : configPath(config, "integrations.fhir.worker.enabled") === true

/** Parses one JSON5 file's text; the error carries the position JSON5 reports. */
export const parseConfigText = (file: string, text: string): Effect.Effect<TamanuConfig, ConfigUnreadable> =>
  Effect.try({
    try: (): unknown => JSON5.parse(text),
    catch: (e) => {
      const err = e as { message?: unknown; lineNumber?: unknown; columnNumber?: unknown }
      return new ConfigUnreadable({
        file,
        message: typeof err.message === "string" ? err.message : String(e),
        line: typeof err.lineNumber === "number" ? err.lineNumber : null,
        column: typeof err.columnNumber === "number" ? err.columnNumber : null,
      })
    },
  }).pipe(
    Effect.filterOrFail(isObject, (value) => {
      const what = Array.isArray(value) ? "an array" : value === null ? "null" : typeof value
      return new ConfigUnreadable({ file, message: `top level is ${what}, not an object`, line: null, column: null })
    }),
  )

export interface LoadedConfig {
  /** The merged config; null when no config file exists in any layout. */
  readonly config: TamanuConfig | null
  /** The files merged, in order. */
  readonly files: ReadonlyArray<string>
}

/**
 * Loads and merges the config of a root: the first layout directory holding
 * any of the files wins, its files are merged in order.
 */
export const loadConfig = <E = never>(
  root: string,
  nodeEnv: string | undefined,
  /** What to read for each file found: the file itself, or (under sudo) its checked real path. */
  readable: (file: string) => Effect.Effect<string, E> = Effect.succeed,
): Effect.Effect<LoadedConfig, ConfigUnreadable | E, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const names = configFileNames(nodeEnv)
    for (const dir of configDirectories(root)) {
      const present: Array<string> = []
      for (const name of names) {
        const file = nodePath.join(dir, name)
        if (yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false))) present.push(file)
      }
      if (present.length === 0) continue
      let merged: unknown = {}
      for (const file of present) {
        const text = yield* fs.readFileString(yield* readable(file)).pipe(
          Effect.mapError(
            (e) =>
              new ConfigUnreadable({
                file,
                message: `cannot read: ${e.message}`,
                line: null,
                column: null,
                permissionDenied: e._tag === "SystemError" && e.reason === "PermissionDenied",
              }),
          ),
        )
        merged = deepMerge(merged, yield* parseConfigText(file, text))
      }
      return { config: merged as TamanuConfig, files: present }
    }
    return { config: null, files: [] }
  })
