/**
 * Caddy's admin API, the two calls tamanu makes (spec §9.2): `GET /config/`
 * (changes nothing) and `POST /load`. Thin I/O with typed errors; what to
 * load is decided elsewhere (routing.ts, decide.ts).
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Duration, Effect, Schedule, Schema } from "effect"
import { describeTransportError, isConnectionDropped } from "../probe/httpProber.js"
import type { Json } from "./caddyConfig.js"
import { JsonValue } from "./stateStore.js"

/** A call to the admin API that did not do what was asked. */
export class CaddyAdminError extends Schema.TaggedError<CaddyAdminError>()("CaddyAdminError", {
  /** `GET http://localhost:2019/config/`, `POST …/load`. */
  request: Schema.String,
  /** `transport`: no connection or no answer; `status`: an HTTP error; `body`: not JSON; `timeout`: no answer in time. */
  problem: Schema.Literal("transport", "status", "body", "timeout"),
  detail: Schema.String,
}) {
  override get message(): string {
    return `${this.request}: ${this.detail}`
  }
}

export interface CaddyAdminClient {
  readonly url: string
  /** The live config; a connection Caddy drops is made again (`readRetry`). */
  readonly getConfig: Effect.Effect<Json, CaddyAdminError>
  /** Load this config; how long the load took (ms). */
  readonly load: (config: Json) => Effect.Effect<number, CaddyAdminError>
}

const readTimeout = Duration.seconds(5)
/** A read whose connection was dropped is made again twice, 100 ms apart (Caddy's new admin server is up by then). */
const readRetry = Schedule.intersect(Schedule.spaced("100 millis"), Schedule.recurs(2))
/** How long a load may take. */
export const loadTimeout = Duration.seconds(15)

export const makeAdminClient = (adminUrl: string): Effect.Effect<CaddyAdminClient, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const get = `GET ${adminUrl}/config/`
    const post = `POST ${adminUrl}/load`
    const failed = (request: string, problem: CaddyAdminError["problem"], detail: string) =>
      new CaddyAdminError({ request, problem, detail })

    /**
     * `GET /config/` changes nothing, so a connection Caddy drops is made
     * again: Caddy replaces its admin server at every load, and a connection
     * accepted at that moment is reset though Caddy is fine. A refused
     * connection is not retried: the admin API is not there.
     */
    const getConfig: Effect.Effect<Json, CaddyAdminError> = client
      .execute(HttpClientRequest.get(`${adminUrl}/config/`))
      .pipe(
        Effect.mapError((e) => ({
          dropped: isConnectionDropped(e.cause),
          error: failed(get, "transport", describeTransportError(e.cause)),
        })),
        Effect.flatMap((response) =>
          response.status === 200
            ? response.json.pipe(
                Effect.flatMap(Schema.decodeUnknown(JsonValue)),
                Effect.mapError(() => ({ dropped: false, error: failed(get, "body", "not JSON") })),
              )
            : Effect.fail({ dropped: false, error: failed(get, "status", `HTTP ${response.status}`) }),
        ),
        Effect.scoped,
        Effect.retry({ schedule: readRetry, while: (e) => e.dropped }),
        Effect.mapError((e) => e.error),
        Effect.timeoutFail({ duration: readTimeout, onTimeout: () => failed(get, "timeout", "no answer within 5s") }),
      )

    const load = (config: Json): Effect.Effect<number, CaddyAdminError> =>
      Effect.gen(function* () {
        const began = yield* Clock.currentTimeMillis
        const response = yield* client
          .execute(
            HttpClientRequest.post(`${adminUrl}/load`).pipe(
              HttpClientRequest.bodyText(JSON.stringify(config), "application/json"),
            ),
          )
          .pipe(Effect.mapError((e) => failed(post, "transport", describeTransportError(e.cause))))
        if (response.status < 200 || response.status >= 300) {
          const body = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
          return yield* Effect.fail(
            failed(post, "status", `HTTP ${response.status}${body.trim() ? `: ${body.trim().slice(0, 300)}` : ""}`),
          )
        }
        return (yield* Clock.currentTimeMillis) - began
      }).pipe(
        Effect.timeoutFail({ duration: loadTimeout, onTimeout: () => failed(post, "timeout", "no answer within 15s") }),
        Effect.scoped,
      )

    return { url: adminUrl, getConfig, load }
  })
