/**
 * The live Prober (spec §8): one HTTP GET per attempt on @effect/platform's
 * HttpClient. Ready means any status below 500; 5xx, a refused or reset
 * connection and a timed-out attempt are `ProbeFailed` with the reason.
 *
 * Connections are never reused (an agent with keep-alive off, and the
 * request aborted as soon as the status is known): a restarted backend must
 * be reached on a fresh socket, not over one kept open to its predecessor,
 * and a probe must not keep a socket that holds the old process alive while
 * it drains.
 */
import { HttpClient } from "@effect/platform"
import { Duration, Effect, Layer } from "effect"
import { buildOnFirstUse } from "../util/buildOnFirstUse.js"
import { type ProbeAnswer, ProbeFailed, Prober, type ProberShape } from "./Prober.js"

export interface HttpProberOptions {
  /** Bound on one attempt, connect to response headers (default 5 s, spec §8). */
  readonly attemptTimeout?: Duration.DurationInput
}

export const defaultAttemptTimeout: Duration.Duration = Duration.seconds(5)

const errnoText: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connect timed out",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found (temporary DNS failure)",
  EPIPE: "connection closed while sending",
}

const codeOf = (u: unknown): string | undefined =>
  typeof u === "object" && u !== null && "code" in u && typeof u.code === "string" ? u.code : undefined

const messageOf = (u: unknown): string | undefined =>
  u instanceof Error ? u.message : typeof u === "string" ? u : undefined

/** The error that says most: the last of an AggregateError's, or the cause itself. */
const innerOf = (cause: unknown): unknown =>
  cause instanceof AggregateError && cause.errors.length > 0 ? cause.errors[cause.errors.length - 1] : cause

/**
 * The connection was made and then dropped by the other end (reset, hung up,
 * closed while sending), as opposed to refused or never reached.
 */
export const isConnectionDropped = (cause: unknown): boolean => {
  const inner = innerOf(cause)
  const code = codeOf(inner) ?? codeOf(cause)
  return code === "ECONNRESET" || code === "EPIPE" || messageOf(inner) === "socket hang up"
}

/**
 * One line for the operator from whatever the transport threw: a Node
 * errno error, an AggregateError (happy-eyeballs tries several addresses),
 * or something else.
 */
export const describeTransportError = (cause: unknown): string => {
  const inner = innerOf(cause)
  const code = codeOf(inner) ?? codeOf(cause)
  if (code !== undefined) {
    const known = errnoText[code]
    return known !== undefined ? `${known} (${code})` : `${messageOf(inner) ?? "request failed"} (${code})`
  }
  if (messageOf(inner) === "socket hang up") return "connection reset (socket hang up)"
  return messageOf(inner) ?? messageOf(cause) ?? "request failed"
}

/** `X-Version` (headers are lower-cased by the platform), trimmed; null when absent or empty. */
export const versionHeader = (
  headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>,
): string | null => {
  const raw = headers["x-version"]
  const value = (Array.isArray(raw) ? raw[0] : raw) as string | undefined
  const trimmed = value?.trim() ?? ""
  return trimmed === "" ? null : trimmed
}

/** Ready is decided by the status alone: any answer below 500 means the app is serving (spec §8). */
export const isReadyStatus = (status: number): boolean => status < 500

/** A Prober over any HttpClient; the Node layer below adds the no-reuse agent. */
export const makeHttpProber = (
  options: HttpProberOptions = {},
): Effect.Effect<ProberShape, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    // withScope: closing the attempt's scope aborts the request, which
    // destroys the socket without reading a body we don't need.
    const client = HttpClient.withScope(yield* HttpClient.HttpClient)
    const timeout = Duration.decode(options.attemptTimeout ?? defaultAttemptTimeout)
    const answer = (url: string): Effect.Effect<ProbeAnswer, ProbeFailed> =>
      client.get(url).pipe(
        Effect.map((response) => ({ status: response.status, version: versionHeader(response.headers) })),
        Effect.scoped,
        Effect.mapError((error) => new ProbeFailed({ url, lastError: describeTransportError(error.cause) })),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new ProbeFailed({ url, lastError: `timed out after ${Duration.format(timeout)}` }),
        }),
        Effect.filterOrFail(
          (a) => isReadyStatus(a.status),
          (a) => new ProbeFailed({ url, lastError: `HTTP ${a.status}` }),
        ),
      )
    return { probeOnce: (url) => Effect.map(answer(url), (a) => a.status), answer }
  })

/**
 * Prober on Node's http with keep-alive off. The HTTP client is loaded on
 * the first probe: commands that never probe do not pay for loading it.
 */
export const HttpProberLayer = (options: HttpProberOptions = {}): Layer.Layer<Prober> =>
  Layer.scoped(
    Prober,
    Effect.map(
      buildOnFirstUse(
        Prober,
        Effect.map(
          Effect.promise(() => import("@effect/platform-node/NodeHttpClient")),
          (NodeHttpClient) =>
            Layer.effect(Prober, makeHttpProber(options)).pipe(
              Layer.provide(NodeHttpClient.layerWithoutAgent),
              Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: false })),
            ),
        ),
      ),
      (prober): ProberShape => ({
        probeOnce: (url) => Effect.flatMap(prober, (p) => p.probeOnce(url)),
        answer: (url) =>
          Effect.flatMap(prober, (p) =>
            p.answer === undefined
              ? Effect.map(p.probeOnce(url), (status) => ({ status, version: null }))
              : p.answer(url),
          ),
      }),
    ),
  )

/** The default live Prober: 5 s per attempt. */
export const HttpProberLive: Layer.Layer<Prober> = HttpProberLayer()
