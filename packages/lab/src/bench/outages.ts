/**
 * "Seconds during which a service had no serving upstream", from the load's
 * own records (pure).
 *
 * Every request is a sample, taken at its start, of whether the service
 * serves: the clients send back to back (two per service, 5 ms apart), so
 * while a service serves, samples come every few ms. A window without a
 * serving upstream opens at the start of a failed request and lasts, through
 * every further failed one, until the start of the next request that was
 * served: every request that started in it failed. A window still open when
 * the load ends closes at the end of its last failed request. Only the
 * service's own requests count (its path through Caddy). A lone failure among
 * served requests makes a window of a few ms; a service whose every upstream
 * Caddy tries is gone makes one as long as that lasts.
 */
import { isFailedRequest, type RequestRecord } from "../harness/load.js"

export interface Outage {
  /** ms on the records' clock. */
  readonly fromMs: number
  readonly toMs: number
  /** Failed requests in it. */
  readonly failed: number
}

/** The windows in which every request of one service failed, in time order. */
export const noServingWindows = (records: ReadonlyArray<RequestRecord>): ReadonlyArray<Outage> => {
  const sorted = [...records].sort((a, b) => a.startMs - b.startMs)
  const windows: Array<Outage> = []
  let open: { fromMs: number; failed: number; lastEndMs: number } | null = null
  for (const r of sorted) {
    if (isFailedRequest(r)) {
      if (open === null) open = { fromMs: r.startMs, failed: 0, lastEndMs: r.startMs }
      open.failed++
      open.lastEndMs = Math.max(open.lastEndMs, r.startMs + r.latencyMs)
    } else if (open !== null) {
      windows.push({ fromMs: open.fromMs, toMs: r.startMs, failed: open.failed })
      open = null
    }
  }
  if (open !== null) windows.push({ fromMs: open.fromMs, toMs: open.lastEndMs, failed: open.failed })
  return windows
}

/** Their total length in ms. */
export const totalMs = (windows: ReadonlyArray<Outage>): number => windows.reduce((t, w) => t + (w.toMs - w.fromMs), 0)

/** The longest one in ms (0 for none). */
export const longestMs = (windows: ReadonlyArray<Outage>): number =>
  windows.reduce((m, w) => Math.max(m, w.toMs - w.fromMs), 0)
