/**
 * Paths a run under sudo may read (docs/security.md). Root acting for an
 * operator reads only what the operator cannot change: the operator must
 * not be able to swap a file's content, or the file for another, between
 * choosing it and root reading it. As sshd's `StrictModes` does for
 * `authorized_keys`, every directory on the way counts, since whoever may
 * write a directory may replace what is in it, and so does every symbolic
 * link followed (and the directory it sits in).
 *
 * `resolveChain` walks the path one component at a time, following links
 * itself and noting every entry it met; `judgeChain` decides over those
 * entries; the resolved path is the one read afterwards, so nothing is
 * looked up again after the check. `trustedPath` puts them together.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Either, Schema } from "effect"

/** One entry met while resolving a path, as `lstat` saw it. */
export interface PathEntry {
  readonly path: string
  readonly uid: number
  /** `st_mode`: type and permission bits. */
  readonly mode: number
}

const S_IFMT = 0o170000
const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const S_ISVTX = 0o1000
const WRITE_GROUP_OTHER = 0o022

const isDirectory = (mode: number) => (mode & S_IFMT) === S_IFDIR
const isFile = (mode: number) => (mode & S_IFMT) === S_IFREG
const isLink = (mode: number) => (mode & S_IFMT) === S_IFLNK

/**
 * What the path must be: a directory, a regular file, or a regular file
 * everyone may read (its text may leave this host: the Caddyfile goes to
 * Caddy's admin API, whose address the operator may choose, so root reads
 * on the operator's behalf only one they could read themselves).
 */
export type Want = "directory" | "file" | "public file"

/** A path a run under sudo refuses to read, and why. */
export class UntrustedPath extends Schema.TaggedError<UntrustedPath>()("UntrustedPath", {
  /** What named it: `--root`, `--caddyfile`, `config file`. */
  setting: Schema.String,
  path: Schema.String,
  reason: Schema.String,
}) {}

/**
 * Why root may not read the path resolved through `chain` (every entry met,
 * from `/` to the path itself, links included), on behalf of the user
 * `caller`; null when it may. No entry may belong to the caller; no
 * directory or file may be writable by its group or by everyone, except a
 * sticky directory on the way (`/tmp`: there only an entry's owner may
 * rename or remove it, and that entry is checked in turn). A link's own
 * permission bits mean nothing, its owner and its directory do. The path
 * itself must be of the kind wanted (`Want`).
 */
export const judgeChain = (chain: ReadonlyArray<PathEntry>, caller: number, want: Want): string | null => {
  const target = chain.at(-1)
  if (target === undefined) return "it could not be resolved"
  for (const [i, entry] of chain.entries()) {
    const last = i === chain.length - 1
    if (entry.uid === caller) return `${entry.path} belongs to the user sudo runs this for (uid ${caller})`
    if (isLink(entry.mode)) continue
    if ((entry.mode & WRITE_GROUP_OTHER) !== 0 && !(!last && isDirectory(entry.mode) && (entry.mode & S_ISVTX) !== 0))
      return `${entry.path} is writable by ${(entry.mode & 0o002) !== 0 ? "everyone" : "its group"} (mode ${(
        entry.mode & 0o7777
      )
        .toString(8)
        .padStart(4, "0")})`
  }
  if (want === "directory" && !isDirectory(target.mode)) return `${target.path} is not a directory`
  if (want !== "directory" && !isFile(target.mode)) return `${target.path} is not a regular file`
  if (want === "public file") {
    const hidden = chain.find((e, i) =>
      i === chain.length - 1 ? (e.mode & 0o004) === 0 : isDirectory(e.mode) && (e.mode & 0o001) === 0,
    )
    if (hidden !== undefined)
      return hidden === target
        ? `${target.path} is not readable by everyone, and what it holds may be sent on (to the admin API)`
        : `${hidden.path} is not searchable by everyone, so what it holds is not for everyone to read`
  }
  return null
}

/** What resolving needs of the filesystem (node:fs's own, or a test's). */
export interface ChainFs {
  readonly lstat: (path: string) => { readonly uid: number; readonly mode: number }
  readonly readlink: (path: string) => string
}

const nodeFs: ChainFs = { lstat: (p) => fs.lstatSync(p), readlink: (p) => fs.readlinkSync(p) }

/** Linux gives up after 40 links in one lookup (ELOOP); so do we. */
const MAX_LINKS = 40

/**
 * Resolve an absolute path as the kernel would, one component at a time,
 * and note every entry met on the way: each directory, each link (then
 * resolved where it points, relative to its own directory), and the path
 * itself. Throws what `lstat` throws (ENOENT, EACCES, ENOTDIR) and ELOOP.
 */
export const resolveChain = (
  absolute: string,
  io: ChainFs = nodeFs,
): { readonly real: string; readonly chain: ReadonlyArray<PathEntry> } => {
  const entry = (p: string): PathEntry => {
    const stat = io.lstat(p)
    return { path: p, uid: stat.uid, mode: stat.mode }
  }
  const split = (p: string) => p.split("/").filter((part) => part !== "" && part !== ".")
  const chain: Array<PathEntry> = [entry("/")]
  const pending = split(absolute)
  let current = "/"
  let links = 0
  for (let part = pending.shift(); part !== undefined; part = pending.shift()) {
    if (part === "..") {
      current = path.posix.dirname(current)
      continue
    }
    const next = path.posix.join(current, part)
    const met = entry(next)
    chain.push(met)
    if (isLink(met.mode)) {
      links += 1
      if (links > MAX_LINKS) throw Object.assign(new Error(`too many links resolving ${absolute}`), { code: "ELOOP" })
      const target = io.readlink(next)
      pending.unshift(...split(target))
      if (target.startsWith("/")) current = "/"
    } else current = next
  }
  return { real: current, chain }
}

/**
 * The resolved path when root may read `given` for the user `caller`
 * (`--root`, `--caddyfile`, a config file), else why not; a path that does
 * not resolve (missing, a dangling link, a loop) is refused too.
 */
export const trustedPath = (
  setting: string,
  given: string,
  caller: number,
  want: Want,
): Either.Either<string, UntrustedPath> => {
  let resolved: ReturnType<typeof resolveChain>
  try {
    resolved = resolveChain(path.posix.resolve(given))
  } catch {
    return Either.left(
      new UntrustedPath({ setting, path: given, reason: "it does not resolve to a path root could check" }),
    )
  }
  const why = judgeChain(resolved.chain, caller, want)
  return why === null
    ? Either.right(resolved.real)
    : Either.left(new UntrustedPath({ setting, path: given, reason: why }))
}
