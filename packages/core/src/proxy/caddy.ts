/**
 * Caddy on a Tamanu host (spec §9): `CaddyLive` is the ReverseProxy an
 * operation uses. It drives Caddy through its admin API (caddyAdmin.ts) and,
 * when that cannot be reached, falls back to the old way, a reload after
 * each instance, which this file implements, best effort (every failure is
 * a warning, never an error):
 *
 * - Linux: `systemctl [--user] reload caddy`, then `resolvectl
 *   flush-caches` (podman gives a restarted container a new address; Caddy
 *   and systemd-resolved would otherwise keep the old one).
 * - Windows: POST the Caddyfile to the admin API's `/load`; if that fails,
 *   `caddy reload --config <Caddyfile> --adapter caddyfile`.
 */
import { join } from "node:path"
import { type CommandExecutor, FileSystem, HttpClient, HttpClientRequest } from "@effect/platform"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Duration, Effect, Layer, Option, Ref } from "effect"
import { describeTransportError } from "../probe/httpProber.js"
import { type CommandResult, NodeCommandLayer, runCommand } from "../probe/runCommand.js"
import { buildOnFirstUse } from "../util/buildOnFirstUse.js"
import { makeCaddyAdminProxy } from "./caddyAdmin.js"
import { defaultAdminUrl } from "./caddyConfig.js"
import { podmanContainerName } from "./containerNames.js"
import { ReverseProxy, type ReverseProxyShape } from "./ReverseProxy.js"
import type { RestoreScheduler } from "./restoreSchedule.js"

/** What one reload of the old way did. */
export interface ReloadResult {
  /** Whether Caddy took the reload. */
  readonly reloaded: boolean
  /** What went wrong, for the operator (empty when all went well). */
  readonly warnings: ReadonlyArray<string>
}

/** A reload of the old way (§9.4). */
export interface CaddyReloader {
  readonly reload: Effect.Effect<ReloadResult>
}

const reloaded: ReloadResult = { reloaded: true, warnings: [] }

/** A helper's exit in one line: what ran, its status, what it printed on stderr. */
export const describeExit = (line: string, result: CommandResult): string => {
  const said = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-3).join(" / ")
  return `${line} exited ${result.exitCode}${said ? `: ${said}` : ""}`
}

/** Run a helper; `None` when it worked, else the warning. */
const attempt = (command: string, args: ReadonlyArray<string>, env: Readonly<Record<string, string>> | undefined) => {
  const line = [command, ...args].join(" ")
  return runCommand(command, args, env === undefined ? {} : { env }).pipe(
    Effect.map((r) => (r.exitCode === 0 ? Option.none<string>() : Option.some(describeExit(line, r)))),
    Effect.catchAll((e) => Effect.succeed(Option.some(`${line}: ${e.reason}`))),
  )
}

// ---------------------------------------------------------------- Linux

export interface CaddyLinuxOptions {
  /** Which systemd manager runs Caddy: the system one or the caller's own (`--user`). */
  readonly scope: "system" | "user"
  /** Extra environment for systemctl/resolvectl (e.g. XDG_RUNTIME_DIR of a user manager). */
  readonly env?: Readonly<Record<string, string>>
  readonly systemctlPath?: string
  readonly resolvectlPath?: string
  /** The Caddy unit (default `caddy`). */
  readonly unit?: string
}

export const makeCaddyLinux = (
  options: CaddyLinuxOptions,
): Effect.Effect<CaddyReloader, never, CommandExecutor.CommandExecutor> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<CommandExecutor.CommandExecutor>()
    // A host without systemd-resolved has no resolvectl and no DNS cache to flush:
    // said once, then not tried again (a roll reloads once per instance).
    const resolvectlMissing = yield* Ref.make(false)
    const resolvectl = options.resolvectlPath ?? "resolvectl"
    const flushCaches = Effect.gen(function* () {
      if (yield* Ref.get(resolvectlMissing)) return Option.none<string>()
      const flush = yield* attempt(resolvectl, ["flush-caches"], options.env)
      if (Option.isSome(flush) && flush.value.endsWith(": not found")) {
        yield* Ref.set(resolvectlMissing, true)
        return Option.some(`${flush.value}; no DNS cache flushed (no systemd-resolved here?), not tried again`)
      }
      return flush
    })
    return {
      reload: Effect.gen(function* () {
        const systemctl = options.systemctlPath ?? "systemctl"
        const scopeArgs = options.scope === "user" ? ["--user"] : []
        const reload = yield* attempt(systemctl, [...scopeArgs, "reload", options.unit ?? "caddy"], options.env)
        // Flushed even when the reload failed: a stale cached address is wrong either way.
        const flush = yield* flushCaches
        return { reloaded: Option.isNone(reload), warnings: [...Option.toArray(reload), ...Option.toArray(flush)] }
      }).pipe(Effect.provide(context)),
    }
  })

