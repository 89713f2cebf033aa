/**
 * The built `tamanu` binary on a real systemd system manager (PID 1 of a
 * podman container made from this host's root: journald, D-Bus, Debian's
 * caddy.service and PostgreSQL cluster), run by a non-root operator with a
 * plain sudoers rule, in the default system scope (no --systemd-scope).
 * The Tamanu units are rootful podman containers inside it, on a bridge
 * network whose aardvark-dns answers their aliases (centralSystemHost.ts).
 *
 * One booted system serves the whole file, in order; each test first puts
 * the host in the state it needs, directly as root (not through the CLI).
 * Whether the CLI asked sudo is read from sudo's own log in journald. The
 * last test proves the teardown leaves nothing on the host.
 */
import * as fs from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { skipUnless } from "../harness/prerequisites.js"
import type { ExecResult } from "../harness/systemdSystemManager.js"
import {
  type CentralSystemHost,
  centralSystemHostPrerequisites,
  operator,
  type PortalLayout,
  type PortalSetting,
  type SudoRule,
  startCentralSystemHost,
} from "./centralSystemHost.js"

interface StatusJson {
  readonly any_short: boolean
  readonly expectations: ReadonlyArray<{
    readonly name: string
    readonly expected_state: string
    readonly running: number
    readonly min_count: number
    readonly status: string
    readonly reason: string
    readonly legacy: boolean
    readonly instances: ReadonlyArray<{
      readonly name: string
      readonly instance: string | null
      readonly running: boolean
    }>
  }>
}

