/**
 * What `npm run package` (packages/cli/scripts/package.mjs) built, and how
 * the tests look inside it without running it: where a Node single
 * executable application keeps its blob (an ELF note `NODE_SEA_BLOB` in the
 * section `.note.node.sea`; a PE resource named `NODE_SEA_BLOB`), and the
 * fuse Node checks before it looks for one.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Prerequisite } from "../harness/prerequisites.js"

const here = (relative: string) => fileURLToPath(new URL(relative, import.meta.url))
export const packagingDist = here("../../../../packaging/dist")
export const packageScript = here("../../../cli/scripts/package.mjs")
const bundle = here("../../../cli/dist/tamanu.cjs")

export interface ExecutableEntry {
  readonly file: string
  readonly bytes: number
  readonly sha256: string
  readonly node: { readonly package: string; readonly version: string; readonly integrity: string }
  readonly builtWith: string
  readonly codeCache: boolean
  readonly authenticode?: { readonly digest: string; readonly signer: string }
}

export interface DebEntry {
  readonly file: string
  readonly bytes: number
  readonly installedSizeKb: number
  readonly sha256: string
}

/** packaging/dist/manifest.json. */
export interface Manifest {
  readonly version: string
  readonly host: string
  readonly executables: Readonly<Record<"linux-x64" | "linux-arm64" | "win-x64", ExecutableEntry>>
  readonly debs: Readonly<Record<"amd64" | "arm64", DebEntry>>
  /** Milliseconds per build step. */
  readonly steps: Readonly<Record<string, number>>
}

export const readManifest = (): Manifest =>
  JSON.parse(fs.readFileSync(path.join(packagingDist, "manifest.json"), "utf8")) as Manifest

export const artifactPath = (file: string): string => path.join(packagingDist, file)

/** Built, and from the bundle as it is now (npm test runs `npm run build` then the package script). */
export const packagedPrerequisite = (): Prerequisite => {
  const missing = (): string | null => {
    const manifest = path.join(packagingDist, "manifest.json")
    if (!fs.existsSync(manifest)) return "packaging/dist is empty (run npm run package)"
    if (!fs.existsSync(bundle)) return "packages/cli/dist/tamanu.cjs is not built (run npm run build)"
    if (fs.statSync(manifest).mtimeMs < fs.statSync(bundle).mtimeMs)
      return "packaging/dist is older than the bundle (run npm run package)"
    const m = readManifest()
    for (const e of [...Object.values(m.executables), ...Object.values(m.debs)])
      if (!fs.existsSync(artifactPath(e.file))) return `no packaging/dist/${e.file} (run npm run package)`
    return null
  }
  return { component: "packaged executables and .debs", missing: missing() }
}

// ---------------------------------------------------------------- the SEA blob

/** The first four bytes of every SEA blob (Node's kMagic 0x0143da20, little-endian). */
export const seaMagic = Buffer.from([0x20, 0xda, 0x43, 0x01])

/** Node's fuse, `:0` in a plain node binary and flipped to `:1` when a blob is injected. */
export const seaFuse = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"

export const fuseState = (binary: Buffer): { readonly on: number; readonly off: number } => ({
  on: count(binary, Buffer.from(`${seaFuse}:1`)),
  off: count(binary, Buffer.from(`${seaFuse}:0`)),
})

const count = (haystack: Buffer, needle: Buffer): number => {
  let n = 0
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + needle.length)) n++
  return n
}

// ---------------------------------------------------------------- ELF

export interface ElfNote {
  readonly section: string
  readonly name: string
  readonly type: number
  readonly desc: Buffer
}

export interface ElfInfo {
  /** e_machine: 62 x86-64, 183 AArch64. */
  readonly machine: number
  readonly notes: ReadonlyArray<ElfNote>
}

const cString = (b: Buffer, at: number) => b.toString("latin1", at, b.indexOf(0, at))

/** A 64-bit little-endian ELF's machine and the notes of its SHT_NOTE sections; null when it is not one. */
export const readElf = (b: Buffer): ElfInfo | null => {
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return null
  const machine = b.readUInt16LE(18)
  const shoff = Number(b.readBigUInt64LE(0x28))
  const shentsize = b.readUInt16LE(0x3a)
  const shnum = b.readUInt16LE(0x3c)
  const shstrndx = b.readUInt16LE(0x3e)
  const section = (i: number) => {
    const at = shoff + i * shentsize
    return {
      name: b.readUInt32LE(at),
      type: b.readUInt32LE(at + 4),
      offset: Number(b.readBigUInt64LE(at + 0x18)),
      size: Number(b.readBigUInt64LE(at + 0x20)),
    }
  }
  if (shoff === 0 || shoff + shnum * shentsize > b.length) return { machine, notes: [] }
  const strtab = section(shstrndx)
  const notes: Array<ElfNote> = []
  for (let i = 0; i < shnum; i++) {
    const s = section(i)
    if (s.type !== 7) continue
    const sectionName = cString(b, strtab.offset + s.name)
    for (let at = s.offset; at + 12 <= s.offset + s.size; ) {
      const namesz = b.readUInt32LE(at)
      const descsz = b.readUInt32LE(at + 4)
      const type = b.readUInt32LE(at + 8)
      const nameAt = at + 12
      const descAt = nameAt + align4(namesz)
      notes.push({
        section: sectionName,
        name: b.toString("latin1", nameAt, nameAt + Math.max(0, namesz - 1)),
        type,
        desc: b.subarray(descAt, descAt + descsz),
      })
      at = descAt + align4(descsz)
    }
  }
  return { machine, notes }
}

