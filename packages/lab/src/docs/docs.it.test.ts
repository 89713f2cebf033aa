/**
 * The docs' commands, run as written: every command docsCoverage.ts marks
 * `here` is read from its doc, run for real, and checked against what the
 * doc says about it (the comment beside it, the page around it).
 *
 * - README.md "Using it": the built `tamanu` on a systemd sandbox host
 *   (e2e/sandboxHost.ts), each command after putting the host in the state
 *   its claim is about.
 * - docs/operations.md: the status JSON example and the report's keys
 *   against real output; the Ansible play (docs/examples/ansible/
 *   tamanu-rollout.yml, shown verbatim on the page) run by ansible-playbook
 *   with a local connection, `tamanu` on PATH being the same CLI in the
 *   sandbox manager's namespace: once on a healthy host, once with a unit
 *   that cannot start, where the rollout must stop at that host.
 * - docs/performance-cold-start.md: the benchmark's two command lines.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { CADDY_RELOAD_503, startBrowserLoad } from "../e2e/browserLoad.js"
import {
  type CliResult,
  type HostSnapshot,
  runChild,
  type SandboxHost,
  sandboxPrerequisites,
  startSandboxHost,
} from "../e2e/sandboxHost.js"
import { summarizeLoad } from "../harness/load.js"
import { pm2Prerequisite } from "../harness/pm2Daemon.js"
import { hasCommand, skipUnless } from "../harness/prerequisites.js"
import {
  blockKind,
  type CommandLine,
  commandLines,
  fencedBlocks,
  jsonKeyPaths,
  proseShapeKeys,
  shellWords,
} from "./docBlocks.js"
import { commandKey, runHere } from "./docsCoverage.js"

const repo = fileURLToPath(new URL("../../../../", import.meta.url))
const readDoc = (doc: string) => fs.readFileSync(path.join(repo, doc), "utf8")

/** The doc's commands that this file runs, in the doc's order. */
const commandsRunHere = (doc: string): ReadonlyArray<CommandLine> =>
  fencedBlocks(doc, readDoc(doc))
    .filter((b) => blockKind(b.lang) === "shell" || blockKind(b.lang) === "unlabelled")
    .flatMap(commandLines)
    .filter((c) => runHere.includes(commandKey(doc, c.command)))

const words = (command: string): ReadonlyArray<string> => {
  const w = shellWords(command)
  if (w === null) throw new Error(`not a simple command: ${command}`)
  return w
}

