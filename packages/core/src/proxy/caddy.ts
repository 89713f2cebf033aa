/**
 * Caddy reload (spec §9), best effort: every failure is a warning in the
 * ReloadResult, never an error, because a roll that restarted the app
 * correctly must not fail on the proxy.
 *
 * - Linux: `systemctl [--user] reload caddy`, then `resolvectl
 *   flush-caches` (podman gives a restarted container a new address; Caddy
 *   and systemd-resolved would otherwise keep the old one).
 * - Windows: POST the Caddyfile to the admin API's `/load`; if that fails,
 *   `caddy reload --config <Caddyfile> --adapter caddyfile`.
 * - Admin only: the POST, for hosts where Caddy runs without a service
 *   manager (the test harness and the demo).
 */
import { join } from "node:path"
import { type CommandExecutor, FileSystem, HttpClient, HttpClientRequest } from "@effect/platform"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Duration, Effect, Layer, Option, Ref } from "effect"
import { describeTransportError } from "../probe/httpProber.js"
import { type CommandResult, NodeCommandLayer, runCommand } from "../probe/runCommand.js"
import { buildOnFirstUse } from "../util/buildOnFirstUse.js"
import { type ReloadResult, ReverseProxy, type ReverseProxyShape } from "./ReverseProxy.js"

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
): Effect.Effect<ReverseProxyShape, never, CommandExecutor.CommandExecutor> =>
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

export const CaddyLinuxLive = (options: CaddyLinuxOptions): Layer.Layer<ReverseProxy> =>
  Layer.effect(ReverseProxy, makeCaddyLinux(options)).pipe(Layer.provide(NodeCommandLayer))

// ---------------------------------------------------------------- admin API

export const defaultAdminUrl = "http://localhost:2019"

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

export interface CaddyAdminOptions {
  /** Admin API base, e.g. `http://127.0.0.1:2019`. */
  readonly adminUrl: string
  readonly caddyfile: string
}

type AdminDeps = FileSystem.FileSystem | HttpClient.HttpClient

export const makeCaddyAdmin = (options: CaddyAdminOptions): Effect.Effect<ReverseProxyShape, never, AdminDeps> =>
  Effect.map(Effect.context<AdminDeps>(), (context) => ({
    reload: postCaddyfile(options.adminUrl, options.caddyfile).pipe(
      Effect.map(Option.match({ onNone: () => reloaded, onSome: (w) => ({ reloaded: false, warnings: [w] }) })),
      Effect.provide(context),
    ),
  }))

/**
 * HTTP without connection reuse: a reload is rare, and a pooled socket would
 * outlive it. Loaded when first needed (Node's HTTP client pulls in undici).
 */
const NodeHttpLayer = Effect.map(
  Effect.promise(() => import("@effect/platform-node/NodeHttpClient")),
  (NodeHttpClient) =>
    NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: false }))),
)

/** A ReverseProxy whose layer is loaded and built on the first reload: most runs never reload Caddy. */
const onFirstReload = (layer: Effect.Effect<Layer.Layer<ReverseProxy>>): Layer.Layer<ReverseProxy> =>
  Layer.scoped(
    ReverseProxy,
    Effect.map(
      buildOnFirstUse(ReverseProxy, layer),
      (proxy): ReverseProxyShape => ({ reload: Effect.flatMap(proxy, (p) => p.reload) }),
    ),
  )

export const CaddyAdminLive = (options: CaddyAdminOptions): Layer.Layer<ReverseProxy> =>
  onFirstReload(
    Effect.map(NodeHttpLayer, (http) =>
      Layer.effect(ReverseProxy, makeCaddyAdmin(options)).pipe(Layer.provide(Layer.merge(http, NodeFileSystem.layer))),
    ),
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

type WindowsDeps = AdminDeps | CommandExecutor.CommandExecutor

export const makeCaddyWindows = (
  options: CaddyWindowsOptions = {},
): Effect.Effect<ReverseProxyShape, never, WindowsDeps> =>
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

export const CaddyWindowsLive = (options: CaddyWindowsOptions = {}): Layer.Layer<ReverseProxy> =>
  onFirstReload(
    Effect.map(NodeHttpLayer, (http) =>
      Layer.effect(ReverseProxy, makeCaddyWindows(options)).pipe(
        Layer.provide(Layer.mergeAll(http, NodeFileSystem.layer, NodeCommandLayer)),
      ),
    ),
  )
