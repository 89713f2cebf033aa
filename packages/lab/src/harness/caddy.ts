/**
 * A real Caddy (Debian package, /usr/bin/caddy) on loopback, in front of
 * test services, for the proxy tests, the demo and the benchmarks.
 *
 * Everything lives in a temp directory (Caddyfile, XDG dirs, log), the admin
 * API and the site listen on free 127.0.0.1 ports, nothing is persisted, and
 * `stop()` (or process exit) leaves no caddy process behind.
 *
 * The reverse_proxy block holds what Tamanu's own Caddyfiles set
 * (`lb_try_duration 1s`, linux-host.md) and Caddy's defaults for everything
 * else: no retry tuning of our own, so a roll proves itself against the
 * Caddy an operator runs, not one configured to make the test pass.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, type Scope } from "effect"
import { hasCommand, type Prerequisite } from "./prerequisites.js"
import { freePorts, onExit } from "./processes.js"

export const caddyPath = "/usr/bin/caddy"

/** Whether a real Caddy can run here; for `skipUnless`. */
export const caddyPrerequisite = (): Prerequisite => ({
  component: "Caddy",
  missing:
    fs.existsSync(caddyPath) || hasCommand("caddy") ? null : `no ${caddyPath} (install the Debian package caddy)`,
})

const caddyBinary = (): string => (fs.existsSync(caddyPath) ? caddyPath : "caddy")

/** What Tamanu's Caddyfiles set in a reverse_proxy block (linux-host.md); Caddy's defaults for the rest. */
export const tamanuProxyDirectives: ReadonlyArray<string> = ["lb_try_duration 1s"]

/**
 * `dynamic a` upstreams as a Tamanu Linux host's Caddyfile has them: the
 * service's network alias, resolved by aardvark-dns on the podman network's
 * gateway (over UDP: Caddy 2.6 dials a bare resolver address over TCP, which
 * aardvark-dns 1.4 does not answer). `refresh` absent: Caddy's default (1 minute).
 */
export interface DynamicAUpstreams {
  readonly dynamicA: {
    readonly name: string
    readonly port: number
    /** `udp/10.89.100.1:53` */
    readonly resolvers: ReadonlyArray<string>
    /** A Caddy duration (`3s`); absent: Caddy's default, what a Tamanu host runs. */
    readonly refresh?: string
  }
}

/** Static dial addresses (`127.0.0.1:4001`), or `dynamic a`. */
export type Upstreams = ReadonlyArray<string> | DynamicAUpstreams

export interface CaddyOptions {
  /**
   * Path matcher → upstreams. `/` (or `*`) is the catch-all; others
   * (`/api/*`) are handled first.
   */
  readonly upstreams: Readonly<Record<string, Upstreams>>
  /** Lines inside each reverse_proxy block (default `tamanuProxyDirectives`). */
  readonly proxyDirectives?: ReadonlyArray<string>
}

export interface CaddyHandle {
  /** The site, `http://127.0.0.1:<port>`. */
  readonly url: string
  /** The admin API, `http://127.0.0.1:<port>`. */
  readonly adminUrl: string
  /** Path of the generated Caddyfile (what a reload posts). */
  readonly caddyfile: string
  readonly dir: string
  readonly pid: number
  /** POST the Caddyfile to the admin API's /load (what CaddyAdminLive does). */
  readonly reload: () => Promise<void>
  /** Rewrite the Caddyfile with new upstreams and reload. */
  readonly setUpstreams: (upstreams: CaddyOptions["upstreams"]) => Promise<void>
  /** Stop Caddy and delete its directory. Safe to call twice. */
  readonly stop: () => Promise<void>
}

/** The Caddyfile for a loopback site; pure so it can be read in tests and docs. */
export const renderCaddyfile = (input: {
  readonly sitePort: number
  readonly adminPort: number
  readonly logFile: string
  readonly upstreams: CaddyOptions["upstreams"]
  readonly proxyDirectives: ReadonlyArray<string>
}): string => {
  const block = (to: Upstreams) =>
    "dynamicA" in to
      ? [
          "\t\treverse_proxy {",
          "\t\t\tdynamic a {",
          `\t\t\t\tname ${to.dynamicA.name}`,
          `\t\t\t\tport ${to.dynamicA.port}`,
          `\t\t\t\tresolvers ${to.dynamicA.resolvers.join(" ")}`,
          ...(to.dynamicA.refresh === undefined ? [] : [`\t\t\t\trefresh ${to.dynamicA.refresh}`]),
          "\t\t\t}",
          ...input.proxyDirectives.map((d) => `\t\t\t${d}`),
          "\t\t}",
        ].join("\n")
      : [`\t\treverse_proxy ${to.join(" ")} {`, ...input.proxyDirectives.map((d) => `\t\t\t${d}`), "\t\t}"].join("\n")
  const handles = Object.entries(input.upstreams).map(([matcher, to]) =>
    matcher === "/" || matcher === "*" ? `\thandle {\n${block(to)}\n\t}` : `\thandle ${matcher} {\n${block(to)}\n\t}`,
  )
  return [
    "{",
    `\tadmin 127.0.0.1:${input.adminPort}`,
    "\tauto_https off",
    `\tlog {\n\t\toutput file ${input.logFile}\n\t\tlevel WARN\n\t}`,
    "}",
    "",
    `http://127.0.0.1:${input.sitePort} {`,
    // Loopback only: the site address alone makes Caddy listen on every interface.
    "\tbind 127.0.0.1",
    ...handles,
    "}",
    "",
  ].join("\n")
}

