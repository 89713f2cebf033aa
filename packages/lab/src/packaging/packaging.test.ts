/**
 * The decisions of `npm run package` (packages/cli/scripts/packaging-lib.mjs)
 * and the readers the artifact tests look inside executables with.
 */
import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import {
  authenticodeProblem,
  builderFor,
  cacheMaker,
  debControl,
  debLayout,
  osslsigncodeOfflineFlags,
  pinsFromLock,
  readVerify,
  seaConfig,
  seaLoader,
  targets,
  useCodeCacheFor,
} from "../../../cli/scripts/packaging-lib.mjs"
import { fuseState, readElf, readPe, seaBlob, seaFuse, seaMagic } from "./artifacts.js"

const lock = JSON.parse(
  fs.readFileSync(new URL("../../../../packaging/node/package-lock.json", import.meta.url), "utf8"),
)
const pins = pinsFromLock(lock)
const target = (id: string) => {
  const t = targets.find((x) => x.id === id)
  if (t === undefined) throw new Error(id)
  return t
}
const linuxX64 = { platform: "linux", arch: "x64" }

describe("the pinned Node of each executable", () => {
  it("every target has a pin with npm's sha512 integrity, and linux-x64 has a builder of each version", () => {
    for (const t of targets) {
      const pin = pins.get(t.pin)
      expect(pin?.integrity).toMatch(/^sha512-[A-Za-z0-9+/]+=*$/)
      expect(pin?.os).toBe(t.os)
      expect(pin?.cpu).toBe(t.cpu)
      const builder = builderFor(t, pins, linuxX64)
      expect(builder?.version).toBe(pin?.version)
      expect([builder?.os, builder?.cpu]).toEqual(["linux", "x64"])
    }
  })

  it.each([
    ["linux-x64", linuxX64, true],
    ["linux-arm64", linuxX64, false],
    ["win-x64", linuxX64, false],
    ["linux-arm64", { platform: "linux", arch: "arm64" }, true],
    ["win-x64", { platform: "win32", arch: "x64" }, true],
  ])(
    "the code cache of %s built on %j: %s (only a Node of the target's own platform can use it)",
    (id, host, expected) => {
      expect(useCodeCacheFor(target(id), host)).toBe(expected)
    },
  )

  it("no builder where no pin runs here at the target's version", () => {
    expect(builderFor(target("win-x64"), pins, { platform: "linux", arch: "arm64" })).toBeNull()
  })

  it("the SEA never lets its caller extend Node's options, and carries none of its own", () => {
    const config = seaConfig({ main: "m", executable: "e", output: "o", bundle: "b", codeCache: null })
    expect(config.execArgvExtension).toBe("none")
    expect(config.execArgv).toEqual([])
    expect(config.disableExperimentalSEAWarning).toBe(true)
    expect(config.assets).toEqual({ "tamanu.cjs": "b" })
    expect(seaConfig({ main: "m", executable: "e", output: "o", bundle: "b", codeCache: "c" }).assets).toEqual({
      "tamanu.cjs": "b",
      "tamanu.v8cache": "c",
    })
  })

  it("the loader and the cache maker wrap the bundle the same way (else V8 would reject every cache)", () => {
    const wrapping = (text: string) => /const wrapped = (.*)/.exec(text)?.[1]
    expect(wrapping(seaLoader)).toBeDefined()
    expect(wrapping(seaLoader)).toBe(wrapping(cacheMaker))
  })
})

