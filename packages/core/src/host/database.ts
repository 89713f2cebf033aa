/**
 * The central database and the one setting the lifecycle reads from it,
 * `features.patientPortal` (spec §1.1, §5.7, §11). The URL carries the
 * password only inside a `Redacted`, so it cannot reach a log, an error or
 * JSON by accident; what is shown is `display`, with the password masked.
 */
import { Context, Duration, Effect, Either, Layer, Redacted, Schedule } from "effect"
import { log } from "../util/logging.js"
import type { TamanuConfig } from "./config.js"
import { configPath } from "./config.js"
import { ConfigMissingDb } from "./errors.js"

export interface DatabaseTarget {
  /** The full connection URL, password included: only `Redacted.value` reveals it. */
  readonly url: Redacted.Redacted<string>
  /** The same URL with any password replaced by `***`, safe to print. */
  readonly display: string
}

const text = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : typeof value === "number" ? String(value) : undefined

/** A URL with its password masked; unparsable input is shown only up to the scheme. */
export const maskUrl = (url: string): string => {
  const parsed = URL.canParse(url) ? new URL(url) : null
  if (parsed === null) return "<unparsable database URL>"
  if (parsed.password !== "") parsed.password = "***"
  return parsed.toString()
}

/** Makes a target from a full URL (e.g. `TAMANU_DATABASE_URL`). */
export const targetFromUrl = (url: string): DatabaseTarget => ({ url: Redacted.make(url), display: maskUrl(url) })

/**
 * The database URL: `TAMANU_DATABASE_URL` when given, else built from the
 * config's `db` section (host defaults to localhost; every part URL-encoded).
 */
export const databaseTarget = (
  root: string,
  config: TamanuConfig | null,
  envUrl: string | undefined,
): Either.Either<DatabaseTarget, ConfigMissingDb> => {
  if (envUrl !== undefined && envUrl !== "") return Either.right(targetFromUrl(envUrl))
  const db = config === null ? undefined : configPath(config, "db")
  if (typeof db !== "object" || db === null || Array.isArray(db)) return Either.left(new ConfigMissingDb({ root }))
  const section = db as Record<string, unknown>
  const enc = (v: string | undefined) => (v === undefined ? "" : encodeURIComponent(v))
  const host = text(section.host) ?? "localhost"
  const port = text(section.port)
  const user = text(section.username)
  const password = text(section.password)
  const auth = user === undefined && password === undefined ? "" : `${enc(user)}${password === undefined ? "" : ":"}`
  const hostPart = host.includes(":") && !host.startsWith("[") ? `[${host}]` : encodeURIComponent(host)
  const tail = `${hostPart}${port === undefined ? "" : `:${enc(port)}`}/${enc(text(section.name))}`
  const shown = `postgres://${auth}${password === undefined ? "" : "***"}${auth === "" ? "" : "@"}${tail}`
  return Either.right({
    url: Redacted.make(`postgres://${auth}${enc(password)}${auth === "" ? "" : "@"}${tail}`),
    display: shown,
  })
}

/** What the portal setting says, and whether it said it in an unexpected shape. */
export interface PortalValue {
  readonly enabled: boolean
  readonly warning: string | null
}

/**
 * Interprets the `value` column: JSON `true` (jsonb arrives parsed) or the text
 * `true` enables; `false` disables; anything else disables with a warning, so
 * an odd value never turns the portal on.
 */
export const interpretPortalValue = (value: unknown): PortalValue => {
  if (typeof value === "boolean") return { enabled: value, warning: null }
  if (typeof value === "string") {
    const t = value.trim()
    if (t === "true" || t === "false") return { enabled: t === "true", warning: null }
  }
  const shown = JSON.stringify(value) ?? String(value)
  return {
    enabled: false,
    warning: `DB setting features.patientPortal is ${shown.length > 60 ? `${shown.slice(0, 60)}…` : shown}, not a boolean; treating it as false`,
  }
}

/** The reading of the portal flag: null when it could not be read, with why. */
export interface PortalReading {
  readonly enabled: boolean | null
  readonly reason: string
  readonly warnings: ReadonlyArray<string>
}

export const portalQuery = "SELECT value FROM settings WHERE key = 'features.patientPortal' LIMIT 1"

/** One connection attempt failed: worth retrying while the DB boots. */
export class DbUnreachable {
  readonly _tag = "DbUnreachable"
  constructor(readonly detail: string) {}
}

/** The connection is fine but the query is not (no settings table…): retrying will not help. */
export class DbQueryFailed {
  readonly _tag = "DbQueryFailed"
  constructor(readonly detail: string) {}
}