const postCaddyfile = async (adminUrl: string, file: string): Promise<void> => {
  const response = await fetch(`${adminUrl}/load`, {
    method: "POST",
    headers: { "content-type": "text/caddyfile" },
    body: fs.readFileSync(file, "utf8"),
  })
  if (!response.ok) throw new Error(`caddy /load: HTTP ${response.status}: ${await response.text()}`)
}

/** Resolves once `check` does, polling every 50 ms; rejects after `timeoutMs` or when Caddy has exited. */
const waitFor = async (what: string, check: () => Promise<boolean>, child: ChildProcess, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`caddy exited before ${what}`)
    if (await check().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`caddy: ${what} not reached within ${timeoutMs} ms`)
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

export const startCaddy = async (options: CaddyOptions): Promise<CaddyHandle> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-caddy-"))
  const [sitePort, adminPort] = (await freePorts(2)) as [number, number]
  const caddyfile = path.join(dir, "Caddyfile")
  const logFile = path.join(dir, "caddy.log")
  const proxyDirectives = options.proxyDirectives ?? tamanuProxyDirectives
  const write = (upstreams: CaddyOptions["upstreams"]) =>
    fs.writeFileSync(caddyfile, renderCaddyfile({ sitePort, adminPort, logFile, upstreams, proxyDirectives }))
  write(options.upstreams)
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir,
    XDG_DATA_HOME: path.join(dir, "data"),
    XDG_CONFIG_HOME: path.join(dir, "config"),
  }
  const stderr = fs.openSync(path.join(dir, "caddy.stderr"), "w")
  const child = spawn(caddyBinary(), ["run", "--config", caddyfile, "--adapter", "caddyfile"], {
    env,
    cwd: dir,
    stdio: ["ignore", stderr, stderr],
  })
  fs.closeSync(stderr)
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const killNow = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  const forget = onExit(killNow)

  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM")
      const timer = setTimeout(killNow, 5_000)
      await exited
      clearTimeout(timer)
    }
    forget()
    fs.rmSync(dir, { recursive: true, force: true })
  }

  const adminUrl = `http://127.0.0.1:${adminPort}`
  try {
    await waitFor("admin API up", async () => (await fetch(`${adminUrl}/config/`)).ok, child)
    await waitFor("site listening", () => listening(sitePort), child)
  } catch (error) {
    const said = fs.existsSync(path.join(dir, "caddy.stderr"))
      ? fs.readFileSync(path.join(dir, "caddy.stderr"), "utf8").slice(-2000)
      : ""
    await stop()
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${said}`)
  }

  return {
    url: `http://127.0.0.1:${sitePort}`,
    adminUrl,
    caddyfile,
    dir,
    pid: child.pid ?? -1,
    reload: () => postCaddyfile(adminUrl, caddyfile),
    setUpstreams: async (upstreams) => {
      write(upstreams)
      await postCaddyfile(adminUrl, caddyfile)
    },
    stop,
  }
}

/** Caddy for the length of a scope. */
export const caddyScoped = (options: CaddyOptions): Effect.Effect<CaddyHandle, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => startCaddy(options),
      catch: (e) => (e instanceof Error ? e : new Error(String(e))),
    }),
    (caddy) => Effect.promise(() => caddy.stop()),
  )

/** Pids of caddy processes whose command line names this harness's temp dirs (for leak checks). */
export const strayHarnessCaddies = (): ReadonlyArray<number> => {
  try {
    return execFileSync("pgrep", ["-f", `${path.join(os.tmpdir(), "tamanu-caddy-")}`], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter((l) => l !== "")
      .map(Number)
  } catch {
    return []
  }
}
