/**
 * A real Caddy in front of two Tamanu-shaped services: a rolling restart
 * done the way `restart` does it (stop one, start it, probe it until
 * ready, reload Caddy, next) loses no request under continuous load; and a
 * reload against a Caddy that is down or rejects the config is a warning.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import net from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { CaddyAdminLive, HttpProberLive, ReverseProxy, waitReady } from "@tamanu-lifecycle/core"
import { Effect, Schedule } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type CaddyHandle, caddyPrerequisite, startCaddy } from "./caddy.js"
import { isFailedRequest, type LoadRun, loadBuckets, startLoad, summarizeLoad } from "./load.js"
import { skipUnless } from "./prerequisites.js"

const fixture = fileURLToPath(new URL("../../fixtures/tamanu-service.mjs", import.meta.url))
/** Requests the load sends while an instance is down: round robin sends some to it (the control's failures). */
const REQUESTS_WHILE_DOWN = 20

interface Service {
  readonly name: string
  readonly port: number
  process: ChildProcess
}

const spawnService = (name: string, port: number): ChildProcess =>
  spawn(process.execPath, [fixture], {
    env: { ...process.env, PORT: String(port), SERVICE_NAME: name, READY_DELAY_MS: "300" },
    stdio: "ignore",
  })

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once("exit", () => resolve()))

const ready = (port: number) =>
  Effect.runPromise(
    waitReady(`http://127.0.0.1:${port}/`, { budget: "30 seconds" }).pipe(Effect.provide(HttpProberLive)),
  )

const reloadVia = (adminUrl: string, caddyfile: string) =>
  Effect.runPromise(
    ReverseProxy.pipe(
      Effect.flatMap((p) => p.reload),
      Effect.provide(CaddyAdminLive({ adminUrl, caddyfile })),
    ),
  )

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const address = s.address()
      s.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

