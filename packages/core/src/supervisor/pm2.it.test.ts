/**
 * The pm2 supervisor when no daemon answers: it must say so and must never
 * start one (spec §12). Real sockets and files, no daemon needed; the
 * real-daemon suite is packages/lab/src/harness/pm2Daemon.it.test.ts.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Either, Stream } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import type { InstanceRef } from "../model/instance.js"
import { makePm2ProbeTargets } from "../probe/pm2Targets.js"
import { SupervisorUnavailable } from "./errors.js"
import { Pm2SupervisorLive } from "./pm2.js"
import { Supervisor } from "./Supervisor.js"

const homes: Array<string> = []
const freshHome = () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-pm2-down-"))
  homes.push(home)
  return home
}
afterAll(() => {
  for (const home of homes) fs.rmSync(home, { recursive: true, force: true })
})

const ref: InstanceRef = { name: "tamanu-api", suffix: null, pmId: null }
const everyMethod: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, Supervisor>]> = [
  ["list", Effect.flatMap(Supervisor, (s) => s.list)],
  ["start", Effect.flatMap(Supervisor, (s) => s.start([ref]))],
  ["stop", Effect.flatMap(Supervisor, (s) => s.stop([ref]))],
  ["restart", Effect.flatMap(Supervisor, (s) => s.restart([ref]))],
  ["restartOne", Effect.flatMap(Supervisor, (s) => s.restartOne({ ...ref, pmId: 0 }))],
  ["remove", Effect.flatMap(Supervisor, (s) => s.remove([ref]))],
  ["logs", Effect.flatMap(Supervisor, (s) => Stream.runDrain(Stream.take(s.logs([ref]), 1)))],
]

/** pm2 daemons on this machine whose command line names this home. */
const daemonsFor = (home: string): string => {
  try {
    return execFileSync("pgrep", ["-af", "--", home], { encoding: "utf8" }).trim()
  } catch {
    return ""
  }
}

describe("pm2 supervisor with no daemon running", () => {
  it.each(everyMethod)("%s fails with SupervisorUnavailable naming PM2_HOME and starts no daemon", async (_, call) => {
    const home = freshHome()
    const result = await Effect.runPromise(Effect.either(Effect.provide(call, Pm2SupervisorLive({ pm2Home: home }))))
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left).toBeInstanceOf(SupervisorUnavailable)
      expect((result.left as SupervisorUnavailable).message).toBe(`pm2 is not running (PM2_HOME=${home})`)
    }
    expect(fs.readdirSync(home)).toEqual([])
    expect(daemonsFor(home)).toBe("")
  })

  it("follows PM2_HOME from the environment when no home is given", async () => {
    const home = freshHome()
    const saved = process.env.PM2_HOME
    process.env.PM2_HOME = home
    try {
      const result = await Effect.runPromise(
        Effect.either(
          Effect.provide(
            Effect.flatMap(Supervisor, (s) => s.list),
            Pm2SupervisorLive(),
          ),
        ),
      )
      expect(Either.isLeft(result) && result.left.message).toBe(`pm2 is not running (PM2_HOME=${home})`)
    } finally {
      if (saved === undefined) delete process.env.PM2_HOME
      else process.env.PM2_HOME = saved
    }
    expect(fs.readdirSync(home)).toEqual([])
  })

  it("a stale rpc.sock left by a killed daemon is not running either", async () => {
    const home = freshHome()
    const sock = path.join(home, "rpc.sock")
    // A socket file nobody listens on: what `kill -9` of a daemon leaves behind.
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(sock, resolve))
    server.close()
    await new Promise<void>((resolve) => server.once("close", () => resolve()))
    fs.writeFileSync(sock, "")
    const result = await Effect.runPromise(
      Effect.either(
        Effect.provide(
          Effect.flatMap(Supervisor, (s) => s.list),
          Pm2SupervisorLive({ pm2Home: home }),
        ),
      ),
    )
    expect(Either.isLeft(result) && result.left._tag).toBe("SupervisorUnavailable")
    expect(fs.readdirSync(home)).toEqual(["rpc.sock"])
  })

  it("probe targets answer no URL instead of failing", async () => {
    const targets = makePm2ProbeTargets({ pm2Home: freshHome() })
    const url = await Effect.runPromise(targets.urlFor({ ...ref, pmId: 0 }))
    expect(url._tag).toBe("None")
  })
})
