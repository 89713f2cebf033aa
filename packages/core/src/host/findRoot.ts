/**
 * Finding the Tamanu install (spec §11). The search order, the version rules
 * and the choice of the winner are pure functions; `findRoot` is the thin
 * filesystem layer over them. Home directory, platform and the filesystem root
 * are injected so tests build every root form in a temp directory.
 */
import * as nodePath from "node:path"
import { FileSystem } from "@effect/platform"
import { Effect, Option } from "effect"
import { NoTamanuRoot } from "./errors.js"

/** One place to look: a directory, or the children of a directory whose names match. */
export type RootLocation =
  | { readonly _tag: "Exact"; readonly path: string; readonly underHome: boolean }
  | { readonly _tag: "Children"; readonly parent: string; readonly pattern: RegExp; readonly label: string }

export interface RootSearch {
  /** The caller's home directory (developer checkouts live under it). */
  readonly home: string
  readonly platform: NodeJS.Platform
}

const exact = (path: string, underHome = false): RootLocation => ({ _tag: "Exact", path, underHome })
const children = (parent: string, glob: string, pattern: RegExp, sep: string): RootLocation => ({
  _tag: "Children",
  parent,
  pattern,
  label: `${parent}${sep}${glob}`,
})

/** The known roots in search order; the order only breaks ties between equal versions. */
export const knownRoots = (search: RootSearch): ReadonlyArray<RootLocation> => {
  const windows = search.platform === "win32"
  const path = windows ? nodePath.win32 : nodePath.posix
  const system: Array<RootLocation> = windows
    ? [
        children("C:\\Tamanu", "[12].*.*", /^[12]\..*\..*$/, "\\"),
        children("C:\\Tamanu", "release-[12].*.*", /^release-[12]\..*\..*$/, "\\"),
        children("C:\\Tamanu", "release-v[12].*.*", /^release-v[12]\..*\..*$/, "\\"),
      ]
    : [
        exact("/etc/tamanu"),
        children("/etc/tamanu", "*", /^.+$/, "/"),
        exact("/opt/bes/tamanu"),
        exact("/var/lib/tamanu"),
      ]
  const developer = ["tamanu", "projects/tamanu", "work/tamanu", "code/js/tamanu"].map((rel) =>
    exact(path.join(search.home, ...rel.split("/")), true),
  )
  return [...system, ...developer]
}

/** How a location is shown to an operator (NoTamanuRoot lists these). */
export const describeLocation = (location: RootLocation): string =>
  location._tag === "Exact" ? location.path : location.label

const versionInName = /(?:^|[^0-9.])(?:release-)?v?(\d+)\.(\d+)\.(\d+)(?![0-9])/

/** The `x.y.z` in a directory name (`2.3.4`, `release-2.3.4`, `release-v2.3.4`), else null. */
export const versionFromName = (name: string): string | null => {
  const m = versionInName.exec(name)
  return m === null ? null : `${Number(m[1])}.${Number(m[2])}.${Number(m[3])}`
}

/** The leading `x.y.z` of a package.json version (`2.10.0-rc.1` → `2.10.0`), else null. */
export const versionFromPackageJson = (version: unknown): string | null => {
  if (typeof version !== "string") return null
  const m = /^\s*v?(\d+)\.(\d+)\.(\d+)/.exec(version)
  return m === null ? null : `${Number(m[1])}.${Number(m[2])}.${Number(m[3])}`
}

/** Numeric comparison (`2.10.0` > `2.9.9`); a missing version ranks below any version. */
export const compareVersions = (a: string | null, b: string | null): number => {
  if (a === b) return 0
  if (a === null) return -1
  if (b === null) return 1
  const pa = a.split(".").map(Number)
  const pb = b.split(".").map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  return 0
}

export interface RootCandidate {
  readonly path: string
  readonly version: string | null
}

/** The highest version wins; among equals the first found (search order) wins. */
export const pickRoot = (candidates: ReadonlyArray<RootCandidate>): RootCandidate | null =>
  candidates.reduce<RootCandidate | null>(
    (best, c) => (best === null || compareVersions(c.version, best.version) > 0 ? c : best),
    null,
  )

export interface FindRootOptions extends RootSearch {
  /** `--root` / `TAMANU_ROOT`: wins over the search. */
  readonly root?: string | undefined
  /**
   * Where the known absolute roots are looked up; tests point it at a temp
   * directory (`C:\Tamanu` becomes `<fsRoot>/C/Tamanu`). The home directory is
   * used as given. Default: the real filesystem.
   */
  readonly fsRoot?: string | undefined
}

/** Maps a displayed known root onto the filesystem actually searched. */
export const onFilesystem = (fsRoot: string | undefined, path: string): string =>
  fsRoot === undefined ? path : nodePath.join(fsRoot, path.replace(/^([A-Za-z]):/, "$1").replace(/\\/g, "/"))

const isDirectory = (fs: FileSystem.FileSystem, path: string) =>
  fs.stat(path).pipe(
    Effect.map((info) => info.type === "Directory"),
    Effect.orElseSucceed(() => false),
  )

/** Version of a root: its directory name first, else its package.json. */
export const rootVersion = (path: string) =>
  Effect.gen(function* () {
    const fromName = versionFromName(nodePath.basename(path.replace(/\\/g, "/")))
    if (fromName !== null) return fromName
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(nodePath.join(path, "package.json")).pipe(Effect.option)
    return Option.match(text, {
      onNone: () => null,
      onSome: (t) => {
        const parsed = Option.liftThrowable((s: string): unknown => JSON.parse(s))(t)
        return Option.match(parsed, {
          onNone: () => null,
          onSome: (json) =>
            typeof json === "object" && json !== null && "version" in json
              ? versionFromPackageJson((json as { version: unknown }).version)
              : null,
        })
      },
    })
  })

/**
 * The Tamanu root of this host: the given root when set (it must exist), else
 * the highest-versioned known root that exists.
 */
export const findRoot = (options: FindRootOptions) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    if (options.root !== undefined && options.root !== "") {
      if (!(yield* isDirectory(fs, options.root))) {
        return yield* new NoTamanuRoot({ searched: [options.root] })
      }
      return { path: options.root, version: yield* rootVersion(options.root) }
    }
    const locations = knownRoots(options)
    const found: Array<RootCandidate> = []
    for (const location of locations) {
      if (location._tag === "Exact") {
        const path = location.underHome ? location.path : onFilesystem(options.fsRoot, location.path)
        if (yield* isDirectory(fs, path)) found.push({ path, version: yield* rootVersion(path) })
      } else {
        const parent = onFilesystem(options.fsRoot, location.parent)
        const names = yield* fs.readDirectory(parent).pipe(Effect.orElseSucceed((): Array<string> => []))
        for (const name of [...names].sort()) {
          const path = nodePath.join(parent, name)
          if (location.pattern.test(name) && (yield* isDirectory(fs, path))) {
            found.push({ path, version: yield* rootVersion(path) })
          }
        }
      }
    }
    const best = pickRoot(found)
    if (best === null) return yield* new NoTamanuRoot({ searched: locations.map(describeLocation) })
    return best
  })