describe("node.exe's Authenticode check", () => {
  it.each([
    ["osslsigncode 2.9, using:", ["-ignore-crl"]],
    ["osslsigncode 2.10, using:", ["-ignore-crl"]],
    ["osslsigncode 3.0", ["-ignore-crl"]],
    ["osslsigncode 2.8, using:", ["-ignore-cdp"]],
    ["osslsigncode 2.5", []],
    ["something else", []],
  ])("%s → %j (verify stays offline)", (line, flags) => {
    expect(osslsigncodeOfflineFlags(line)).toEqual(flags)
  })

  const said = (current: string, calculated: string, subject: string, ok: boolean) => `PE checksum   : 063EB1FE

Signature Index: 0  (Primary Signature)

Message digest algorithm  : SHA256
Current message digest    : ${current}
Calculated message digest : ${calculated}

Signer's certificate:
\t------------------
\tSigner #0:
\t\tSubject: ${subject}
\t\tIssuer : /C=US/O=Microsoft Corporation/CN=Microsoft ID Verified CS EOC CA 04
Signature verification: ${ok ? "ok" : "failed"}
`
  const openjs = "/C=US/ST=California/L=San Francisco/O=OpenJS Foundation/CN=OpenJS Foundation"

  it.each([
    [0, said("AB12", "AB12", openjs, true), null],
    [0, said("AB12", "ab12", openjs, true), null],
    [1, said("AB12", "CD34", openjs, false), "does not match its contents"],
    [0, said("AB12", "AB12", "/O=Someone Else/CN=OpenJS Foundation", true), "not the OpenJS Foundation"],
    [1, said("AB12", "AB12", openjs, false), "does not verify"],
    [0, said("AB12", "AB12", openjs, false), "does not verify"],
    [1, "No signature found\nFailed\n", "does not match"],
  ])("exit %s → %s", (status, output, problem) => {
    const found = authenticodeProblem(status, readVerify(output))
    if (problem === null) expect(found).toBeNull()
    else expect(found).toContain(problem)
  })
})

describe("the .deb", () => {
  it("names what the embedded Node needs and installs tamanu at /usr/bin/tamanu", () => {
    const control = debControl({ version: "0.1.0", arch: "arm64", installedSizeKb: 148_000, nodeVersion: "v26.12.1" })
    expect(control).toMatch(/^Package: tamanu-lifecycle$/m)
    expect(control).toMatch(/^Architecture: arm64$/m)
    expect(control).toMatch(/^Depends: .*libc6 .*libstdc\+\+6.*libatomic1/m)
    // Every continuation line of the description starts with a space (a blank one is " .").
    const description = control.split("\nDescription: ")[1]?.split("\n").slice(1, -1) ?? []
    for (const line of description) expect(line).toMatch(/^ \S/)
    expect(debLayout.find((e) => e.path === "usr/bin/tamanu")?.mode).toBe(0o755)
  })
})

// ---------------------------------------------------------------- the readers, on images made here

/** A 64-bit ELF with one SHT_NOTE section `.note.node.sea` holding `note`. */
const elfWithNote = (machine: number, name: string, desc: Buffer): Buffer => {
  const strtab = Buffer.from("\0.shstrtab\0.note.node.sea\0", "latin1")
  const nameBytes = Buffer.from(`${name}\0`, "latin1")
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc(((b.length + 3) & ~3) - b.length)])
  const noteHeader = Buffer.alloc(12)
  noteHeader.writeUInt32LE(nameBytes.length, 0)
  noteHeader.writeUInt32LE(desc.length, 4)
  const note = Buffer.concat([noteHeader, pad(nameBytes), pad(desc)])
  const strOff = 64
  const noteOff = strOff + strtab.length
  const shoff = noteOff + note.length
  const header = Buffer.alloc(64)
  header.writeUInt32BE(0x7f454c46, 0)
  header[4] = 2
  header[5] = 1
  header.writeUInt16LE(machine, 18)
  header.writeBigUInt64LE(BigInt(shoff), 0x28)
  header.writeUInt16LE(64, 0x3a)
  header.writeUInt16LE(3, 0x3c)
  header.writeUInt16LE(1, 0x3e)
  const sh = (nameOff: number, type: number, offset: number, size: number) => {
    const s = Buffer.alloc(64)
    s.writeUInt32LE(nameOff, 0)
    s.writeUInt32LE(type, 4)
    s.writeBigUInt64LE(BigInt(offset), 0x18)
    s.writeBigUInt64LE(BigInt(size), 0x20)
    return s
  }
  return Buffer.concat([
    header,
    strtab,
    note,
    sh(0, 0, 0, 0),
    sh(1, 3, strOff, strtab.length),
    sh(11, 7, noteOff, note.length),
  ])
}

