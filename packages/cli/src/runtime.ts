/**
 * What the CLI knows of the program it runs as: the npm package's bin on the
 * machine's Node (`node …/bin/tamanu.js`), or a Node single executable
 * application with its Node built in (`/usr/bin/tamanu`, `tamanu-win-x64.exe`;
 * packages/cli/scripts/package.mjs). Nothing the CLI does depends on which,
 * except the two facts below.
 */

/** The CLI's version (packages/cli/package.json; a unit test holds the two together). */
export const cliVersion = "0.1.0"

export interface Runtime {
  /** Whether this process is a single executable (`node:sea` isSea()). */
  readonly sea: boolean
  /** `process.execPath`: the executable itself in a SEA, else the Node running the script. */
  readonly execPath: string
  /** `process.version`. */
  readonly nodeVersion: string
  readonly platform: string
  readonly arch: string
}

/** This process. `node:sea` exists from Node 20.12; before that nothing is a single executable. */
export const currentRuntime = (): Runtime => {
  let sea = false
  try {
    const module = process.getBuiltinModule?.("node:sea") as { isSea?: () => boolean } | undefined
    sea = module?.isSea?.() === true
  } catch {}
  return {
    sea,
    execPath: process.execPath,
    nodeVersion: process.version,
    platform: process.platform,
    arch: process.arch,
  }
}

/**
 * What `tamanu --version` prints: the CLI's version and the Node it runs on,
 * `0.1.0 (Node.js v26.12.1, linux-x64, built in)` for the executable.
 */
export const versionLine = (runtime: Runtime): string =>
  `${cliVersion} (Node.js ${runtime.nodeVersion}, ${runtime.platform}-${runtime.arch}${runtime.sea ? ", built in" : ""})`

/**
 * The command line that runs this same command again (the re-run under
 * sudo), exactly as given. A script's argv is `[node, script, ...args]` and
 * is that already. A single executable's argv is `[executable, what was
 * typed for it, ...args]`: argv[1] is the name the caller typed (`tamanu`,
 * `./tamanu`, a symlink), which sudo would look up on its own secure_path or
 * take for an argument, so the re-run names the executable itself
 * (`/usr/bin/tamanu`, the path a sudoers rule names) followed by the
 * arguments alone.
 */
export const rerunArgv = (argv: ReadonlyArray<string>, runtime: Runtime): ReadonlyArray<string> =>
  runtime.sea ? [runtime.execPath, ...argv.slice(2)] : argv
