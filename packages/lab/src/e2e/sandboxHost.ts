/**
 * A whole Tamanu host in a sandbox, driven by the BUILT `tamanu` binary, for
 * the end-to-end tests, the demo and the benchmarks.
 *
 * systemd flavour: the real shape of a Tamanu Linux host (linux-host.md). A
 * real `systemd --user` manager runs one unit per instance, each a real
 * rootful podman container (harness/podman.ts) on the sandbox's own bridge
 * network: `tamanu-facility-api@1/@2` with the network alias
 * `api.facility.tamanu.internal`, `tamanu-frontend@a/@b` with
 * `frontend.tamanu.internal`, all on port 3000, every restart giving the
 * container a new address; the singletons `tamanu-facility-tasks`,
 * `tamanu-facility-sync` and the legacy `tamanu-facility` (installed, not
 * started) are containers too, as most of a Tamanu host's units are, so a
 * bulk restart or a stop goes through `podman stop` exactly like an
 * instance's. Caddy runs as the user unit `caddy.service` in Debian's shape
 * (reload = `caddy reload --force`) with a Tamanu-shaped Caddyfile: `dynamic
 * a` upstreams on those aliases, resolved by aardvark-dns on the network's
 * gateway, `lb_try_duration 1s`, Caddy's defaults for the rest (refresh: 1
 * minute unless the caller asks otherwise), and a global `admin` address,
 * which is how the CLI finds the admin API (TAMANU_CADDYFILE, no
 * TAMANU_CADDY_ADMIN). The CLI finds probe URLs with the real `podman ps` /
 * `podman inspect` (CONTAINERS_CONF is in its environment) and runs inside
 * the manager's mount namespace (see systemdUserManager.ts for why). With
 * `versions` (issue #22) the API and frontend containers run small local
 * images whose tag the units take from the root's env file instead of the
 * host's root (`SandboxHostOptions.versions`).
 *
 * pm2 flavour (a Windows-shaped host): a real pm2 daemon with `tamanu-api`
 * ×2, `tamanu-tasks`, `tamanu-sync` (each on its own PORT), a real Caddy in
 * front as a plain process with static `localhost:PORT`-style upstreams,
 * driven through its admin API (TAMANU_CADDY_ADMIN).
 *
 * Both: a facility Tamanu root (fixtures/e2e/facility-linux) copied into the
 * sandbox directory, and every process started here carries that directory
 * in its command line, so `leftoverSandboxProcesses()` can prove none
 * survives `stop()`.
 */
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { Duration, Effect, Schedule } from "effect"
import {
  type CaddyHandle,
  caddyPath,
  caddyPrerequisite,
  renderCaddyfile,
  startCaddy,
  tamanuProxyDirectives,
} from "../harness/caddy.js"
import { freePorts, type Pm2DaemonHandle, pm2Prerequisite, startPm2Daemon } from "../harness/pm2Daemon.js"
import {
  containerName,
  containerUnit,
  createContainers,
  importServiceImages,
  leftoverPodman,
  mountsUnder,
  type PodmanNetwork,
  podmanPrerequisite,
  startPodmanNetwork,
  type UnitShape,
} from "../harness/podman.js"
import type { Prerequisite } from "../harness/prerequisites.js"
import { alive } from "../harness/processes.js"
import {
  type CtlResult,
  startUserManager,
  tamanuServiceScript,
  type UnitFile,
  type UserManager,
  userManagerPrerequisite,
} from "../harness/systemdUserManager.js"

export type SandboxSupervisor = "systemd" | "pm2"

const here = (relative: string) => fileURLToPath(new URL(relative, import.meta.url))
/** The bundled CLI and what it is built from (same relative places from src/ and dist/). */
export const cliBundle = here("../../../cli/dist/tamanu.mjs")
/** What an operator runs as `tamanu` (the package's bin: CommonJS, into the same bundle). */
export const cliBin = here("../../../cli/bin/tamanu.js")
const cliSources = [here("../../../core/src"), here("../../../cli/src")]
export const facilityRootFixture = here("../../fixtures/e2e/facility-linux")

