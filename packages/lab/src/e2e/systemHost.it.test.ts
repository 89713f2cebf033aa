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
    /**
     * The re-run under sudo as sudo logs it: the same program and arguments, plus what the operator's
     * run carried as options (here, with no terminal and nothing in the environment: `--color=never`).
     */
    const asRoot = (args: ReadonlyArray<string>, carried: ReadonlyArray<string> = ["--color=never"]) =>
      `${node} /usr/local/bin/tamanu ${[...args, ...carried].join(" ")}`
    /** The rule's command run directly by the operator, as `sudo tamanu …` would be. */
    const sudoTamanu = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
      host.system.exec(["sudo", "-n", node, "/usr/local/bin/tamanu", ...args], { user: operator, env })
    /** What an operator (uid) can see of a path inside, from the host. */
    const exists = (inside: string) => fs.existsSync(host.system.hostPath(inside))
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

    it("without a usable sudo rule: a clear error naming a rule without SETENV, and nothing changed", async () => {
      await only(upUnits)
      const settings = { TAMANU_KIND: "central", NODE_ENV: "production", NO_COLOR: "1" }
      try {
        for (const rule of ["none", "password"] as const) {
          await host.setSudoRule(rule)
          const before = await host.units(upUnits)
          const r = await host.tamanu(["stop", "tasks"], { env: settings })
          expect(r.code, `${rule}: ${said(r)}`).toBe(1)
          expect(r.stderr, rule).toMatch(/needs root.*sudo.*password/is)
          expect(r.stderr, rule).toContain(
            `a sudoers rule that would: \`${operator} ALL=(root) NOPASSWD: ${node} /usr/local/bin/tamanu *\``,
          )
          expect(r.stderr, rule).not.toMatch(/SETENV|env_keep|preserve-env/)
          expect(await host.units(upUnits), rule).toEqual(before)
        }
        // A tamanu the operator could change (a link in their own home): no rule would be safe to name it.
        await host.system.sh(
          `ln -sfn /usr/local/bin/tamanu /home/${operator}/tamanu && chown -h ${operator}: /home/${operator}/tamanu`,
        )
        const r = await host.system.exec([node, `/home/${operator}/tamanu`, "stop", "tasks"], { user: operator })
        expect(r.code, said(r)).toBe(1)
        expect(r.stderr).toMatch(
          new RegExp(
            `no sudoers rule can safely name this tamanu, since ${operator} could change what it runs \\(/home/${operator}/tamanu: /home/${operator} belongs to`,
          ),
        )
        expect(r.stderr).not.toMatch(/NOPASSWD/)
        expect(await active([tasks])).toEqual({ [tasks]: "active" })
      } finally {
        await host.setSudoRule("nopasswd")
        await host.system.sh(`rm -f /home/${operator}/tamanu`)
      }
    })

    it("settings in the operator's environment reach the re-run as options through the plain rule; NO_COLOR becomes --color, PM2_HOME is left out", async () => {
      await only(upUnits)
      const env = {
        TAMANU_ROOT: "/etc/tamanu",
        TAMANU_SUPERVISOR: "systemd",
        TAMANU_SYSTEMD_SCOPE: "system",
        TAMANU_KIND: "central",
        TAMANU_CADDY_ADMIN: "http://localhost:2019/",
        TAMANU_CADDYFILE: "/etc/caddy/Caddyfile",
        NODE_ENV: "production",
        PM2_HOME: `/home/${operator}/.pm2`,
        NO_COLOR: "1",
      }
      const carried = [
        "--root=/etc/tamanu",
        "--supervisor=systemd",
        "--systemd-scope=system",
        "--kind=central",
        "--caddy-admin=http://localhost:2019",
        "--caddyfile=/etc/caddy/Caddyfile",
        "--node-env=production",
        "--color=never",
      ]
      const mark = await host.system.journalMark()
      const stop = await host.tamanu(["stop", "tasks"], { env })
      expect(stop.code, said(stop)).toBe(0)
      expect(await active([tasks])).toEqual({ [tasks]: "inactive" })
      // NAMES after --: the options go before it. A flag given (--kind) is not carried again from TAMANU_KIND.
      const start = await host.tamanu(["start", "--no-probe-http", "--kind", "central", "--", "tasks"], { env })
      expect(start.code, said(start)).toBe(0)
      expect(await active([tasks])).toEqual({ [tasks]: "active" })
      expect(await sudoCommands(mark)).toEqual([
        `${node} /usr/local/bin/tamanu stop tasks ${carried.join(" ")}`,
        `${node} /usr/local/bin/tamanu start --no-probe-http --kind central ${carried
          .filter((o) => o !== "--kind=central")
          .join(" ")} -- tasks`,
      ])
    })

    it("NODE_OPTIONS never reaches root: sudo refuses to set or keep it, with the plain rule and with the rule tamanu prints, and the operator's own is dropped from the re-run", async () => {
      await only(upUnits)
      const uid = (await host.system.exec(["id", "-u", operator])).stdout.trim()
      // Injected code that says it ran, and as whom.
      host.system.writeFile(
        "/tmp/pwn.js",
        'require("fs").writeFileSync("/tmp/pwned-" + process.getuid(), "ran\\n")\n',
        0o644,
      )
      await host.system.sh("rm -f /tmp/pwned-*")
      const injection = "--require=/tmp/pwn.js"
      const attempts: ReadonlyArray<{
        readonly argv: ReadonlyArray<string>
        readonly env?: Readonly<Record<string, string>>
        readonly says: RegExp
      }> = [
        {
          argv: ["sudo", "-n", `NODE_OPTIONS=${injection}`, node, "/usr/local/bin/tamanu", "status"],
          says: /sorry, you are not allowed to set the following environment variables: NODE_OPTIONS/,
        },
        {
          argv: ["sudo", "-n", "--preserve-env=NODE_OPTIONS", node, "/usr/local/bin/tamanu", "status"],
          env: { NODE_OPTIONS: injection },
          says: /sorry, you are not allowed to (set the following environment variables: NODE_OPTIONS|preserve the environment)/,
        },
        {
          argv: ["sudo", "-n", "-E", node, "/usr/local/bin/tamanu", "status"],
          env: { NODE_OPTIONS: injection },
          says: /sorry, you are not allowed to preserve the environment/,
        },
      ]
      // The rule tamanu prints when there is none.
      await host.setSudoRule("none")
      const noRule = await host.tamanu(["stop", "tasks"])
      const printed = /a sudoers rule that would: `([^`]+)`/.exec(noRule.stderr)?.[1]
      expect(printed, said(noRule)).toBe(`${operator} ALL=(root) NOPASSWD: ${node} /usr/local/bin/tamanu *`)
      try {
        for (const rule of ["nopasswd", { text: printed ?? "" }] as const) {
          await host.setSudoRule(rule)
          for (const a of attempts) {
            const r = await host.system.exec(a.argv, { user: operator, ...(a.env === undefined ? {} : { env: a.env }) })
            expect(r.code, `${a.argv.join(" ")}: ${said(r)}`).toBe(1)
            expect(r.stderr, a.argv.join(" ")).toMatch(a.says)
            expect(exists("/tmp/pwned-0"), a.argv.join(" ")).toBe(false)
          }
        }
        // The operator's own NODE_OPTIONS: it runs in their own process (the injection is real), never in the re-run.
        const r = await host.tamanu(["stop", "tasks"], { env: { NODE_OPTIONS: injection } })
        expect(r.code, said(r)).toBe(0)
        expect(await active([tasks])).toEqual({ [tasks]: "inactive" })
        expect(exists(`/tmp/pwned-${uid}`)).toBe(true)
        expect(exists("/tmp/pwned-0")).toBe(false)
      } finally {
        await host.setSudoRule("nopasswd")
        await host.system.sh("rm -f /tmp/pwned-* /tmp/pwn.js")
      }
    })

    it("docs/security.md, shown: what a run as root for the operator refuses, whether they type it or tamanu carries it", async () => {
      await only(upUnits)
      const home = `/home/${operator}`
      // An operator's "Tamanu root" whose config is /etc/shadow, and an operator's Caddyfile.
      await host.system.exec(
        [
          "sh",
          "-c",
          `mkdir -p ${home}/fake && ln -sfn /etc/shadow ${home}/fake/default.json5 && printf '{\n\tadmin localhost:2019\n}\n' > ${home}/Caddyfile`,
        ],
        { user: operator },
      )
      const shadow = (await host.system.exec(["head", "-c", "12", "/etc/shadow"])).stdout
      expect(shadow.length).toBe(12)
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
        [
          ["stop", "tasks", "--root", `${home}/fake`],
          new RegExp(`--root ${home}/fake is not one: ${home} belongs to the user sudo runs this for`),
        ],
        [["status", "--root", `${home}/fake`], new RegExp(`--root ${home}/fake is not one`)],
        [["stop", "tasks", "--caddyfile", `${home}/Caddyfile`], new RegExp(`--caddyfile ${home}/Caddyfile is not one`)],
        [["stop", "tasks", "--caddyfile", "/etc/shadow"], /\/etc\/shadow is not readable by everyone/],
        [
          ["stop", "tasks", "--database-url", "postgres://tamanu@127.0.0.1/tamanu?sslkey=/root/.ssh/id_rsa"],
          /will not take --database-url in a run as root for another user \(sudo\): as root, tamanu connects only to the database the Tamanu config names/,
        ],
        [
          ["stop", "tasks", "--supervisor", "pm2", "--pm2-home", `${home}/.pm2`],
          /--supervisor pm2.*pm2 never needs root/,
        ],
        [["stop", "tasks", "--systemd-scope", "user"], /--systemd-scope user.*never needs root/],
        [["stop", "tasks", "--caddy-admin", "http://10.0.0.1:2019"], /--caddy-admin.*not on this host's loopback/],
        [["restart", "--wizard"], /will not take --wizard.*browse the filesystem as root/],
        [["stop", "tasks", "--node-env", `../../${home}/fake/default`], /--node-env: .* is not a plain name/],
      ]
      const mark = await host.system.journalMark()
      for (const [args, says] of cases) {
        const r = await sudoTamanu(args)
        expect(r.code, `${args.join(" ")}: ${said(r)}`).toBe(2)
        expect(r.stderr, args.join(" ")).toMatch(says)
        expect(`${r.stdout}${r.stderr}`, args.join(" ")).not.toContain(shadow)
      }
      // Through tamanu's own re-run: the operator's process cannot read /etc/shadow, so it asks sudo at once,
      // carrying TAMANU_ROOT as --root; the run as root refuses it before reading anything.
      const viaEnv = await host.tamanu(["stop", "tasks"], { env: { TAMANU_ROOT: `${home}/fake` } })
      expect(viaEnv.code, said(viaEnv)).toBe(2)
      expect(viaEnv.stderr).toMatch(new RegExp(`--root ${home}/fake is not one`))
      expect(`${viaEnv.stdout}${viaEnv.stderr}`).not.toContain(shadow)
      // A database URL in the environment is refused before sudo is asked; so is a remote admin API.
      for (const env of [
        { TAMANU_DATABASE_URL: "postgres://tamanu:tamanu-pw@127.0.0.1/tamanu" },
        { TAMANU_CADDY_ADMIN: "http://10.0.0.1:2019" },
      ]) {
        const r = await host.tamanu(["stop", "tasks"], { env })
        expect(r.code, said(r)).toBe(2)
        expect(r.stderr).toMatch(/in the environment; a re-run under sudo would be told --/)
        expect(r.stderr).not.toContain("tamanu-pw")
      }
      expect(await sudoCommands(mark)).toEqual([
        ...cases.map(([args]) => `${node} /usr/local/bin/tamanu ${args.join(" ")}`),
        asRoot(["stop", "tasks"], [`--root=${home}/fake`, "--color=never"]),
      ])
      expect(await active([tasks])).toEqual({ [tasks]: "active" })
      await host.system.sh(`rm -rf ${home}/fake ${home}/Caddyfile`)
    })

    it("root never loads a V8 code cache the operator could write, even when sudo keeps HOME and XDG_CACHE_HOME", async () => {
      await only(upUnits)
      const home = `/home/${operator}`
      // The operator's own runs keep their cache in their home (the install is root's).
      await host.tamanu(["status"])
      const cacheDir = `${home}/.cache/tamanu-lifecycle`
      const cached =
        (await host.system.exec(["sh", "-c", `ls ${cacheDir}/*.v8cache`])).stdout.trim().split("\n")[0] ?? ""
      expect(cached).toMatch(/\.v8cache$/)
      const dist = (await host.system.exec(["readlink", "-f", "/usr/local/bin/tamanu"])).stdout
        .trim()
        .replace(/bin\/tamanu\.js$/, "dist")
      // Root's own cache gone, so a loader that looked further would open the operator's: a FIFO, whose
      // writer stays blocked until someone opens it for reading.
      await host.system.sh(`rm -rf ${dist}/.cache`)
      await host.system.exec(["sh", "-c", `rm -f ${cached} && mkfifo ${cached}`], { user: operator })
      await host.setSudoRule({
        text: `Defaults:${operator} env_keep += "HOME XDG_CACHE_HOME"\n${operator} ALL=(root) NOPASSWD: ${node} /usr/local/bin/tamanu *`,
      })
      try {
        const r = await host.system.exec(
          [
            "sh",
            "-c",
            `(echo x > ${cached}) & w=$!
            sudo -n ${node} /usr/local/bin/tamanu stop tasks; echo "exit=$?"
            sleep 0.3
            if kill -0 $w 2>/dev/null; then echo fifo=unopened; kill $w; else echo fifo=opened; fi`,
          ],
          { user: operator, env: { XDG_CACHE_HOME: `${home}/.cache` } },
        )
        expect(r.stdout, said(r)).toMatch(/exit=0/)
        expect(r.stdout, said(r)).toMatch(/fifo=unopened/)
        expect(await active([tasks])).toEqual({ [tasks]: "inactive" })
        // Root wrote its cache beside the bundle instead (a directory only root may write).
        const own = await host.system.exec(["stat", "-c", "%U %a", `${dist}/.cache`])
        expect(own.stdout.trim()).toBe("root 700")
      } finally {
        await host.setSudoRule("nopasswd")
        await host.system.sh(`rm -f ${cached}`)
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

    it("start --logs shows journald's lines of the units it starts and stops following when it ends; as root, journalctl never pages and gets none of the operator's pager settings", async () => {
      await only(upUnits.filter((u) => u !== tasks && u !== "tamanu-central-api@1.service"))
      // A journalctl that notes how it was run, first on sudo's secure_path (/usr/local/sbin).
      // Every run appends its argv and environment: start --logs runs journalctl to follow, and again to read
      // what the follower had not shown yet and the settle window's last lines.
      await host.system.sh("rm -f /run/journalctl-run.log")
      host.system.writeFile(
        "/usr/local/sbin/journalctl",
        '#!/bin/sh\n{ printf "argv:"; printf " %s" "$@"; printf "\\n"; env; } >> /run/journalctl-run.log\nexec /usr/bin/journalctl "$@"\n',
        0o755,
      )
      const pager = { PAGER: "/tmp/pager", SYSTEMD_PAGER: "/tmp/pager", LESS: "-+R", LESSOPEN: "|/tmp/pager %s" }
      const r = await host
        .tamanu(["start", "--logs"], { env: pager })
        .finally(() => host.system.sh("rm -f /usr/local/sbin/journalctl"))
      const run = host.system.readFile("/run/journalctl-run.log").split("\n")
      const argvs = run.filter((l) => l.startsWith("argv:"))
      // Every run pages never and names its units; one of them follows from the start call's mark.
      expect(argvs.length, run.join("\n")).toBeGreaterThan(0)
      for (const argv of argvs) expect(argv).toMatch(/^argv: --no-pager --output=json .*--unit=tamanu-/)
      expect(
        argvs.filter((l) => /^argv: --no-pager --output=json --follow --since=@[0-9.]+ --unit=/.test(l)),
      ).toHaveLength(1)
      // Each run had root's HOME and an empty SYSTEMD_PAGER, whatever the operator's environment said.
      expect(run.filter((l) => l.startsWith("HOME="))).toEqual(argvs.map(() => "HOME=/root"))
      expect(run.filter((l) => l.startsWith("SYSTEMD_PAGER="))).toEqual(argvs.map(() => "SYSTEMD_PAGER="))
      for (const name of ["PAGER", "LESS", "LESSOPEN", "NODE_OPTIONS", "NO_COLOR"])
        expect(
          run.filter((l) => l.startsWith(`${name}=`)),
          name,
        ).toEqual([])
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
