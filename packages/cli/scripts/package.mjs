// `npm run package`: the operators' artifacts, built offline from the bundle
// (scripts/bundle.mjs, so run `npm run build` first) and from Node binaries
// taken from the npm registry's per-platform Node packages:
//
//   packaging/dist/tamanu-linux-x64, tamanu-linux-arm64, tamanu-win-x64.exe
//       Node single executable applications (`node --build-sea`), each its
//       pinned Node with a loader (packaging-lib's seaLoader) and
//       dist/tamanu.cjs injected, and a V8 code cache of the bundle where
//       the target is this machine's platform (linux-x64 here: made by
//       running the bundle on that Node), none for the cross builds;
//       NODE_OPTIONS ignored (execArgvExtension "none").
//   packaging/dist/tamanu-lifecycle_<version>_amd64.deb, _arm64.deb
//       /usr/bin/tamanu, completions, the boot unit and the sudoers example
//       (dpkg-deb --root-owner-group, zstd).
//   packaging/dist/manifest.json
//       what was built from what, the sizes and the time each step took.
//
// Each Node package is pinned by version and by npm's integrity in
// packaging/node/package-lock.json: its tarball comes through `npm pack`
// (npm's cache, so a second build is offline) and must hash to that
// integrity. node.exe must also carry an Authenticode signature of the
// OpenJS Foundation whose digest matches the file and whose chain verifies
// against the pinned Microsoft root (osslsigncode), before anything is
// injected into it. Extracted binaries are kept in ~/.cache/tamanu-lifecycle/node
// (TAMANU_NODE_CACHE), each with the integrity it came from and its own hash.
//
// Options: --targets linux-x64,win-x64 (default all), --no-deb.
import { execFileSync, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import {
  authenticodeProblem,
  builderFor,
  cacheMaker,
  debControl,
  debFileName,
  debLayout,
  integrityOf,
  osslsigncodeOfflineFlags,
  pinsFromLock,
  readVerify,
  seaConfig,
  seaLoader,
  targets,
  useCodeCacheFor,
} from "./packaging-lib.mjs"

const repo = path.resolve(fileURLToPath(new URL("../../..", import.meta.url)))
const at = (...parts) => path.join(repo, ...parts)
const bundle = at("packages/cli/dist/tamanu.cjs")
const outDir = at("packaging/dist")
/** Outside the checkout, so a fresh clone on the same machine (CI) reuses what an earlier build checked. */
const nodeCache =
  process.env.TAMANU_NODE_CACHE ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "tamanu-lifecycle", "node")
const microsoftRoot = at("packaging/node/microsoft-identity-verification-root-2020.pem")
const host = { platform: process.platform, arch: process.arch }
const cliVersion = JSON.parse(fs.readFileSync(at("packages/cli/package.json"), "utf8")).version

const args = process.argv.slice(2)
const option = (name) => {
  const i = args.indexOf(name)
  return i === -1 ? undefined : args[i + 1]
}
const chosen = option("--targets")?.split(",") ?? targets.map((t) => t.id)
const withDebs = !args.includes("--no-deb")
for (const id of chosen) if (!targets.some((t) => t.id === id)) throw new Error(`unknown target ${id}`)

const say = (text) => process.stderr.write(`package: ${text}\n`)
const steps = {}
const timed = (name, f) => {
  const began = performance.now()
  const result = f()
  steps[name] = Math.round(performance.now() - began)
  return result
}
const sha = (algorithm, file, encoding = "hex") => createHash(algorithm).update(fs.readFileSync(file)).digest(encoding)

if (!fs.existsSync(bundle)) throw new Error(`no ${path.relative(repo, bundle)}: run npm run build first`)
const pins = pinsFromLock(JSON.parse(fs.readFileSync(at("packaging/node/package-lock.json"), "utf8")))

/**
 * The Node binary of a pin, from the cache when an earlier build took
 * it from a tarball with the pinned integrity and it still hashes the same,
 * else from its tarball (`npm pack`), checked against the lockfile first.
 */
