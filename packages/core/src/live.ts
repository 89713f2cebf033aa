/**
 * The live layers of one host in one call: what the CLI uses, and what an
 * embedding program uses unless it wants to swap a piece.
 */
import { Layer } from "effect"
import type { TamanuHost } from "./host/TamanuHost.js"
import { TamanuHostLive } from "./host/TamanuHostLive.js"
import { defaultLockFile } from "./lock/hostLock.js"
import type { ServerKind } from "./model/hostFacts.js"
import type { SupervisorKind } from "./model/instance.js"
import { type Privileges, PrivilegesLive } from "./privileges/Privileges.js"
import { currentSudoCaller } from "./privileges/sudoPolicy.js"
import { HttpProberLive } from "./probe/httpProber.js"
import type { Prober } from "./probe/Prober.js"
import type { ProbeTargets } from "./probe/ProbeTargets.js"
import { Pm2ProbeTargetsLive } from "./probe/pm2Targets.js"
import { PodmanProbeTargetsLive } from "./probe/podmanTargets.js"
import { CaddyLive } from "./proxy/caddy.js"
import type { ReverseProxy } from "./proxy/ReverseProxy.js"
import { detachedScheduler, scheduleEnv, systemdScheduler } from "./proxy/restoreSchedule.js"
import { routingStateFile } from "./proxy/stateStore.js"
import { Pm2SupervisorLive } from "./supervisor/pm2.js"
import type { Supervisor } from "./supervisor/Supervisor.js"
import { SystemdSupervisorLive } from "./supervisor/systemd.js"
import { layerWithoutConsoleLoggers } from "./util/logging.js"

export interface LiveConfig {
  readonly supervisor: SupervisorKind
  readonly systemdScope: "system" | "user"
  /** `--root`; null: TAMANU_ROOT, else the known roots. */
  readonly root: string | null
  /** `--kind`; null: TAMANU_KIND, else from config. */
  readonly kind: ServerKind | null
  /** null: TAMANU_DATABASE_URL, else built from config. */
  readonly databaseUrl: string | null
  /** null: pm2's own default (PM2_HOME, else ~/.pm2). */
  readonly pm2Home: string | null
  /**
   * Caddy's admin API (`--caddy-admin` / TAMANU_CADDY_ADMIN), e.g.
   * `http://127.0.0.1:2019`. null: the Caddyfile's global `admin` address,
   * else `http://localhost:2019` (§9.2).
   */
  readonly caddyAdmin: string | null
  /** The Caddyfile (TAMANU_CADDYFILE); null: `/etc/caddy/Caddyfile`, on Windows `C:\\Caddy\\Caddyfile`. */
  readonly caddyfile: string | null
  /** Which `<NODE_ENV>.json5` config file to read (NODE_ENV); null or absent: `production`. */
  readonly nodeEnv?: string | null
  /**
   * The operator a run as root acts for (sudo's SUDO_UID); null: nobody.
   * Absent: found from this process (`currentSudoCaller`). When set, the
   * Tamanu root and config files must be out of that user's reach.
   */
  readonly sudoCaller?: number | null
  /**
   * The argv that runs tamanu itself (`[node, tamanu.cjs]`): at the first
   * pin, a restore by this tamanu (`restore-caddy`) is scheduled with the
   * service manager, so Caddy gets its own config back even when the run
   * never finishes (issue #25). Absent or null (an embedding program, which
   * is not tamanu): only a next run restores.
   */
  readonly scheduleRestoreWith?: ReadonlyArray<string> | null
}

/** The environment a scheduled restore runs with: this run's settings, resolved, and what finds the host (no secret). */
export const scheduledRestoreEnv = (config: LiveConfig, env: NodeJS.ProcessEnv): Readonly<Record<string, string>> => {
  const settings: Record<string, string | null | undefined> = {
    TAMANU_SUPERVISOR: config.supervisor,
    TAMANU_SYSTEMD_SCOPE: config.systemdScope,
    TAMANU_ROOT: config.root,
    TAMANU_KIND: config.kind,
    TAMANU_CADDY_ADMIN: config.caddyAdmin,
    TAMANU_CADDYFILE: config.caddyfile,
    PM2_HOME: config.pm2Home,
    NODE_ENV: config.nodeEnv,
  }
  return {
    ...scheduleEnv(env),
    ...Object.fromEntries(
      Object.entries(settings).flatMap(([k, v]) => (v === null || v === undefined ? [] : [[k, v]])),
    ),
  }
}