/** What a sandbox of this flavour needs here; for `skipUnless`. */
export const sandboxPrerequisites = (supervisor: SandboxSupervisor): ReadonlyArray<Prerequisite> =>
  supervisor === "systemd"
    ? [userManagerPrerequisite(), podmanPrerequisite(), caddyPrerequisite()]
    : [pm2Prerequisite(), caddyPrerequisite()]

/** The newest non-test TypeScript source under `dir`, with its mtime. */
const newestSource = (dir: string): { readonly file: string; readonly mtimeMs: number } => {
  let newest = { file: dir, mtimeMs: 0 }
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts") || entry.name.includes(".test.")) continue
    const file = path.join(entry.parentPath, entry.name)
    const mtimeMs = fs.statSync(file).mtimeMs
    if (mtimeMs > newest.mtimeMs) newest = { file, mtimeMs }
  }
  return newest
}

/**
 * The built binary's entry point (the package's `bin`, as `tamanu` on an
 * operator's PATH), the bundle checked to be newer than the core and cli
 * sources: the tests are about what ships, and `npm test` builds before vitest.
 */
export const requireBuiltCli = (): string => {
  if (!fs.existsSync(cliBundle)) throw new Error(`${cliBundle} does not exist: run npm run build`)
  const built = fs.statSync(cliBundle).mtimeMs
  const stale = cliSources.map(newestSource).filter((s) => s.mtimeMs > built)
  if (stale.length > 0)
    throw new Error(`${cliBundle} is older than ${stale.map((s) => s.file).join(" and ")}: run npm run build`)
  return cliBin
}

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  readonly elapsedMs: number
}

/** One supervised instance as the supervisor reports it (for before/after comparisons). */
export interface InstanceState {
  readonly running: boolean
  /** Main pid; null when not running. */
  readonly pid: number | null
  /** systemd `UnitFileState` (`enabled`, `disabled`, …); null on pm2. */
  readonly enabled: string | null
}

/** Instance display name (`tamanu-facility-api@1`, `tamanu-api#0`) → state. */
export type HostSnapshot = Readonly<Record<string, InstanceState>>

export interface SandboxHostOptions {
  readonly supervisor: SandboxSupervisor
  /** READY_DELAY_MS of every Tamanu-shaped service (default 1000). */
  readonly readyDelayMs?: number
  /** Bring every service up (and wait until it answers) before returning (default true). */
  readonly startServices?: boolean
  /**
   * systemd flavour: Caddy's `dynamic a` refresh (a Caddy duration, `3s`).
   * Absent: Caddy's default, 1 minute, what a Tamanu host runs and what
   * every caller but the soak must use (a shorter one shortens the wait
   * before Caddy's own config comes back; whoever asks must say so).
   */
  readonly caddyRefresh?: string
  /**
   * systemd flavour: how the Tamanu units run their containers
   * (harness/podman.ts `UnitShape`); default `notify`, what `podman
   * generate systemd --new` writes.
   */
  readonly unitShape?: UnitShape
  /**
   * systemd flavour (issue #22): the API and frontend units run small local
   * images (harness/podman.ts `importServiceImages`), one per version here:
   * `localhost/tamanu-facility:v<version>` with the
   * `org.opencontainers.image.version` label and `X_VERSION` set (so the API
   * answers `X-Version`), `localhost/tamanu-frontend:v<version>` with the tag
   * alone. The units read the root's env file (`<root>/env`: TAMANU_VERSION,
   * TAMANU_FRONTEND_VERSION), which starts at `running`, and take their tag
   * from it at each start. `/run/tamanu` is a tmpfs of the sandbox's own
   * (where the upgrade marker goes). Absent: every container runs from the
   * host's root and has no version.
   */
  readonly versions?: { readonly running: string; readonly images: ReadonlyArray<string> }
  /** systemd flavour: the prefix of the podman network's and containers' names (default `tl`). */
  readonly namePrefix?: string
}