/** A PE32+ console image with one section `.rsrc` holding RT_RCDATA/`name`/0 = data. */
const peWithResource = (name: string, data: Buffer): Buffer => {
  const pe = 0x40
  const optional = pe + 24
  const optionalSize = 240
  const sectionTable = optional + optionalSize
  const raw = 0x200
  const rva = 0x1000
  // The resource section: root dir (1 id entry: 10) → name dir (1 named entry) → lang dir (1 id entry: 0) → data entry.
  const dir = (named: number, ids: number) => {
    const d = Buffer.alloc(16)
    d.writeUInt16LE(named, 12)
    d.writeUInt16LE(ids, 14)
    return d
  }
  const entry = (id: number, target: number) => {
    const e = Buffer.alloc(8)
    e.writeUInt32LE(id >>> 0, 0)
    e.writeUInt32LE(target >>> 0, 4)
    return e
  }
  const nameString = Buffer.concat([Buffer.from([name.length, 0]), Buffer.from(name, "utf16le")])
  const layout = { root: 0, names: 24, langs: 48, data: 72, string: 88 }
  const dataAt = layout.string + nameString.length + (4 - ((layout.string + nameString.length) % 4))
  const dataEntry = Buffer.alloc(16)
  dataEntry.writeUInt32LE(rva + dataAt, 0)
  dataEntry.writeUInt32LE(data.length, 4)
  const rsrc = Buffer.concat([
    dir(0, 1),
    entry(10, 0x80000000 | layout.names),
    dir(1, 0),
    entry(0x80000000 | layout.string, 0x80000000 | layout.langs),
    dir(0, 1),
    entry(0, layout.data),
    dataEntry,
    nameString,
    Buffer.alloc(dataAt - layout.string - nameString.length),
    data,
  ])
  const image = Buffer.alloc(raw + rsrc.length)
  image.write("MZ", 0, "latin1")
  image.writeUInt32LE(pe, 0x3c)
  image.writeUInt32BE(0x50450000, pe)
  image.writeUInt16LE(0x8664, pe + 4)
  image.writeUInt16LE(1, pe + 6)
  image.writeUInt16LE(optionalSize, pe + 20)
  image.writeUInt16LE(0x20b, optional)
  image.writeUInt16LE(3, optional + 68)
  image.writeUInt32LE(rva, optional + 112 + 16)
  image.writeUInt32LE(rsrc.length, optional + 112 + 20)
  image.write(".rsrc", sectionTable, "latin1")
  image.writeUInt32LE(rsrc.length, sectionTable + 8)
  image.writeUInt32LE(rva, sectionTable + 12)
  image.writeUInt32LE(rsrc.length, sectionTable + 16)
  image.writeUInt32LE(raw, sectionTable + 20)
  rsrc.copy(image, raw)
  return image
}

describe("finding a SEA blob", () => {
  const blob = Buffer.concat([seaMagic, Buffer.from("\x01\0\0\0main code", "latin1")])

  it("in an ELF note NODE_SEA_BLOB, with the machine", () => {
    const image = elfWithNote(183, "NODE_SEA_BLOB", blob)
    expect(readElf(image)?.machine).toBe(183)
    expect(seaBlob(image)).toEqual(blob)
    expect(seaBlob(elfWithNote(62, "OTHER", blob))).toBeNull()
  })

  it("in a PE resource NODE_SEA_BLOB, with the PE's header facts", () => {
    const image = peWithResource("NODE_SEA_BLOB", blob)
    const pe = readPe(image)
    expect(pe).toMatchObject({ machine: 0x8664, magic: 0x20b, subsystem: 3, sections: [".rsrc"] })
    expect(pe?.resources.map((r) => [r.type, r.name])).toEqual([[10, "NODE_SEA_BLOB"]])
    expect(seaBlob(image)).toEqual(blob)
    expect(seaBlob(peWithResource("SOMETHING", blob))).toBeNull()
  })

  it("neither in what is not an executable", () => {
    expect(seaBlob(Buffer.from("#!/bin/sh\necho hi\n"))).toBeNull()
    expect(readPe(Buffer.alloc(10))).toBeNull()
    expect(readElf(Buffer.alloc(10))).toBeNull()
  })

  it("the fuse, flipped or not", () => {
    expect(fuseState(Buffer.from(`x${seaFuse}:1y`))).toEqual({ on: 1, off: 0 })
    expect(fuseState(Buffer.from(`${seaFuse}:0`))).toEqual({ on: 0, off: 1 })
  })
})
