/**
 * The patient-portal flag read from a real PostgreSQL through the live
 * TamanuHost (spec §1.1, §5.7): every value shape, a database that is down,
 * and one that comes up while `start` waits for it.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { TamanuHost, TamanuHostLive } from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Logger } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type PostgresCluster, postgresPrerequisite, startPostgres } from "./postgres.js"
import { skipUnless } from "./prerequisites.js"

/** Running, not merely a zombie waiting for init to reap it. */
const alive = (pid: number): boolean => {
  const stat = `/proc/${pid}/stat`
  if (!fs.existsSync(stat)) return false
  const state = fs.readFileSync(stat, "utf8").split(") ")[1]?.[0]
  return state !== undefined && state !== "Z"
}

const postmasterPid = (dataDir: string): number | null => {
  const file = path.join(dataDir, "postmaster.pid")
  return fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8").split("\n")[0]) : null
}

describe.skipIf(skipUnless(postgresPrerequisite()))("patient-portal flag from a real PostgreSQL", () => {
  let cluster: PostgresCluster
  let root: string
  beforeAll(async () => {
    cluster = await startPostgres()
    root = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-pg-root-"))
  })
  afterAll(async () => {
    await cluster?.stop()
    if (root) fs.rmSync(root, { recursive: true, force: true })
  })

  /** Reads the flag through the live host, returning it with the log lines and the time taken. */
  const read = async (wait: Duration.Duration, url = cluster.url) => {
    const lines: Array<string> = []
    const capture = Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ message }) => lines.push(JSON.stringify(message))),
    )
    const started = performance.now()
    const value = await Effect.runPromise(
      Effect.flatMap(TamanuHost, (h) => h.patientPortal(wait)).pipe(
        Effect.provide(TamanuHostLive({ root, databaseUrl: url })),
        Effect.provide(capture),
      ),
    )
    return { value, lines, ms: performance.now() - started }
  }

  it.each([
    [true, true],
    [false, false],
  ])("a JSON %s setting reads as %s", async (stored, expected) => {
    await cluster.setPortalFlag(stored)
    expect((await read(Duration.zero)).value).toBe(expected)
  })

  it("a missing row reads as false, without a warning", async () => {
    await cluster.setPortalFlag("missing")
    const r = await read(Duration.zero)
    expect(r.value).toBe(false)
    expect(r.lines).toEqual([])
  })

  it.each([["yes"], [1], [null], [{ enabled: true }]])(
    "a non-boolean setting %j reads as false with a warning",
    async (stored) => {
      await cluster.setPortalFlag(stored)
      const r = await read(Duration.zero)
      expect(r.value).toBe(false)
      expect(r.lines.some((l) => l.includes("not a boolean"))).toBe(true)
    },
  )

  it("a database that is down reads as unknown (null) at once, saying why", async () => {
    await cluster.halt()
    try {
      const r = await read(Duration.zero)
      expect(r.value).toBeNull()
      // At once: one try, no wait for a retry (the mechanism; its time is the machine's).
      expect(r.lines.filter((l) => l.includes("waiting for the database"))).toEqual([])
      expect(r.ms).toBeLessThan(15_000)
      expect(r.lines.some((l) => l.includes("unreachable"))).toBe(true)
    } finally {
      await cluster.resume()
    }
  })

  it("start waits for a database that comes up 3 s later and then reads the flag", async () => {
    await cluster.setPortalFlag(true)
    await cluster.halt()
    let upAt = 0
    const comesUp = new Promise<void>((resolve, reject) =>
      setTimeout(() => {
        cluster.resume().then(() => {
          upAt = performance.now()
          resolve()
        }, reject)
      }, 3000),
    )
    const started = performance.now()
    const r = await read(Duration.minutes(1))
    await comesUp
    expect(r.value).toBe(true)
    // it waited (logging each wait) rather than answering from the down database
    expect(r.lines.filter((l) => l.includes("waiting for the database")).length).toBeGreaterThanOrEqual(1)
    // and stopped waiting once the database was up, not at the end of its 1-minute wait (normally
    // within one 2 s retry interval; the bound is far above that and far below the minute)
    expect(started + r.ms - upAt).toBeLessThan(20_000)
    console.info(`db up after ${Math.round(upAt - started)} ms, flag read after ${Math.round(r.ms)} ms`)
  })

  it("the wait gives up after --db-wait and reports unknown", async () => {
    await cluster.halt()
    try {
      const r = await read(Duration.seconds(3))
      expect(r.value).toBeNull()
      // It waited (retried at least once, 2 s apart), and it gave up (a bound far above its ~4 s).
      expect(r.ms).toBeGreaterThanOrEqual(1900)
      expect(r.lines.filter((l) => l.includes("waiting for the database")).length).toBeGreaterThanOrEqual(1)
      expect(r.ms).toBeLessThan(30_000)
    } finally {
      await cluster.resume()
    }
  })

  it("a text value column holding 'true' also reads as true", async () => {
    const textCluster = await startPostgres({ valueType: "text" })
    try {
      await textCluster.setPortalFlag("true")
      expect((await read(Duration.zero, textCluster.url)).value).toBe(true)
    } finally {
      await textCluster.stop()
    }
  })

  it("stop leaves no postgres process and no files", async () => {
    const other = await startPostgres()
    const pid = postmasterPid(other.dataDir)
    expect(pid !== null && alive(pid)).toBe(true)
    await other.stop()
    expect(alive(pid ?? -1)).toBe(false)
    expect(fs.existsSync(other.dataDir)).toBe(false)
  })
})
