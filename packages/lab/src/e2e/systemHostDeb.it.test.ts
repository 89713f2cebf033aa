/**
 * The .deb on a real systemd system manager (centralSystemHost.ts), as a
 * Tamanu Linux host gets it: every `node` taken off the system's PATH (the
 * host has none; the Tamanu containers carry their own, here a node at a
 * path off PATH), `dpkg -i tamanu-lifecycle_<version>_amd64.deb`, the
 * packaged sudoers example installed as it says, and a non-root operator
 * working through sudo with that rule alone: status, status --json, stop,
 * start, `restart api frontend` under load through Debian's Caddy (0 lost),
 * `start --logs` from journald, the rule refusing what it does not grant,
 * NODE_OPTIONS without effect, and the boot unit installed disabled and
 * starting Tamanu's services once enabled.
 *
 * One booted system for the file, in order; the last test checks the teardown.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { summarizeLoad } from "../harness/load.js"
import { skipUnless } from "../harness/prerequisites.js"
import type { ExecResult } from "../harness/systemdSystemManager.js"
import { artifactPath, packagedPrerequisite, readManifest } from "../packaging/artifacts.js"
import { startBrowserLoad } from "./browserLoad.js"
import {
  type CentralSystemHost,
  centralSystemHostPrerequisites,
  operator,
  startCentralSystemHost,
} from "./centralSystemHost.js"

const said = (r: ExecResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

/** Where the test service's node lives inside the system: off every PATH. */
const serviceNode = "/opt/tamanu-test/bin/node"
const operatorsGroup = "tamanu-operators"
const pathsChecked = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const tasks = "tamanu-central-tasks.service"
const api = ["tamanu-central-api@1.service", "tamanu-central-api@2.service"]
const frontend = ["tamanu-frontend@a.service", "tamanu-frontend@b.service"]
const upUnits = [tasks, ...frontend, ...api, "tamanu-patientportal@a.service", "tamanu-patientportal@b.service"]