/** What the versioned units read (`SandboxHostOptions.versions`): the root's own env file. */
export const envFileOf = (root: string): string => path.join(root, "env")

/** The env file's text for one version of every service. */
export const versionEnv = (version: string): string =>
  `# written by the sandbox, as a Tamanu host's playbook writes /etc/tamanu/env\nTAMANU_VERSION=${version}\nTAMANU_FRONTEND_VERSION=${version}\n`

export interface SandboxHost {
  readonly supervisor: SandboxSupervisor
  /** The sandbox directory (root, Caddyfile, logs). */
  readonly dir: string
  /** The Tamanu root the CLI is pointed at (TAMANU_ROOT). */
  readonly root: string
  /** The site through Caddy, `http://127.0.0.1:<port>`; `/api/*` goes to the API instances. */
  readonly caddyUrl: string
  /** Caddy's admin API (`GET /config/` is its live config). */
  readonly caddyAdminUrl: string
  /** Where the CLI keeps an unfinished Caddy restore (beside the host lock: `<lock>.caddy.json`). */
  readonly routingStateFile: string
  readonly readyDelayMs: number
  /** systemd flavour: how the units run their containers; null on pm2. */
  readonly unitShape: UnitShape | null
  /** The environment the CLI runs with (host selection, CONTAINERS_CONF, …). */
  readonly env: Readonly<Record<string, string>>
  /**
   * Every Tamanu instance this host is meant to run, by display name, with
   * its direct URL. systemd flavour: read from podman at each access (a
   * restarted container has a new address); `""` while it has none.
   */
  readonly instances: Readonly<Record<string, string>>
  /** systemd flavour: an instance's container address now (null: none); pm2: always null. */
  readonly addressOf: (instance: string) => string | null
  /** systemd flavour: the sandbox's podman network and its podman; null on pm2. */
  readonly podman: PodmanNetwork | null
  /** Run the built `tamanu` with these arguments; never rejects on a non-zero exit. */
  readonly run: (
    args: ReadonlyArray<string>,
    options?: { readonly env?: Readonly<Record<string, string>> },
  ) => Promise<CliResult>
  /** Run `node ARGS` where and as the CLI runs (its namespace, `env`): an embedding script, for instance. */
  readonly runNode: (
    args: ReadonlyArray<string>,
    options?: { readonly env?: Readonly<Record<string, string>> },
  ) => Promise<CliResult>
  /** The argv `run` spawns (run it with `env`), for callers that stream the CLI's output (the benchmark's timings). */
  readonly cliArgv: (args: ReadonlyArray<string>) => ReadonlyArray<string>
  /** What the supervisor runs now, read directly (not through the CLI). */
  readonly snapshot: () => Promise<HostSnapshot>
  /** Start every Tamanu service that is not running and wait until each answers HTTP (not through the CLI). */
  readonly startAll: () => Promise<void>
  /** Stop every Tamanu service, including the legacy one (not through the CLI). */
  readonly stopAll: () => Promise<void>
  /** `systemctl --user ARGS` in the sandbox (systemd flavour; fails on pm2). */
  readonly systemctl: (args: ReadonlyArray<string>) => Promise<CtlResult>
  /** Run the pm2 CLI against the sandbox daemon (pm2 flavour; fails on systemd). */
  readonly pm2: (args: ReadonlyArray<string>) => Promise<string>
  /** Stop everything and remove the directory. Safe to call twice. */
  readonly stop: () => Promise<void>
}

/** Pids and command-line markers of every sandbox started in this process, for the leak check. */
const started: Array<{ readonly marker: string; readonly pids: ReadonlyArray<number> }> = []

