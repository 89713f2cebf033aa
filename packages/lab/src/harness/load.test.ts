import { describe, expect, it } from "vitest"
import { isFailedRequest, loadBuckets, type RequestRecord, summarizeLoad } from "./load.js"

const rec = (
  startMs: number,
  latencyMs: number,
  status: number | null,
  error: string | null = null,
): RequestRecord => ({
  startMs,
  latencyMs,
  status,
  error,
})

describe("isFailedRequest", () => {
  it.each<[string, RequestRecord, boolean]>([
    ["200 is served", rec(0, 1, 200), false],
    ["404 is served (the app answered)", rec(0, 1, 404), false],
    ["502 from the proxy is failed", rec(0, 1, 502), true],
    ["503 is failed", rec(0, 1, 503), true],
    ["no answer is failed", rec(0, 1, null, "ECONNRESET"), true],
  ])("%s", (_name, r, failed) => {
    expect(isFailedRequest(r)).toBe(failed)
  })
})

describe("summarizeLoad", () => {
  it("counts served, failed and each outcome, with latency percentiles", () => {
    const records = [
      ...Array.from({ length: 97 }, (_, i) => rec(i, i + 1, 200)),
      rec(97, 500, 502),
      rec(98, 700, null, "ECONNRESET"),
      rec(99, 900, 404),
    ]
    expect(summarizeLoad(records)).toEqual({
      total: 100,
      served: 98,
      failed: 2,
      outcomes: { "200": 97, "502": 1, ECONNRESET: 1, "404": 1 },
      latencyMs: { p50: 51, p99: 900, max: 900 },
    })
  })

  it("an empty run has no latencies", () => {
    const s = summarizeLoad([])
    expect(s.total).toBe(0)
    expect(s.latencyMs.max).toBeNaN()
  })
})

describe("loadBuckets", () => {
  it("groups by start time into 100 ms windows, keeping empty windows", () => {
    const records = [rec(0, 1, 200), rec(99.9, 1, 502), rec(100, 1, 200), rec(350, 1, null, "ECONNREFUSED")]
    expect(loadBuckets(records)).toEqual([
      { fromMs: 0, served: 1, failed: 1 },
      { fromMs: 100, served: 1, failed: 0 },
      { fromMs: 200, served: 0, failed: 0 },
      { fromMs: 300, served: 0, failed: 1 },
    ])
  })

  it("takes another window width", () => {
    expect(loadBuckets([rec(10, 1, 200), rec(260, 1, 200)], 250).map((b) => b.served)).toEqual([1, 1])
  })
})
