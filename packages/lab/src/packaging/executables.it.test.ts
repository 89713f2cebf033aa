/**
 * The three single executables `npm run package` built (packaging/dist):
 * each is its platform's executable with the bundle injected, and what it
 * does does not depend on being one. linux-x64 runs here; linux-arm64 runs
 * under qemu user emulation (Debian's qemu-user-static, with Debian's arm64
 * cross libraries as its root); the Windows one is read, and run under wine
 * only where this machine has a wine that can run Node (Debian 12's cannot:
 * docs/testing.md).
 */
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  baseEnv,
  cliBin,
  leftoverSandboxContainers,
  leftoverSandboxProcesses,
  runChild,
  type SandboxHost,
  sandboxPrerequisites,
  startSandboxHost,
} from "../e2e/sandboxHost.js"
import { type Prerequisite, skipUnless } from "../harness/prerequisites.js"
import {
  artifactPath,
  fuseState,
  packagedPrerequisite,
  readElf,
  readManifest,
  readPe,
  seaBlob,
  seaMagic,
} from "./artifacts.js"

const bundleSource = () => fs.readFileSync(new URL("../../../cli/dist/tamanu.cjs", import.meta.url))

/** Debian's qemu-user-static and the arm64 libraries the embedded Node links (libc6-arm64-cross & co.). */
export const qemuRoot = "/usr/aarch64-linux-gnu"
export const qemuPrerequisite = (): Prerequisite => ({
  component: "qemu user emulation for arm64",
  missing: !fs.existsSync("/usr/bin/qemu-aarch64-static")
    ? "no /usr/bin/qemu-aarch64-static (install qemu-user-static)"
    : !fs.existsSync(path.join(qemuRoot, "lib/ld-linux-aarch64.so.1"))
      ? `no ${qemuRoot}/lib/ld-linux-aarch64.so.1 (install libc6-arm64-cross libstdc++6-arm64-cross libatomic1-arm64-cross)`
      : null,
})

/** How each executable runs here: natively, or under qemu with the arm64 libraries as its root. */
const runnerOf = (id: "linux-x64" | "linux-arm64"): ReadonlyArray<string> =>
  id === "linux-x64"
    ? [artifactPath("tamanu-linux-x64")]
    : ["/usr/bin/qemu-aarch64-static", "-L", qemuRoot, artifactPath("tamanu-linux-arm64")]