/** Pids (not this process) whose command line contains `pattern`. */
export const pidsWithCommandLine = (pattern: string): ReadonlyArray<number> => {
  try {
    return execFileSync("pgrep", ["-f", "--", pattern], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map(Number)
      .filter((pid) => pid !== process.pid)
  } catch {
    return []
  }
}

/**
 * Processes any sandbox of this process started and that are still there:
 * tamanu services and Caddy (by the sandbox directory in their command
 * line), the systemd manager, the pm2 daemon and the harness Caddy (by pid).
 */
export const leftoverSandboxProcesses = (): ReadonlyArray<{ readonly pid: number; readonly command: string }> => {
  const pids = new Set<number>()
  for (const s of started) {
    for (const pid of pidsWithCommandLine(s.marker)) pids.add(pid)
    for (const pid of s.pids) if (alive(pid)) pids.add(pid)
  }
  return [...pids].map((pid) => {
    let command = "?"
    try {
      command = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim()
    } catch {}
    return { pid, command }
  })
}

/** Containers and networks any sandbox of this process made and that are still there (systemd flavour). */
export const leftoverSandboxContainers = (): ReadonlyArray<string> => leftoverPodman()

const until = <A>(what: string, check: () => Promise<A | null>, limit: Duration.DurationInput) =>
  Effect.runPromise(
    Effect.tryPromise(check).pipe(
      Effect.flatMap((a) => (a === null ? Effect.fail(new Error(`${what}: not yet`)) : Effect.succeed(a))),
      Effect.retry(Schedule.spaced(Duration.millis(50))),
      Effect.timeoutFail({
        duration: limit,
        onTimeout: () => new Error(`${what}: not within ${Duration.format(limit)}`),
      }),
    ),
  )

/** Resolves when the URL answers below 500. */
const answers = (url: string, limit: Duration.DurationInput = "20 seconds") =>
  until(
    `${url} answering`,
    async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => null)
      await response?.body?.cancel()
      return response !== null && response.status < 500 ? true : null
    },
    limit,
  )

/** An ExecStart argument: quoted, `%` kept literal. */
const execArg = (arg: string): string =>
  `"${arg.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("%", "%%")}"`

/**
 * Caddy as Debian's `caddy.service` runs it (/lib/systemd/system/caddy.service:
 * `Type=notify`, `caddy run --environ --config <Caddyfile>`, reload =
 * `caddy reload --config <Caddyfile> --force`), less what a user manager
 * cannot do (User=, Requires=network-online.target, PrivateTmp=, ProtectSystem=).
 */
const caddyUnit = (dir: string, caddyfile: string): UnitFile => {
  const binary = fs.existsSync(caddyPath) ? caddyPath : "caddy"
  return {
    name: "caddy.service",
    text: [
      "[Unit]",
      "Description=Caddy (sandbox)",
      "",
      "[Service]",
      "Type=notify",
      `ExecStart=${execArg(binary)} run --environ --config ${execArg(caddyfile)}`,
      `ExecReload=${execArg(binary)} reload --config ${execArg(caddyfile)} --force`,
      `Environment=HOME=${dir}`,
      `Environment=XDG_DATA_HOME=${path.join(dir, "caddy-data")}`,
      `Environment=XDG_CONFIG_HOME=${path.join(dir, "caddy-config")}`,
      "TimeoutStopSec=5s",
      "LimitNOFILE=1048576",
      "",
      "[Install]",
      "WantedBy=default.target",
      "",
    ].join("\n"),
  }
}

/** The env of the test process without anything that would pick a host for the CLI by accident. */
export const baseEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (
      v === undefined ||
      k.startsWith("TAMANU_") ||
      ["PM2_HOME", "PORT", "XDG_RUNTIME_DIR", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF"].includes(k)
    )
      continue
    env[k] = v
  }
  return { ...env, NO_COLOR: "1", NODE_ENV: "production" }
}

export interface SpawnOptions {
  readonly cwd?: string
  /** A child that hangs must not hang the suite: it is killed after this (default 180 s). */
  readonly timeoutMs?: number
}

/**
 * A program started now with exactly `env`, its output collected as it comes
 * (`output()`), ended by `exited`, which never rejects on a non-zero exit.
 */
