/**
 * A unit that crashes at once on start, against a real systemd user manager:
 * `waitUntil(…, "running")` must end with InstanceFailed as soon as systemd
 * lists the unit `failed`, not after the 60 s limit (it took 60.0 s before).
 * And the other side of the rule: a unit that is still `failed` from before
 * while its new start job waits in the queue is not taken for failed.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import {
  type InstanceRef,
  makeSystemdSupervisor,
  Supervisor,
  type SupervisorShape,
  waitUntil,
} from "@tamanu-lifecycle/core"
import { Effect, Either, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { skipUnless } from "../harness/prerequisites.js"
import {
  failingUnit,
  startUserManager,
  type UserManager,
  userManagerPrerequisite,
} from "../harness/systemdUserManager.js"

const single = (name: string): InstanceRef => ({ name, suffix: null, pmId: null })

describe.skipIf(skipUnless(userManagerPrerequisite()))("a unit that crashes on start, on a real user manager", () => {
  let manager: UserManager
  let supervisor: SupervisorShape
  let flag: string

  const waitRunning = (refs: ReadonlyArray<InstanceRef>) =>
    Effect.runPromise(
      Effect.either(waitUntil(refs, "running").pipe(Effect.provide(Layer.succeed(Supervisor, supervisor)))),
    )

  beforeAll(async () => {
    manager = await startUserManager({
      units: [
        failingUnit("tamanu-crashy", "simple"),
        // Fails until the flag file exists; ordered after a unit that takes 1 s to start.
        {
          name: "tamanu-slowdep.service",
          text: "[Service]\nType=simple\nExecStartPre=/bin/sleep 1\nExecStart=/bin/sleep infinity\n",
        },
      ],
    })
    flag = path.join(path.dirname(manager.unitDir), "flag")
    await manager.writeUnit(
      "tamanu-after.service",
      `[Unit]\nAfter=tamanu-slowdep.service\n[Service]\nType=simple\nExecStart=/bin/sh -c 'test -e ${flag} && exec sleep infinity || exit 1'\n`,
    )
    await manager.daemonReload()
    supervisor = makeSystemdSupervisor(manager.supervisorOptions)
  })

  afterAll(async () => {
    await manager?.stop()
  })

  it("systemctl start succeeds, then waitUntil running fails with InstanceFailed in well under a second", async () => {
    const crashy = single("tamanu-crashy")
    const began = performance.now()
    await Effect.runPromise(supervisor.start([crashy]))
    const started = performance.now()
    const result = await waitRunning([crashy])
    const ended = performance.now()
    console.log(
      `crash on start: start call ${Math.round(started - began)} ms, wait ended after ${Math.round(ended - started)} ms (${Math.round(ended - began)} ms in all)`,
    )
    expect(Either.isLeft(result) && result.left).toMatchObject({
      _tag: "InstanceFailed",
      supervisor: "systemd",
      failed: ["tamanu-crashy"],
      pending: [],
    })
    expect(ended - began).toBeLessThan(5000)
  })

  it("a unit still failed from before whose start job is queued behind a slower unit is waited for, and comes up", async () => {
    const after = single("tamanu-after")
    fs.rmSync(flag, { force: true })
    await Effect.runPromise(Effect.either(supervisor.start([after])))
    // It failed: its process exits 1 without the flag.
    const failedBefore = await waitRunning([after])
    expect(Either.isLeft(failedBefore) && failedBefore.left._tag).toBe("InstanceFailed")
    fs.writeFileSync(flag, "")
    // --no-block (not what tamanu sends): the job for tamanu-after waits ~1 s behind tamanu-slowdep,
    // and list-units keeps saying `failed` for it, with `start` in the JOB column.
    const queued = await manager.ctl(["start", "--no-block", "--", "tamanu-slowdep.service", "tamanu-after.service"])
    expect(queued.exitCode).toBe(0)
    const listing = await manager.ctl(["list-units", "--all", "--plain", "--no-legend", "--", "tamanu-after.service"])
    const began = performance.now()
    const result = await waitRunning([after])
    const took = performance.now() - began
    console.log(
      `queued start of a failed unit: listed as ${JSON.stringify(listing.stdout.trim())}; running after ${Math.round(took)} ms`,
    )
    // The case this guards: still `failed`, with its queued start job in the JOB column.
    expect(listing.stdout).toMatch(/failed\s+failed\s+start\b/)
    expect(Either.isRight(result)).toBe(true)
    await manager.ctl(["stop", "--", "tamanu-slowdep.service", "tamanu-after.service"])
  })
})