describe.skipIf(skipUnless(caddyPrerequisite()))("real Caddy in front of two services", () => {
  const services: Array<Service> = []
  let caddy: CaddyHandle | undefined

  beforeAll(async () => {
    for (const name of ["api-a", "api-b"]) {
      const port = await freePort()
      services.push({ name, port, process: spawnService(name, port) })
    }
    await Promise.all(services.map((s) => ready(s.port)))
    caddy = await startCaddy({ upstreams: { "/": services.map((s) => `127.0.0.1:${s.port}`) } })
  })

  afterAll(async () => {
    await caddy?.stop()
    for (const s of services) s.process.kill("SIGKILL")
    await Promise.all(services.map((s) => exited(s.process)))
  })

  /**
   * Requests (by start time, in the load's clock) started at or after `fromMs`, counted once they ended.
   * Waiting for these, instead of sleeping, makes "the load ran through the restart" true by construction.
   */
  const loadSince = (load: LoadRun, fromMs: number, count: number) =>
    Effect.runPromise(
      Effect.sync(() => load.records.filter((r) => r.startMs >= fromMs).length).pipe(
        Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (n) => n >= count }),
        Effect.timeoutFail({
          duration: "30 seconds",
          onTimeout: () => new Error(`fewer than ${count} requests in 30 s`),
        }),
      ),
    )

  /** Restart each service in turn the way `restart` does, under continuous load through `via`. */
  const rollUnderLoad = async (via: CaddyHandle) => {
    const t0 = performance.now() // startLoad's own clock starts now
    const load = startLoad({ url: via.url, concurrency: 4, pauseMs: 5, maxDurationMs: 60_000 })
    await loadSince(load, 0, 10)
    const restarts: Array<{ name: string; downAtMs: number; upAtMs: number }> = []
    for (const s of services) {
      const downAtMs = performance.now() - t0
      s.process.kill("SIGTERM")
      await exited(s.process)
      // Keep it down until the load has sent requests its way (through Caddy), however slow the machine.
      await loadSince(load, downAtMs, REQUESTS_WHILE_DOWN)
      s.process = spawnService(s.name, s.port)
      await ready(s.port)
      restarts.push({ name: s.name, downAtMs, upAtMs: performance.now() - t0 })
      expect(await reloadVia(via.adminUrl, via.caddyfile)).toEqual({ reloaded: true, warnings: [] })
    }
    await loadSince(load, performance.now() - t0, 10)
    const result = await load.stop()
    // the load really ran through both restarts, not around them
    for (const r of restarts) {
      const during = result.records.filter((x) => x.startMs >= r.downAtMs && x.startMs <= r.upAtMs)
      expect(during.length).toBeGreaterThanOrEqual(REQUESTS_WHILE_DOWN)
    }
    return { result, summary: summarizeLoad(result.records), restarts }
  }

  it("control: without proxy retries the same roll does fail requests (the load sees failures)", async () => {
    const plain = await startCaddy({
      upstreams: { "/": services.map((s) => `127.0.0.1:${s.port}`) },
      proxyDirectives: ["lb_policy round_robin"],
    })
    try {
      const { summary } = await rollUnderLoad(plain)
      process.stderr.write(`[caddy roll, no retries] ${JSON.stringify(summary)}\n`)
      expect(summary.failed).toBeGreaterThan(0)
      expect(summary.outcomes["502"]).toBe(summary.failed)
    } finally {
      await plain.stop()
    }
  })

  it("a rolling restart behind Caddy, one instance at a time, loses no request under continuous load", async () => {
    if (caddy === undefined) throw new Error("no caddy")
    const { result, summary, restarts } = await rollUnderLoad(caddy)
    process.stderr.write(
      `[caddy roll] ${JSON.stringify(summary)} restarts=${JSON.stringify(restarts)}\n` +
        `[caddy roll] failed buckets: ${JSON.stringify(loadBuckets(result.records).filter((b) => b.failed > 0))}\n`,
    )
    expect(result.records.filter(isFailedRequest)).toEqual([])
    expect(summary.served).toBe(summary.total)
  })

  it("after the roll both new instances serve through Caddy", async () => {
    if (caddy === undefined) throw new Error("no caddy")
    const expected = services.map((s) => s.process.pid).sort()
    // Caddy avoids an upstream for fail_duration (250 ms) after a failed dial, and the load hit the
    // last restarted one while it was down: ask until both have answered (a bound far above 250 ms).
    const pids = new Set<number>()
    const via = caddy.url
    await Effect.runPromise(
      Effect.promise(async () => {
        const body = (await (await fetch(via)).json()) as { pid: number }
        pids.add(body.pid)
        return pids.size
      }).pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (n) => n >= expected.length }),
        Effect.timeout("10 seconds"),
        Effect.ignore,
      ),
    )
    expect([...pids].sort()).toEqual(expected)
  })

  it("a Caddyfile Caddy rejects is a warning with Caddy's reason, and Caddy keeps serving the old config", async () => {
    if (caddy === undefined) throw new Error("no caddy")
    const bad = join(mkdtempSync(join(caddy.dir, "bad-")), "Caddyfile")
    writeFileSync(bad, "http://127.0.0.1:1 {\n\tno_such_directive\n}\n")
    const result = await reloadVia(caddy.adminUrl, bad)
    expect(result.reloaded).toBe(false)
    expect(result.warnings).toHaveLength(1)
    expect(result.warnings[0]).toMatch(/HTTP 400: .*no_such_directive/)
    expect((await fetch(caddy.url)).status).toBe(200)
  })

  it("a reload when Caddy's admin API is down is a warning, not an error, and stop leaves no caddy behind", async () => {
    if (caddy === undefined) throw new Error("no caddy")
    const { adminUrl, pid } = caddy
    const file = join(mkdtempSync(join(tmpdir(), "caddyfile-")), "Caddyfile")
    writeFileSync(file, "http://127.0.0.1:1 {\n\trespond ok\n}\n")
    await caddy.stop()
    caddy = undefined
    expect(() => process.kill(pid, 0)).toThrow()
    expect(await reloadVia(adminUrl, file)).toEqual({
      reloaded: false,
      warnings: [`POST ${adminUrl}/load: connection refused (ECONNREFUSED)`],
    })
    rmSync(dirname(file), { recursive: true, force: true })
  })
})