const nodeBinary = (pin) => {
  const dir = path.join(nodeCache, `${pin.name}-${pin.version}`)
  const file = path.join(dir, pin.os === "win32" ? "node.exe" : "node")
  const record = path.join(dir, "pin.json")
  if (fs.existsSync(record) && fs.existsSync(file)) {
    const kept = JSON.parse(fs.readFileSync(record, "utf8"))
    if (kept.integrity === pin.integrity && kept.sha256 === sha("sha256", file)) return file
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-package-"))
  try {
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--silent", "--pack-destination", work, `${pin.name}@${pin.version}`], {
        cwd: work,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      }),
    )
    const tarball = path.join(work, packed[0].filename)
    const integrity = integrityOf(sha("sha512", tarball, "base64"))
    if (integrity !== pin.integrity)
      throw new Error(
        `${pin.name}@${pin.version}: the tarball's integrity ${integrity} is not the pinned ${pin.integrity}`,
      )
    const inside = `package/bin/${path.basename(file)}`
    execFileSync("tar", ["-xzf", tarball, "-C", work, inside])
    fs.rmSync(dir, { recursive: true, force: true })
    fs.mkdirSync(dir, { recursive: true })
    fs.renameSync(path.join(work, inside), file)
    fs.chmodSync(file, 0o755)
    fs.writeFileSync(record, JSON.stringify({ integrity: pin.integrity, sha256: sha("sha256", file) }))
    say(`${pin.name}@${pin.version}: tarball matches the lockfile's integrity`)
    return file
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

/** node.exe: the OpenJS Foundation's Authenticode signature, its digest matching the file, its chain verified. */
const checkAuthenticode = (exe) => {
  const version = spawnSync("osslsigncode", ["--version"], { encoding: "utf8" })
  if (version.error !== undefined || version.status !== 0)
    throw new Error("osslsigncode is needed to check node.exe's signature (apt-get install osslsigncode)")
  const r = spawnSync(
    "osslsigncode",
    [
      "verify",
      ...osslsigncodeOfflineFlags(version.stdout),
      "-CAfile",
      microsoftRoot,
      "-TSA-CAfile",
      microsoftRoot,
      "-in",
      exe,
    ],
    { encoding: "utf8" },
  )
  const verify = readVerify(`${r.stdout}\n${r.stderr}`)
  const problem = authenticodeProblem(r.status, verify)
  if (problem !== null) throw new Error(`${exe}: ${problem}\n${r.stdout}${r.stderr}`)
  say(`node.exe: Authenticode digest ${verify.current} matches, signed by ${verify.signer}`)
  return { digest: verify.current, signer: verify.signer }
}

/**
 * V8's cache of the bundle, made by the target's own Node running it once as
 * `tamanu status --json` on a pm2 host that is not there (a PM2_HOME of
 * nothing): option parsing, the layers, the host's config, the supervisor,
 * the error's rendering; what V8 compiled for that is what the cache holds.
 */
const makeCodeCache = (node, work) => {
  const maker = path.join(work, "cache-maker.cjs")
  const out = path.join(work, "tamanu.v8cache")
  const root = path.join(work, "root")
  fs.mkdirSync(root)
  fs.writeFileSync(path.join(root, "local.json5"), '{ serverFacilityIds: ["f"] }\n')
  fs.writeFileSync(maker, cacheMaker)
  spawnSync(node, [maker, bundle, out, "--", "status", "--json", "--supervisor", "pm2", "--root", root], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work, PM2_HOME: path.join(work, "pm2"), NO_COLOR: "1" },
    stdio: "ignore",
    timeout: 60_000,
  })
  if (!fs.existsSync(out)) throw new Error("no code cache was written")
  return out
}

fs.mkdirSync(outDir, { recursive: true })
const manifest = { version: cliVersion, host: `${host.platform}-${host.arch}`, executables: {}, debs: {}, steps }