/** The live config's environment part: flags win over these. */
export const liveConfigFromEnv = (
  env: NodeJS.ProcessEnv,
): Pick<LiveConfig, "databaseUrl" | "pm2Home" | "caddyAdmin" | "caddyfile" | "nodeEnv"> => ({
  databaseUrl: env.TAMANU_DATABASE_URL || null,
  pm2Home: env.PM2_HOME || null,
  caddyAdmin: env.TAMANU_CADDY_ADMIN || null,
  caddyfile: env.TAMANU_CADDYFILE || null,
  nodeEnv: env.NODE_ENV || null,
})

export type LiveServices = Supervisor | ProbeTargets | Prober | ReverseProxy | TamanuHost | Privileges

/** Whether mutating this host needs root (§10): only the system systemd manager does. */
export const needsRoot = (config: Pick<LiveConfig, "supervisor" | "systemdScope">): boolean =>
  config.supervisor === "systemd" && config.systemdScope === "system"

/**
 * Built with Effect's console loggers taken out, like the operations: a
 * warning while reading the install (e.g. an unknown TAMANU_KIND) reaches
 * only a logger the caller installed (util/logging.ts).
 */
export const LiveLayer = (config: LiveConfig): Layer.Layer<LiveServices> => {
  const pm2 = config.pm2Home === null ? {} : { pm2Home: config.pm2Home }
  const proxy = CaddyLive({
    adminUrl: config.caddyAdmin,
    caddyfile: config.caddyfile,
    // Beside the host lock, so the next run on this host finds an unfinished restore (§9.3).
    stateFile: routingStateFile(
      defaultLockFile(
        config.supervisor,
        config.systemdScope,
        config.pm2Home === null ? process.env : { ...process.env, PM2_HOME: config.pm2Home },
      ),
    ),
    ...(config.scheduleRestoreWith === undefined || config.scheduleRestoreWith === null
      ? {}
      : {
          scheduler: ((target) =>
            config.supervisor === "systemd" && process.platform !== "win32"
              ? systemdScheduler(config.systemdScope, target)
              : detachedScheduler(target))({
            tamanu: config.scheduleRestoreWith,
            env: scheduledRestoreEnv(config, process.env),
          }),
        }),
    // A systemd instance's container keeps its name across restarts, and aardvark-dns answers it (issue #25).
    pinByContainerName: config.supervisor === "systemd" && process.platform !== "win32",
    fallback:
      process.platform === "win32"
        ? { windows: {} }
        : { linux: { scope: config.supervisor === "systemd" ? config.systemdScope : "system" } },
  })
  const supervisorLayers =
    config.supervisor === "systemd"
      ? Layer.mergeAll(
          SystemdSupervisorLive({ scope: config.systemdScope }),
          // The system manager's units run rootful podman: only root sees their containers.
          PodmanProbeTargetsLive({ rootful: config.systemdScope === "system" }),
          proxy,
        )
      : Layer.mergeAll(Pm2SupervisorLive(pm2), Pm2ProbeTargetsLive(pm2), proxy)
  const host = TamanuHostLive({
    ...(config.root === null ? {} : { root: config.root }),
    ...(config.kind === null ? {} : { kind: config.kind }),
    ...(config.databaseUrl === null ? {} : { databaseUrl: config.databaseUrl }),
    ...(config.nodeEnv === null || config.nodeEnv === undefined ? {} : { nodeEnv: config.nodeEnv }),
    sudoCaller: config.sudoCaller === undefined ? currentSudoCaller() : config.sudoCaller,
  })
  return layerWithoutConsoleLoggers(
    Layer.mergeAll(supervisorLayers, HttpProberLive, host, PrivilegesLive(needsRoot(config))),
  )
}
