import { describe, expect, it } from "vitest"
import { skipUnless } from "../harness/prerequisites.js"
import { userManagerPrerequisite } from "../harness/systemdUserManager.js"
import { benchDiscoverySystemd } from "./discoverySystemd.js"

describe.skipIf(skipUnless(userManagerPrerequisite()))("systemd discovery benchmark", () => {
  it("discovery spawns one systemctl whether 4 or 40 units are loaded", async () => {
    const figures = await benchDiscoverySystemd({ sizes: [4, 40], runs: 3 })
    expect(figures.map((f) => [f.units, f.calls])).toEqual([
      [4, 1],
      [40, 1],
    ])
    for (const f of figures) expect(f.medianMs).toBeGreaterThan(0)
  })
})
