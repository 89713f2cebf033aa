import { describe, expect, it } from "vitest"
import { measuredBoots, summarizeMethod } from "./report.js"
import { type MethodRun, rollBreakdown, withProcessStarts } from "./restartMethods.js"
import { niceCeiling, restartRequestsSvg } from "./restartSvg.js"

const at = (atMs: number, text: string) => ({ atMs, text })

const lines = [
  at(5, "plan for restart (1 step):"),
  at(300, "↻ restarting api@1 (1/2)"),
  at(340, "● api@1 running after 40 ms"),
  at(2450, "✓ api@1 ready after 2110 ms (http://x/)"),
  at(2520, "✓ Caddy reloaded"),
  at(2530, "↻ restarting api@2 (2/2)"),
  at(2600, "● api@2 running after 70 ms"),
  at(4700, "✓ api@2 ready after 2100 ms (http://y/)"),
  at(4790, "✓ Caddy reloaded"),
  at(4800, "✓ restart done in 4.8 s"),
]
const unplaced = { untilProcessStartMs: null, processStartToReadyMs: null }

describe("rollBreakdown", () => {
  it("splits each instance's turn into restart call, probe and Caddy reload from the timestamped progress lines", () => {
    const b = rollBreakdown(lines, 4850)
    expect(b?.startupMs).toBe(300)
    expect(b?.tailMs).toBe(60)
    expect(b?.instances).toEqual([
      { ...unplaced, instance: "api@1", restartCallMs: 40, probeMs: 2110, reloadMs: 70, turnMs: 2230 },
      { ...unplaced, instance: "api@2", restartCallMs: 70, probeMs: 2100, reloadMs: 90, turnMs: 2260 },
    ])
  })

  it("places each new process's start between its restarting and ready lines", () => {
    const b = rollBreakdown(lines, 4850)
    if (b === null) throw new Error("no breakdown")
    const placed = withProcessStarts(b, { "api@1": 325, "api@2": 2560 })
    expect(placed.instances.map((i) => [i.untilProcessStartMs, i.processStartToReadyMs])).toEqual([
      [25, 2125],
      [30, 2140],
    ])
    // An instance whose process could not be read keeps its split unmeasured.
    expect(withProcessStarts(b, { "api@2": 2560 }).instances[0]?.untilProcessStartMs).toBeNull()
  })

  it("is null when the CLI never began a roll", () => {
    expect(rollBreakdown([at(10, "nothing to do")], 100)).toBeNull()
  })
})

const run = (method: MethodRun["method"], wallMs: number, failed: number): MethodRun => ({
  method,
  repeat: 0,
  wallMs,
  allRestarted: true,
  served: 100,
  failed,
  slow: 0,
  p99Ms: 5,
  maxMs: 10,
  resent: 0,
  outcomes: {},
  beganMs: 300,
  endedMs: 300 + wallMs,
  records: [],
  breakdown: null,
  exitCode: method === "rolling" ? 0 : null,
})

describe("summarizeMethod", () => {
  it("takes the median wall time and counts every failure over the runs", () => {
    const runs = [run("rolling", 9000, 0), run("rolling", 8500, 2), run("rolling", 8800, 0), run("bulk", 2000, 9)]
    const s = summarizeMethod(runs, "rolling", 8000, 4)
    expect(s.wallMs).toBe(8800)
    expect(s.overheadPerInstanceMs).toBe(200)
    expect(s.failed).toBe(0)
    expect(s.failedTotal).toBe(2)
    expect(s.runs).toBe(3)
  })
})

describe("measuredBoots", () => {
  const boot = (instance: string, bootMs: number) => ({ instance, repeat: 0, bootMs })

  it("sums each instance's median boot, in roll order", () => {
    const samples = [boot("a", 2100), boot("b", 2300), boot("a", 2120), boot("a", 2500), boot("b", 2200)]
    const m = measuredBoots(samples, ["a", "b"])
    expect(m?.perInstance).toEqual([
      { instance: "a", medianMs: 2120, samples: 3 },
      { instance: "b", medianMs: 2250, samples: 2 },
    ])
    expect(m?.sumMs).toBe(4370)
  })

  it("is null when an instance has no sample, so the page falls back to the nominal delay and says so", () => {
    expect(measuredBoots([boot("a", 2100)], ["a", "b"])).toBeNull()
  })
})

describe("restartRequestsSvg", () => {
  it("draws a red bar for a 100 ms window holding a failed request, and none without failures", () => {
    const served = { startMs: 310, latencyMs: 3, status: 200, error: null }
    const records = [served, { startMs: 420, latencyMs: 3, status: 502, error: null }]
    const panel = { title: "a <b>", records, beganMs: 300, endedMs: 800 }
    const svg = restartRequestsSvg([panel])
    expect(svg).toContain('fill="#d62728"')
    expect(svg).toContain("a &lt;b&gt;")
    expect(restartRequestsSvg([{ ...panel, records: [served] }])).not.toContain('fill="#d62728"')
  })

  it("rounds the y axis up to 1, 2 or 5 × 10^k", () => {
    expect([0, 1, 3, 20, 21, 99, 101].map(niceCeiling)).toEqual([1, 1, 5, 20, 50, 100, 200])
  })
})
