/**
 * A real pm2 daemon (the npm package this workspace depends on) in a
 * throwaway PM2_HOME, with Tamanu-shaped processes registered in it. Shared
 * by the pm2 integration tests, the demo and the benchmarks.
 *
 * Two shapes: `startPm2Daemon()` (plain async, for vitest hooks) and
 * `pm2Daemon()` (an Effect scoped resource). `kill()` leaves nothing behind:
 * `pm2 kill`, then every pid the daemon owned is checked and SIGKILLed if
 * it is still there.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { Duration, Effect, Schedule, type Scope } from "effect"
import type { Prerequisite } from "./prerequisites.js"
import { alive } from "./processes.js"

const run = promisify(execFile)

/** The Tamanu-shaped HTTP service; same relative place from src/ and dist/. */
export const pm2FixtureScript = fileURLToPath(new URL("../../fixtures/tamanu-service.mjs", import.meta.url))

/** pm2's CLI entry point from the installed package, or null when it cannot be resolved. */
export const pm2Bin = (): string | null => {
  try {
    const pkg = createRequire(import.meta.url).resolve("pm2/package.json")
    const bin = path.join(path.dirname(pkg), "bin", "pm2")
    return fs.existsSync(bin) ? bin : null
  } catch {
    return null
  }
}

/** For `skipUnless`: the pm2 npm package must be resolvable from here. */
export const pm2Prerequisite = (): Prerequisite => ({
  component: "pm2",
  missing: pm2Bin() === null ? "the pm2 npm package is not installed (run npm ci)" : null,
})

/** One pm2 app as in an ecosystem file. Several apps may share a name (pm2 then tells them apart by pm_id). */
export interface Pm2App {
  readonly name: string
  /** Defaults to the Tamanu-shaped service. */
  readonly script?: string
  readonly args?: ReadonlyArray<string>
  /** `none` runs `script` as a binary (cheap processes for benchmarks). */
  readonly interpreter?: string
  readonly instances?: number
  readonly env?: Readonly<Record<string, string>>
}

export interface Pm2DaemonHandle {
  readonly pm2Home: string
  /** The environment that addresses this daemon (`PM2_HOME`), for child processes and the CLI. */
  readonly env: Readonly<Record<string, string>>
  /**
   * Register apps in one `pm2 start <ecosystem>` and return when pm2 has
   * launched them. Give all processes sharing a name in one call: pm2
   * restarts, rather than adds, an app whose name it already has.
   */
  readonly register: (apps: ReadonlyArray<Pm2App>) => Promise<void>
  /** Run the pm2 CLI against this daemon (e.g. `["jlist"]`). */
  readonly pm2: (args: ReadonlyArray<string>) => Promise<string>
  /** Stop the daemon and every process it started; safe to call twice. */
  readonly kill: () => Promise<void>
}

export { freePorts } from "./processes.js"

/**
 * Tamanu's pm2 layout (spec §1.1, pm2 facility): `tamanu-api` twice with
 * their own PORT, `tamanu-tasks`, `tamanu-sync` (the latter two on ports too,
 * so every process answers HTTP).
 */
export const tamanuPm2Apps = (
  ports: { readonly api: readonly [number, number]; readonly tasks: number; readonly sync: number },
  env: Readonly<Record<string, string>> = { READY_DELAY_MS: "300" },
): ReadonlyArray<Pm2App> => [
  { name: "tamanu-api", env: { ...env, PORT: String(ports.api[0]) } },
  { name: "tamanu-api", env: { ...env, PORT: String(ports.api[1]) } },
  { name: "tamanu-tasks", env: { ...env, PORT: String(ports.tasks) } },
  { name: "tamanu-sync", env: { ...env, PORT: String(ports.sync) } },
]

/** Pids still alive after up to ~5 s: a signal is delivered at once, but exiting takes a moment. */
const stillAliveAfterWait = (pids: ReadonlyArray<number>): Promise<ReadonlyArray<number>> =>
  Effect.runPromise(
    Effect.suspend(() => {
      const left = pids.filter(alive)
      return left.length === 0 ? Effect.succeed(left) : Effect.fail(left)
    }).pipe(Effect.retry({ schedule: Schedule.spaced(Duration.millis(50)), times: 100 }), Effect.merge),
  )

