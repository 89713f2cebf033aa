/**
 * The CLI options contract (architecture.md, lifecycle.md §4-§7). Every host
 * setting is an option; its environment variable is read by
 * `resolveSettings` (settings.ts), not here, so the CLI knows which settings
 * came from the environment and can hand them to a re-run under sudo as
 * options. Every value is validated before anything is changed or sudo is
 * asked for, so a bad value is a usage error (exit 2).
 */
import { Args, Options } from "@effect/cli"
import { type InvalidDuration, parseDuration } from "@tamanu-lifecycle/core/internal"
import { type Duration, Effect, Either, Option } from "effect"
import { colorChoices } from "./render/color.js"
import { SETTINGS, type SettingKey } from "./settings.js"

/** A host setting's option: checked by the same `parse` as its variable, absent unless given. */
const setting = <K extends SettingKey>(key: K, base: Options.Options<string>, description: string) =>
  base.pipe(
    Options.withDescription(description),
    Options.mapEffect((text) =>
      Either.match(SETTINGS[key].parse(text), {
        onLeft: (why) => Effect.fail(usageError(`--${SETTINGS[key].option}: ${why}`)),
        onRight: (value) => Effect.succeed(value),
      }),
    ),
    Options.optional,
  )

/** Host selection, shared by every command. */
export const hostOptions = {
  root: setting("root", Options.directory("root"), "Tamanu install root (else TAMANU_ROOT, else the known roots)"),
  supervisor: setting(
    "supervisor",
    Options.choice("supervisor", ["systemd", "pm2"]),
    "Process supervisor (else TAMANU_SUPERVISOR; default systemd on Linux, pm2 on Windows)",
  ),
  systemdScope: setting(
    "systemdScope",
    Options.choice("systemd-scope", ["system", "user"]),
    "systemd manager: system (default) or the caller's user manager (else TAMANU_SYSTEMD_SCOPE)",
  ),
  kind: setting(
    "kind",
    Options.choice("kind", ["central", "facility"]),
    "Server kind (else TAMANU_KIND, else from config)",
  ),
  caddyAdmin: setting(
    "caddyAdmin",
    Options.text("caddy-admin"),
    "Caddy's admin API, e.g. http://127.0.0.1:2019 (else TAMANU_CADDY_ADMIN, else the Caddyfile's global admin address, else http://localhost:2019)",
  ),
  caddyfile: setting(
    "caddyfile",
    Options.file("caddyfile"),
    "The Caddyfile, read for its global admin address and by the reload fallback (else TAMANU_CADDYFILE, else /etc/caddy/Caddyfile, on Windows C:\\Caddy\\Caddyfile)",
  ),
  nodeEnv: setting(
    "nodeEnv",
    Options.text("node-env"),
    "Which <name>.json5 config file to merge between default.json5 and local.json5 (else NODE_ENV, else production)",
  ),
  databaseUrl: setting(
    "databaseUrl",
    Options.text("database-url"),
    "PostgreSQL URL for the patient-portal flag (else TAMANU_DATABASE_URL, else the config's db section). Refused under sudo",
  ),
  pm2Home: setting("pm2Home", Options.directory("pm2-home"), "pm2's home directory (else PM2_HOME, else ~/.pm2)"),
  color: Options.choice("color", colorChoices).pipe(
    Options.withDescription("Colour the output: auto (a terminal, and NO_COLOR unset), always or never (default auto)"),
    Options.optional,
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

export const usageError = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

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