/** A failure message that shows what the command said. */
const said = (r: { code: number; stdout: string; stderr: string }) =>
  `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

// ---------------------------------------------------------------------------
// README.md "Using it"

const services = ["tamanu-facility-tasks", "tamanu-frontend", "tamanu-facility-api", "tamanu-facility-sync"]
const rolled = ["tamanu-frontend@a", "tamanu-frontend@b", "tamanu-facility-api@1", "tamanu-facility-api@2"]
const SYNC = "tamanu-facility-sync"
const LEGACY = "tamanu-facility"

interface StatusJson {
  readonly any_short: boolean
  readonly expectations: ReadonlyArray<{ readonly name: string; readonly status: string }>
}

/** The row of one service in the status table. */
const row = (table: string, name: string) =>
  table.split("\n").find((line) => line.startsWith(`${name} `)) ?? `(no row for ${name} in:\n${table})`

const ctl = async (host: SandboxHost, args: ReadonlyArray<string>) => {
  const r = await host.systemctl(args)
  if (r.exitCode !== 0) throw new Error(`systemctl --user ${args.join(" ")}: ${r.stderr}`)
}

/** Every Tamanu instance running and the legacy unit stopped: the host as its expectations want it. */
const healthy = async (host: SandboxHost) => {
  // The checks start and stop units more often than systemd's default start limit (5 in 10 s) allows.
  await ctl(host, ["reset-failed"])
  await ctl(host, ["stop", `${LEGACY}.service`])
  await host.startAll()
}

const expectOnly = (before: HostSnapshot, after: HostSnapshot, changed: ReadonlyArray<string>) => {
  for (const name of Object.keys(before).filter((n) => !changed.includes(n)))
    expect(after[name], `${name} is not named and must be untouched`).toEqual(before[name])
}

type Check = (host: SandboxHost, run: () => Promise<CliResult>) => Promise<void>

/** What each README command's comment claims, checked; keyed by the command as the doc has it. */
const readmeChecks: Readonly<Record<string, Check>> = {
  // table of expected vs running; exit 1 if anything is short/down/forbidden
  "tamanu status": async (host, run) => {
    await healthy(host)
    const ok = await run()
    expect(ok.code, said(ok)).toBe(0)
    expect(ok.stdout.split("\n")[0]).toMatch(/^Service\s+Expected\s+Actual\b/)
    for (const name of services) expect(row(ok.stdout, name)).toMatch(/\brunning\b/)

    await ctl(host, ["stop", "tamanu-frontend@b.service"])
    const short = await run()
    expect(short.code, `short: ${said(short)}`).toBe(1)
    expect(row(short.stdout, "tamanu-frontend")).toMatch(/1\/2 running/)

    await ctl(host, ["stop", `${SYNC}.service`])
    const down = await run()
    expect(down.code, `down: ${said(down)}`).toBe(1)
    expect(row(down.stdout, SYNC)).toMatch(/\bstopped\b/)

    await healthy(host)
    await ctl(host, ["start", `${LEGACY}.service`])
    const forbidden = await run()
    expect(forbidden.code, `forbidden: ${said(forbidden)}`).toBe(1)
    expect(row(forbidden.stdout, LEGACY)).toMatch(/\brunning\b/)
    await healthy(host)
  },

  // one JSON document on stdout
  "tamanu status --json": async (host, run) => {
    await healthy(host)
    await ctl(host, ["stop", `${SYNC}.service`])
    for (const expectShort of [true, false]) {
      const r = await run()
      // The whole of stdout parses as one document: nothing before or after it.
      const json = JSON.parse(r.stdout) as StatusJson
      expect(r.code, said(r)).toBe(expectShort ? 1 : 0)
      expect(json.any_short).toBe(expectShort)
      expect(json.expectations.find((e) => e.name === SYNC)?.status).toBe(expectShort ? "down" : "up")
      expect(r.stderr).not.toMatch(/^\s*[{[]/m)
      await healthy(host)
    }
  },

  // make the host match its expectations (idempotent)
  "tamanu start": async (host, run) => {
    await healthy(host)
    await ctl(host, ["stop", `${SYNC}.service`, "tamanu-facility-api@2.service"])
    await ctl(host, ["start", `${LEGACY}.service`])
    const first = await run()
    expect(first.code, said(first)).toBe(0)
    const matched = await host.snapshot()
    for (const name of Object.keys(host.instances)) expect(matched[name]?.running, name).toBe(true)
    expect(matched[LEGACY]?.running).toBe(false)
    expect((await host.run(["status"])).code).toBe(0)

    const again = await run()
    expect(again.code, said(again)).toBe(0)
    expect(`${again.stdout}${again.stderr}`).toMatch(/nothing to do/i)
    expect(await host.snapshot()).toEqual(matched)
  },

  // stop the chosen services (substring match)
  "tamanu stop sync": async (host, run) => {
    await healthy(host)
    const before = await host.snapshot()
    const r = await run()
    expect(r.code, said(r)).toBe(0)
    const after = await host.snapshot()
    // "sync" chose tamanu-facility-sync, and nothing else.
    expect(after[SYNC]?.running).toBe(false)
    expectOnly(before, after, [SYNC])
  },

  // zero-downtime roll, each instance probed before the next
  "tamanu restart api frontend": async (host, run) => {
    await healthy(host)
    const before = await host.snapshot()
    const load = startBrowserLoad({ url: `${host.caddyUrl}/api/patients`, concurrency: 1 })
    const r = await run()
    const traffic = await load.stop()
    expect(r.code, said(r)).toBe(0)

    const after = await host.snapshot()
    for (const name of rolled) {
      expect(after[name]?.running, name).toBe(true)
      expect(after[name]?.pid, `${name} has a new process`).not.toBe(before[name]?.pid)
    }
    expectOnly(before, after, rolled)

    // Each instance was probed ready before the next one went down, in the order the roll took.
    const lines = r.stderr.split("\n")
    const index = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l))
    const order = rolled
      .map((name) => ({
        name,
        restarting: index(new RegExp(`restarting ${name} `)),
        ready: index(new RegExp(`${name} ready after`)),
      }))
      .sort((a, b) => a.restarting - b.restarting)
    for (const [i, step] of order.entries()) {
      expect(step.restarting, `${step.name} restarted:\n${r.stderr}`).toBeGreaterThanOrEqual(0)
      expect(step.ready, `${step.name} probed ready after its restart`).toBeGreaterThan(step.restarting)
      const next = order[i + 1]
      if (next !== undefined)
        expect(step.ready, `${step.name} ready before ${next.name} goes down`).toBeLessThan(next.restarting)
    }

    // No request failed through Caddy; Caddy's own 503 during a forced reload is reported, not
    // hidden (see CADDY_RELOAD_503 and tamanuCli.it.test.ts), at most one per reload.
    const summary = summarizeLoad(traffic.records)
    const caddy503 = traffic.records.filter((q) => q.error === CADDY_RELOAD_503).length
    expect(summary.served).toBeGreaterThan(0)
    expect(summary.failed - caddy503, JSON.stringify(summary)).toBe(0)
    expect(caddy503).toBeLessThanOrEqual(rolled.length)
  },

  // print the exact systemctl/pm2 calls and Caddy changes, change nothing
  "tamanu restart --dry-run": async (host, run) => {
    await healthy(host)
    const before = await host.snapshot()
    const caddyBefore = await (await fetch(`${host.caddyAdminUrl}/config/`)).text()
    const r = await run()
    expect(r.code, said(r)).toBe(0)
    const printed = `${r.stdout}${r.stderr}`
    expect(printed).toMatch(/\bsystemctl restart\b/)
    for (const name of Object.keys(host.instances)) expect(printed, `the plan names ${name}`).toContain(name)
    // Which way Caddy is driven, and each config load with the addresses it routes to.
    expect(printed).toContain("Caddy: through its admin API")
    expect(printed).toMatch(
      /before tamanu-facility-api@1 goes down: .*tamanu-facility-api → \d+\.\d+\.\d+\.\d+:3000 \(tamanu-facility-api@2\)/,
    )
    expect(await host.snapshot()).toEqual(before)
    expect(await (await fetch(`${host.caddyAdminUrl}/config/`)).text()).toBe(caddyBefore)
  },
}

// ---------------------------------------------------------------------------
// docs/performance-cold-start.md

const coldStartShape = () => {
  const text = readDoc("docs/performance-cold-start.md")
  const shape = /prints `(\{[^`]*\})`/.exec(text)?.[1]
  if (shape === undefined) throw new Error("docs/performance-cold-start.md no longer says what the benchmark prints")
  return proseShapeKeys(shape)
}

const coldStartChecks: Readonly<Record<string, (command: string) => Promise<void>>> = Object.fromEntries(
  [
    "node packages/lab/dist/bench/coldStart.js 25",
    "node packages/lab/dist/bench/coldStart.js 25 packages/cli/dist/tamanu.mjs",
  ].map((command) => [
    command,
    async (doc: string) => {
      // The doc's command with 2 rounds instead of 25: the figures are the bench's business, the command line ours.
      const argv = words(doc).map((w, i) => (i === 2 && w === "25" ? "2" : w))
      expect(argv[0]).toBe("node")
      const r = await runChild(
        [process.execPath, ...argv.slice(1)],
        { ...process.env, NO_COLOR: "1" },
        {
          cwd: repo,
          timeoutMs: 120_000,
        },
      )
      expect(r.code, said(r)).toBe(0)
      const figures = JSON.parse(r.stdout) as Record<string, number>
      expect(jsonKeyPaths(figures)).toEqual(coldStartShape())
      for (const [key, value] of Object.entries(figures)) expect(value, key).toBeGreaterThan(0)
    },
  ]),
)

// ---------------------------------------------------------------------------

describe("the commands docsCoverage.ts says this file runs", () => {
  it("each has a check here, and each check here is for such a command", () => {
    const checked = [
      ...Object.keys(readmeChecks).map((c) => commandKey("README.md", c)),
      ...Object.keys(coldStartChecks).map((c) => commandKey("docs/performance-cold-start.md", c)),
    ]
    expect([...checked].sort()).toEqual([...runHere].sort())
  })
})

describe.skipIf(skipUnless(...sandboxPrerequisites("systemd")))("the docs' commands on a systemd sandbox host", () => {
  let host: SandboxHost

  beforeAll(async () => {
    host = await startSandboxHost({ supervisor: "systemd", readyDelayMs: 300 })
  })
  afterAll(async () => {
    await host?.stop()
  })

  describe("README.md: Using it", () => {
    for (const line of commandsRunHere("README.md")) {
      it(`${line.command}: ${line.comment}`, async () => {
        const check = readmeChecks[line.command]
        if (check === undefined) throw new Error(`no check for ${line.command}`)
        const argv = words(line.command)
        expect(argv[0]).toBe("tamanu")
        await check(host, () => host.run(argv.slice(1)))
      })
    }
  })

  describe("docs/operations.md", () => {
    it("the status JSON example has exactly the keys of a real `tamanu status --json`", async () => {
      const block = fencedBlocks("docs/operations.md", readDoc("docs/operations.md")).find((b) => b.lang === "json")
      expect(block).toBeDefined()
      await healthy(host)
      const r = await host.run(["status", "--json"])
      expect(r.code, said(r)).toBe(0)
      expect(jsonKeyPaths(JSON.parse(r.stdout))).toEqual(jsonKeyPaths(JSON.parse(block?.text ?? "null")))
    })

    it("the report's keys are those of a real `tamanu start --json` report", async () => {
      await healthy(host)
      await ctl(host, ["stop", `${SYNC}.service`])
      const r = await host.run(["start", "--json"])
      expect(r.code, said(r)).toBe(0)
      const report = JSON.parse(r.stdout) as { readonly error: unknown; readonly started: ReadonlyArray<string> }
      expect(report.started).toEqual([SYNC])
      // A successful report's error is null, so its own keys are checked on a failed one (the Ansible failure below);
      // starting sync touches no service behind Caddy, so `caddy` is null too (its keys: the restart reports).
      expect(report.error).toBeNull()
      expect(reportKeys(report)).toEqual(
        reportShape().filter((k) => !k.startsWith("error.") && !k.startsWith("caddy.")),
      )
    })

    it("a usage error prints nothing on stdout, so the play's changed_when must not parse it", async () => {
      const r = await host.run(["restart", "api", "frontend", "--json", "--check-url", "not a url"])
      expect(r.code, said(r)).toBe(2)
      expect(r.stdout).toBe("")
    })

    it("start --ignore-unmatched with only names of the other kind of server does nothing, never everything", async () => {
      await healthy(host)
      await ctl(host, ["stop", `${SYNC}.service`])
      const before = await host.snapshot()
      const r = await host.run(["start", "--ignore-unmatched", "patientportal", "fhir"])
      expect(r.code, said(r)).toBe(0)
      expect(r.stderr).toContain("patientportal")
      expect(await host.snapshot()).toEqual(before)
    })

    describe.skipIf(skipUnless(ansiblePrerequisite()))("the Ansible play", () => {
      let dir = ""
      beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-ansible-"))
        fs.mkdirSync(path.join(dir, "bin"))
        // `tamanu` on PATH: the built CLI in the sandbox manager's mount namespace with the sandbox's
        // environment, exactly as host.run starts it.
        fs.writeFileSync(
          path.join(dir, "bin", "tamanu"),
          `#!/bin/sh\nexec env -i ${Object.entries(host.env)
            .map(([k, v]) => shellQuote(`${k}=${v}`))
            .join(" ")} ${host.cliArgv([]).map(shellQuote).join(" ")} "$@"\n`,
          { mode: 0o755 },
        )
        const local = "ansible_connection=local ansible_python_interpreter=/usr/bin/python3"
        fs.writeFileSync(path.join(dir, "one-host"), `[tamanu_facilities]\nfacility-a.invalid ${local}\n`)
        fs.writeFileSync(
          path.join(dir, "two-hosts"),
          `[tamanu_facilities]\nfacility-a.invalid ${local}\nfacility-b.invalid ${local}\n`,
        )
      })
      afterAll(() => {
        if (dir !== "") fs.rmSync(dir, { recursive: true, force: true })
      })

      const playbook = (inventory: string) =>
        runChild(
          [
            "ansible-playbook",
            "-v",
            "-i",
            path.join(dir, inventory),
            "-e",
            `tamanu_check_url=${host.caddyUrl}/api/`,
            path.join(repo, rolloutPlay),
          ],
          {
            ...process.env,
            PATH: `${path.join(dir, "bin")}:${process.env.PATH ?? "/usr/bin:/bin"}`,
            ANSIBLE_CONFIG: path.join(dir, "no-ansible.cfg"),
            ANSIBLE_HOME: path.join(dir, "ansible-home"),
            ANSIBLE_LOCAL_TEMP: path.join(dir, "ansible-tmp"),
            ANSIBLE_REMOTE_TEMP: path.join(dir, "ansible-remote-tmp"),
            ANSIBLE_RETRY_FILES_ENABLED: "0",
            ANSIBLE_NOCOLOR: "1",
            ANSIBLE_STDOUT_CALLBACK: "default",
          },
          { cwd: dir, timeoutMs: 150_000 },
        )

      it("rolls a host with sync stopped: exit 0, the restart and the start changed, the check ok, every service running", async () => {
        await healthy(host)
        await ctl(host, ["stop", `${SYNC}.service`])
        const before = await host.snapshot()
        const r = await playbook("one-host")
        expect(r.code, said(r)).toBe(0)
        expect(recap(r.stdout, "facility-a.invalid"), r.stdout).toEqual({
          ok: 3,
          changed: 2,
          unreachable: 0,
          failed: 0,
        })
        const restart = taskResult(r.stdout, "Restart the API and frontend without downtime", "facility-a.invalid")
        expect(restart.status).toBe("changed")
        expect(restart.result.cmd).toEqual(
          words(`tamanu restart api frontend --json --check-url ${host.caddyUrl}/api/`),
        )
        const report = JSON.parse(String(restart.result.stdout)) as { readonly restarted: ReadonlyArray<string> }
        expect([...report.restarted].sort()).toEqual([...rolled].sort())
        const start = taskResult(r.stdout, "Make sure everything expected runs (idempotent)", "facility-a.invalid")
        expect(start.status).toBe("changed")
        expect((JSON.parse(String(start.result.stdout)) as { readonly started: unknown }).started).toEqual([SYNC])
        expect(taskResult(r.stdout, "Check", "facility-a.invalid").status).toBe("ok")

        const after = await host.snapshot()
        for (const name of Object.keys(host.instances)) expect(after[name]?.running, name).toBe(true)
        for (const name of rolled) expect(after[name]?.pid, name).not.toBe(before[name]?.pid)
        expect((await host.run(["status"])).code).toBe(0)
        // The restart behind Caddy waits about a minute for Caddy's DNS cache before its own config comes back.
      }, 240_000)

      it("stops the rollout at the first host that fails: the failed task's host gets no further task, the next host none at all", async () => {
        await healthy(host)
        const dropIn = await breakUnit(host, SYNC)
        try {
          await ctl(host, ["stop", `${SYNC}.service`])
          const r = await playbook("two-hosts")
          expect(r.code, said(r)).toBe(2)
          expect(recap(r.stdout, "facility-a.invalid"), r.stdout).toEqual({
            ok: 1,
            changed: 1,
            unreachable: 0,
            failed: 1,
          })
          expect(r.stdout, "facility-b was never started on").not.toContain("facility-b.invalid")
          expect(r.stdout).not.toContain("TASK [Check]")

          const start = taskResult(r.stdout, "Make sure everything expected runs (idempotent)", "facility-a.invalid")
          expect(start.status).toBe("fatal")
          expect(start.result.rc).toBe(1)
          const report = JSON.parse(String(start.result.stdout)) as {
            readonly ok: boolean
            readonly error: { readonly tag: string }
          }
          expect(report.ok).toBe(false)
          expect(report.error.tag).toBe("SupervisorCallFailed")
          // This start touched no service behind Caddy: `caddy` is null.
          expect(reportKeys(report)).toEqual(reportShape().filter((k) => !k.startsWith("caddy.")))

          // The rest of the host keeps serving.
          const after = await host.snapshot()
          for (const name of Object.keys(host.instances).filter((n) => n !== SYNC))
            expect(after[name]?.running, name).toBe(true)
          expect((await fetch(`${host.caddyUrl}/api/patients`)).status).toBe(200)
        } finally {
          fs.rmSync(dropIn, { recursive: true, force: true })
          await ctl(host, ["daemon-reload"])
          await host.systemctl(["reset-failed", `${SYNC}.service`])
          await healthy(host)
        }
      }, 150_000)
    })
  })
})

