/**
 * A bounded continuous HTTP load against a loopback URL, to watch what
 * clients see while instances behind a proxy restart. N loops each send a
 * GET, wait for the whole answer, optionally pause, and go again, over
 * keep-alive connections like a browser's. Every request is recorded (when
 * it started, how long it took, the status or the error), so callers can
 * count served/failed and look at any window. It stops by itself at the
 * count or time bound, or when `stop()` is called.
 */
import http from "node:http"
import { performance } from "node:perf_hooks"
import { Effect, type Scope } from "effect"

export interface LoadOptions {
  readonly url: string
  /** Concurrent request loops (default 4). */
  readonly concurrency?: number
  /** Stop after this many requests in all (default: no count bound). */
  readonly maxRequests?: number
  /** Stop starting requests after this long (default 60 s; the load always ends by itself). */
  readonly maxDurationMs?: number
  /** Pause between one loop's requests (default 5 ms, so the load does not starve a 2-core machine). */
  readonly pauseMs?: number
  /** A request taking longer than this is recorded as failed (default 10 s). */
  readonly requestTimeoutMs?: number
}

export interface RequestRecord {
  /** Milliseconds from the load's start to this request's start. */
  readonly startMs: number
  readonly latencyMs: number
  /** The HTTP status, or null when there was no answer. */
  readonly status: number | null
  /** What went wrong when there was no answer (ECONNRESET, timeout, …). */
  readonly error: string | null
}

export interface LoadResult {
  readonly records: ReadonlyArray<RequestRecord>
  readonly durationMs: number
}

export interface LoadRun {
  /** Stops starting requests, waits for the ones in flight, and resolves the result. */
  readonly stop: () => Promise<LoadResult>
  /** Resolves when the load ended by its own bound (or after `stop`). */
  readonly done: Promise<LoadResult>
  /** Records so far (live view). */
  readonly records: ReadonlyArray<RequestRecord>
}

/** A failed request: no answer, or a 5xx (a proxy's 502/503 when no upstream took it). */
export const isFailedRequest = (r: RequestRecord): boolean => r.status === null || r.status >= 500

export interface LoadSummary {
  readonly total: number
  readonly served: number
  readonly failed: number
  /** Count per status ("200", "502") or error ("ECONNRESET"). */
  readonly outcomes: Readonly<Record<string, number>>
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number }
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN)

export const summarizeLoad = (records: ReadonlyArray<RequestRecord>): LoadSummary => {
  const outcomes: Record<string, number> = {}
  for (const r of records) {
    const key = r.status !== null ? String(r.status) : (r.error ?? "error")
    outcomes[key] = (outcomes[key] ?? 0) + 1
  }
  const failed = records.filter(isFailedRequest).length
  const latencies = records.map((r) => r.latencyMs).sort((a, b) => a - b)
  return {
    total: records.length,
    served: records.length - failed,
    failed,
    outcomes,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? Number.NaN },
  }
}

export interface Bucket {
  /** Start of the bucket, ms from the load's start. */
  readonly fromMs: number
  readonly served: number
  readonly failed: number
}

/** Requests grouped by start time into fixed windows (default 100 ms), empty windows included. */
export const loadBuckets = (records: ReadonlyArray<RequestRecord>, widthMs = 100): ReadonlyArray<Bucket> => {
  const last = records.reduce((m, r) => Math.max(m, r.startMs), 0)
  const out = Array.from({ length: Math.floor(last / widthMs) + 1 }, (_, i) => ({
    fromMs: i * widthMs,
    served: 0,
    failed: 0,
  }))
  for (const r of records) {
    const b = out[Math.floor(r.startMs / widthMs)]
    if (b === undefined) continue
    if (isFailedRequest(r)) b.failed++
    else b.served++
  }
  return out
}

export const startLoad = (options: LoadOptions): LoadRun => {
  const concurrency = options.concurrency ?? 4
  const maxRequests = options.maxRequests ?? Number.POSITIVE_INFINITY
  const maxDurationMs = options.maxDurationMs ?? 60_000
  const pauseMs = options.pauseMs ?? 5
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const records: Array<RequestRecord> = []
  const t0 = performance.now()
  let started = 0
  let stopping = false
  let wake: Array<() => void> = []

  const shouldGo = () => !stopping && started < maxRequests && performance.now() - t0 < maxDurationMs

  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const begin = performance.now()
      let settled = false
      const record = (status: number | null, error: string | null) => {
        if (settled) return
        settled = true
        records.push({ startMs: begin - t0, latencyMs: performance.now() - begin, status, error })
        resolve()
      }
      const req = http.get(options.url, { agent, timeout: requestTimeoutMs }, (res) => {
        res.on("data", () => {})
        res.on("end", () => record(res.statusCode ?? null, null))
        res.on("error", (e: NodeJS.ErrnoException) => record(null, e.code ?? e.message))
      })
      req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })))
      req.on("error", (e: NodeJS.ErrnoException) => record(null, e.code ?? e.message))
    })

  /** A pause that `stop()` can cut short. */
  const pause = () =>
    pauseMs <= 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const timer = setTimeout(done, pauseMs)
          function done() {
            clearTimeout(timer)
            wake = wake.filter((w) => w !== done)
            resolve()
          }
          wake.push(done)
        })

  const loop = async () => {
    while (shouldGo()) {
      started++
      await once()
      if (shouldGo()) await pause()
    }
  }

  const done = Promise.all(Array.from({ length: concurrency }, loop)).then(() => {
    agent.destroy()
    return { records, durationMs: performance.now() - t0 }
  })

  return {
    records,
    done,
    stop: () => {
      stopping = true
      for (const w of [...wake]) w()
      return done
    },
  }
}

/** The load as a scoped Effect: stopped when the scope closes; `stop` gives the result earlier. */
export const loadScoped = (options: LoadOptions): Effect.Effect<LoadRun, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => startLoad(options)),
    (run) => Effect.promise(() => run.stop()),
  )