const run = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv = baseEnv()) => {
  const [file, ...args] = argv
  const r = spawnSync(file ?? "false", args, { env, encoding: "utf8", timeout: 120_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}
const npmCli = (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) => run([process.execPath, cliBin, ...args], env)

describe.skipIf(skipUnless(packagedPrerequisite()))("the single executables, as files", () => {
  const manifest = readManifest()
  const source = bundleSource()

  it.each([
    ["linux-x64", 62],
    ["linux-arm64", 183],
  ] as const)(
    "%s is an ELF for its machine with the bundle in its NODE_SEA_BLOB note and the fuse flipped",
    (id, machine) => {
      const entry = manifest.executables[id]
      const binary = fs.readFileSync(artifactPath(entry.file))
      expect(readElf(binary)?.machine).toBe(machine)
      const blob = seaBlob(binary)
      expect(blob?.subarray(0, 4)).toEqual(seaMagic)
      expect(blob?.includes(source)).toBe(true)
      expect(fuseState(binary)).toEqual({ on: 1, off: 0 })
      expect(createHash("sha256").update(binary).digest("hex")).toBe(entry.sha256)
    },
  )

  it("win-x64 is a PE32+ x86-64 console program with the bundle in its RT_RCDATA NODE_SEA_BLOB resource", () => {
    const entry = manifest.executables["win-x64"]
    const binary = fs.readFileSync(artifactPath(entry.file))
    const pe = readPe(binary)
    expect(pe).toMatchObject({ machine: 0x8664, magic: 0x20b, subsystem: 3 })
    expect(pe?.resources.filter((r) => r.name === "NODE_SEA_BLOB").map((r) => r.type)).toEqual([10])
    const blob = seaBlob(binary)
    expect(blob?.subarray(0, 4)).toEqual(seaMagic)
    expect(blob?.includes(source)).toBe(true)
    expect(fuseState(binary)).toEqual({ on: 1, off: 0 })
    // node.exe was checked before the injection: the OpenJS Foundation's signature, its digest matching.
    expect(entry.authenticode?.signer).toMatch(/\/O=OpenJS Foundation\/CN=OpenJS Foundation$/)
    expect(entry.authenticode?.digest).toMatch(/^[0-9A-F]{64}$/)
    expect(entry.codeCache).toBe(false)
  })

  it("each embeds its pinned Node, and only the one built for this machine's platform carries a code cache", () => {
    const lock = JSON.parse(
      fs.readFileSync(new URL("../../../../packaging/node/package-lock.json", import.meta.url), "utf8"),
    ) as { packages: Record<string, { version: string; integrity: string }> }
    for (const [id, entry] of Object.entries(manifest.executables)) {
      const pin = lock.packages[`node_modules/${entry.node.package}`]
      expect([id, entry.node.version, entry.node.integrity]).toEqual([id, pin?.version, pin?.integrity])
      expect(entry.codeCache).toBe(`${id.replace("win", "win32")}` === manifest.host)
    }
  })
})

describe.skipIf(skipUnless(packagedPrerequisite()))("the .debs, as files", () => {
  const manifest = readManifest()
  const dpkgDeb = (args: ReadonlyArray<string>) => {
    const r = spawnSync("dpkg-deb", args, { encoding: "utf8" })
    if (r.status !== 0) throw new Error(`dpkg-deb ${args.join(" ")}: ${r.stderr}`)
    return r.stdout
  }

  it.each([
    ["amd64", "linux-x64"],
    ["arm64", "linux-arm64"],
  ] as const)("%s: root-owned files where Debian looks, its executable the %s one, and its Depends", (arch, id) => {
    const deb = artifactPath(manifest.debs[arch].file)
    expect(dpkgDeb(["-f", deb, "Package", "Architecture", "Version"])).toBe(
      `Package: tamanu-lifecycle\nArchitecture: ${arch}\nVersion: ${manifest.version}\n`,
    )
    expect(dpkgDeb(["-f", deb, "Depends"])).toMatch(
      /libc6 \(>= 2\.28\), libgcc-s1, libstdc\+\+6 \(>= 5\.2\), libatomic1/,
    )
    const files = dpkgDeb(["-c", deb])
      .trim()
      .split("\n")
      .map((l) => l.split(/\s+/))
      .filter((f) => !(f[0] ?? "").startsWith("d"))
      .map((f) => `${f[0]} ${f[1]} ${f[5]}`)
    expect(files.sort()).toEqual(
      [
        "-rw-r--r-- root/root ./lib/systemd/system/start-tamanu.service",
        "-rw-r--r-- root/root ./usr/share/bash-completion/completions/tamanu",
        "-rw-r--r-- root/root ./usr/share/doc/tamanu-lifecycle/README.Debian",
        "-rw-r--r-- root/root ./usr/share/doc/tamanu-lifecycle/copyright",
        "-rw-r--r-- root/root ./usr/share/doc/tamanu-lifecycle/sudoers.example",
        "-rw-r--r-- root/root ./usr/share/fish/vendor_completions.d/tamanu.fish",
        "-rw-r--r-- root/root ./usr/share/zsh/vendor-completions/_tamanu",
        "-rwxr-xr-x root/root ./usr/bin/tamanu",
      ].sort(),
    )
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-deb-"))
    try {
      dpkgDeb(["-x", deb, dir])
      const inside = fs.readFileSync(path.join(dir, "usr/bin/tamanu"))
      expect(createHash("sha256").update(inside).digest("hex")).toBe(manifest.executables[id].sha256)
      for (const [shell, file] of [
        ["bash", "usr/share/bash-completion/completions/tamanu"],
        ["zsh", "usr/share/zsh/vendor-completions/_tamanu"],
        ["fish", "usr/share/fish/vendor_completions.d/tamanu.fish"],
      ] as const)
        expect(fs.readFileSync(path.join(dir, file), "utf8"), shell).toBe(npmCli(["--completions", shell]).stdout)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe.skipIf(skipUnless(packagedPrerequisite()))("linux-x64 does what the npm-installed CLI does", () => {
  const exe = artifactPath("tamanu-linux-x64")
  const manifest = readManifest()
  let dir = ""
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-sea-"))
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("V8 takes the code cache built into it", () => {
    const r = run([exe, "--version"], { ...baseEnv(), TAMANU_SEA_DEBUG: "1" })
    expect(r.stderr).toBe("code cache: accepted\n")
    expect(manifest.executables["linux-x64"].codeCache).toBe(true)
  })

  it("--version says the CLI's version and its own Node", () => {
    const r = run([exe, "--version"])
    expect(r).toMatchObject({ code: 0, stderr: "" })
    expect(r.stdout).toBe(
      `${manifest.version} (Node.js v${manifest.executables["linux-x64"].node.version}, linux-x64, built in)\n`,
    )
    expect(npmCli(["--version"]).stdout).toBe(`${manifest.version} (Node.js ${process.version}, linux-x64)\n`)
  })

  it.each([
    [["--help"]],
    [["status", "--help"]],
    [["start", "--help"]],
    [["stop", "--help"]],
    [["restart", "--help"]],
    [["restart", "--bogus"]],
    [["status", "--supervisor", "launchd"]],
    [["--completions", "bash"]],
  ])("%j: the same output and exit status, byte for byte", (args) => {
    expect(run([exe, ...args])).toEqual(npmCli(args))
  })

  it("called through a symlink and from another directory, the same", () => {
    const link = path.join(dir, "tamanu")
    fs.symlinkSync(exe, link)
    const r = spawnSync("tamanu", ["--help"], {
      env: { ...baseEnv(), PATH: `${dir}:${process.env.PATH ?? ""}` },
      cwd: "/",
      encoding: "utf8",
    })
    expect(r.stdout).toBe(npmCli(["--help"]).stdout)
  })

  it("NODE_OPTIONS has no effect: a --require in it never runs, in any form", () => {
    const marker = path.join(dir, "required")
    const hook = path.join(dir, "hook.cjs")
    fs.writeFileSync(hook, `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran")\n`)
    const reference = run([exe, "--version"])
    for (const options of [`--require ${hook}`, `--require=${hook}`, `--import ${hook}`, "--inspect-brk=0"]) {
      expect(run([exe, "--version"], { ...baseEnv(), NODE_OPTIONS: options })).toEqual(reference)
    }
    // The same NODE_OPTIONS does run the hook in the machine's node: the test would notice one that ran.
    spawnSync(process.execPath, ["-e", "0"], { env: { ...baseEnv(), NODE_OPTIONS: `--require ${hook}` } })
    expect(fs.readFileSync(marker, "utf8")).toBe("ran")
    fs.rmSync(marker)
    // Nor can the command line pass Node options: --node-options is just an unknown option of tamanu's.
    const r = run([exe, `--node-options=--require=${hook}`, "--version"])
    expect(r.code).toBe(2)
    expect(fs.existsSync(marker)).toBe(false)
  })
})

describe.skipIf(skipUnless(packagedPrerequisite(), qemuPrerequisite(), ...sandboxPrerequisites("systemd")))(
  "status --json on a sandbox host: npm CLI, linux-x64, and linux-arm64 under qemu",
  () => {
    let host: SandboxHost | null = null
    beforeAll(async () => {
      host = await startSandboxHost({ supervisor: "systemd" })
    })
    afterAll(async () => {
      await host?.stop()
      expect(leftoverSandboxProcesses()).toEqual([])
      expect(leftoverSandboxContainers()).toEqual([])
    })

    /** The CLI's argv on this host with the executable in place of `node bin/tamanu.js`. */
    const argvWith = (runner: ReadonlyArray<string>, args: ReadonlyArray<string>) => {
      if (host === null) throw new Error("no host")
      const argv = host.cliArgv(args)
      const at = argv.indexOf(process.execPath)
      return [...argv.slice(0, at), ...runner, ...argv.slice(at + 2)]
    }

    it("linux-arm64 runs under qemu: --version names its arm64 Node", async () => {
      const r = await runChild([...runnerOf("linux-arm64"), "--version"], { ...baseEnv(), TAMANU_SEA_DEBUG: "1" })
      // Cross-built: no code cache in it (compiled at each start).
      expect(r.stderr).toBe("code cache: none\n")
      expect(r.stdout).toMatch(/^\d+\.\d+\.\d+ \(Node\.js v26\.\d+\.\d+, linux-arm64, built in\)\n$/)
    })

    it("the same report from all three, exit status included", async () => {
      if (host === null) throw new Error("no host")
      const reference = await host.run(["status", "--json"])
      expect(reference.code).toBe(0)
      const json = JSON.parse(reference.stdout) as { expectations: ReadonlyArray<unknown> }
      expect(json.expectations.length).toBeGreaterThan(0)
      for (const id of ["linux-x64", "linux-arm64"] as const) {
        const r = await runChild(argvWith(runnerOf(id), ["status", "--json"]), host.env)
        expect({ id, code: r.code, stderr: r.stderr }).toEqual({ id, code: 0, stderr: reference.stderr })
        expect(JSON.parse(r.stdout)).toEqual(json)
      }
    })
  },
)

describe.skipIf(skipUnless(packagedPrerequisite(), ...sandboxPrerequisites("pm2")))(
  "status --json on a pm2 sandbox host (pm2's RPC socket, Caddy's admin API): npm CLI and linux-x64",
  () => {
    let host: SandboxHost | null = null
    beforeAll(async () => {
      host = await startSandboxHost({ supervisor: "pm2" })
    })
    afterAll(async () => {
      await host?.stop()
      expect(leftoverSandboxProcesses()).toEqual([])
    })

    it("the same report and exit status", async () => {
      if (host === null) throw new Error("no host")
      const reference = await host.run(["status", "--json"])
      expect(reference.code, reference.stderr).toBe(0)
      const r = await runChild([artifactPath("tamanu-linux-x64"), "status", "--json"], host.env)
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: reference.stderr })
      expect(JSON.parse(r.stdout)).toEqual(JSON.parse(reference.stdout))
    })
  },
)

/** A wine on this machine, if any (setup.sh installs none: docs/testing.md says why). */
const wine = ["/usr/bin/wine", "/usr/bin/wine64", "/usr/lib/wine/wine64"].find((f) => fs.existsSync(f)) ?? null

describe.skipIf(wine === null || skipUnless(packagedPrerequisite()))(
  "win-x64 under wine, where this machine has one",
  () => {
    it("--version, or the reason this wine cannot run Node at all", async (context) => {
      const prefix = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-wine-"))
      try {
        const env = { ...baseEnv(), WINEPREFIX: prefix, WINEDEBUG: "-all", DISPLAY: "" }
        spawnSync(wine ?? "wine", ["reg", "add", "HKCU\\Software\\Wine", "/v", "Version", "/d", "win10", "/f"], {
          env,
          timeout: 120_000,
        })
        const r = await runChild([wine ?? "wine", artifactPath("tamanu-win-x64.exe"), "--version"], env, {
          timeoutMs: 120_000,
        })
        // Debian 12's wine 8.0 has no MEM_RESERVE_PLACEHOLDER: V8 cannot reserve its tables, for node.exe itself too.
        if (/SegmentedTable::InitializeTable|out of memory/.test(r.stderr + r.stdout))
          context.skip(`this wine cannot run Node: ${(r.stderr + r.stdout).match(/Fatal process[^\n]*/)?.[0] ?? ""}`)
        expect(r.stdout).toMatch(/\(Node\.js v26\.\d+\.\d+, win32-x64, built in\)/)
      } finally {
        spawnSync(path.join(path.dirname(wine ?? "/usr/bin/wine"), "wineserver"), ["-k"], {
          env: { ...process.env, WINEPREFIX: prefix },
        })
        fs.rmSync(prefix, { recursive: true, force: true })
      }
    })
  },
)