export const spawnChild = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, options: SpawnOptions = {}) => {
  const began = performance.now()
  const [file, ...args] = argv
  const child = spawn(file ?? "node", args, { env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d
  })
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d
  })
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 180_000)
  const exited = new Promise<CliResult>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({
        code: code ?? (signal === null ? -1 : 128),
        stdout,
        stderr: signal === null ? stderr : `${stderr}\n[killed by ${signal}]`,
        elapsedMs: performance.now() - began,
      })
    }),
  )
  return { child, output: () => `${stdout}${stderr}`, exited }
}

/**
 * Run `argv` and send it `signal` the moment its output says `said`: a run
 * interrupted at a known point of its work. Resolves with how it ended;
 * rejects if it ends before saying it, or does not say it within `limitMs`
 * (then it is killed).
 */
export const interruptWhenSaid = (
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  said: RegExp,
  signal: NodeJS.Signals,
  limitMs: number,
): Promise<CliResult> => {
  const { child, output, exited } = spawnChild(argv, env)
  return new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`never said ${said} within ${limitMs} ms:\n${output()}`))
    }, limitMs)
    // Listened to after spawnChild's own collectors, so output() already holds the chunk.
    const look = () => {
      if (!said.test(output())) return
      clearTimeout(timer)
      child.stdout?.off("data", look)
      child.stderr?.off("data", look)
      child.kill(signal)
      resolve(exited)
    }
    child.stdout?.on("data", look)
    child.stderr?.on("data", look)
    void exited.then(() => {
      clearTimeout(timer)
      if (!said.test(output())) reject(new Error(`it ended before saying ${said}:\n${output()}`))
    })
  })
}

/** Run a program to its end with exactly `env`, collecting its output; never rejects on a non-zero exit. */
export const runChild = (
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  options: SpawnOptions = {},
): Promise<CliResult> => spawnChild(argv, env, options).exited

const copyRoot = (dir: string): string => {
  const root = path.join(dir, "tamanu")
  fs.cpSync(facilityRootFixture, root, { recursive: true })
  return root
}

export const startSandboxHost = async (options: SandboxHostOptions): Promise<SandboxHost> => {
  const cli = requireBuiltCli()
  const readyDelayMs = options.readyDelayMs ?? 1000
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-e2e-"))
  const root = copyRoot(dir)
  const host =
    options.supervisor === "systemd"
      ? await systemdHost(dir, root, cli, readyDelayMs, options).catch((error) => {
          // Never delete through a container's mount (its overlay shows the host's whole root).
          if (mountsUnder(dir).length === 0) fs.rmSync(dir, { recursive: true, force: true })
          throw error
        })
      : await pm2Host(dir, root, cli, readyDelayMs).catch((error) => {
          fs.rmSync(dir, { recursive: true, force: true })
          throw error
        })
  if (options.startServices ?? true) {
    try {
      await host.startAll()
    } catch (error) {
      await host.stop()
      throw error
    }
  }
  return host
}

/** Where the routing state of the CLI's Caddy sessions lives for a host whose lock is in `dir` (core's rule). */
const stateFileIn = (dir: string) => path.join(dir, "tamanu-lifecycle.caddy.json")

/** The services behind Caddy on a facility host and their network aliases (linux-host.md). */
const aliases = {
  "tamanu-facility-api": "api.facility.tamanu.internal",
  "tamanu-frontend": "frontend.tamanu.internal",
} as const

