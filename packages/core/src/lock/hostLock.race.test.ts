/**
 * The host lock between processes racing for it (issue #25: a scheduled
 * restore, a second one and a `tamanu start` may all reach for it in the
 * same second, and the one a SIGKILLed run left behind is taken over).
 * Four processes loop until each held it 100 times: each takes the lock when it can, holds
 * it a millisecond, and then "dies" holding it (the file is left naming a
 * dead pid, as a SIGKILLed run leaves it), so every next holder got it by
 * taking over a dead holder's lock while the others tried too. The holds,
 * timed on the system-wide monotonic clock, must never overlap.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { buildSync } from "esbuild"
import { describe, expect, it } from "vitest"

/** Holds each racer takes before it stops: 4 × 100 contested takeovers, however fast the machine. */
const HOLDS_EACH = 100

const racer = `
import * as fs from "node:fs"
import { Effect } from "effect"
import { withHostLock } from "./hostLock.ts"
const [file, log, deadPid] = process.argv.slice(2)
const holds = []
let tries = 0
while (holds.length < ${HOLDS_EACH}) {
  tries += 1
  Effect.runSyncExit(Effect.scoped(Effect.gen(function* () {
    yield* withHostLock(file, "racer")
    const t0 = process.hrtime.bigint()
    const end = Date.now() + 1
    while (Date.now() < end) {}
    holds.push(t0 + " " + process.hrtime.bigint())
    // Dies holding it: the lock is left naming a dead pid (renamed into place, never seen half-written).
    fs.writeFileSync(file + ".dead", JSON.stringify({ pid: Number(deadPid), command: "killed", since: String(t0) }))
    fs.renameSync(file + ".dead", file)
  })))
}
fs.writeFileSync(log, JSON.stringify({ tries, holds }))
`

describe("host lock between processes", () => {
  it("processes racing to take over a dead holder's lock never hold it at once", { timeout: 30_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-lock-race-"))
    try {
      const bundle = path.join(dir, "racer.mjs")
      buildSync({
        stdin: { contents: racer, resolveDir: path.dirname(fileURLToPath(import.meta.url)), loader: "ts" },
        bundle: true,
        platform: "node",
        format: "esm",
        outfile: bundle,
        logLevel: "error",
      })
      const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString()
      const file = path.join(dir, "lock")
      fs.writeFileSync(file, JSON.stringify({ pid: Number(dead), command: "killed", since: "start" }))
      const logs = [1, 2, 3, 4].map((i) => path.join(dir, `racer-${i}.json`))
      await Promise.all(
        logs.map(
          (log) =>
            new Promise<void>((resolve, reject) =>
              spawn(process.execPath, [bundle, file, log, dead], { stdio: "inherit" }).on("close", (code) =>
                code === 0 ? resolve() : reject(new Error(`racer exited ${code}`)),
              ),
            ),
        ),
      )
      const results = logs.map(
        (log) => JSON.parse(fs.readFileSync(log, "utf8")) as { tries: number; holds: ReadonlyArray<string> },
      )
      const holds = results
        .flatMap((r) => r.holds.map((h) => h.split(" ").map(BigInt) as [bigint, bigint]))
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      const overlapping = holds.filter((h, i) => i > 0 && h[0] < (holds[i - 1]?.[1] ?? 0n))
      // Every hold but the first followed a takeover of a dead holder's lock, contested while the others still ran.
      expect(holds.length).toBe(4 * HOLDS_EACH)
      expect(overlapping.length, `${overlapping.length} of ${holds.length} holds overlapped the one before`).toBe(0)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