// ---------------------------------------------------------------- admin API

/** The admin API's `/load` endpoint for a base URL with or without a trailing slash. */
export const loadEndpoint = (adminUrl: string): string => `${adminUrl.replace(/\/+$/, "")}/load`

const postTimeout = Duration.seconds(15)

/** POST a Caddyfile to `/load`; `None` when Caddy took it, else why not. */
const postCaddyfile = (adminUrl: string, caddyfile: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const client = yield* HttpClient.HttpClient
    const url = loadEndpoint(adminUrl)
    const text = yield* fs
      .readFileString(caddyfile)
      .pipe(Effect.mapError((e) => `cannot read ${caddyfile}: ${e.message}`))
    const response = yield* client
      .execute(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyText(text, "text/caddyfile")))
      .pipe(
        Effect.mapError((e) => `POST ${url}: ${describeTransportError(e.cause)}`),
        Effect.timeoutFail({ duration: postTimeout, onTimeout: () => `POST ${url}: timed out after 15s` }),
      )
    if (response.status >= 200 && response.status < 300) return Option.none<string>()
    const body = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
    return Option.some(`POST ${url}: HTTP ${response.status}${body.trim() ? `: ${body.trim().slice(0, 500)}` : ""}`)
  }).pipe(Effect.catchAll((why) => Effect.succeed(Option.some(why))))

/**
 * HTTP without connection reuse: a reload is rare, and a pooled socket would
 * outlive it. Loaded when first needed (Node's HTTP client pulls in undici).
 */
const NodeHttpLayer = Effect.map(
  Effect.promise(() => import("@effect/platform-node/NodeHttpClient")),
  (NodeHttpClient) =>
    NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: false }))),
)

// ---------------------------------------------------------------- Windows

export interface CaddyWindowsOptions {
  /** The Caddyfile; default `<caddyDir>\Caddyfile`, else `<caddyDir>\Caddyfile.txt`. */
  readonly caddyfile?: string
  /** The caddy executable; default `<caddyDir>\caddy.exe` when present, else `caddy` on PATH. */
  readonly caddyExe?: string
  /** Default `C:\Caddy`. */
  readonly caddyDir?: string
  /** Default `http://localhost:2019`. */
  readonly adminUrl?: string
}

export const defaultCaddyDir = "C:\\Caddy"

/** The first path that exists, in order. */
const firstExisting = (fs: FileSystem.FileSystem, paths: ReadonlyArray<string>) =>
  Effect.findFirst(paths, (p) => fs.exists(p).pipe(Effect.orElseSucceed(() => false)))

type WindowsDeps = FileSystem.FileSystem | HttpClient.HttpClient | CommandExecutor.CommandExecutor

export const makeCaddyWindows = (options: CaddyWindowsOptions = {}): Effect.Effect<CaddyReloader, never, WindowsDeps> =>
  Effect.map(Effect.context<WindowsDeps>(), (context) => ({
    reload: Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = options.caddyDir ?? defaultCaddyDir
      const candidates =
        options.caddyfile !== undefined ? [options.caddyfile] : [join(dir, "Caddyfile"), join(dir, "Caddyfile.txt")]
      const caddyfile = yield* firstExisting(fs, candidates)
      if (Option.isNone(caddyfile)) {
        return { reloaded: false, warnings: [`no Caddyfile found (looked for ${candidates.join(", ")})`] }
      }
      const posted = yield* postCaddyfile(options.adminUrl ?? defaultAdminUrl, caddyfile.value)
      if (Option.isNone(posted)) return reloaded
      const exe =
        options.caddyExe ?? Option.getOrElse(yield* firstExisting(fs, [join(dir, "caddy.exe")]), () => "caddy")
      const cli = yield* attempt(exe, ["reload", "--config", caddyfile.value, "--adapter", "caddyfile"], undefined)
      return Option.match(cli, {
        onNone: () => ({ reloaded: true, warnings: [`${posted.value}; reloaded with the caddy CLI instead`] }),
        onSome: (w) => ({ reloaded: false, warnings: [posted.value, w] }),
      })
    }).pipe(Effect.provide(context)),
  }))

