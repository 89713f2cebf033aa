/**
 * Faults reproduced for real where it is cheap: the live HTTP prober against
 * loopback servers that answer 503, hang, reset the connection or are not
 * there; systemctl missing from PATH; a pm2 daemon that is not running (the
 * live supervisor must say so and never start one). Real time, small budgets.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import {
  HttpProberLayer,
  makeSystemdSupervisor,
  Pm2SupervisorLive,
  Supervisor,
  waitReady,
} from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

type Server = http.Server | net.Server

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)))

const servers: Array<Server> = []
const sockets = new Set<net.Socket>()
const urls = { ok: "", unavailable: "", hang: "", reset: "", refused: "" }

beforeAll(async () => {
  const track = (s: Server) => {
    s.on("connection", (socket: net.Socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })
    servers.push(s)
    return s
  }
  const ok = track(http.createServer((_req, res) => res.writeHead(204).end()))
  const unavailable = track(http.createServer((_req, res) => res.writeHead(503).end("starting")))
  const hang = track(http.createServer(() => undefined))
  const reset = track(net.createServer((socket) => socket.resetAndDestroy()))
  urls.ok = `http://127.0.0.1:${await listen(ok)}/`
  urls.unavailable = `http://127.0.0.1:${await listen(unavailable)}/`
  urls.hang = `http://127.0.0.1:${await listen(hang)}/`
  urls.reset = `http://127.0.0.1:${await listen(reset)}/`
  // A port that was just free: nothing listens there.
  const gone = net.createServer()
  const port = await listen(gone)
  await new Promise((resolve) => gone.close(resolve))
  urls.refused = `http://127.0.0.1:${port}/`
})

afterAll(async () => {
  for (const socket of sockets) socket.destroy()
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
})

const prober = HttpProberLayer({ attemptTimeout: Duration.millis(300) })

const probe = (url: string, budgetMs: number) =>
  Effect.gen(function* () {
    const began = Date.now()
    const exit = yield* Effect.exit(waitReady(url, { budget: Duration.millis(budgetMs) }))
    return { exit, elapsed: Date.now() - began }
  }).pipe(Effect.provide(prober), Effect.runPromise)

describe("live prober against misbehaving loopback servers", () => {
  it("a server answering 204 is ready at once", async () => {
    const { exit } = await probe(urls.ok, 2000)
    expect(Exit.isSuccess(exit)).toBe(true)
  })

  for (const [name, key, said] of [
    ["answers 503", "unavailable", "HTTP 503"],
    ["hangs without answering", "hang", "timed out after"],
    ["resets the connection", "reset", "connection reset"],
    ["is not listening", "refused", "connection refused (ECONNREFUSED)"],
  ] as const) {
    it(`a server that ${name}: not ready, the last error says so, and the wait ends within its budget`, async () => {
      const { exit, elapsed } = await probe(urls[key], 1000)
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const text = JSON.stringify(exit.cause)
        expect(text).toContain(said)
        expect(text).toContain(urls[key])
      }
      // It ends: far above the 1 s budget, to prove only that (how far past 1 s is the machine's speed).
      expect(elapsed).toBeLessThan(15_000)
    })
  }

  it("an attempt that would hang for an hour is cut by the budget, not waited for", async () => {
    // Attempts bounded at an hour: only the 1 s budget can end this wait.
    const { exit, elapsed } = await Effect.gen(function* () {
      const began = Date.now()
      const exit = yield* Effect.exit(waitReady(urls.hang, { budget: Duration.seconds(1) }))
      return { exit, elapsed: Date.now() - began }
    }).pipe(Effect.provide(HttpProberLayer({ attemptTimeout: Duration.hours(1) })), Effect.runPromise)
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit)) expect(JSON.stringify(exit.cause)).toContain("no answer within 1s")
    expect(elapsed).toBeGreaterThanOrEqual(990)
    expect(elapsed).toBeLessThan(15_000)
  })
})

describe("supervisors that are not there", () => {
  it("systemctl missing from PATH: SupervisorUnavailable, not a crash", async () => {
    const sd = makeSystemdSupervisor({ scope: "user", env: { PATH: "/nonexistent-tamanu-test" } })
    const exit = await Effect.runPromise(Effect.exit(sd.list))
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit)) expect(JSON.stringify(exit.cause)).toContain("SupervisorUnavailable")
  })

  it("pm2 daemon not running: SupervisorUnavailable, and no daemon is started as a side effect", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-pm2-down-"))
    try {
      const exit = await Effect.runPromise(
        Effect.exit(Effect.flatMap(Supervisor, (s) => s.list)).pipe(
          Effect.provide(Pm2SupervisorLive({ pm2Home: home, connectTimeout: Duration.seconds(2) })),
        ),
      )
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) expect(JSON.stringify(exit.cause)).toContain("SupervisorUnavailable")
      // No daemon came up: no sockets, no pid file in PM2_HOME.
      expect(fs.readdirSync(home).filter((f) => /sock|pid/.test(f))).toEqual([])
    } finally {
      fs.rmSync(home, { recursive: true, force: true })
    }
  })
})
