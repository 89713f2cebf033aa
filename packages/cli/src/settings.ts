/**
 * The host settings (architecture.md, the CLI contract): each one an option,
 * with the environment variable it falls back to; a flag wins over its
 * variable. Resolved here rather than by @effect/cli's config fallback, so
 * that the CLI knows which settings came from the environment: those are
 * the ones a re-run under sudo must be told as options (spec §10), since
 * nothing goes through sudo's environment.
 *
 * Everything here is pure; `resolveSettings` takes the environment as an
 * argument, and `rerunInvocation` builds the re-run's command line.
 */
import {
  type Invocation,
  nodeEnvProblem,
  refusedUnderSudo,
  type ServerKind,
  SudoRefused,
  type SudoSettings,
  withOptions,
} from "@tamanu-lifecycle/core/internal"
import { Array as Arr, Either, Option } from "effect"

/**
 * Each setting's value once given. The choices are named types so that the
 * declarations (and the API report) print them by name: an inferred union of
 * literals prints in the order the compiler first met them, which an
 * incremental build can change.
 */
export interface SettingValues {
  readonly root: string
  readonly supervisor: SupervisorChoice
  readonly systemdScope: SystemdScope
  readonly kind: ServerKind
  readonly caddyAdmin: string
  readonly caddyfile: string
  readonly nodeEnv: string
  readonly databaseUrl: string
  readonly pm2Home: string
}

/** Which supervisor runs the Tamanu services (core's `SupervisorKind`, by name). */
export type SupervisorChoice = "systemd" | "pm2"

/** Which systemd manager: the system one, or the caller's user manager. */
export type SystemdScope = "system" | "user"

/** Every host setting: its value, or null when neither its flag nor its variable gives one. */
export type HostSettings = { readonly [K in SettingKey]: SettingValues[K] | null }

export type SettingKey = keyof SettingValues

/** The flags as @effect/cli parsed them (already checked by the same `parse`). */
export type SettingFlags = { readonly [K in SettingKey]: Option.Option<SettingValues[K]> }

/** What a re-run under sudo does with a setting that came from the environment. */
export type UnderSudo =
  /** Told to the re-run as `--option=value`. */
  | "carried"
  /** Meaningless there (the re-run drives the system systemd manager): left out. */
  | "dropped"
  /** Never: the sudo policy refuses it (`refusedUnderSudo`). */
  | "refused"

export interface SettingSpec<A> {
  /** The option's name, without `--`. */
  readonly option: string
  /** The environment variable it falls back to. */
  readonly env: string
  /** Checks and normalises the text of the flag or the variable; Left: why not. */
  readonly parse: (text: string) => Either.Either<A, string>
  readonly underSudo: UnderSudo
}

const choice =
  <const C extends string>(choices: ReadonlyArray<C>) =>
  (text: string): Either.Either<C, string> =>
    (choices as ReadonlyArray<string>).includes(text)
      ? Either.right(text as C)
      : Either.left(`"${text}" is not one of ${choices.join(", ")}`)

const anyText = (text: string): Either.Either<string, string> => Either.right(text)

/** An absolute http(s) URL, without trailing slashes. */
export const parseHttpUrl = (text: string): Either.Either<string, string> => {
  const url = URL.canParse(text) ? new URL(text) : null
  return url !== null && (url.protocol === "http:" || url.protocol === "https:")
    ? Either.right(text.replace(/\/+$/, ""))
    : Either.left(`"${text}" is not an http(s) URL (e.g. http://127.0.0.1:2019)`)
}

/** A PostgreSQL connection URL (`postgres://` or `postgresql://`). */
export const parseDatabaseUrl = (text: string): Either.Either<string, string> => {
  const url = URL.canParse(text) ? new URL(text) : null
  return url !== null && (url.protocol === "postgres:" || url.protocol === "postgresql:")
    ? Either.right(text)
    : Either.left("it is not a postgres:// or postgresql:// URL")
}

export const parseNodeEnv = (text: string): Either.Either<string, string> => {
  const problem = nodeEnvProblem(text)
  return problem === null ? Either.right(text) : Either.left(problem)
}

/** Every host setting, in the order options are shown and carried. */
export const SETTINGS: { readonly [K in SettingKey]: SettingSpec<SettingValues[K]> } = {
  root: { option: "root", env: "TAMANU_ROOT", parse: anyText, underSudo: "carried" },
  supervisor: {
    option: "supervisor",
    env: "TAMANU_SUPERVISOR",
    parse: choice(["systemd", "pm2"] as const),
    underSudo: "carried",
  },
  systemdScope: {
    option: "systemd-scope",
    env: "TAMANU_SYSTEMD_SCOPE",
    parse: choice(["system", "user"] as const),
    underSudo: "carried",
  },
  kind: { option: "kind", env: "TAMANU_KIND", parse: choice(["central", "facility"] as const), underSudo: "carried" },
  caddyAdmin: { option: "caddy-admin", env: "TAMANU_CADDY_ADMIN", parse: parseHttpUrl, underSudo: "carried" },
  caddyfile: { option: "caddyfile", env: "TAMANU_CADDYFILE", parse: anyText, underSudo: "carried" },
  nodeEnv: { option: "node-env", env: "NODE_ENV", parse: parseNodeEnv, underSudo: "carried" },
  databaseUrl: { option: "database-url", env: "TAMANU_DATABASE_URL", parse: parseDatabaseUrl, underSudo: "refused" },
  pm2Home: { option: "pm2-home", env: "PM2_HOME", parse: anyText, underSudo: "dropped" },
}