const said = (r: ExecResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

const api = ["tamanu-central-api@1.service", "tamanu-central-api@2.service"]
const frontend = ["tamanu-frontend@a.service", "tamanu-frontend@b.service"]
const portalInstances = ["tamanu-patientportal@a.service", "tamanu-patientportal@b.service"]
const portalSingleton = ["tamanu-patientportal.service"]
const tasks = "tamanu-central-tasks.service"
const fhir = ["tamanu-central-fhir-resolve.service", "tamanu-central-fhir-refresh.service"]
const legacy = "tamanu-facility.service"
/** Every unit an Up central host runs with the instanced portal. */
const upUnits = [tasks, ...frontend, ...api, ...portalInstances]

describe.skipIf(skipUnless(...centralSystemHostPrerequisites()))(
  "tamanu on a real systemd system manager, as a non-root operator through sudo",
  () => {
    let host: CentralSystemHost
    let node = ""

    beforeAll(async () => {
      host = await startCentralSystemHost({ readyDelayMs: 1000 })
      node = (await host.system.exec(["readlink", "-f", process.execPath])).stdout.trim()
      process.stderr.write(
        `[system manager] ${host.system.name}: boot ${Math.round(host.system.bootMs)} ms, setup ${Math.round(host.setupMs)} ms\n`,
      )
    }, 180_000)
    afterAll(async () => {
      await host?.system.stop()
    }, 120_000)

    /**
     * `status --json` as the operator: one JSON document on stdout. `logsBefore`: lines
     * Effect's default logger wrote to stdout ahead of it, allowed only where a test says
     * (the database-unreachable warning; the logging branch sends such lines to stderr).
     */
    const status = async (args: ReadonlyArray<string> = [], logsBefore = false) => {
      const r = await host.tamanu(["status", "--json", ...args])
      const lines = r.stdout.split("\n")
      const start = lines.indexOf("{")
      expect(start, said(r)).toBeGreaterThanOrEqual(0)
      if (!logsBefore) expect(start, said(r)).toBe(0)
      for (const line of lines.slice(0, start)) expect(line, said(r)).toMatch(/^\[[\d:.]+\] (WARN|INFO)|^\S/)
      return { r, json: JSON.parse(lines.slice(start).join("\n")) as StatusJson }
    }
    const expectation = (json: StatusJson, name: string) => {
      const e = json.expectations.find((x) => x.name === name)
      if (e === undefined) throw new Error(`no expectation ${name} in ${JSON.stringify(json)}`)
      return e
    }
    /** What the operator ran through sudo since `mark`, from sudo's own log (`COMMAND=...`). */
    const sudoCommands = async (mark: number) =>
      (await host.system.journal(mark, ["SYSLOG_IDENTIFIER=sudo"]))
        .map((e) => e.MESSAGE ?? "")
        .filter((m) => m.includes("COMMAND="))
        .map((m) => m.slice(m.indexOf("COMMAND=") + "COMMAND=".length))
    const asRoot = (args: ReadonlyArray<string>) => `${node} /usr/local/bin/tamanu ${args.join(" ")}`
    /** Only these units running among the Tamanu ones, the rest stopped (directly, as root). */
    const only = async (running: ReadonlyArray<string>) => {
      const all = [...upUnits, ...portalSingleton, ...fhir, legacy]
      const stop = all.filter((u) => !running.includes(u))
      await host.system.systemctl(["stop", "--", ...stop])
      await host.startUnits(running)
    }
    const active = async (units: ReadonlyArray<string>) =>
      Object.fromEntries(Object.entries(await host.units(units)).map(([u, s]) => [u, s.active]))

    it("status reads the system manager without sudo: every central expectation, instance and enabled state", async () => {
      await only(upUnits)
      const mark = await host.system.journalMark()
      const { r, json } = await status()
      expect(r.code, said(r)).toBe(0)
      const rows = Object.fromEntries(json.expectations.map((e) => [e.name, [e.expected_state, e.status]]))
      expect(rows).toEqual({
        "tamanu-central-tasks": ["up", "up"],
        "tamanu-frontend": ["up", "up"],
        "tamanu-central-api": ["up", "up"],
        "tamanu-central-fhir-resolve": ["down", "absent"],
        "tamanu-central-fhir-refresh": ["down", "absent"],
        "tamanu-patientportal": ["up", "up"],
      })
      expect(expectation(json, "tamanu-central-api").instances.map((i) => [i.name, i.instance, i.running])).toEqual([
        ["tamanu-central-api", "1", true],
        ["tamanu-central-api", "2", true],
      ])
      expect(expectation(json, "tamanu-patientportal").reason).toBe("DB setting features.patientPortal is true")
      // The human table too, and the legacy layout's unit only with --all (it complies: not loaded, disabled).
      const table = await host.tamanu(["status"])
      expect(table.code, said(table)).toBe(0)
      expect(table.stdout).toMatch(/tamanu-central-api\s+up ×2\s+2\/2 running/)
      expect(table.stdout).not.toContain("tamanu-facility ")
      const withAll = await host.tamanu(["status", "--all"])
      expect(withAll.stdout).toMatch(/tamanu-facility\s+absent/)
      // A stopped and disabled unit under an Up expectation is down; an enabled state is read for every unit.
      await host.ctl(["stop", tasks])
      const down = await status()
      expect(down.r.code).toBe(1)
      expect(expectation(down.json, "tamanu-central-tasks").status).toBe("down")
      expect(await sudoCommands(mark)).toEqual([])
    })

    it("status, --dry-run and nothing to do never run sudo", async () => {
      await only(upUnits.filter((u) => u !== tasks))
      const mark = await host.system.journalMark()
      for (const args of [
        ["status"],
        ["status", "--json", "--all"],
        ["start", "--dry-run"],
        ["stop", "--dry-run"],
        ["restart", "--dry-run"],
        ["restart", "api", "--dry-run"],
      ]) {
        const r = await host.tamanu(args)
        expect(r.code, `${args.join(" ")}: ${said(r)}`).toBeLessThanOrEqual(1)
        expect(r.stderr, args.join(" ")).not.toMatch(/sudo|password/)
      }
      expect((await host.units([tasks]))[tasks]?.active).toBe("inactive")
      await host.startUnits([tasks])
      // The host matches: start and stop of something already stopped have nothing to do.
      for (const args of [["start"], ["start", "api", "frontend"], ["stop", "fhir"]]) {
        const r = await host.tamanu(args)
        expect(r.code, `${args.join(" ")}: ${said(r)}`).toBe(0)
        expect(`${r.stdout}${r.stderr}`, args.join(" ")).toMatch(/nothing to do/i)
      }
      expect(await sudoCommands(mark)).toEqual([])
    })

    it("with work to do, start/stop/restart re-run under sudo with exactly the original arguments and exit with its status", async () => {
      await only(upUnits)
      const cases: ReadonlyArray<{
        readonly args: ReadonlyArray<string>
        readonly code: number
        readonly after: Readonly<Record<string, string>>
      }> = [
        { args: ["stop", "tasks"], code: 0, after: { [tasks]: "inactive" } },
        { args: ["start", "tasks", "--no-probe-http"], code: 0, after: { [tasks]: "active" } },
        { args: ["restart", "tasks", "--wait", "30s"], code: 0, after: { [tasks]: "active" } },
      ]
      for (const c of cases) {
        const mark = await host.system.journalMark()
        const r = await host.tamanu(c.args)
        expect(r.code, `${c.args.join(" ")}: ${said(r)}`).toBe(c.code)
        expect(await sudoCommands(mark), c.args.join(" ")).toEqual([asRoot(c.args)])
        expect(await active(Object.keys(c.after))).toEqual(c.after)
        // The plan is printed once, by the run that carries it out.
        expect(r.stderr.match(/^plan for /gm)?.length ?? 0, said(r)).toBe(1)
      }
      // The re-run's own failure is the exit status: 1, with its message (not sudo's).
      await host.ctl(["stop", "tamanu-central-api@1.service"])
      const mark = await host.system.journalMark()
      const failing = ["start", "api", "--probe-timeout", "100ms"]
      const r = await host.tamanu(failing)
      expect(r.code, said(r)).toBe(1)
      expect(r.stderr).toMatch(/tamanu start: tamanu-central-api@1 did not become ready within 100ms/)
      expect(await sudoCommands(mark)).toEqual([asRoot(failing)])
      expect(await active(["tamanu-central-api@1.service"])).toEqual({ "tamanu-central-api@1.service": "active" })
      // That run left Caddy's own config to put back (§9.3): the next start does it, under sudo, and says so.
      const next = await host.tamanu(["start"])
      expect(next.code, said(next)).toBe(0)
      expect(next.stderr).toMatch(/Caddy runs its own config again/)
      expect(fs.existsSync(host.system.hostPath("/run/tamanu-lifecycle.caddy.json"))).toBe(false)
    })

    it("without a usable sudo rule: a clear error and nothing changed", async () => {
      await only(upUnits)
      const cases: ReadonlyArray<{
        readonly rule: SudoRule
        readonly env?: Readonly<Record<string, string>>
        readonly says: RegExp
      }> = [
        { rule: "none", says: /needs root.*sudo.*password/is },
        { rule: "password", says: /needs root.*sudo.*password/is },
        // A setting in the environment is carried into the re-run, which a plain NOPASSWD rule does not allow.
        {
          rule: "nopasswd",
          env: { NO_COLOR: "1" },
          says: /not allowed to set the following environment variables: NO_COLOR/,
        },
      ]
      try {
        for (const c of cases) {
          await host.setSudoRule(c.rule)
          const before = await host.units(upUnits)
          const r = await host.tamanu(["stop", "tasks"], c.env === undefined ? {} : { env: c.env })
          expect(r.code, `${c.rule}: ${said(r)}`).toBe(1)
          expect(r.stderr, c.rule).toMatch(c.says)
          expect(await host.units(upUnits), c.rule).toEqual(before)
        }
        // The same setting with SETENV in the rule: it goes through.
        await host.setSudoRule("nopasswd-setenv")
        const r = await host.tamanu(["stop", "tasks"], { env: { NO_COLOR: "1" } })
        expect(r.code, said(r)).toBe(0)
        expect(await active([tasks])).toEqual({ [tasks]: "inactive" })
      } finally {
        await host.setSudoRule("nopasswd")
      }
    })

    it("a config only root may read: status says how to fix it; stop and start go through sudo, which can read it", async () => {
      await only(upUnits)
      await host.system.sh("chgrp root /etc/tamanu/default.json5")
      try {
        const mark = await host.system.journalMark()
        const st = await host.tamanu(["status"])
        expect(st.code, said(st)).toBe(1)
        expect(st.stderr).toMatch(/Cannot read the Tamanu config at \/etc\/tamanu\/default\.json5: permission denied/)
        expect(st.stderr).toMatch(/chmod 640/)
        expect(await sudoCommands(mark)).toEqual([])
        const stop = await host.tamanu(["stop", "tasks"])
        expect(stop.code, said(stop)).toBe(0)
        expect(await active([tasks])).toEqual({ [tasks]: "inactive" })
        // Nothing to do cannot be known without the config: the re-run under sudo decides it.
        await host.startUnits([tasks])
        const start = await host.tamanu(["start"])
        expect(start.code, said(start)).toBe(0)
        expect(start.stderr).toMatch(/nothing to do/)
        expect(await sudoCommands(mark)).toEqual([asRoot(["stop", "tasks"]), asRoot(["start"])])
      } finally {
        await host.system.sh(`chgrp ${operator} /etc/tamanu/default.json5`)
      }
    })

    it("restart of a singleton restarts it in place (new container), leaving the others alone", async () => {
      await only(upUnits)
      const before = await host.units(upUnits)
      const address = await host.containerAddress(tasks)
      const r = await host.tamanu(["restart", "tasks"])
      expect(r.code, said(r)).toBe(0)
      const after = await host.units(upUnits)
      expect(after[tasks]?.active).toBe("active")
      expect(after[tasks]?.mainPid).not.toBe(before[tasks]?.mainPid)
      expect(await host.containerAddress(tasks)).not.toBe(address)
      for (const u of upUnits.filter((x) => x !== tasks)) expect(after[u], u).toEqual(before[u])
    })

    it("Down: start stops and disables a running, enabled unit the config forbids", async () => {
      await only([...upUnits, fhir[0] ?? ""])
      await host.ctl(["enable", "--quiet", ...fhir])
      const { json } = await status()
      expect(expectation(json, "tamanu-central-fhir-resolve").status).toBe("forbidden")
      expect(expectation(json, "tamanu-central-fhir-refresh").status).toBe("forbidden")
      const r = await host.tamanu(["start"])
      expect(r.code, said(r)).toBe(0)
      const after = await host.units(fhir)
      for (const u of fhir) expect([after[u]?.active, after[u]?.enabled], u).toEqual(["inactive", "disabled"])
      expect((await status()).r.code).toBe(0)
    })

    it("Down: start disables a unit that is enabled but not loaded (the legacy layout's), which status shows forbidden", async () => {
      await only(upUnits)
      // Enabled for a target this host does not have: nothing ever loads it.
      await host.ctl(["enable", "--quiet", legacy])
      const listed = await host.system.systemctl(["list-units", "--all", "--plain", "--no-legend", legacy])
      expect(listed.stdout.trim()).toBe("")
      const { r, json } = await status()
      expect(r.code, said(r)).toBe(1)
      expect(expectation(json, "tamanu-facility").status).toBe("forbidden")
      expect((await host.tamanu(["status"])).stdout).toMatch(/tamanu-facility\s+absent\s+enabled, not loaded/)
      const mark = await host.system.journalMark()
      const start = await host.tamanu(["start"])
      expect(start.code, said(start)).toBe(0)
      expect(await sudoCommands(mark)).toEqual([asRoot(["start"])])
      expect((await host.units([legacy]))[legacy]?.enabled).toBe("disabled")
      expect((await status()).r.code).toBe(0)
    })

    it("restart retires tamanu-patientportal.service beside @a/@b, last, once both answer", async () => {
      await host.setPortalLayout("both")
      await host.setPortalSetting(true)
      await only([...upUnits, ...portalSingleton])
      await host.ctl(["enable", "--quiet", ...portalSingleton])
      const before = await host.units([...portalInstances, ...portalSingleton])
      const mark = await host.system.journalMark()
      // Caddy the old way here (an admin API that does not answer): its own config would otherwise
      // come back only after its one-minute dynamic a refresh. The admin way is systemHostCaddy's.
      const r = await host.tamanu(["restart", "patientportal", "--caddy-admin", "http://127.0.0.1:9"])
      expect(r.code, said(r)).toBe(0)
      expect(r.stderr).toMatch(
        /systemctl stop tamanu-patientportal\.service && systemctl disable tamanu-patientportal\.service/,
      )
      const after = await host.units([...portalInstances, ...portalSingleton])
      for (const u of portalInstances) {
        expect(after[u]?.active, u).toBe("active")
        expect(after[u]?.mainPid, u).not.toBe(before[u]?.mainPid)
      }
      expect([after[portalSingleton[0] ?? ""]?.active, after[portalSingleton[0] ?? ""]?.enabled]).toEqual([
        "inactive",
        "disabled",
      ])
      // In the system's own record: the singleton stopped only after @b (the last rolled) started again.
      const events = (await host.system.journal(mark, ["_PID=1"]))
        .map((e) => e.MESSAGE ?? "")
        .filter((m) => /^(Started|Stopped) tamanu-patientportal/.test(m))
      const lastStart = events.map((m) => m.startsWith("Started tamanu-patientportal@b.service")).lastIndexOf(true)
      const retired = events.findIndex((m) => m.startsWith("Stopped tamanu-patientportal.service"))
      expect(lastStart, events.join("\n")).toBeGreaterThanOrEqual(0)
      expect(retired, events.join("\n")).toBeGreaterThan(lastStart)
      await host.setPortalLayout("instanced")
    })

    describe("the patient portal from a real PostgreSQL", () => {
      const table: ReadonlyArray<{
        readonly setting: PortalSetting | "server stopped"
        readonly expected: string
        readonly reason: RegExp
      }> = [
        { setting: true, expected: "up", reason: /DB setting features.patientPortal is true/ },
        { setting: false, expected: "down", reason: /features.patientPortal is false/ },
        { setting: "absent", expected: "down", reason: /features.patientPortal/ },
        { setting: "server stopped", expected: "unknown", reason: /unreachable/ },
      ]
      for (const layout of ["instanced", "singleton"] as const satisfies ReadonlyArray<PortalLayout>) {
        const units = layout === "instanced" ? portalInstances : portalSingleton
        const others = upUnits.filter((u) => !portalInstances.includes(u))
        for (const row of table) {
          it(`${layout} layout, setting ${String(row.setting)}: status says ${row.expected} and start acts on it`, async () => {
            await host.setPortalLayout(layout)
            await host.startDatabase()
            // Up: start from stopped. Down: start from running and enabled. Unknown: left as it is (running).
            await only(row.expected === "up" ? others : [...others, ...units])
            if (row.expected === "down") await host.ctl(["enable", "--quiet", ...units])
            if (row.setting === "server stopped") await host.stopDatabase()
            else await host.setPortalSetting(row.setting)
            try {
              const { json } = await status([], row.setting === "server stopped")
              const portal = expectation(json, "tamanu-patientportal")
              expect(portal.expected_state).toBe(row.expected)
              expect(portal.reason).toMatch(row.reason)
              expect(portal.min_count).toBe(layout === "instanced" ? 2 : 1)
              const before = await host.units(units)
              const r = await host.tamanu(["start", "--db-wait", "0s"])
              expect(r.code, said(r)).toBe(0)
              const after = await host.units(units)
              for (const u of units) {
                if (row.expected === "up") expect(after[u]?.active, u).toBe("active")
                if (row.expected === "down")
                  expect([after[u]?.active, after[u]?.enabled], u).toEqual(["inactive", "disabled"])
                if (row.expected === "unknown") expect(after[u], u).toEqual(before[u])
              }
              if (row.expected === "unknown")
                expect(r.stderr).toMatch(/tamanu-patientportal: expected state is unknown/)
            } finally {
              await host.startDatabase()
              await host.setPortalSetting(true)
            }
          })
        }
      }
    })

    it("boot: start --db-wait 30s while PostgreSQL comes up 5 s later decides the portal from the database", async () => {
      await host.setPortalLayout("instanced")
      await host.setPortalSetting(true)
      await only(upUnits.filter((u) => !portalInstances.includes(u)))
      await host.stopDatabase()
      const began = Date.now()
      const run = host.tamanu(["start", "--db-wait", "30s"])
      await new Promise((resolve) => setTimeout(resolve, 5_000))
      const dbStarted = Date.now()
      await host.startDatabase()
      const r = await run
      expect(r.code, said(r)).toBe(0)
      expect(r.stderr).not.toMatch(/unknown/i)
      expect(r.stderr).toMatch(/tamanu-patientportal@a/)
      expect(await active(portalInstances)).toEqual(Object.fromEntries(portalInstances.map((u) => [u, "active"])))
      process.stderr.write(
        `[system manager] start --db-wait 30s: database started ${dbStarted - began} ms in, start ended ${Date.now() - began} ms in\n`,
      )
    })

    it("start --logs shows journald's lines of the units it starts and stops following when it ends", async () => {
      await only(upUnits.filter((u) => u !== tasks && u !== "tamanu-central-api@1.service"))
      const r = await host.tamanu(["start", "--logs"])
      expect(r.code, said(r)).toBe(0)
      expect(r.stderr).toMatch(/systemd\[1\]: Started tamanu-central-tasks\.service/)
      expect(r.stderr).toMatch(/systemd\[1\]: Started tamanu-central-api@1\.service/)
      expect(r.stderr).toMatch(/PODMAN_SYSTEMD_UNIT=tamanu-central-api@1\.service/)
      // Only the units being started.
      expect(r.stderr).not.toMatch(/tamanu-frontend@a\.service/)
      const followers = await host.system.exec(["pgrep", "-a", "journalctl"])
      expect(followers.stdout.trim()).toBe("")
    })

    it("teardown leaves nothing on the host: processes, mounts, cgroups, the bridge, the network", async () => {
      const left = await host.system.stop()
      expect(left).toEqual({ processes: [], mounts: [], cgroups: [], bridges: [], podman: [] })
    })
  },
)
