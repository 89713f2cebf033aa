/**
 * A throwaway real PostgreSQL cluster for the patient-portal flag (spec §1.1):
 * initdb + pg_ctl from the Debian `postgresql` package, in a temp directory,
 * on a free loopback port, with a `tamanu` database and a `settings` table
 * shaped like Tamanu's. initdb refuses to run as root, so as root the cluster
 * belongs to the `postgres` user (`runuser`). `stop()` leaves no process and
 * no files behind; a process exit stops clusters a test forgot.
 */
import { execFile, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Data, Effect } from "effect"
import type { Prerequisite } from "./prerequisites.js"
import { isRoot } from "./prerequisites.js"
import { freePort, onExit } from "./processes.js"

const debianRoot = "/usr/lib/postgresql"

/** The newest installed server's bin directory (never /usr/local/bin's wrappers), or null. */
export const postgresBinDir = (): string | null => {
  const versions = fs.existsSync(debianRoot)
    ? fs
        .readdirSync(debianRoot)
        .filter((v) => /^\d+$/.test(v) && fs.existsSync(path.join(debianRoot, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : []
  const newest = versions[0]
  return newest === undefined ? null : path.join(debianRoot, newest, "bin")
}

const hasUser = (user: string): boolean => {
  try {
    execFileSync("id", ["-u", user], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** Whether a cluster can be started here; for `skipUnless`. */
export const postgresPrerequisite = (): Prerequisite => {
  const bin = postgresBinDir()
  const missing =
    bin === null
      ? `no ${debianRoot}/<version>/bin/initdb (install the Debian package postgresql)`
      : isRoot() && !hasUser("postgres")
        ? "running as root but there is no postgres user to own the cluster"
        : isRoot() && !fs.existsSync("/usr/sbin/runuser") && !fs.existsSync("/sbin/runuser")
          ? "running as root without runuser"
          : null
  return { component: "PostgreSQL", missing }
}

/** What `setPortalFlag` stores: any JSON value, or "missing" to delete the row. */
export type PortalFlagValue = unknown

export interface PostgresCluster {
  /** `postgres://postgres@127.0.0.1:<port>/tamanu` (trust auth: any password is accepted unasked). */
  readonly url: string
  readonly port: number
  readonly dataDir: string
  /** Sets `features.patientPortal` to a JSON value (or the raw text for a text column); "missing" deletes it. */
  readonly setPortalFlag: (value: PortalFlagValue | "missing") => Promise<void>
  /** Runs SQL against the `tamanu` database, returns psql's unaligned output. */
  readonly sql: (statement: string) => Promise<string>
  /** Stops the server but keeps the data: the "DB down" state. */
  readonly halt: () => Promise<void>
  /** Starts a halted server again on the same port. */
  readonly resume: () => Promise<void>
  /** Stops the server and deletes everything. Safe to call twice. */
  readonly stop: () => Promise<void>
}

export interface StartOptions {
  /** Column type of `settings.value`: Tamanu uses jsonb; text exercises the fallback. */
  readonly valueType?: "jsonb" | "text"
}

const run = (command: string, args: ReadonlyArray<string>, timeoutMs = 60_000): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(command, [...args], { timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")} failed: ${stderr || error.message}`))
      else resolve(stdout)
    })
  })

const sqlLiteral = (text: string): string => `'${text.replace(/'/g, "''")}'`

/** Starts a fresh cluster; rejects (after cleaning up) when it cannot. */
export const startPostgres = async (options: StartOptions = {}): Promise<PostgresCluster> => {
  const bin = postgresBinDir()
  if (bin === null) throw new Error(postgresPrerequisite().missing ?? "PostgreSQL not installed")
  const asOwner = (command: string, args: ReadonlyArray<string>): [string, ReadonlyArray<string>] =>
    isRoot() ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args]
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-pg-"))
  if (isRoot()) execFileSync("chown", ["postgres:postgres", dir])
  const dataDir = path.join(dir, "data")
  const logFile = path.join(dir, "server.log")
  const port = await freePort()
  const pgCtl = path.join(bin, "pg_ctl")
  const serverOptions = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir} -c fsync=off -c full_page_writes=off`
  const ctl = (args: ReadonlyArray<string>) => run(...asOwner(pgCtl, ["-D", dataDir, ...args]))
  const startServer = () => ctl(["-o", serverOptions, "-l", logFile, "-w", "-t", "60", "start"])
  const stopServerSync = () => {
    try {
      const [cmd, args] = asOwner(pgCtl, ["-D", dataDir, "-m", "immediate", "-w", "stop"])
      execFileSync(cmd, [...args], { stdio: "ignore" })
    } catch {
      // already stopped
    }
  }
  let stopped = false
  const cleanup = () => {
    if (stopped) return
    stopped = true
    forget()
    stopServerSync()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const forget = onExit(cleanup)

  const psql = (database: string, statement: string) =>
    run(path.join(bin, "psql"), [
      "-X",
      "-q",
      "-A",
      "-t",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-U",
      "postgres",
      "-d",
      database,
      "-c",
      statement,
    ])

  try {
    await run(
      ...asOwner(path.join(bin, "initdb"), [
        "-D",
        dataDir,
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
      ]),
    )
    await startServer()
    await psql("postgres", "CREATE DATABASE tamanu")
    const valueType = options.valueType ?? "jsonb"
    await psql("tamanu", `CREATE TABLE settings (key text NOT NULL, value ${valueType})`)
  } catch (error) {
    cleanup()
    throw error
  }

  const valueType = options.valueType ?? "jsonb"
  return {
    url: `postgres://postgres@127.0.0.1:${port}/tamanu`,
    port,
    dataDir,
    sql: (statement) => psql("tamanu", statement),
    setPortalFlag: async (value) => {
      const remove = "DELETE FROM settings WHERE key = 'features.patientPortal'"
      if (value === "missing") {
        await psql("tamanu", remove)
        return
      }
      const stored =
        valueType === "jsonb"
          ? `${sqlLiteral(JSON.stringify(value) ?? "null")}::jsonb`
          : sqlLiteral(typeof value === "string" ? value : (JSON.stringify(value) ?? "null"))
      await psql("tamanu", `${remove}; INSERT INTO settings (key, value) VALUES ('features.patientPortal', ${stored})`)
    },
    halt: async () => {
      await ctl(["-m", "fast", "-w", "stop"])
    },
    resume: async () => {
      await startServer()
    },
    stop: async () => cleanup(),
  }
}

export class PostgresHarnessError extends Data.TaggedError("PostgresHarnessError")<{ readonly message: string }> {}

/** The cluster as a scoped resource: stopped and deleted when the scope closes. */
export const postgresCluster = (options: StartOptions = {}) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => startPostgres(options),
      catch: (e) => new PostgresHarnessError({ message: e instanceof Error ? e.message : String(e) }),
    }),
    (cluster) => Effect.promise(() => cluster.stop()),
  )
