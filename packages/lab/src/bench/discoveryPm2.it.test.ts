import { describe, expect, it } from "vitest"
import { pm2Prerequisite } from "../harness/pm2Daemon.js"
import { skipUnless } from "../harness/prerequisites.js"
import { benchDiscoveryPm2 } from "./discoveryPm2.js"

describe.skipIf(skipUnless(pm2Prerequisite()))("pm2 discovery on a real daemon", () => {
  it("makes one RPC per discovery whatever the number of processes", async () => {
    const figures = await benchDiscoveryPm2({ sizes: [2, 30], runs: 3 })
    expect(figures.map((f) => [f.processes, f.calls])).toEqual([
      [2, 1],
      [30, 1],
    ])
    for (const f of figures) expect(f.medianMs).toBeGreaterThan(0)
  })
})
