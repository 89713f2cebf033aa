/**
 * The settle window (issue #23) on a real systemd system manager, through
 * the built `tamanu` run by a non-root operator with a plain sudoers rule
 * (centralSystemHost.ts): the Tamanu units are rootful podman containers,
 * their output in journald. A drop-in makes a unit's container exit 3 a
 * second after it starts (the fixture's EXIT_AFTER_MS), with Restart=no or
 * Restart=always; the unit files themselves are the host's.
 *
 * Timing bounds here are loose on purpose (CI machines are shared); the
 * figures are printed, and the bench measures the window's cost.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { skipUnless } from "../harness/prerequisites.js"
import type { ExecResult } from "../harness/systemdSystemManager.js"
import { type CentralSystemHost, centralSystemHostPrerequisites, startCentralSystemHost } from "./centralSystemHost.js"

const said = (r: ExecResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

const tasks = "tamanu-central-tasks.service"
const api = ["tamanu-central-api@1.service", "tamanu-central-api@2.service"]
const frontend = ["tamanu-frontend@a.service", "tamanu-frontend@b.service"]
const portal = ["tamanu-patientportal@a.service", "tamanu-patientportal@b.service"]
/** The worker's own last words (the fixture's, on stderr). */
const givingUp = /tamanu-central-tasks\.service: cannot reach the database, giving up \(exit 3\)/

interface Report {
  readonly ok: boolean
  readonly elapsed_ms: number
  readonly settle: ReadonlyArray<{
    readonly instance: string
    readonly window_ms: number
    readonly result: string
    readonly how: string | null
    readonly exit_code: number | null
    readonly lasted_ms: number | null
    readonly restarts: number | null
  }>
  readonly last_lines: ReadonlyArray<{ readonly instance: string; readonly lines: ReadonlyArray<string> }>
  readonly error: { readonly tag: string; readonly message: string } | null
}