/** Pids whose command line mentions this PM2_HOME (the daemon names its home: "PM2 vX: God Daemon (<home>)"). */
const pidsMentioning = async (needle: string): Promise<ReadonlyArray<number>> => {
  try {
    const { stdout } = await run("pgrep", ["-f", "--", needle])
    return stdout
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map(Number)
      .filter((pid) => pid !== process.pid)
  } catch {
    return []
  }
}

const readPid = (file: string): number | null => {
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim())
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

/** Start a pm2 daemon in a fresh temporary PM2_HOME. */
export const startPm2Daemon = async (): Promise<Pm2DaemonHandle> => {
  const bin = pm2Bin()
  if (bin === null) throw new Error("pm2 npm package not found")
  const pm2Home = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-pm2-"))
  const { PORT: _port, ...inherited } = process.env
  const env: Record<string, string> = { PM2_HOME: pm2Home }
  const childEnv = { ...inherited, ...env }
  // Every pid pm2 has run for us, so kill() can verify each one is gone.
  const owned = new Set<number>()

  const pm2 = async (args: ReadonlyArray<string>): Promise<string> => {
    const { stdout } = await run(process.execPath, [bin, ...args], {
      env: childEnv,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
    })
    return stdout
  }

  const remember = async () => {
    const daemon = readPid(path.join(pm2Home, "pm2.pid"))
    if (daemon !== null) owned.add(daemon)
    const list: unknown = JSON.parse(await pm2(["jlist"]))
    if (Array.isArray(list)) {
      for (const p of list as ReadonlyArray<{ pid?: unknown }>) {
        if (typeof p.pid === "number" && p.pid > 0) owned.add(p.pid)
      }
    }
  }

  let killed = false
  const kill = async () => {
    if (killed) return
    killed = true
    await remember().catch(() => undefined)
    await pm2(["kill"]).catch(() => undefined)
    for (const pid of await pidsMentioning(pm2Home)) owned.add(pid)
    // pm2 kill stops its processes gracefully; give them the moment it takes before forcing.
    const lingering = await stillAliveAfterWait([...owned])
    for (const pid of lingering) {
      if (alive(pid)) {
        try {
          process.kill(pid, "SIGKILL")
        } catch {
          // gone between the check and the kill
        }
      }
    }
    const left = await stillAliveAfterWait(lingering)
    fs.rmSync(pm2Home, { recursive: true, force: true })
    if (left.length > 0) throw new Error(`pm2 harness: pids still alive after kill: ${left.join(", ")}`)
  }

  const register = async (apps: ReadonlyArray<Pm2App>) => {
    const ecosystem = {
      apps: apps.map((app) => ({
        name: app.name,
        script: app.script ?? pm2FixtureScript,
        ...(app.args === undefined ? {} : { args: [...app.args] }),
        ...(app.interpreter === undefined ? {} : { interpreter: app.interpreter }),
        ...(app.instances === undefined ? {} : { instances: app.instances, exec_mode: "fork" }),
        env: { ...app.env },
        autorestart: true,
      })),
    }
    const file = path.join(pm2Home, `ecosystem-${Date.now()}-${Math.random().toString(36).slice(2)}.json`)
    fs.writeFileSync(file, JSON.stringify(ecosystem))
    await pm2(["start", file])
    await remember()
  }

  try {
    await pm2(["ping"])
    await remember()
  } catch (error) {
    await kill().catch(() => undefined)
    throw error
  }
  return { pm2Home, env, register, pm2, kill }
}

/** The same daemon as an Effect scoped resource: killed when the scope closes. */
export const pm2Daemon = (): Effect.Effect<Pm2DaemonHandle, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: startPm2Daemon, catch: (e) => (e instanceof Error ? e : new Error(String(e))) }),
    (handle) => Effect.promise(() => handle.kill().catch(() => undefined)),
  )