/** Never let a driver message carry the password out. */
const scrub = (message: string, target: DatabaseTarget): string => {
  const url = Redacted.value(target.url)
  const password = URL.canParse(url) ? decodeURIComponent(new URL(url).password) : ""
  const noUrl = message.split(url).join(target.display)
  return password === "" ? noUrl : noUrl.split(password).join("***")
}

const causeText = (cause: unknown): string => {
  if (cause instanceof Error) {
    const inner = (cause as { cause?: unknown }).cause
    return inner instanceof Error && inner.message !== "" ? `${cause.message}: ${inner.message}` : cause.message
  }
  return String(cause)
}

/** How long one connection attempt may take, so a dead host does not hang `status`. */
export const dbConnectTimeout = Duration.seconds(3)

/**
 * The PostgreSQL client, loaded on first use: only a central host that has
 * to ask about the portal needs it, and loading pg costs every other
 * `tamanu` run start-up time (docs/performance-cold-start.md).
 */
const loadPgClient = Effect.promise(() => import("@effect/sql-pg/PgClient"))

/** One try: connect, run the query, close. */
export const readPortalOnce = (target: DatabaseTarget): Effect.Effect<PortalValue, DbUnreachable | DbQueryFailed> =>
  Effect.scoped(
    Effect.gen(function* () {
      const PgClient = yield* loadPgClient
      const context = yield* Layer.build(
        PgClient.layer({
          url: target.url,
          connectTimeout: dbConnectTimeout,
          maxConnections: 1,
          applicationName: "tamanu-lifecycle",
        }),
      ).pipe(Effect.mapError((e) => new DbUnreachable(scrub(causeText(e.cause ?? e), target))))
      const client = Context.get(context, PgClient.PgClient)
      const rows = yield* client
        .unsafe<{ value: unknown }>(portalQuery)
        .pipe(Effect.mapError((e) => new DbQueryFailed(scrub(causeText(e.cause ?? e), target))))
      const row = rows[0]
      return row === undefined ? { enabled: false, warning: null } : interpretPortalValue(row.value)
    }),
  ).pipe(
    Effect.timeoutFail({
      duration: Duration.sum(dbConnectTimeout, Duration.seconds(2)),
      onTimeout: () => new DbUnreachable(`no answer from ${target.display} within 5 s`),
    }),
  )

/**
 * Retries `attempt` every 2 s while it fails with `DbUnreachable`, until
 * `wait` has passed (zero: one try), logging each wait. Kept apart from the
 * driver so the schedule is tested with TestClock.
 */
export const retryWhileUnreachable = <A, E extends { readonly _tag: string; readonly detail: string }>(
  attempt: Effect.Effect<A, E>,
  wait: Duration.Duration,
  what: string,
  interval: Duration.Duration = Duration.seconds(2),
): Effect.Effect<A, E> =>
  Duration.toMillis(wait) <= 0
    ? attempt
    : attempt.pipe(
        Effect.retry({
          schedule: Schedule.spaced(interval).pipe(
            Schedule.upTo(wait),
            Schedule.tapInput((e: E) =>
              log.info(
                `waiting for ${what} (${e.detail}); retrying in ${Duration.format(interval)}, up to ${Duration.format(wait)}`,
              ),
            ),
          ),
          while: (e) => e._tag === "DbUnreachable",
        }),
      )

/** Reads the portal flag: true / false, or null with the reason when the DB cannot be read. */
export const readPatientPortal = (
  target: Either.Either<DatabaseTarget, ConfigMissingDb>,
  wait: Duration.Duration,
  interval: Duration.Duration = Duration.seconds(2),
): Effect.Effect<PortalReading> =>
  Either.match(target, {
    onLeft: (missing) =>
      Effect.succeed<PortalReading>({
        enabled: null,
        reason: `no database configured: no db section in the config under ${missing.root} and no TAMANU_DATABASE_URL`,
        warnings: [],
      }),
    onRight: (t) =>
      retryWhileUnreachable(readPortalOnce(t), wait, `the database at ${t.display}`, interval).pipe(
        Effect.match({
          onFailure: (e): PortalReading => ({
            enabled: null,
            reason:
              e._tag === "DbUnreachable"
                ? `database ${t.display} unreachable: ${e.detail}`
                : `cannot read features.patientPortal from ${t.display}: ${e.detail}`,
            warnings: [],
          }),
          onSuccess: (v): PortalReading => ({
            enabled: v.enabled,
            reason: `DB setting features.patientPortal is ${v.enabled}`,
            warnings: v.warning === null ? [] : [v.warning],
          }),
        }),
      ),
  })