describe.skipIf(skipUnless(...centralSystemHostPrerequisites()))(
  "the settle window on a real systemd system manager, as a non-root operator through sudo",
  () => {
    let host: CentralSystemHost

    beforeAll(async () => {
      host = await startCentralSystemHost({ readyDelayMs: 1000 })
      process.stderr.write(
        `[settle] ${host.system.name}: boot ${Math.round(host.system.bootMs)} ms, setup ${Math.round(host.setupMs)} ms\n`,
      )
      await host.startUnits([...frontend, ...api, ...portal])
    }, 180_000)
    afterAll(async () => {
      await host?.system.stop()
    }, 120_000)

    const dropIns: Array<string> = []
    /** Make a unit's container exit with `code` after `ms`, with this Restart= (a drop-in beside the host's unit file). */
    const exitsAfter = async (unit: string, restart: "no" | "always", ms = 1000, code = 3) => {
      const file = unit.includes("@") ? `${unit.slice(0, unit.indexOf("@"))}@.service` : unit
      const execStart = host.system
        .readFile(`/etc/systemd/system/${file}`)
        .split("\n")
        .find((line) => line.startsWith("ExecStart="))
      if (execStart === undefined) throw new Error(`no ExecStart in ${file}`)
      const failing = execStart.replace(" --rootfs ", ` -e EXIT_AFTER_MS=${ms} -e EXIT_CODE=${code} --rootfs `)
      const dir = `/etc/systemd/system/${unit}.d`
      host.system.writeFile(
        `${dir}/settle-test.conf`,
        `[Unit]\nStartLimitIntervalSec=0\n[Service]\nRestart=${restart}\nRestartSec=200ms\nExecStart=\n${failing}\n`,
        0o644,
      )
      dropIns.push(dir)
      await host.ctl(["daemon-reload"])
    }
    afterEach(async () => {
      if (dropIns.length === 0) return
      await host.system.systemctl(["stop", "--", ...dropIns.map((d) => d.slice("/etc/systemd/system/".length, -2))])
      await host.system.sh(`rm -rf ${dropIns.splice(0).join(" ")} && systemctl daemon-reload && systemctl reset-failed`)
    })
    const stopTasks = async () => {
      await host.system.systemctl(["stop", tasks])
      await host.system.systemctl(["reset-failed", tasks])
    }
    const report = (r: ExecResult): Report => {
      expect(r.stdout.trim().startsWith("{"), said(r)).toBe(true)
      return JSON.parse(r.stdout) as Report
    }

    it("a worker that exits 3 a second after it starts: exit 1, naming it, exit code 3, how long it ran, its own line", async () => {
      await exitsAfter(tasks, "no")
      await stopTasks()
      const r = await host.tamanu(["start", "tasks", "--no-probe-http"])
      expect(r.code, said(r)).toBe(1)
      expect(r.stderr).toMatch(
        /tamanu start: tamanu-central-tasks did not stay up through the 5s settle window: systemd says it failed \(exit code 3\) after [\d.]+ m?s/,
      )
      // Its own words, printed whether or not --logs was given.
      expect(r.stderr).toMatch(/last \d+ lines? of tamanu-central-tasks since its start:/)
      expect(r.stderr).toMatch(givingUp)

      await stopTasks()
      const json = await host.tamanu(["start", "tasks", "--no-probe-http", "--json"])
      expect(json.code, said(json)).toBe(1)
      const doc = report(json)
      expect(doc.error?.tag).toBe("SettleFailed")
      expect(doc.settle).toMatchObject([
        { instance: "tamanu-central-tasks", window_ms: 5000, result: "ended", how: "failed", exit_code: 3 },
      ])
      // It ran about a second (plus the container's start): bounded loosely, the figure is printed.
      const lasted = doc.settle[0]?.lasted_ms ?? 0
      expect(lasted).toBeGreaterThanOrEqual(1000)
      expect(lasted).toBeLessThan(30_000)
      expect(doc.last_lines.map((l) => l.instance)).toEqual(["tamanu-central-tasks"])
      expect(doc.last_lines[0]?.lines.join("\n")).toMatch(givingUp)
      process.stderr.write(`[settle] exit-3 worker: ran ${lasted} ms; start took ${doc.elapsed_ms} ms\n`)
    })

    it("--logs shows a fast-failing start's lines from the start call on, and stops once the window is over", async () => {
      await exitsAfter(tasks, "no")
      await stopTasks()
      const r = await host.tamanu(["start", "tasks", "--no-probe-http", "--logs"])
      expect(r.code, said(r)).toBe(1)
      // From the start call, not from whenever journalctl attached: systemd's own first lines are there.
      expect(r.stderr).toMatch(/tamanu-central-tasks \| [\d:.]+ systemd\[1\]: Starting tamanu-central-tasks\.service/)
      expect(r.stderr).toMatch(/tamanu-central-tasks \| [\d:.]+ systemd\[1\]: Started tamanu-central-tasks\.service/)
      expect(r.stderr).toMatch(givingUp)
      const followers = await host.system.exec(["pgrep", "-a", "journalctl"])
      expect(followers.stdout.trim()).toBe("")
    })

    it("a worker that crash-loops under Restart=always: exit 1, exit code 3, never taken for started", async () => {
      await exitsAfter(tasks, "always")
      await stopTasks()
      const r = await host.tamanu(["start", "tasks", "--no-probe-http", "--json"])
      expect(r.code, said(r)).toBe(1)
      const doc = report(r)
      expect(doc.error?.tag).toBe("SettleFailed")
      // Caught while systemd takes it down (failed) or once it restarted it: either way with its exit code.
      expect(doc.settle[0]).toMatchObject({ instance: "tamanu-central-tasks", result: "ended", exit_code: 3 })
      expect(["failed", "restarted"]).toContain(doc.settle[0]?.how)
      expect(doc.last_lines[0]?.lines.join("\n")).toMatch(givingUp)
      process.stderr.write(`[settle] crash loop: ${JSON.stringify(doc.settle[0])}\n`)
    })

    it("a worker that stays up: exit 0, and the window adds about the --settle setting to the start", async () => {
      const runs: Array<{ readonly settle: string; readonly elapsed: number }> = []
      for (const settle of ["0s", "3s"]) {
        await stopTasks()
        const r = await host.tamanu(["start", "tasks", "--no-probe-http", "--settle", settle, "--json"])
        expect(r.code, said(r)).toBe(0)
        const doc = report(r)
        expect(doc.settle).toEqual(
          settle === "0s"
            ? []
            : [
                {
                  instance: "tamanu-central-tasks",
                  window_ms: 3000,
                  result: "steady",
                  how: null,
                  exit_code: null,
                  signal: null,
                  lasted_ms: null,
                  lasted_exact: null,
                  restarts: null,
                },
              ],
        )
        runs.push({ settle, elapsed: doc.elapsed_ms })
      }
      const elapsed = (settle: string) => runs.find((x) => x.settle === settle)?.elapsed ?? 0
      const added = elapsed("3s") - elapsed("0s")
      process.stderr.write(
        `[settle] healthy start: ${JSON.stringify(runs)}; the 3s window added ${Math.round(added)} ms\n`,
      )
      // At least the window on each run; what it adds beyond that is a read or two (loose bound: shared CI machines).
      for (const run of runs.filter((x) => x.settle === "3s")) expect(run.elapsed).toBeGreaterThanOrEqual(3000)
      expect(added).toBeLessThan(3000 + 5000)
      expect((await host.units([tasks]))[tasks]?.active).toBe("active")
    })

    it("--no-probe-http roll: an API instance that exits after its restart is not ready; its sibling is never restarted", async () => {
      await exitsAfter("tamanu-central-api@1.service", "always")
      const before = await host.units(api)
      const r = await host.tamanu([
        "restart",
        "api",
        "--no-probe-http",
        "--cooldown",
        "2s",
        // Caddy the old way (an admin API that does not answer), so its one-minute cache is not waited for.
        "--caddy-admin",
        "http://127.0.0.1:9",
        "--json",
      ])
      expect(r.code, said(r)).toBe(1)
      const doc = report(r)
      expect(doc.error?.tag).toBe("RollStopped")
      expect(doc.error?.message).toMatch(
        /tamanu-central-api@1 did not become ready \(it did not stay running through the settle window: it/,
      )
      expect(doc.settle[0]).toMatchObject({ instance: "tamanu-central-api@1", result: "ended", exit_code: 3 })
      const after = await host.units(api)
      expect(after["tamanu-central-api@2.service"]?.mainPid).toBe(before["tamanu-central-api@2.service"]?.mainPid)
      expect(after["tamanu-central-api@2.service"]?.active).toBe("active")
    })

    it("teardown leaves nothing on the host: processes, mounts, cgroups, the bridge, the network", async () => {
      const left = await host.system.stop()
      expect(left).toEqual({ processes: [], mounts: [], cgroups: [], bridges: [], podman: [] })
    })
  },
)
