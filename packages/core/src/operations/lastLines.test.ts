import { describe, expect, it } from "vitest"
import { InstanceFailed, SupervisorCallFailed, WaitTimeout } from "../supervisor/errors.js"
import { SettleFailed } from "../supervisor/settle.js"
import { NotReady, RollStopped } from "./errors.js"
import { failedInstances, refForInstance } from "./lastLines.js"

describe("failedInstances", () => {
  it.each([
    [new InstanceFailed({ supervisor: "systemd", failed: ["a@1", "b"], pending: ["c"], afterMillis: 5 }), ["a@1", "b"]],
    [new WaitTimeout({ wanted: "running", pending: ["c"], limitMillis: 60_000 }), ["c"]],
    [new WaitTimeout({ wanted: "stopped", pending: ["c"], limitMillis: 60_000 }), []],
    [
      new SettleFailed({
        supervisor: "pm2",
        windowMillis: 5000,
        afterMillis: 1000,
        ended: [{ instance: "x#3", how: "restarted", exit: null, lastedMillis: null, lastedExact: false, restarts: 1 }],
        stillUp: ["y#4"],
      }),
      ["x#3"],
    ],
    [new NotReady({ instance: "api@2", url: "http://x/", lastError: "HTTP 502", budgetMillis: 1 }), ["api@2"]],
    [
      new RollStopped({ service: "api", instance: "api@1", cause: "c", restarted: [], notRestarted: ["api@2"] }),
      ["api@1"],
    ],
    [
      new SupervisorCallFailed({
        supervisor: "systemd",
        command: ["systemctl", "start", "--", "tamanu-facility-sync.service", "tamanu-x@1.service"],
        stderr:
          'Job for tamanu-facility-sync.service failed because the control process exited with error code.\nSee "systemctl status tamanu-facility-sync.service" and "journalctl -xeu tamanu-facility-sync.service" for details.\nJob for tamanu-x@1.service failed.',
        exitCode: 1,
      }),
      ["tamanu-facility-sync", "tamanu-x@1"],
    ],
    [
      new SupervisorCallFailed({
        supervisor: "systemd",
        command: ["systemctl", "disable", "--", "tamanu-x.service"],
        stderr: "Job for tamanu-x.service failed.",
        exitCode: 1,
      }),
      [],
    ],
    [new Error("other"), []],
  ])("%o → %o", (error, names) => {
    expect(failedInstances(error)).toEqual(names)
  })
})

describe("refForInstance", () => {
  const refs = [
    { name: "tamanu-api", suffix: null, pmId: null },
    { name: "tamanu-x", suffix: "1", pmId: null },
  ]
  it("a display name among the refs, or a pm2 process a ref by name reached", () => {
    expect(refForInstance("tamanu-x@1", refs)).toEqual(refs[1])
    expect(refForInstance("tamanu-api#7", refs)).toEqual({ name: "tamanu-api", suffix: null, pmId: 7 })
    expect(refForInstance("tamanu-api", refs)).toEqual(refs[0])
    expect(refForInstance("tamanu-tasks#1", refs)).toBeNull()
    expect(refForInstance("tamanu-api#x", refs)).toBeNull()
    expect(refForInstance("tamanu-x@2", refs)).toBeNull()
  })
})