for (const target of targets.filter((t) => chosen.includes(t.id))) {
  const pin = pins.get(target.pin)
  const builder = builderFor(target, pins, host)
  if (pin === undefined) throw new Error(`no pin ${target.pin} in packaging/node/package-lock.json`)
  if (builder === null)
    throw new Error(`${target.id}: no pinned Node ${pin.version} for ${host.platform}-${host.arch} to build it with`)
  const node = timed(`fetch ${target.id}`, () => nodeBinary(pin))
  const builderNode = builder === pin ? node : timed(`fetch builder for ${target.id}`, () => nodeBinary(builder))
  const signature = target.os === "win32" ? timed("authenticode", () => checkAuthenticode(node)) : null
  const output = path.join(outDir, target.output)
  const useCodeCache = useCodeCacheFor(target, host)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-sea-"))
  try {
    const loader = path.join(work, "sea-main.cjs")
    fs.writeFileSync(loader, seaLoader)
    const codeCache = useCodeCache ? timed(`code cache ${target.id}`, () => makeCodeCache(node, work)) : null
    const configFile = path.join(work, "sea.json")
    fs.writeFileSync(
      configFile,
      JSON.stringify(seaConfig({ main: loader, executable: node, output, bundle, codeCache })),
    )
    fs.rmSync(output, { force: true })
    timed(`sea ${target.id}`, () =>
      execFileSync(builderNode, ["--build-sea", configFile], { cwd: work, stdio: ["ignore", "ignore", "inherit"] }),
    )
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
  if (useCodeCache) {
    const said = spawnSync(output, ["--version"], { env: { ...process.env, TAMANU_SEA_DEBUG: "1" }, encoding: "utf8" })
    if (!said.stderr.includes("code cache: accepted"))
      throw new Error(`${target.output}: V8 did not take the code cache (${said.stderr.trim()})`)
  }
  manifest.executables[target.id] = {
    file: target.output,
    bytes: fs.statSync(output).size,
    sha256: sha("sha256", output),
    node: { package: pin.name, version: pin.version, integrity: pin.integrity },
    builtWith: `${builder.name}@${builder.version}`,
    codeCache: useCodeCache,
    ...(signature === null ? {} : { authenticode: signature }),
  }
  say(
    `${target.output}: Node ${pin.version}, ${useCodeCache ? "with" : "without"} code cache, ${(
      manifest.executables[target.id].bytes / 1e6
    ).toFixed(1)} MB`,
  )
}

/** A completion script from the command tree (the bundle on this Node: the same tree the executables carry). */
const completions = (shell) =>
  execFileSync(process.execPath, [at("packages/cli/bin/tamanu.js"), "--completions", shell], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", TERM: "dumb" },
  })

if (withDebs) {
  const scripts = { bash: completions("bash"), zsh: completions("zsh"), fish: completions("fish") }
  for (const target of targets.filter((t) => chosen.includes(t.id) && t.deb !== null)) {
    timed(`deb ${target.deb}`, () => {
      const stage = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-deb-"))
      try {
        let bytes = 0
        const sums = []
        for (const entry of debLayout) {
          const file = path.join(stage, entry.path)
          fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 })
          if (entry.from === "executable") fs.copyFileSync(path.join(outDir, target.output), file)
          else if (entry.from.startsWith("completions:")) fs.writeFileSync(file, scripts[entry.from.slice(12)])
          else fs.copyFileSync(at(entry.from), file)
          fs.chmodSync(file, entry.mode)
          bytes += fs.statSync(file).size
          sums.push(`${sha("md5", file)}  ${entry.path}`)
        }
        const debian = path.join(stage, "DEBIAN")
        fs.mkdirSync(debian, { mode: 0o755 })
        const nodeVersion = manifest.executables[target.id]?.node.version ?? pins.get(target.pin).version
        const installedSizeKb = Math.ceil(bytes / 1024)
        fs.writeFileSync(
          path.join(debian, "control"),
          debControl({ version: cliVersion, arch: target.deb, installedSizeKb, nodeVersion }),
        )
        fs.writeFileSync(path.join(debian, "md5sums"), `${sums.join("\n")}\n`)
        // Directories 0755 whatever the umask: dpkg takes the modes as they are.
        execFileSync("find", [stage, "-type", "d", "-exec", "chmod", "0755", "{}", "+"])
        const deb = path.join(outDir, debFileName(cliVersion, target.deb))
        // zstd (dpkg's default level): 45 MB in about 4 s, where xz took 140-210 s for 32 MB and gzip
        // 8-20 s for 48 MB on this machine; dpkg reads it from 1.21.18 (Debian 12, Ubuntu 22.04).
        execFileSync("dpkg-deb", ["--root-owner-group", "-Zzstd", "--build", stage, deb], {
          stdio: ["ignore", "ignore", "inherit"],
        })
        manifest.debs[target.deb] = {
          file: path.basename(deb),
          bytes: fs.statSync(deb).size,
          installedSizeKb,
          sha256: sha("sha256", deb),
        }
        say(`${path.basename(deb)}: ${(fs.statSync(deb).size / 1e6).toFixed(1)} MB`)
      } finally {
        fs.rmSync(stage, { recursive: true, force: true })
      }
    })
  }
}

fs.writeFileSync(path.join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`)
say(
  `${Object.entries(steps)
    .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
    .join(", ")}`,
)
