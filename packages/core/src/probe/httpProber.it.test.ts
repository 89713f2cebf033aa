/**
 * The live Prober and waitReady against real HTTP servers on loopback:
 * what each kind of answer (or non-answer) means, and how long after an
 * instance starts listening the probe notices.
 */
import http from "node:http"
import type { AddressInfo, Socket } from "node:net"
import net from "node:net"
import { performance } from "node:perf_hooks"
import { type Duration, Effect, Either, Schedule } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { HttpProberLayer } from "./httpProber.js"
import { Prober } from "./Prober.js"
import { waitReady } from "./readiness.js"

const servers: Array<net.Server> = []
const sockets = new Set<Socket>()

const listen = (server: net.Server, port = 0): Promise<number> =>
  new Promise((resolve, reject) => {
    servers.push(server)
    server.on("connection", (s: Socket) => {
      sockets.add(s)
      s.on("close", () => sockets.delete(s))
    })
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port))
  })

const httpServer = (status: number) => http.createServer((_req, res) => res.writeHead(status).end("x"))

/** A port nothing listens on (bound, read, released). */
const freePort = async (): Promise<number> => {
  const s = net.createServer()
  const port = await new Promise<number>((resolve) =>
    s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port)),
  )
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

afterAll(async () => {
  for (const s of sockets) s.destroy()
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
})

const probe = (url: string, attemptTimeout: Duration.DurationInput = "5 seconds") =>
  Effect.runPromise(
    Prober.pipe(
      Effect.flatMap((p) => p.probeOnce(url)),
      Effect.either,
      Effect.provide(HttpProberLayer({ attemptTimeout })),
    ),
  )

describe("HttpProber against real servers", () => {
  it.each([200, 302, 404])("HTTP %i means ready and is returned", async (status) => {
    const port = await listen(httpServer(status))
    expect(await probe(`http://127.0.0.1:${port}/`)).toEqual(Either.right(status))
  })

  it.each([500, 503])("HTTP %i is not ready", async (status) => {
    const port = await listen(httpServer(status))
    const result = await probe(`http://127.0.0.1:${port}/`)
    expect(Either.isLeft(result) && result.left.lastError).toBe(`HTTP ${status}`)
  })

  it("a closed port is not ready: connection refused", async () => {
    const url = `http://127.0.0.1:${await freePort()}/`
    const result = await probe(url)
    expect(Either.isLeft(result) && result.left).toMatchObject({ url, lastError: "connection refused (ECONNREFUSED)" })
  })

  it("a server that accepts and never answers is cut by the attempt timeout", async () => {
    const port = await listen(http.createServer(() => {}))
    const started = performance.now()
    const result = await probe(`http://127.0.0.1:${port}/`, "300 millis")
    const took = performance.now() - started
    // The server never answers: only the attempt timeout can end this, and the error says it did.
    // The bound only proves it ends at all; the time it takes past 300 ms is the machine's.
    expect(Either.isLeft(result) && result.left.lastError).toBe("timed out after 300ms")
    expect(took).toBeGreaterThanOrEqual(290)
    expect(took).toBeLessThan(15_000)
  })

  it("a server that resets the connection is not ready: connection reset", async () => {
    const port = await listen(net.createServer((s) => s.resetAndDestroy()))
    const result = await probe(`http://127.0.0.1:${port}/`)
    expect(Either.isLeft(result) && result.left.lastError).toMatch(/^connection reset/)
  })

  it("a probe leaves no connection open on the instance (nothing holds a draining process)", async () => {
    const server = httpServer(200)
    const port = await listen(server)
    for (let i = 0; i < 3; i++) expect(await probe(`http://127.0.0.1:${port}/`)).toEqual(Either.right(200))
    // The server sees the prober's close a moment later: wait for it (a kept-alive connection never closes).
    const connections = () =>
      new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))))
    const open = await Effect.runPromise(
      Effect.promise(connections).pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (n) => n === 0 }),
        Effect.timeoutTo({ duration: "10 seconds", onTimeout: () => -1, onSuccess: (n) => n }),
      ),
    )
    expect(open, "connections still open 10 s after the probes").toBe(0)
  })

  it("a restarted backend on the same port is probed afresh, not over the old connection", async () => {
    const port = await freePort()
    const first = httpServer(200)
    await listen(first, port)
    expect(await probe(`http://127.0.0.1:${port}/`)).toEqual(Either.right(200))
    first.closeAllConnections()
    await new Promise<void>((resolve) => first.close(() => resolve()))
    await listen(httpServer(404), port)
    expect(await probe(`http://127.0.0.1:${port}/`)).toEqual(Either.right(404))
  })
})

describe("waitReady against a real server that starts listening late", () => {
  /** Refused until `delayMs`, then listening; returns how long after listening waitReady returned. */
  const overheadOnce = async (
    delayMs: number,
    spacing?: Duration.DurationInput,
  ): Promise<{ overheadMs: number; attempts: number }> => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}/`
    let listeningAt = Number.NaN
    const server = httpServer(200)
    const timer = setTimeout(() => {
      void listen(server, port).then(() => {
        listeningAt = performance.now()
      })
    }, delayMs)
    try {
      const ready = await Effect.runPromise(
        waitReady(url, { budget: "10 seconds", ...(spacing !== undefined ? { spacing } : {}) }).pipe(
          Effect.provide(HttpProberLayer()),
        ),
      )
      return { overheadMs: performance.now() - listeningAt, attempts: ready.attempts }
    } finally {
      clearTimeout(timer)
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }

  it("an instance listening after 1 s is seen ready once it listens (overhead reported, not asserted)", async () => {
    const runs: Array<number> = []
    for (let i = 0; i < 5; i++) {
      // a random phase, so the listen time does not line up with the attempts
      const { overheadMs, attempts } = await overheadOnce(1000 + Math.random() * 100)
      // Refused, then tried again until it answered (how many tries fit in 1 s is the machine's speed).
      expect(attempts).toBeGreaterThan(1)
      runs.push(overheadMs)
    }
    runs.sort((a, b) => a - b)
    const median = runs[Math.floor(runs.length / 2)] ?? Number.NaN
    process.stderr.write(
      `[probe overhead] spacing 50ms, 5 runs: median ${median.toFixed(1)} ms, all ${runs.map((r) => r.toFixed(1)).join(", ")}\n`,
    )
    // The figure itself is a benchmark (docs/probes-and-caddy.md), not a timed test.
    expect(median).toBeGreaterThanOrEqual(0)
  })

  it("an instance that never listens fails at the budget with connection refused", async () => {
    const url = `http://127.0.0.1:${await freePort()}/`
    const started = performance.now()
    const result = await Effect.runPromise(
      waitReady(url, { budget: "500 millis" }).pipe(Effect.either, Effect.provide(HttpProberLayer())),
    )
    const took = performance.now() - started
    expect(Either.isLeft(result) && result.left).toMatchObject({ url, lastError: "connection refused (ECONNREFUSED)" })
    // Not before the budget; and it ends (a bound far above the budget, not a measure of it).
    expect(took).toBeGreaterThanOrEqual(490)
    expect(took).toBeLessThan(15_000)
  })
})
