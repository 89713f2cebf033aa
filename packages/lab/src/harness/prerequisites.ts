/**
 * Real-component suites need real daemons (systemd user manager, pm2, Caddy,
 * PostgreSQL). In CI (`CI=true`) a missing one is a failure; on a laptop
 * without root the suite is skipped and says which and why.
 */
import { execFileSync } from "node:child_process"

export interface Prerequisite {
  /** What the suite needs, e.g. "systemd user manager". */
  readonly component: string
  /** null when available, else why not and how to get it. */
  readonly missing: string | null
}

export const inCI = (): boolean => process.env.CI === "true" || process.env.CI === "1"

export const isRoot = (): boolean => typeof process.getuid === "function" && process.getuid() === 0

/** Whether an executable is on PATH (no shell involved). */
export const hasCommand = (command: string): boolean => {
  try {
    execFileSync("sh", ["-c", 'command -v "$1"', "sh", command], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/**
 * Decide whether a real-component suite runs. Returns true to skip.
 * In CI a missing prerequisite throws so the suite fails loudly.
 */
export const skipUnless = (...prerequisites: ReadonlyArray<Prerequisite>): boolean => {
  const missing = prerequisites.filter((p) => p.missing !== null)
  if (missing.length === 0) return false
  const why = missing.map((p) => `${p.component}: ${p.missing}`).join("; ")
  if (inCI()) {
    throw new Error(`real-component suite cannot run in CI: ${why}`)
  }
  process.stderr.write(`[tamanu-lifecycle] skipping real-component suite (${why})\n`)
  return true
}
