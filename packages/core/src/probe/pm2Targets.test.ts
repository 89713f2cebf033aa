import { Option } from "effect"
import { describe, expect, it } from "vitest"
import type { InstanceRef } from "../model/instance.js"
import type { Pm2Process } from "../supervisor/pm2Parse.js"
import { pm2ProbeUrl } from "./pm2Targets.js"

const ref = (name: string, pmId: number | null): InstanceRef => ({ name, suffix: null, pmId })

describe("probe URL from PORT", () => {
  const p = (name: string, pmId: number, port: number | null): Pm2Process => ({
    name,
    pmId,
    status: "online",
    running: true,
    port,
  })
  const processes = [
    p("tamanu-api", 0, 4001),
    p("tamanu-api", 1, 4002),
    p("tamanu-tasks", 2, null),
    p("tamanu-sync", 3, 4100),
  ]
  it.each([
    ["by pm_id", ref("tamanu-api", 1), Option.some("http://127.0.0.1:4002/")],
    ["no PORT", ref("tamanu-tasks", 2), Option.none()],
    ["unknown pm_id", ref("tamanu-api", 7), Option.none()],
    ["pm_id of another name", ref("tamanu-api", 3), Option.none()],
    ["name only, one process", ref("tamanu-sync", null), Option.some("http://127.0.0.1:4100/")],
    ["name only, several processes: undecidable", ref("tamanu-api", null), Option.none()],
  ])("%s", (_, r, want) => {
    expect(pm2ProbeUrl(processes, r)).toEqual(want)
  })
})
