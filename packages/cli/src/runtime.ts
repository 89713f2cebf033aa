/**
 * What the CLI knows of the program it runs as: the npm package's bin on the
 * machine's Node (`node …/bin/tamanu.js`), or a Node single executable
 * application with its Node built in (`/usr/bin/tamanu`, `tamanu-win-x64.exe`;
 * packages/cli/scripts/package.mjs). Nothing the CLI does depends on which,
 * except the two facts below.
 */
import { isSingleExecutable } from "@tamanu-lifecycle/core/internal"

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

/** This process. The re-run under sudo is core's (`currentInvocation`), which tells a single executable the same way. */
export const currentRuntime = (): Runtime => {
  return {
    sea: isSingleExecutable(),
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
