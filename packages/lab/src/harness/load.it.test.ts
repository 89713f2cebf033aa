/** The load generator against real loopback servers: its bounds and what it records. */
import http from "node:http"
import type { AddressInfo } from "node:net"
import net from "node:net"
import { afterAll, describe, expect, it } from "vitest"
import { startLoad, summarizeLoad } from "./load.js"

const servers: Array<http.Server> = []
const serve = async (handler: http.RequestListener): Promise<string> => {
  const server = http.createServer(handler)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
}
afterAll(async () => {
  for (const s of servers) s.closeAllConnections()
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
})

describe("startLoad", () => {
  it("stops by itself after maxRequests, over kept-alive connections", async () => {
    const sockets = new Set<unknown>()
    const url = await serve((req, res) => {
      sockets.add(req.socket)
      res.end("ok")
    })
    const { records } = await startLoad({ url, concurrency: 3, maxRequests: 60, pauseMs: 0 }).done
    expect(records).toHaveLength(60)
    expect(summarizeLoad(records).outcomes).toEqual({ "200": 60 })
    expect(sockets.size).toBeLessThanOrEqual(3)
  })

  it("stops by itself after maxDurationMs", async () => {
    const url = await serve((_req, res) => res.end("ok"))
    const started = performance.now()
    const result = await startLoad({ url, concurrency: 2, maxDurationMs: 300 }).done
    // It ended by itself (no stop() here), not before its bound, and started no request after it.
    // How many requests fit in 300 ms, and how soon after the bound the last one ends, is the
    // machine's speed: only that it ends at all is bounded, far above its ~300 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(290)
    expect(performance.now() - started).toBeLessThan(15_000)
    expect(result.records.length).toBeGreaterThan(0)
    expect(result.records.every((r) => r.startMs < 300)).toBe(true)
  })

  it("records statuses, refusals and timeouts as outcomes, and stop() ends it early", async () => {
    const url503 = await serve((_req, res) => res.writeHead(503).end())
    const s = net.createServer()
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", () => resolve()))
    const deadUrl = `http://127.0.0.1:${(s.address() as AddressInfo).port}/`
    await new Promise<void>((resolve) => s.close(() => resolve()))
    const hangUrl = await serve(() => {})

    const r503 = await startLoad({ url: url503, concurrency: 1, maxRequests: 3 }).done
    expect(summarizeLoad(r503.records)).toMatchObject({ failed: 3, outcomes: { "503": 3 } })

    const refused = await startLoad({ url: deadUrl, concurrency: 1, maxRequests: 2 }).done
    expect(summarizeLoad(refused.records)).toMatchObject({ failed: 2, outcomes: { ECONNREFUSED: 2 } })

    const hang = await startLoad({ url: hangUrl, concurrency: 1, maxRequests: 1, requestTimeoutMs: 200 }).done
    expect(hang.records[0]).toMatchObject({ status: null, error: "TIMEOUT" })
    expect(hang.records[0]?.latencyMs).toBeGreaterThanOrEqual(190)

    const long = startLoad({ url: url503, concurrency: 2, pauseMs: 50, maxDurationMs: 60_000 })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const started = performance.now()
    const stopped = await long.stop()
    // Early: long before its own 60 s bound (it waits only for the requests in flight, a few ms).
    expect(performance.now() - started).toBeLessThan(15_000)
    expect(stopped.durationMs).toBeLessThan(30_000)
    expect(stopped.records.length).toBeGreaterThan(0)
  })
})