// ---------------------------------------------------------------- the layer

/** The Caddyfile a platform's Caddy reads: `/etc/caddy/Caddyfile` (Debian's caddy.service), `C:\\Caddy\\Caddyfile`. */
export const defaultCaddyfile = (platform: NodeJS.Platform): string =>
  platform === "win32" ? join(defaultCaddyDir, "Caddyfile") : "/etc/caddy/Caddyfile"

export interface CaddyLiveOptions {
  /** `--caddy-admin` / TAMANU_CADDY_ADMIN; null: the Caddyfile's global `admin`, else http://localhost:2019. */
  readonly adminUrl: string | null
  /** TAMANU_CADDYFILE; null: the platform's (`defaultCaddyfile`). */
  readonly caddyfile: string | null
  /** Where the routing state is kept between runs (beside the host lock); null: in memory only. */
  readonly stateFile: string | null
  /** The old way when the admin API cannot be reached: Linux (systemd reload) or Windows (Caddyfile). */
  readonly fallback: { readonly linux: CaddyLinuxOptions } | { readonly windows: CaddyWindowsOptions }
  readonly command?: string
  /**
   * Pins name each systemd instance by its podman container's name (which
   * aardvark-dns answers), so a pinned instance that restarts is followed
   * to its new address (issue #25). false (pm2, Windows): pins name addresses.
   */
  readonly pinByContainerName?: boolean
  /** Schedules tamanu's own restore at the first pin (restoreSchedule.ts); absent: only a next run restores. */
  readonly scheduler?: RestoreScheduler
}

/**
 * Caddy as the ReverseProxy of a live host. Loaded and built when first
 * used: `status` without proxied services, `stop` and most runs of
 * `start` never talk to Caddy, and should not pay for Node's HTTP client.
 */
export const CaddyLive = (options: CaddyLiveOptions): Layer.Layer<ReverseProxy> => {
  const built = Effect.map(NodeHttpLayer, (http) =>
    Layer.effect(
      ReverseProxy,
      Effect.gen(function* () {
        const fallback =
          "linux" in options.fallback
            ? yield* makeCaddyLinux(options.fallback.linux)
            : yield* makeCaddyWindows({
                ...options.fallback.windows,
                ...(options.adminUrl === null ? {} : { adminUrl: options.adminUrl }),
                ...(options.caddyfile === null ? {} : { caddyfile: options.caddyfile }),
              })
        const caddyfile =
          options.caddyfile ?? ("linux" in options.fallback ? defaultCaddyfile("linux") : defaultCaddyfile("win32"))
        const commands = yield* Effect.context<CommandExecutor.CommandExecutor>()
        const byName = podmanContainerName()
        return yield* makeCaddyAdminProxy({
          ...(options.pinByContainerName === true
            ? { containerName: (instance: string) => byName(instance).pipe(Effect.provide(commands)) }
            : {}),
          ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
          adminUrl: options.adminUrl,
          caddyfile,
          stateFile: options.stateFile,
          reload: fallback.reload,
          ...(options.command === undefined ? {} : { command: options.command }),
        })
      }),
    ).pipe(Layer.provide(Layer.mergeAll(http, NodeFileSystem.layer, NodeCommandLayer))),
  )
  return Layer.scoped(
    ReverseProxy,
    Effect.map(
      buildOnFirstUse(ReverseProxy, built),
      (proxy): ReverseProxyShape => ({
        open: (services) => Effect.flatMap(proxy, (p) => p.open(services)),
        inspect: (services) => Effect.flatMap(proxy, (p) => p.inspect(services)),
        pendingRestore: Effect.flatMap(proxy, (p) => p.pendingRestore),
        resume: (answering) => Effect.flatMap(proxy, (p) => p.resume(answering)),
        refresh: (answering) => Effect.flatMap(proxy, (p) => p.refresh?.(answering) ?? Effect.void),
      }),
    ),
  )
}
