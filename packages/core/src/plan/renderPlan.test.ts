import { describe, expect, it } from "vitest"
import { groups, healthySystemd, pmExpectations, proc, ref, sd, unit, without } from "../testSupport/plannerFixtures.js"
import { makePlan } from "./Plan.js"
import { planRestart } from "./planRestart.js"
import { planStart } from "./planStart.js"
import { renderPlan } from "./renderPlan.js"

describe("renderPlan", () => {
  it("writes systemd batches as the systemctl command an operator would type", () => {
    const host = [...without(healthySystemd, ref("tamanu-facility-api", "2")), unit("tamanu-facility")]
    const plan = planStart({
      supervisor: "systemd",
      groups: groups("systemd", [sd.legacy, sd.api], host),
      enabled: new Map([["tamanu-facility.service", true]]),
      upOnly: false,
      probeHttp: true,
    })
    expect(renderPlan(plan, "systemd")).toBe(
      [
        "1. systemctl stop tamanu-facility.service",
        "2. systemctl disable tamanu-facility.service",
        "3. wait until stopped: tamanu-facility",
        "4. route Caddy for tamanu-facility-api to the instances that serve, leaving out tamanu-facility-api@2",
        "5. systemctl start tamanu-facility-api@2.service",
        "6. wait until running: tamanu-facility-api@2",
        "7. probe until ready (one overall budget): tamanu-facility-api@1, tamanu-facility-api@2",
        "8. route Caddy for tamanu-facility-api to the instances that serve",
        "9. put Caddy's own config back once no cached answer can name an address taken down",
      ].join("\n"),
    )
    expect(renderPlan(plan, "systemd", { systemdScope: "user" })).toContain("systemctl --user start")
  })

  it("writes pm2 calls by pm_id, a roll on one line, and warnings first", () => {
    const plan = planRestart({
      supervisor: "pm2",
      groups: groups("pm2", pmExpectations, [proc("tamanu-tasks", 0), proc("tamanu-api", 1), proc("tamanu-sync", 3)]),
      enabled: new Map(),
      probeHttp: false,
      checkUrl: "http://127.0.0.1:8080/",
    })
    const lines = renderPlan(plan, "pm2").split("\n")
    expect(lines[0]).toMatch(/^warning: tamanu-api: pm2 has 1 of the 2 required processes registered/)
    expect(lines.slice(1)).toEqual([
      "1. pm2 restart 0 3",
      "2. wait until running: tamanu-tasks#0, tamanu-sync#3",
      "3. roll tamanu-api one instance at a time: tamanu-api#1 (each: route Caddy away from it, pm2 restart it, wait until running, watch that it stays running through the settle window and the cooldown)",
      "4. put Caddy's own config back once no cached answer can name an address taken down",
      "5. check http://127.0.0.1:8080/ answers",
    ])
  })

  it("writes retirement as stop then disable", () => {
    const plan = makePlan("restart", [{ _tag: "Retire", refs: [ref("tamanu-patientportal")] }], [])
    expect(renderPlan(plan, "systemd")).toBe(
      "1. systemctl stop tamanu-patientportal.service && systemctl disable tamanu-patientportal.service",
    )
  })

  it("says there is nothing to do, and puts failures before everything", () => {
    expect(renderPlan(makePlan("stop", [], []), "systemd")).toBe("stop: nothing to do")
    const failed = makePlan(
      "start",
      [],
      [],
      [{ _tag: "Pm2UnderRegistered", service: "tamanu-api", registered: 0, required: 2 }],
    )
    expect(renderPlan(failed, "pm2")).toMatch(/^error: tamanu-api: .*ops playbook's job/)
  })
})
