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
} from "@tamanu-lifecycle/core/internal"
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
  /** While this file is missing, tamanu-slowdep's start job runs on (and tamanu-after's waits behind it). */
  let gate: string

  const waitRunning = (refs: ReadonlyArray<InstanceRef>, onPoll: () => void = () => undefined) =>
    Effect.runPromise(
      Effect.either(
        waitUntil(refs, "running").pipe(
          Effect.provide(Layer.succeed(Supervisor, { ...supervisor, list: Effect.tap(supervisor.list, onPoll) })),
        ),
      ),
    )

  beforeAll(async () => {
    manager = await startUserManager({
      units: [failingUnit("tamanu-crashy", "simple")],
    })
    flag = path.join(path.dirname(manager.unitDir), "flag")
    gate = path.join(path.dirname(manager.unitDir), "gate")
    // Its start job lasts until the test opens the gate (it used to be `sleep 1`: a listing that
    // took longer than that on a busy machine found the job done, and the test failed).
    await manager.writeUnit(
      "tamanu-slowdep.service",
      `[Service]\nType=simple\nExecStartPre=/bin/sh -c 'while [ ! -e ${gate} ]; do sleep 0.05; done'\nExecStart=/bin/sleep infinity\n`,
    )
    // Fails until the flag file exists; ordered after tamanu-slowdep.
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
    // InstanceFailed, not WaitTimeout, is the mechanism: the failed state ended the wait. The bound
    // only says it ended well before the 60 s limit (it takes ~50 ms).
    expect(ended - began).toBeLessThan(30_000)
  })

  it("a unit still failed from before whose start job is queued behind a slower unit is waited for, and comes up", async () => {
    const after = single("tamanu-after")
    fs.rmSync(flag, { force: true })
    await Effect.runPromise(Effect.either(supervisor.start([after])))
    // It failed: its process exits 1 without the flag.
    const failedBefore = await waitRunning([after])
    expect(Either.isLeft(failedBefore) && failedBefore.left._tag).toBe("InstanceFailed")
    fs.writeFileSync(flag, "")
    fs.rmSync(gate, { force: true })
    // --no-block (not what tamanu sends): the job for tamanu-after waits behind tamanu-slowdep's, which
    // lasts until the gate opens, and list-units keeps saying `failed` for it, with `start` in the JOB column.
    const queued = await manager.ctl(["start", "--no-block", "--", "tamanu-slowdep.service", "tamanu-after.service"])
    expect(queued.exitCode).toBe(0)
    const listing = await manager.ctl(["list-units", "--all", "--plain", "--no-legend", "--", "tamanu-after.service"])
    const began = performance.now()
    // The gate opens once the wait has polled (and so seen the unit failed with its start job queued).
    const result = await waitRunning([after], () => fs.writeFileSync(gate, ""))
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