const systemdHost = async (
  dir: string,
  root: string,
  cli: string,
  readyDelayMs: number,
  options: SandboxHostOptions,
): Promise<SandboxHost> => {
  const caddyRefresh = options.caddyRefresh
  const unitShape = options.unitShape ?? "notify"
  const versions = options.versions
  const network = await startPodmanNetwork(dir, options.namePrefix === undefined ? {} : { prefix: options.namePrefix })
  let manager: UserManager | null = null
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    try {
      // The manager's exit stops every unit (podman stop inside its namespace); then what is left of the network.
      await manager?.stop()
    } finally {
      // Fails, and leaves the directory, if a container's mount is still there: never delete through one.
      await network.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  try {
    const [sitePort, adminPort] = (await freePorts(2)) as [number, number]
    const caddyfile = path.join(dir, "Caddyfile")
    const dynamicA = (name: string) => ({
      dynamicA: {
        name,
        port: 3000,
        resolvers: [`udp/${network.gateway}:53`],
        ...(caddyRefresh === undefined ? {} : { refresh: caddyRefresh }),
      },
    })
    fs.writeFileSync(
      caddyfile,
      renderCaddyfile({
        sitePort,
        adminPort,
        logFile: path.join(dir, "caddy.log"),
        upstreams: {
          "/api/*": dynamicA(aliases["tamanu-facility-api"]),
          "/": dynamicA(aliases["tamanu-frontend"]),
        },
        proxyDirectives: tamanuProxyDirectives,
      }),
    )

    const pidDir = path.join(dir, "pids")
    const envFile = envFileOf(root)
    if (versions !== undefined) {
      fs.writeFileSync(envFile, versionEnv(versions.running))
      await importServiceImages(
        network,
        tamanuServiceScript,
        dir,
        versions.images.flatMap((v) => [
          { reference: `localhost/tamanu-facility:v${v}`, versionLabel: v, env: { X_VERSION: v } },
          { reference: `localhost/tamanu-frontend:v${v}`, versionLabel: null, env: {} },
        ]),
      )
    }
    const unit = (name: string, description: string, alias: string | null, image?: string) =>
      containerUnit({
        unit: name,
        description,
        network,
        alias,
        readyDelayMs,
        script: tamanuServiceScript,
        marker: dir,
        shape: unitShape,
        pidDir,
        ...(image === undefined || versions === undefined ? {} : { image: { reference: image, envFile } }),
      })
    if (unitShape === "forking")
      // `podman generate systemd` without --new starts containers that exist: made once, as an operator does.
      await createContainers(
        { network, script: tamanuServiceScript, marker: dir, readyDelayMs, pidDir },
        [...tamanuUnits, ...legacy].map((instance) => ({
          instance,
          alias: Object.entries(aliases).find(([service]) => instance.startsWith(`${service}@`))?.[1] ?? null,
        })),
      )
    const units: ReadonlyArray<UnitFile> = [
      unit(
        "tamanu-facility-api@.service",
        "Tamanu facility API %i (sandbox)",
        aliases["tamanu-facility-api"],
        `localhost/tamanu-facility:v${"$"}{TAMANU_VERSION}`,
      ),
      unit(
        "tamanu-frontend@.service",
        "Tamanu frontend %i (sandbox)",
        aliases["tamanu-frontend"],
        `localhost/tamanu-frontend:v${"$"}{TAMANU_FRONTEND_VERSION}`,
      ),
      ...singletons.map((name) => unit(`${name}.service`, `${name} (sandbox)`, null)),
      caddyUnit(dir, caddyfile),
    ]
    manager = await startUserManager({
      units,
      propagation: "unchanged",
      ...(versions === undefined ? {} : { privateDirs: ["/run/tamanu"] }),
    })
    started.push({ marker: dir, pids: [manager.pid] })
    const m = manager

    const ctl = async (args: ReadonlyArray<string>) => {
      const r = await m.ctl(args)
      if (r.exitCode !== 0) throw new Error(`systemctl --user ${args.join(" ")}: ${r.stderr.trim()}`)
      return r
    }
    const env: Record<string, string> = {
      ...baseEnv(),
      XDG_RUNTIME_DIR: m.runtimeDir,
      // The sandbox's own podman (its storage and networks): what `podman ps` of the CLI sees.
      ...network.env,
      TAMANU_ROOT: root,
      TAMANU_SUPERVISOR: "systemd",
      TAMANU_SYSTEMD_SCOPE: "user",
      // The admin address comes from the Caddyfile's global `admin`, as on a host (no TAMANU_CADDY_ADMIN).
      TAMANU_CADDYFILE: caddyfile,
    }

    try {
      // Enabled as on a real host (the ops playbook enables them); Caddy serves from the start.
      await ctl(["enable", ...tamanuUnits.map((n) => `${n}.service`), "caddy.service"])
      await ctl(["start", "caddy.service"])
    } catch (error) {
      const log = fs.existsSync(path.join(dir, "caddy.log")) ? fs.readFileSync(path.join(dir, "caddy.log"), "utf8") : ""
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${log}`)
    }

    const addressOf = (instance: string) => network.addressOf(containerName(network, instance))
    const urlOf = (instance: string) => {
      const ip = addressOf(instance)
      return ip === null ? "" : `http://${ip}:3000/`
    }
    /** Each instance's URL, read from podman at every access: a restarted container has a new address. */
    const instances: Record<string, string> = {}
    for (const name of tamanuUnits) Object.defineProperty(instances, name, { enumerable: true, get: () => urlOf(name) })

    const cliArgv = (args: ReadonlyArray<string>) => [
      "nsenter",
      "-t",
      String(m.pid),
      "-m",
      "--",
      process.execPath,
      cli,
      ...args,
    ]
    const showProps = ["Id", "ActiveState", "SubState", "MainPID", "UnitFileState"]
    return {
      supervisor: "systemd",
      dir,
      root,
      caddyUrl: `http://127.0.0.1:${sitePort}`,
      caddyAdminUrl: `http://127.0.0.1:${adminPort}`,
      routingStateFile: stateFileIn(m.runtimeDir),
      readyDelayMs,
      unitShape,
      env,
      instances,
      addressOf,
      podman: network,
      run: (args, options = {}) => runChild(cliArgv(args), { ...env, ...options.env }),
      runNode: (args, options = {}) =>
        runChild(["nsenter", "-t", String(m.pid), "-m", "--", process.execPath, ...args], {
          ...env,
          ...options.env,
        }),
      cliArgv,
      snapshot: async () => {
        const names = [...tamanuUnits, ...legacy]
        const r = await ctl(["show", "-p", showProps.join(","), "--", ...names.map((n) => `${n}.service`)])
        const snapshot: Record<string, InstanceState> = {}
        for (const block of r.stdout.trim().split(/\n\s*\n/)) {
          const props = Object.fromEntries(
            block.split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
          )
          const name = (props.Id ?? "").replace(/\.service$/, "")
          const pid = Number(props.MainPID ?? "0")
          snapshot[name] = {
            running: props.ActiveState === "active" && props.SubState === "running",
            pid: pid > 0 ? pid : null,
            enabled: props.UnitFileState ?? null,
          }
        }
        return snapshot
      },
      startAll: async () => {
        await ctl(["start", ...tamanuUnits.map((n) => `${n}.service`)])
        await Promise.all(tamanuUnits.map((n) => answersAt(n, urlOf)))
      },
      stopAll: async () => {
        await ctl(["stop", ...[...tamanuUnits, ...legacy].map((n) => `${n}.service`)])
      },
      systemctl: (args) => m.ctl(args),
      pm2: () => Promise.reject(new Error("a systemd sandbox has no pm2")),
      stop,
    }
  } catch (error) {
    await stop().catch(() => undefined)
    throw error
  }
}

/** Instances and singletons of the facility host, by display name; the legacy one is installed, not started. */
const tamanuUnits = [
  "tamanu-facility-api@1",
  "tamanu-facility-api@2",
  "tamanu-frontend@a",
  "tamanu-frontend@b",
  "tamanu-facility-tasks",
  "tamanu-facility-sync",
] as const
const singletons = ["tamanu-facility-tasks", "tamanu-facility-sync", "tamanu-facility"] as const
const legacy = ["tamanu-facility"] as const

/** Resolves when the instance answers below 500 at its current address (looked up again at each try). */
const answersAt = (
  instance: string,
  urlOf: (instance: string) => string,
  limit: Duration.DurationInput = "30 seconds",
) =>
  until(
    `${instance} answering`,
    async () => {
      const url = urlOf(instance)
      if (url === "") return null
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => null)
      await response?.body?.cancel()
      return response !== null && response.status < 500 ? true : null
    },
    limit,
  )