describe.skipIf(skipUnless(pm2Prerequisite(), builtBench()))("docs/performance-cold-start.md", () => {
  for (const line of commandsRunHere("docs/performance-cold-start.md")) {
    it(`${line.command} prints the figures the page names (2 rounds instead of 25)`, async () => {
      const check = coldStartChecks[line.command]
      if (check === undefined) throw new Error(`no check for ${line.command}`)
      await check(line.command)
    })
  }
})

// ---------------------------------------------------------------------------
// helpers for the Ansible play and the report

const rolloutPlay = "docs/examples/ansible/tamanu-rollout.yml"

function ansiblePrerequisite() {
  return {
    component: "ansible-playbook",
    missing: hasCommand("ansible-playbook")
      ? null
      : "not installed (apt-get install ansible-core; scripts/setup.sh does as root)",
  }
}

function builtBench() {
  const bench = path.join(repo, "packages/lab/dist/bench/coldStart.js")
  return {
    component: "built benchmark",
    missing: fs.existsSync(bench) ? null : `${bench} is missing: run npm run build`,
  }
}

/**
 * A real report's keys as the page's shape names them: its top-level keys
 * and the keys of its objects (`caddy.mode`), not those of array elements
 * (`settle[].instance`), which the page describes in its own sentences.
 */
