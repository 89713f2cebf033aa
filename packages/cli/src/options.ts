/**
 * The CLI options contract (architecture.md, lifecycle.md §4-§7). Options that
 * name a host (`--root`, `--supervisor`, …) fall back to their environment
 * variable; flags win. Every value is validated here, before anything is
 * changed or sudo is asked for, so a bad value is a usage error (exit 2).
 */
import { Args, Options } from "@effect/cli"
import { type InvalidDuration, parseDuration } from "@tamanu-lifecycle/core"
import { Config, type Duration, Effect, Either, Option } from "effect"

const fromEnv = <A>(options: Options.Options<A>, config: Config.Config<A>) =>
  options.pipe(Options.optional, Options.withFallbackConfig(Config.option(config)))

/** Host selection, shared by every command. */
export const hostOptions = {
  root: fromEnv(
    Options.directory("root").pipe(
      Options.withDescription("Tamanu install root (else TAMANU_ROOT, else the known roots)"),
    ),
    Config.string("TAMANU_ROOT"),
  ),
  supervisor: fromEnv(
    Options.choice("supervisor", ["systemd", "pm2"]).pipe(
      Options.withDescription("Process supervisor (else TAMANU_SUPERVISOR; default systemd on Linux, pm2 on Windows)"),
    ),
    Config.literal("systemd", "pm2")("TAMANU_SUPERVISOR"),
  ),
  systemdScope: fromEnv(
    Options.choice("systemd-scope", ["system", "user"]).pipe(
      Options.withDescription(
        "systemd manager: system (default) or the caller's user manager (else TAMANU_SYSTEMD_SCOPE)",
      ),
    ),
    Config.literal("system", "user")("TAMANU_SYSTEMD_SCOPE"),
  ),
  kind: fromEnv(
    Options.choice("kind", ["central", "facility"]).pipe(
      Options.withDescription("Server kind (else TAMANU_KIND, else from config)"),
    ),
    Config.literal("central", "facility")("TAMANU_KIND"),
  ),
  caddyAdmin: fromEnv(
    Options.text("caddy-admin").pipe(
      Options.withDescription(
        "Caddy's admin API, e.g. http://127.0.0.1:2019 (else TAMANU_CADDY_ADMIN, else the Caddyfile's global admin address, else http://localhost:2019)",
      ),
      Options.mapEffect((text) => {
        const url = URL.canParse(text) ? new URL(text) : null
        return url !== null && (url.protocol === "http:" || url.protocol === "https:")
          ? Effect.succeed(text.replace(/\/+$/, ""))
          : Effect.fail(usageError(`--caddy-admin: "${text}" is not an http(s) URL (e.g. http://127.0.0.1:2019)`))
      }),
    ),
    Config.string("TAMANU_CADDY_ADMIN"),
  ),
  json: Options.boolean("json").pipe(Options.withDescription("One JSON document on stdout; logs go to stderr")),
} as const

/** A duration option: `30s`, `1m30s`, `500ms`, `2h`, `PT30S`. */
export const durationOption = (name: string, fallback: string, description: string) =>
  Options.text(name).pipe(
    Options.withDefault(fallback),
    Options.withDescription(`${description} (default ${fallback})`),
    Options.mapEffect((text) =>
      Either.match(parseDuration(text), {
        onLeft: (error: InvalidDuration) => Effect.fail(usageError(`--${name}: ${error.message}`)),
        onRight: (duration: Duration.Duration) => Effect.succeed(duration),
      }),
    ),
  )

/** An absolute http(s) URL. */
export const urlOption = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(description),
    Options.mapEffect((text) => {
      const url = URL.canParse(text) ? new URL(text) : null
      return url !== null && (url.protocol === "http:" || url.protocol === "https:")
        ? Effect.succeed(url.toString())
        : Effect.fail(usageError(`--${name}: "${text}" is not an http(s) URL (e.g. https://tamanu.example/api/)`))
    }),
    Options.optional,
    Options.map(Option.getOrNull),
  )

import { HelpDoc, ValidationError } from "@effect/cli"

const usageError = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

/**
 * NAMES are substrings of service names. One that starts with `-` is an
 * option we do not know (a typo like `--dryrun`), never a name: it is a usage
 * error, and so can never reach a supervisor as an option either.
 */
export const names = Args.text({ name: "NAMES" }).pipe(
  Args.withDescription("Substrings of service names; none = every service"),
  Args.mapEffect((name) =>
    name.startsWith("-") ? Effect.fail(HelpDoc.p(`unknown option ${name} (see --help)`)) : Effect.succeed(name),
  ),
  Args.repeated,
)

export const ignoreUnmatched = Options.boolean("ignore-unmatched").pipe(
  Options.withDescription("A NAME that matches nothing is a warning, not an error"),
)
export const dryRun = Options.boolean("dry-run").pipe(Options.withDescription("Print the plan; change nothing"))
export const all = Options.boolean("all").pipe(Options.withDescription("Also show legacy services that comply"))
export const upOnly = Options.boolean("up-only").pipe(
  Options.withDescription("Only bring services up; leave services that must not run alone"),
)
/**
 * Probing is on unless `--no-probe-http`. A boolean option is false when
 * absent whatever `withDefault` says, so the flag that is typed is the
 * negative one (present: false, absent: true), with `--probe-http` as its
 * explicit opposite.
 */
export const probeHttp = Options.boolean("no-probe-http", { ifPresent: false, negationNames: ["probe-http"] }).pipe(
  Options.withDescription("Skip the HTTP readiness probes of started/restarted instances (default: probe)"),
)
export const logs = Options.boolean("logs").pipe(
  Options.withDescription("Follow the logs of what is started, from the start call until the settle window is over"),
)
export const waitLimit = durationOption("wait", "60s", "Limit for the supervisor to report instances running/stopped")
export const cooldown = durationOption("cooldown", "30s", "Wait between instances when no probe is possible")
export const settle = durationOption(
  "settle",
  "5s",
  "How long each started instance without a readiness probe must stay running (no exit, no restart) to count as up; 0s: no window",
)
export const dbWait = durationOption("db-wait", "2m", "How long start waits for the database (0s: try once)")
export const checkUrl = urlOption("check-url", "After the roll, probe this URL as an end-to-end check")