interface Pm2Process {
  readonly name: string
  readonly pm_id: number
  readonly pid: number
  readonly pm2_env?: { readonly status?: string; readonly PORT?: string; readonly env?: { readonly PORT?: string } }
}

const pm2Host = async (dir: string, root: string, cli: string, readyDelayMs: number): Promise<SandboxHost> => {
  const [api1, api2, tasks, sync] = (await freePorts(4)) as [number, number, number, number]
  const apps = [
    { name: "tamanu-api", port: api1 },
    { name: "tamanu-api", port: api2 },
    { name: "tamanu-tasks", port: tasks },
    { name: "tamanu-sync", port: sync },
  ]
  let daemon: Pm2DaemonHandle | null = null
  let caddy: CaddyHandle | null = null
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await daemon?.kill().catch(() => undefined)
    await caddy?.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    daemon = await startPm2Daemon()
    const daemonPid = Number(fs.readFileSync(path.join(daemon.pm2Home, "pm2.pid"), "utf8").trim())
    started.push({ marker: dir, pids: [daemonPid] })
    await daemon.register(
      apps.map((app) => ({
        name: app.name,
        args: [`--sandbox=${dir}`],
        env: { PORT: String(app.port), HOST: "127.0.0.1", READY_DELAY_MS: String(readyDelayMs) },
      })),
    )
    // pm2 start launched them; the sandbox starts from the state the caller asked for.
    await daemon.pm2(["stop", "all"])
    // As a Windows host's Caddyfile has them: `localhost:PORT` (tamanu's probe URLs say 127.0.0.1: the same address).
    caddy = await startCaddy({ upstreams: { "/": [`localhost:${api1}`, `localhost:${api2}`] } })
    started.push({ marker: dir, pids: [caddy.pid] })
  } catch (error) {
    await stop()
    throw error
  }
  const pm2 = daemon.pm2
  const list = async () => JSON.parse(await pm2(["jlist"])) as ReadonlyArray<Pm2Process>
  const portOf = (p: Pm2Process) => p.pm2_env?.PORT ?? p.pm2_env?.env?.PORT ?? ""
  const instances: Record<string, string> = {}
  for (const p of await list()) instances[`${p.name}#${p.pm_id}`] = `http://127.0.0.1:${portOf(p)}/`

  const env: Record<string, string> = {
    ...baseEnv(),
    ...daemon.env,
    TAMANU_ROOT: root,
    TAMANU_SUPERVISOR: "pm2",
    TAMANU_CADDY_ADMIN: caddy.adminUrl,
    TAMANU_CADDYFILE: caddy.caddyfile,
  }
  return {
    supervisor: "pm2",
    dir,
    root,
    caddyUrl: caddy.url,
    caddyAdminUrl: caddy.adminUrl,
    routingStateFile: stateFileIn(daemon.pm2Home),
    readyDelayMs,
    unitShape: null,
    env,
    instances,
    addressOf: () => null,
    podman: null,
    run: (args, options = {}) => runChild([process.execPath, cli, ...args], { ...env, ...options.env }),
    runNode: (args, options = {}) => runChild([process.execPath, ...args], { ...env, ...options.env }),
    cliArgv: (args) => [process.execPath, cli, ...args],
    snapshot: async () =>
      Object.fromEntries(
        (await list()).map((p) => {
          const running = p.pm2_env?.status === "online"
          return [`${p.name}#${p.pm_id}`, { running, pid: running && p.pid > 0 ? p.pid : null, enabled: null }]
        }),
      ),
    startAll: async () => {
      const stoppedIds = (await list()).filter((p) => p.pm2_env?.status !== "online").map((p) => String(p.pm_id))
      if (stoppedIds.length > 0) await pm2(["start", ...stoppedIds])
      await Promise.all(Object.values(instances).map((u) => answers(u)))
    },
    stopAll: async () => {
      await pm2(["stop", "all"])
    },
    systemctl: () => Promise.reject(new Error("a pm2 sandbox has no systemd")),
    pm2,
    stop,
  }
}
