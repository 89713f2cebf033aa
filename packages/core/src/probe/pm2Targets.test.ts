import { Option } from "effect"
import { describe, expect, it } from "vitest"
import type { InstanceRef } from "../model/instance.js"
import type { Pm2Process } from "../supervisor/pm2Parse.js"
import { pm2ProbeUrl, pm2Target } from "./pm2Targets.js"

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

describe("pm2Target: the URL and the release directory from one list (issue #22)", () => {
  const processes: ReadonlyArray<Pm2Process> = [
    { name: "tamanu-api", pmId: 0, status: "online", running: true, port: 4001, version: "2.64.0" },
    { name: "tamanu-api", pmId: 1, status: "online", running: true, port: 4002, version: null },
  ]
  it("the version of the release directory the process runs from", () => {
    expect(pm2Target(processes, ref("tamanu-api", 0))).toEqual({
      url: Option.some("http://127.0.0.1:4001/"),
      version: Option.some("2.64.0"),
      versionProblem: null,
    })
  })
  it("unknown, with the reason, outside a release directory or when the ref names no single process", () => {
    expect(pm2Target(processes, ref("tamanu-api", 1)).versionProblem).toMatch(/release-vX\.Y\.Z/)
    expect(pm2Target(processes, ref("tamanu-api", null))).toMatchObject({
      version: Option.none(),
      versionProblem: "pm2 knows no single process tamanu-api",
    })
  })
})