function reportKeys(report: unknown): ReadonlyArray<string> {
  return jsonKeyPaths(report).filter((k) => !k.includes("[]"))
}

/** The report's keys as docs/operations.md lists them. */
function reportShape(): ReadonlyArray<string> {
  const text = readDoc("docs/operations.md")
  const shape = /print a report:\s*`(\{[^`]*\})`/.exec(text)?.[1]
  const keys = shape === undefined ? null : proseShapeKeys(shape)
  if (keys === null) throw new Error("docs/operations.md no longer lists the report's keys as `{ … }`")
  return keys
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`
}

/** One host's PLAY RECAP counts. */
function recap(stdout: string, host: string) {
  const line = stdout.split("\n").find((l) => l.startsWith(`${host} `) && l.includes(" : ok="))
  if (line === undefined) throw new Error(`no PLAY RECAP line for ${host} in:\n${stdout}`)
  const count = (key: string) => Number(new RegExp(`\\b${key}=(\\d+)`).exec(line)?.[1] ?? Number.NaN)
  return { ok: count("ok"), changed: count("changed"), unreachable: count("unreachable"), failed: count("failed") }
}

/** A task's outcome for a host, with its result (printed as JSON by `-v`). */
function taskResult(stdout: string, task: string, host: string) {
  const lines = stdout.split("\n")
  const header = lines.findIndex((l) => l.startsWith(`TASK [${task}]`))
  if (header < 0) throw new Error(`no TASK [${task}] in:\n${stdout}`)
  const line = lines.slice(header + 1).find((l) => l.includes(`[${host}]`))
  const match =
    line === undefined ? null : /^(ok|changed|fatal|failed|skipping): \[[^\]]+\](?:: FAILED!)? => (\{.*\})$/.exec(line)
  if (match === null) throw new Error(`no result of ${task} for ${host} in:\n${stdout}`)
  return { status: match[1], result: JSON.parse(match[2] ?? "{}") as Record<string, unknown> }
}

/** Make a unit fail at once when started (a oneshot running /bin/false); returns its drop-in directory. */
async function breakUnit(host: SandboxHost, unit: string): Promise<string> {
  const fragment = await host.systemctl(["show", "-p", "FragmentPath", "--value", `${unit}.service`])
  const dir = `${fragment.stdout.trim()}.d`
  if (!path.isAbsolute(dir) || !dir.startsWith(os.tmpdir())) throw new Error(`unexpected unit path ${dir}`)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, "broken.conf"), "[Service]\nType=oneshot\nExecStart=\nExecStart=/bin/false\n")
  await ctl(host, ["daemon-reload"])
  return dir
}
