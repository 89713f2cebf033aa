/**
 * The Tamanu-shaped test service (fixtures/tamanu-service.mjs) is graceful on
 * SIGTERM: a request in flight when the signal arrives is answered, new
 * connections are refused, and the process exits 0 once it has drained.
 * Every "an instance drains on stop" claim of the suites rests on this.
 */
import { type ChildProcess, spawn } from "node:child_process"
import http from "node:http"
import net from "node:net"
import { Effect, Schedule } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { tamanuServiceScript } from "./systemdUserManager.js"

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const address = s.address()
      s.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject()))
    })
  })

const get = (port: number) =>
  new Promise<{ status: number | null; error: string | null }>((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
      res.resume()
      res.on("end", () => resolve({ status: res.statusCode ?? null, error: null }))
    })
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ status: null, error: e.code ?? e.message }))
  })

const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode)
    else child.once("exit", (code) => resolve(code))
  })

let child: ChildProcess | null = null
afterEach(() => {
  child?.kill("SIGKILL")
  child = null
})

describe("the Tamanu-shaped test service", () => {
  it("answers a request in flight at SIGTERM, then exits 0; a request after the signal is refused", async () => {
    const port = await freePort()
    const service = spawn(process.execPath, [tamanuServiceScript], {
      env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", READY_DELAY_MS: "0", RESPONSE_DELAY_MS: "1500" },
      stdio: "ignore",
    })
    child = service
    await Effect.runPromise(
      Effect.tryPromise(() => get(port)).pipe(
        Effect.filterOrFail((r) => r.status === 200),
        Effect.retry(Schedule.spaced("50 millis")),
        Effect.timeout("10 seconds"),
      ),
    )
    const inFlight = get(port)
    // The request is in the service's hands (it answers after 1.5 s) when the signal arrives.
    await new Promise((resolve) => setTimeout(resolve, 300))
    service.kill("SIGTERM")
    await new Promise((resolve) => setTimeout(resolve, 100))
    const after = await get(port)
    expect(await inFlight).toEqual({ status: 200, error: null })
    expect(after.status).toBeNull()
    expect(after.error).toBe("ECONNREFUSED")
    expect(await exitOf(service)).toBe(0)
  })

  it("exits 0 at once on SIGTERM while still booting (nothing to drain)", async () => {
    const port = await freePort()
    const service = spawn(process.execPath, [tamanuServiceScript], {
      env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", READY_DELAY_MS: "60000" },
      stdio: "ignore",
    })
    child = service
    await new Promise((resolve) => setTimeout(resolve, 300))
    service.kill("SIGTERM")
    expect(await exitOf(service)).toBe(0)
  })
})