describe.skipIf(skipUnless(...centralSystemHostPrerequisites(), packagedPrerequisite()))(
  "the .deb on a real system manager with no node on PATH, driven by a non-root operator through the packaged sudoers rule",
  () => {
    let host: CentralSystemHost
    const manifest = readManifest()
    const deb = artifactPath(manifest.debs.amd64.file)

    beforeAll(async () => {
      host = await startCentralSystemHost({ readyDelayMs: 1000, serviceNode })
      // The harness linked the built npm CLI as /usr/local/bin/tamanu: gone, with every node on PATH.
      await host.system.sh(`
        install -D -m 0755 "$(readlink -f ${process.execPath})" ${serviceNode}
        rm -f /usr/local/bin/tamanu /etc/sudoers.d/tamanu
        for dir in ${pathsChecked.replaceAll(":", " ")}; do rm -f "$dir/node" "$dir/nodejs"; done
        dpkg -i ${deb} >/dev/null
        groupadd --system ${operatorsGroup}
        usermod -a -G ${operatorsGroup} ${operator}
        install -m 0440 /usr/share/doc/tamanu-lifecycle/sudoers.example /etc/sudoers.d/tamanu
        visudo -cqf /etc/sudoers.d/tamanu
      `)
      await host.startUnits(upUnits)
    }, 240_000)
    afterAll(async () => {
      await host?.system.stop()
    }, 120_000)

    /** What the operator ran through sudo since `mark`, from sudo's own log. */
    const sudoCommands = async (mark: number) =>
      (await host.system.journal(mark, ["SYSLOG_IDENTIFIER=sudo"]))
        .map((e) => e.MESSAGE ?? "")
        .filter((m) => m.includes("COMMAND="))
        .map((m) => m.slice(m.indexOf("COMMAND=") + "COMMAND=".length))
    const active = async (units: ReadonlyArray<string>) =>
      Object.fromEntries(Object.entries(await host.units(units)).map(([u, s]) => [u, s.active]))
    const allActive = (units: ReadonlyArray<string>) => Object.fromEntries(units.map((u) => [u, "active"]))

    it("installs /usr/bin/tamanu with its own Node, completions, the boot unit (disabled) and the sudoers example; no node on any PATH", async () => {
      const status = await host.system.exec([
        "dpkg-query",
        "-W",
        "-f=$\x7bStatus} $\x7bVersion} $\x7bArchitecture}",
        "tamanu-lifecycle",
      ])
      expect(status.stdout).toBe(`install ok installed ${manifest.version} amd64`)
      for (const user of [undefined, operator]) {
        const which = await host.system.exec(["sh", "-c", "command -v node nodejs; command -v tamanu"], {
          ...(user === undefined ? {} : { user }),
          env: { PATH: pathsChecked },
        })
        expect(which.stdout.trim(), said(which)).toBe("/usr/bin/tamanu")
      }
      const files = await host.system.sh(`
        stat -c '%U:%G %a %n' /usr/bin/tamanu /usr/share/bash-completion/completions/tamanu \
          /usr/share/zsh/vendor-completions/_tamanu /usr/share/fish/vendor_completions.d/tamanu.fish \
          /lib/systemd/system/start-tamanu.service /usr/share/doc/tamanu-lifecycle/sudoers.example
      `)
      expect(files.trim().split("\n")).toEqual([
        "root:root 755 /usr/bin/tamanu",
        "root:root 644 /usr/share/bash-completion/completions/tamanu",
        "root:root 644 /usr/share/zsh/vendor-completions/_tamanu",
        "root:root 644 /usr/share/fish/vendor_completions.d/tamanu.fish",
        "root:root 644 /lib/systemd/system/start-tamanu.service",
        "root:root 644 /usr/share/doc/tamanu-lifecycle/sudoers.example",
      ])
      // Completions from the command tree, for the command's own name.
      const bash = await host.system.exec(
        ["bash", "-c", ". /usr/share/bash-completion/completions/tamanu; complete -p tamanu"],
        { user: operator },
      )
      expect(bash.stdout, said(bash)).toMatch(/-F _tamanu_bash_completions .*tamanu$/m)
      // The sudoers rule names the one executable.
      const rule = host.system.readFile("/usr/share/doc/tamanu-lifecycle/sudoers.example")
      expect(rule.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"))).toEqual([
        `%${operatorsGroup} ALL=(root) NOPASSWD: /usr/bin/tamanu`,
      ])
      const enabled = await host.system.systemctl(["is-enabled", "start-tamanu.service"])
      expect(enabled.stdout.trim()).toBe("disabled")
      const version = await host.tamanu(["--version"])
      expect(version.stdout, said(version)).toBe(
        `${manifest.version} (Node.js v${manifest.executables["linux-x64"].node.version}, linux-x64, built in)\n`,
      )
    })

    it("status and status --json as the operator read the system manager without sudo", async () => {
      const mark = await host.system.journalMark()
      const table = await host.tamanu(["status"])
      expect(table.code, said(table)).toBe(0)
      expect(table.stdout).toMatch(/tamanu-central-api/)
      const r = await host.tamanu(["status", "--json"])
      expect(r.code, said(r)).toBe(0)
      const json = JSON.parse(r.stdout) as {
        readonly expectations: ReadonlyArray<{ readonly name: string; readonly status: string }>
      }
      expect(Object.fromEntries(json.expectations.map((e) => [e.name, e.status]))).toMatchObject({
        "tamanu-central-api": "up",
        "tamanu-central-tasks": "up",
        "tamanu-frontend": "up",
        "tamanu-patientportal": "up",
      })
      expect(await sudoCommands(mark)).toEqual([])
    })

    it("stop and start re-run /usr/bin/tamanu under sudo with exactly the operator's arguments (and the colour this run decided, as an option)", async () => {
      const mark = await host.system.journalMark()
      const stop = await host.tamanu(["stop", "tasks"])
      expect(stop.code, said(stop)).toBe(0)
      expect(await active([tasks])).toEqual({ [tasks]: "inactive" })
      const start = await host.tamanu(["start", "--no-probe-http"])
      expect(start.code, said(start)).toBe(0)
      expect(await active([tasks])).toEqual(allActive([tasks]))
      expect(await sudoCommands(mark)).toEqual([
        "/usr/bin/tamanu stop tasks --color=never",
        "/usr/bin/tamanu start --no-probe-http --color=never",
      ])
    })

    it("restart api frontend under load through Debian's Caddy: no request lost, through sudo, Caddy's own config back", async () => {
      const before = await host.caddyConfig()
      const mark = await host.system.journalMark()
      const loads = [
        startBrowserLoad({ url: `${host.siteUrl}/api/patients`, concurrency: 2 }),
        startBrowserLoad({ url: `${host.siteUrl}/`, concurrency: 2 }),
      ]
      await new Promise((resolve) => setTimeout(resolve, 500))
      const r = await host.tamanu(["restart", "api", "frontend"])
      await new Promise((resolve) => setTimeout(resolve, 500))
      const results = await Promise.all(loads.map((l) => l.stop()))
      expect(r.code, said(r)).toBe(0)
      const summaries = results.map((x) => summarizeLoad(x.records))
      process.stderr.write(
        `[deb] restart api frontend under load: ${summaries.map((s) => `${s.served} served, ${s.failed} lost`).join("; ")}; ${Math.round(r.elapsedMs)} ms\n`,
      )
      for (const s of summaries) {
        expect(s.failed, JSON.stringify(s.outcomes)).toBe(0)
        expect(s.served).toBeGreaterThan(0)
      }
      expect(r.stderr).toMatch(/⇄ Caddy routes tamanu-central-api → /)
      expect(r.stderr).toMatch(/⇄ Caddy routes tamanu-frontend → /)
      expect(r.stderr).toMatch(/✓ Caddy runs its own config again/)
      expect(await host.caddyConfig()).toEqual(before)
      expect(await sudoCommands(mark)).toEqual(["/usr/bin/tamanu restart api frontend --color=never"])
      expect(await active([...api, ...frontend])).toEqual(allActive([...api, ...frontend]))
    }, 300_000)

    it("start --logs follows journald for the units it starts", async () => {
      await host.ctl(["stop", tasks])
      const r = await host.tamanu(["start", "--logs"])
      expect(r.code, said(r)).toBe(0)
      // journald's lines of the unit being started (its container's creation, logged by podman for the unit).
      expect(r.stderr).toMatch(/podman\[\d+\]: .*PODMAN_SYSTEMD_UNIT=tamanu-central-tasks\.service/)
      expect(r.stderr).not.toMatch(/tamanu-frontend@a\.service/)
      expect((await host.system.exec(["pgrep", "-a", "journalctl"])).stdout.trim()).toBe("")
    })

    it("the rule grants /usr/bin/tamanu and nothing else, and NODE_OPTIONS reaches no code", async () => {
      const listed = await host.system.exec(["sudo", "-n", "-l"], { user: operator })
      expect(listed.stdout.trim().split("\n").at(-1)?.trim(), said(listed)).toBe("(root) NOPASSWD: /usr/bin/tamanu")
      for (const argv of [["/usr/bin/id"], ["/bin/sh", "-c", "id"], ["/usr/bin/env", "/usr/bin/tamanu", "status"]]) {
        const r = await host.system.exec(["sudo", "-n", ...argv], { user: operator })
        expect(r.code, `${argv.join(" ")}: ${said(r)}`).toBe(1)
        expect(r.stdout).toBe("")
      }
      const marker = "/tmp/tamanu-node-options-ran"
      host.system.writeFile(
        "/tmp/hook.cjs",
        `require("node:fs").writeFileSync(${JSON.stringify(marker)}, String(process.getuid()))\n`,
        0o644,
      )
      const nodeOptions = { NODE_OPTIONS: "--require=/tmp/hook.cjs" }
      // sudo refuses to set it (no SETENV in the rule)…
      const setenv = await host.system.exec(
        ["sudo", "-n", "NODE_OPTIONS=--require=/tmp/hook.cjs", "/usr/bin/tamanu", "status"],
        {
          user: operator,
        },
      )
      expect(setenv.code, said(setenv)).toBe(1)
      expect(setenv.stderr).toMatch(/not allowed to set the following environment variables: NODE_OPTIONS/)
      // …and the executable ignores it wherever it comes from: the operator's run, its re-run under sudo, root's run.
      const mark = await host.system.journalMark()
      const stop = await host.tamanu(["stop", "tasks"], { env: nodeOptions })
      expect(stop.code, said(stop)).toBe(0)
      const asRoot = await host.system.exec(["tamanu", "start", "--no-probe-http"], { env: nodeOptions })
      expect(asRoot.code, said(asRoot)).toBe(0)
      expect(await sudoCommands(mark)).toEqual(["/usr/bin/tamanu stop tasks --color=never"])
      expect((await host.system.exec(["test", "-e", marker])).code).toBe(1)
    })

    it("start-tamanu.service, once enabled, starts Tamanu's services at boot: ordered after what they need, never before them", async () => {
      const show = await host.ctl(["show", "-p", "After,Before,Wants,WantedBy,Type", "start-tamanu.service"])
      const props = Object.fromEntries(
        show
          .trim()
          .split("\n")
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      )
      for (const unit of ["network-online.target", "postgresql.service", "caddy.service"])
        expect(props.After?.split(" "), unit).toContain(unit)
      expect(props.Wants).toContain("network-online.target")
      expect(props.Before ?? "").not.toMatch(/tamanu-/)
      expect(props.Type).toBe("oneshot")
      await host.ctl(["enable", "--quiet", "start-tamanu.service"])
      expect((await host.system.systemctl(["is-enabled", "start-tamanu.service"])).stdout.trim()).toBe("enabled")
      const wanted = await host.ctl(["list-dependencies", "--plain", "--no-pager", "multi-user.target"])
      expect(wanted).toMatch(/start-tamanu\.service/)
      // What boot does with it: the services that should run and do not, started by `tamanu start --db-wait`.
      await host.ctl(["stop", tasks, api[0] ?? ""])
      const mark = await host.system.journalMark()
      const started = await host.system.systemctl(["start", "start-tamanu.service"])
      const unitLog = await host.system.exec(["journalctl", "--no-pager", "-u", "start-tamanu.service"])
      expect(started.code, `${said(started)}\n--- journal\n${unitLog.stdout}`).toBe(0)
      expect(await active([tasks, ...api, "start-tamanu.service"])).toEqual(
        allActive([tasks, ...api, "start-tamanu.service"]),
      )
      const lines = (await host.system.journal(mark, ["_SYSTEMD_UNIT=start-tamanu.service"])).map(
        (e) => e.MESSAGE ?? "",
      )
      expect(lines.join("\n")).toMatch(/tamanu-central-tasks/)
      await host.ctl(["disable", "--quiet", "start-tamanu.service"])
    })

    it("teardown leaves nothing on the host: processes, mounts, cgroups, the bridge, the network", async () => {
      const left = await host.system.stop()
      expect(left).toEqual({ processes: [], mounts: [], cgroups: [], bridges: [], podman: [] })
    })
  },
)