export const SETTING_KEYS = Object.keys(SETTINGS) as ReadonlyArray<SettingKey>

export interface ResolvedSettings {
  readonly values: HostSettings
  /** The settings whose value came from the environment (no flag given), in table order. */
  readonly fromEnv: ReadonlyArray<SettingKey>
}

/**
 * Flags first, then the environment (an empty variable counts as unset);
 * Left: the first variable whose value is not valid, as a usage message.
 */
export const resolveSettings = (
  flags: SettingFlags,
  env: Readonly<Record<string, string | undefined>>,
): Either.Either<ResolvedSettings, string> => {
  const values: Record<string, unknown> = {}
  const fromEnv: Array<SettingKey> = []
  for (const key of SETTING_KEYS) {
    const flag = flags[key] as Option.Option<unknown>
    if (Option.isSome(flag)) {
      values[key] = flag.value
      continue
    }
    const spec = SETTINGS[key] as SettingSpec<unknown>
    const text = env[spec.env] ?? ""
    if (text === "") {
      values[key] = null
      continue
    }
    const parsed = spec.parse(text)
    if (Either.isLeft(parsed)) return Either.left(`${spec.env} (the variable for --${spec.option}): ${parsed.left}`)
    values[key] = parsed.right
    fromEnv.push(key)
  }
  return Either.right({ values: values as unknown as HostSettings, fromEnv })
}

/** What the sudo policy looks at, with the defaults a run would use. */
export const sudoSettings = (values: HostSettings, platform: NodeJS.Platform = process.platform): SudoSettings => ({
  supervisor: values.supervisor ?? (platform === "win32" ? "pm2" : "systemd"),
  systemdScope: values.systemdScope ?? "system",
  caddyAdmin: values.caddyAdmin,
  databaseUrl: values.databaseUrl,
  pm2Home: values.pm2Home,
})

/** Names a refused setting as the operator gave it: the option, or the variable it came from. */
const asGiven = (resolved: ResolvedSettings, refusal: SudoRefused): SudoRefused => {
  const key = SETTING_KEYS.find((k) => refusal.setting.startsWith(`--${SETTINGS[k].option}`))
  return key !== undefined && resolved.fromEnv.includes(key)
    ? new SudoRefused({
        setting: `${SETTINGS[key].env} (in the environment; a re-run under sudo would be told --${SETTINGS[key].option})`,
        reason: refusal.reason,
      })
    : refusal
}

/**
 * Every setting a run under sudo refuses, named as given. A "dropped"
 * setting from the environment (PM2_HOME) is not one: it means nothing to
 * a run on the system manager, which ignores it; given as a flag, it is.
 */
export const refusedSettings = (
  resolved: ResolvedSettings,
  platform: NodeJS.Platform = process.platform,
): ReadonlyArray<SudoRefused> => {
  const dropped = resolved.fromEnv.filter((key) => SETTINGS[key].underSudo === "dropped")
  const values = { ...resolved.values, ...Object.fromEntries(dropped.map((key) => [key, null])) }
  return refusedUnderSudo(sudoSettings(values, platform)).map((r) => asGiven(resolved, r))
}

/**
 * The options that tell a re-run under sudo what the environment said:
 * `--option=value` for each carried setting that came from the
 * environment (one argument each, whatever the value holds), then the
 * colour this run decided (`--color=always|never`) unless `--color` was
 * given, which is then among the arguments already.
 */
export const carriedOptions = (resolved: ResolvedSettings, color: boolean | null): ReadonlyArray<string> => [
  ...resolved.fromEnv
    .filter((key) => SETTINGS[key].underSudo === "carried")
    .map((key) => `--${SETTINGS[key].option}=${String(resolved.values[key])}`),
  ...(color === null ? [] : [`--color=${color ? "always" : "never"}`]),
]

/**
 * The re-run under sudo: the same program with exactly the original
 * arguments, plus the carried options; Left: what the re-run would refuse
 * (so sudo is never asked for a run that cannot go ahead).
 */
export const rerunInvocation = (
  invocation: Invocation,
  resolved: ResolvedSettings,
  color: boolean | null,
  platform: NodeJS.Platform = process.platform,
): Either.Either<Invocation, Arr.NonEmptyReadonlyArray<SudoRefused>> => {
  const refused = refusedSettings(resolved, platform)
  return Arr.isNonEmptyReadonlyArray(refused)
    ? Either.left(refused)
    : Either.right(withOptions(invocation, carriedOptions(resolved, color)))
}