const align4 = (n: number) => (n + 3) & ~3

// ---------------------------------------------------------------- PE

export interface PeResource {
  /** The type: a number (10 is RT_RCDATA) or a name. */
  readonly type: number | string
  readonly name: number | string
  readonly language: number
  readonly data: Buffer
}

export interface PeInfo {
  /** COFF Machine: 0x8664 for x86-64. */
  readonly machine: number
  /** Optional header magic: 0x20b for PE32+. */
  readonly magic: number
  /** 3: a console program. */
  readonly subsystem: number
  readonly sections: ReadonlyArray<string>
  readonly resources: ReadonlyArray<PeResource>
}

/** A PE image's header facts and every resource in its resource table; null when it is not a PE. */
export const readPe = (b: Buffer): PeInfo | null => {
  if (b.length < 0x40 || b.toString("latin1", 0, 2) !== "MZ") return null
  const pe = b.readUInt32LE(0x3c)
  if (pe + 24 > b.length || b.readUInt32BE(pe) !== 0x50450000) return null
  const machine = b.readUInt16LE(pe + 4)
  const sectionCount = b.readUInt16LE(pe + 6)
  const optionalSize = b.readUInt16LE(pe + 20)
  const optional = pe + 24
  const magic = b.readUInt16LE(optional)
  const subsystem = b.readUInt16LE(optional + 68)
  const directories = optional + (magic === 0x20b ? 112 : 96)
  const resourceRva = b.readUInt32LE(directories + 2 * 8)
  const sectionTable = optional + optionalSize
  const sections = Array.from({ length: sectionCount }, (_, i) => {
    const at = sectionTable + i * 40
    return {
      name: cString(b.subarray(at, at + 8), 0) || b.toString("latin1", at, at + 8),
      virtualSize: b.readUInt32LE(at + 8),
      virtualAddress: b.readUInt32LE(at + 12),
      rawSize: b.readUInt32LE(at + 16),
      rawPointer: b.readUInt32LE(at + 20),
    }
  })
  const fileOffset = (rva: number): number | null => {
    for (const s of sections)
      if (rva >= s.virtualAddress && rva < s.virtualAddress + Math.max(s.virtualSize, s.rawSize))
        return rva - s.virtualAddress + s.rawPointer
    return null
  }
  const resources: Array<PeResource> = []
  const base = resourceRva === 0 ? null : fileOffset(resourceRva)
  if (base !== null) {
    const idOrName = (value: number): number | string => {
      if ((value & 0x80000000) === 0) return value
      const at = base + (value & 0x7fffffff)
      return b.toString("utf16le", at + 2, at + 2 + 2 * b.readUInt16LE(at))
    }
    const entries = (dir: number) => {
      const at = base + dir
      const n = b.readUInt16LE(at + 12) + b.readUInt16LE(at + 14)
      return Array.from({ length: n }, (_, i) => ({
        id: idOrName(b.readUInt32LE(at + 16 + i * 8)),
        target: b.readUInt32LE(at + 20 + i * 8),
      }))
    }
    for (const type of entries(0)) {
      if ((type.target & 0x80000000) === 0) continue
      for (const name of entries(type.target & 0x7fffffff)) {
        if ((name.target & 0x80000000) === 0) continue
        for (const lang of entries(name.target & 0x7fffffff)) {
          if ((lang.target & 0x80000000) !== 0) continue
          const entry = base + lang.target
          const at = fileOffset(b.readUInt32LE(entry))
          if (at === null) continue
          resources.push({
            type: type.id,
            name: name.id,
            language: typeof lang.id === "number" ? lang.id : 0,
            data: b.subarray(at, at + b.readUInt32LE(entry + 4)),
          })
        }
      }
    }
  }
  return { machine, magic, subsystem, sections: sections.map((s) => s.name), resources }
}

/** The SEA blob of an executable (ELF or PE), or null. */
export const seaBlob = (b: Buffer): Buffer | null => {
  const elf = readElf(b)
  if (elf !== null) return elf.notes.find((n) => n.name === "NODE_SEA_BLOB")?.desc ?? null
  const pe = readPe(b)
  if (pe !== null) return pe.resources.find((r) => r.name === "NODE_SEA_BLOB")?.data ?? null
  return null
}
