/** Embedding example 1 against a real pm2 daemon: the live layers from Node. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  freePorts,
  type Pm2DaemonHandle,
  pm2Prerequisite,
  startPm2Daemon,
  tamanuPm2Apps,
} from "../harness/pm2Daemon.js"
import { skipUnless } from "../harness/prerequisites.js"
import { statusOfThisHost } from "./statusOfThisHost.js"

describe.skipIf(skipUnless(pm2Prerequisite()))("embedding example: status of this host", () => {
  let daemon: Pm2DaemonHandle | undefined
  let root = ""
  const saved = process.env.PM2_HOME

  beforeAll(async () => {
    daemon = await startPm2Daemon()
    const [a, b, tasks, sync] = await freePorts(4)
    await daemon.register(tamanuPm2Apps({ api: [a!, b!], tasks: tasks!, sync: sync! }))
    root = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-root-"))
    fs.writeFileSync(path.join(root, "local.json5"), '{ serverFacilityIds: ["facility-1"] }')
    process.env.PM2_HOME = daemon.pm2Home
  })

  afterAll(async () => {
    if (saved === undefined) delete process.env.PM2_HOME
    else process.env.PM2_HOME = saved
    await daemon?.kill()
    fs.rmSync(root, { recursive: true, force: true })
  })

  it("reports every pm2 service of a facility host as up", async () => {
    const result = await Effect.runPromise(statusOfThisHost(root))
    expect(result.failed).toBe(false)
    const byName = Object.fromEntries(result.json.expectations.map((e) => [e.name, e]))
    expect(byName["tamanu-api"]).toMatchObject({ status: "up", running: 2, min_count: 2 })
    expect(byName["tamanu-tasks"]).toMatchObject({ status: "up" })
    expect(byName["tamanu-sync"]).toMatchObject({ status: "up" })
  })
})
