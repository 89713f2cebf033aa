/**
 * Continuous GET load through the proxy that behaves like a browser on one
 * point the plain load generator (harness/load.ts) deliberately does not:
 * a request sent on a REUSED keep-alive connection that the server closed
 * before any response byte arrived is retried once on a fresh connection
 * (RFC 9112 §9.3.1; every browser does this, and Node documents the same
 * pattern under `request.reusedSocket`).
 *
 * Why it matters here: on a Tamanu Linux host `systemctl reload caddy` runs
 * `caddy reload --force` (Debian's caddy.service), and every real Caddy
 * reload closes the idle client connections of the old config; a request
 * racing that close is reset. That is the proxy's keep-alive semantics, not
 * a lost request: a browser resends it. Everything else (5xx, refused,
 * timeouts, a reset on a fresh connection, a second reset) stays a failure.
 * Each such retry is counted, so the figure is reported, not hidden.
 */
import http from "node:http"
import { performance } from "node:perf_hooks"
import { type RequestRecord, summarizeLoad } from "../harness/load.js"

export interface BrowserLoadResult {
  readonly records: ReadonlyArray<RequestRecord>
  /** Requests resent after their reused connection was closed under them (each counted once in `records`). */
  readonly retriedOnReusedConnection: number
  readonly durationMs: number
}

export interface BrowserLoad {
  /** `performance.now()` when the load began: the records' `startMs` are ms from it. */
  readonly startedAt: number
  /** The requests ended so far (live). */
  readonly records: ReadonlyArray<RequestRecord>
  readonly stop: () => Promise<BrowserLoadResult>
}

/**
 * The error recorded for a 503 that Caddy answered itself ("no upstreams
 * available", empty body): Caddy 2.6 answers one when a request is in its
 * retry loop as a forced reload (`caddy reload --force`, what Debian's unit
 * runs) swaps the config. Measured at about one per hundred forced reloads
 * (docs/reliability.md); it is counted and reported, never folded into 200s.
 */
export const CADDY_RELOAD_503 = "caddy-503-no-upstream"

interface Attempt {
  readonly status: number | null
  readonly error: string | null
  /** Failed on a reused connection before any response byte. */
  readonly retriable: boolean
}

export const startBrowserLoad = (options: {
  readonly url: string
  readonly concurrency?: number
  readonly pauseMs?: number
  readonly maxDurationMs?: number
}): BrowserLoad => {
  const concurrency = options.concurrency ?? 2
  const pauseMs = options.pauseMs ?? 5
  const maxDurationMs = options.maxDurationMs ?? 120_000
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const records: Array<RequestRecord> = []
  const t0 = performance.now()
  let retried = 0
  let stopping = false

  /** `fresh`: a new connection, as a browser resends on (the pool may hold more sockets the reload closed). */
  const attempt = (fresh: boolean): Promise<Attempt> =>
    new Promise((resolve) => {
      let settled = false
      let responded = false
      const done = (a: Attempt) => {
        if (settled) return
        settled = true
        resolve(a)
      }
      const req = http.get(options.url, { agent: fresh ? false : agent, timeout: 10_000 }, (res) => {
        responded = true
        let bytes = 0
        res.on("data", (chunk: Buffer) => {
          bytes += chunk.length
        })
        res.on("end", () => {
          const fromCaddy = res.statusCode === 503 && bytes === 0 && res.headers.server === "Caddy"
          done({ status: res.statusCode ?? null, error: fromCaddy ? CADDY_RELOAD_503 : null, retriable: false })
        })
        res.on("error", (e: NodeJS.ErrnoException) =>
          done({ status: null, error: e.code ?? e.message, retriable: false }),
        )
      })
      req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })))
      req.on("error", (e: NodeJS.ErrnoException) =>
        done({
          status: null,
          error: e.code ?? e.message,
          retriable: req.reusedSocket && !responded && (e.code === "ECONNRESET" || e.code === "EPIPE"),
        }),
      )
    })

  const once = async () => {
    const begin = performance.now()
    let result = await attempt(false)
    if (result.retriable) {
      retried++
      result = await attempt(true)
    }
    records.push({
      startMs: begin - t0,
      latencyMs: performance.now() - begin,
      status: result.status,
      error: result.error,
    })
  }

  const loop = async () => {
    while (!stopping && performance.now() - t0 < maxDurationMs) {
      await once()
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs))
    }
  }
  const done = Promise.all(Array.from({ length: concurrency }, loop)).then(() => {
    agent.destroy()
    return { records, retriedOnReusedConnection: retried, durationMs: performance.now() - t0 }
  })
  return {
    startedAt: t0,
    records,
    stop: () => {
      stopping = true
      return done
    },
  }
}

/** The loads' results added up: each load's summary, and the requests served, lost and resent over all of them. */
export const loadTotals = (results: ReadonlyArray<BrowserLoadResult>) => {
  const summaries = results.map((l) => summarizeLoad(l.records))
  return {
    summaries,
    served: summaries.reduce((n, s) => n + s.served, 0),
    lost: summaries.reduce((n, s) => n + s.failed, 0),
    resent: results.reduce((n, l) => n + l.retriedOnReusedConnection, 0),
  }
}
