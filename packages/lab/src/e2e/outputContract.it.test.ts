/**
 * The output contract (docs/operations.md), against the BUILT binary and the
 * BUILT packages, through the faults and bad inputs of docs/reliability.md:
 *
 * - with `--json`, stdout is exactly one JSON document (the whole of stdout
 *   parses), or nothing where the command has no result: a usage error the
 *   parser refused (exit 2) and `status` when it could not look (exit 1);
 * - without it, stdout holds the result only (the status table; nothing for
 *   start/stop/restart): never a log line, never a progress line;
 * - stderr holds the progress, the log lines in the CLI's format
 *   (`warning: <sentence>`, no clock time, no `WARN`, no fiber id) and the
 *   error paragraph; `--log-level` decides which log lines;
 * - exit status 0 / 1 / 2 as spec §12 says;
 * - the SDK writes nothing to stdout or stderr by itself: an embedding
 *   script that prints nothing has empty stdout and stderr through the same
 *   faults, and its own logger receives core's lines.
 *
 * Hosts: a pm2 sandbox (the cheapest real host: a real daemon and Caddy) for
 * the healthy host, probe timeouts, an unreachable Caddy, a missing daemon,
 * no Tamanu root and unknown NAMES; a systemd sandbox (a real user manager)
 * with a central root for the database that refuses connections (the
 * patient-portal flag is read on systemd only) and for podman missing; no
 * host at all for the option parser's bad values and a missing systemctl.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { skipUnless } from "../harness/prerequisites.js"
import {
  baseEnv,
  type CliResult,
  cliBin,
  leftoverSandboxProcesses,
  requireBuiltCli,
  runChild,
  type SandboxHost,
  sandboxPrerequisites,
  startSandboxHost,
} from "./sandboxHost.js"

type Command = "status" | "start" | "stop" | "restart"
type Where = "bare" | "pm2" | "systemd"

const COMMANDS: ReadonlyArray<Command> = ["status", "start", "stop", "restart"]

/** The status document's top-level keys, in order (issue #22 added the version fields). */
const STATUS_KEYS = ["any_short", "expected_version", "version_drift", "upgrade", "expectations", "caddy"]

/** One command under one fault. */
interface Run {
  readonly args: ReadonlyArray<string>
  readonly exit: 0 | 1 | 2
  /** Puts the host in the state the case is about (not through the CLI). */
  readonly before?: (host: SandboxHost) => Promise<void>
  /** A log line stderr must hold, whole, in the CLI's format. */
  readonly logLine?: RegExp
  /** Said once (default), or repeated by design (a wait that says each retry). */
  readonly logLineRepeats?: boolean
}

interface Fault {
  readonly name: string
  readonly where: Where
  readonly env?: (ctx: Context) => Readonly<Record<string, string>>
  /**
   * When a command has no result to print: `parser`, the option parser refused
   * the line and nothing ran (stdout stays empty, also with --json); `failure`,
   * the command failed before it had a result (status prints nothing on
   * stdout; start/stop/restart print their --json report with the error).
   */
  readonly noResult?: "parser" | "failure"
  /** The commands this fault means something for; another command's case is left out, not faked. */
  readonly runs: Partial<Record<Command, Run>>
}

interface Context {
  readonly scratch: string
  readonly closedPort: number
}

const fixtures = fileURLToPath(new URL("../../fixtures/hosts/", import.meta.url))
const DB_PASSWORD = "FIXTURE-SECRET-never-printed"
/** The central fixture's DB section, pointed at a loopback port nobody listens on. */
const dbDown = (ctx: Context) => ({
  TAMANU_ROOT: path.join(fixtures, "central-linux"),
  TAMANU_DATABASE_URL: `postgres://tamanu:${DB_PASSWORD}@127.0.0.1:${ctx.closedPort}/tamanu`,
})
const PORTAL_UNKNOWN =
  /^warning: patient portal flag unknown: database postgres:\/\/tamanu:\*\*\*@127\.0\.0\.1:\d+\/tamanu unreachable: .+$/m

/** A bin directory with what the systemd sandbox needs (nsenter, systemctl, journalctl) and no podman. */
const withoutPodman = (ctx: Context): string => {
  const dir = path.join(ctx.scratch, "bin-without-podman")
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir)
    for (const tool of ["nsenter", "systemctl", "journalctl"]) {
      const found = (process.env.PATH ?? "/usr/bin:/bin")
        .split(":")
        .map((d) => path.join(d, tool))
        .find((p) => fs.existsSync(p))
      if (found !== undefined) fs.symlinkSync(found, path.join(dir, tool))
    }
  }
  return dir
}

const stopped = (host: SandboxHost, what: ReadonlyArray<string>) => async () => {
  await host.startAll()
  if (host.supervisor === "pm2") await host.pm2(["stop", ...what])
  else await host.systemctl(["stop", ...what])
}

const faults: ReadonlyArray<Fault> = [
  {
    name: "a healthy host",
    where: "pm2",
    runs: {
      status: { args: [], exit: 0 },
      start: { args: [], exit: 0 },
      stop: { args: ["sync"], exit: 0 },
      restart: { args: ["api"], exit: 0 },
    },
  },
  {
    name: "NAMES that match nothing",
    where: "pm2",
    noResult: "failure",
    runs: Object.fromEntries(COMMANDS.map((c) => [c, { args: ["snyc"], exit: 2 }])),
  },
  {
    // The services take READY_DELAY_MS (2 s) to answer; a 100 ms budget can only run out.
    name: "a probe that times out",
    where: "pm2",
    runs: {
      start: {
        args: ["api", "--probe-timeout", "100ms"],
        exit: 1,
        before: (host) => stopped(host, ["tamanu-api"])(),
      },
      restart: { args: ["api", "--probe-timeout", "100ms"], exit: 1 },
    },
  },
  {
    name: "Caddy's admin API unreachable",
    where: "pm2",
    env: (ctx) => ({ TAMANU_CADDY_ADMIN_URL: `http://127.0.0.1:${ctx.closedPort}` }),
    runs: {
      status: { args: [], exit: 0 },
      start: { args: ["api"], exit: 0, before: (host) => stopped(host, ["tamanu-api"])() },
      stop: { args: ["sync"], exit: 0 },
      restart: { args: ["api"], exit: 0 },
    },
  },
  {
    name: "the pm2 daemon not running",
    where: "pm2",
    noResult: "failure",
    env: (ctx) => ({ PM2_HOME: path.join(ctx.scratch, "pm2-home-without-daemon") }),
    runs: Object.fromEntries(COMMANDS.map((c) => [c, { args: [], exit: 1 }])),
  },
  {
    name: "no Tamanu root",
    where: "pm2",
    noResult: "failure",
    env: (ctx) => ({ TAMANU_ROOT: path.join(ctx.scratch, "no-such-root") }),
    runs: Object.fromEntries(COMMANDS.map((c) => [c, { args: [], exit: 1 }])),
  },
  {
    name: "the database refusing connections (central host)",
    where: "systemd",
    env: dbDown,
    runs: {
      // The central units do not exist in the sandbox: status is short (exit 1) and says why.
      status: { args: [], exit: 1, logLine: PORTAL_UNKNOWN },
      // start waits for the database (--db-wait) before deciding the portal, saying so at info level.
      start: {
        args: ["--dry-run", "--db-wait", "3s"],
        exit: 0,
        logLine: /^info: waiting for the database at postgres:\/\/tamanu:\*\*\*@127\.0\.0\.1:\d+\/tamanu .+$/m,
        logLineRepeats: true,
      },
      stop: { args: [], exit: 0, logLine: PORTAL_UNKNOWN },
      restart: { args: ["--dry-run"], exit: 0, logLine: PORTAL_UNKNOWN },
    },
  },
  {
    name: "podman missing (no probe URL)",
    where: "systemd",
    env: (ctx) => ({ PATH: withoutPodman(ctx) }),
    runs: {
      status: { args: [], exit: 0 },
      start: {
        args: ["api"],
        exit: 0,
        before: (host) => stopped(host, ["tamanu-facility-api@2.service"])(),
        logLine: /^warning: no probe URL for tamanu-facility-api@2: .*podman.*$/m,
      },
      stop: { args: ["sync"], exit: 0 },
      // Behind Caddy's admin API an instance whose own address is unknown is never taken down (issue #20):
      // after its restart Caddy could not be told where it serves. The roll stops first, exit 1.
      restart: {
        args: ["api", "--cooldown", "1s"],
        exit: 1,
        logLine: /^warning: no probe URL for tamanu-facility-api@1: .*podman.*$/m,
      },
    },
  },
  {
    name: "systemctl missing",
    where: "bare",
    noResult: "failure",
    env: () => ({
      TAMANU_SUPERVISOR: "systemd",
      TAMANU_SYSTEMD_SCOPE: "user",
      TAMANU_ROOT: path.join(fixtures, "facility-linux"),
      PATH: "/nonexistent-tamanu-test",
    }),
    runs: Object.fromEntries(COMMANDS.map((c) => [c, { args: [], exit: 1 }])),
  },
  {
    name: "an unknown option",
    where: "bare",
    noResult: "parser",
    runs: Object.fromEntries(COMMANDS.map((c) => [c, { args: ["--bogus"], exit: 2 }])),
  },
  {
    name: "a bad option value (choice, duration, URL)",
    where: "bare",
    noResult: "parser",
    runs: {
      status: { args: ["--supervisor", "upstart"], exit: 2 },
      start: { args: ["--probe-timeout", "5x"], exit: 2 },
      stop: { args: ["--wait", "soon"], exit: 2 },
      restart: { args: ["--check-url", "ftp://tamanu.example/"], exit: 2 },
    },
  },
]

/** Log lines in any format but the CLI's: Effect's default and pretty loggers, logfmt, upper-case levels. */
const FOREIGN_LOG_LINE = [
  /^\[\d\d:\d\d:\d\d\.\d{3}\]/m, // pretty logger's clock time
  /\(#\d+\)/, // fiber id, pretty logger
  /\bfiber=#\d+/, // fiber id, default logger
  /^timestamp=/m, // default logger (logfmt)
  /^\s*(WARN|INFO|DEBUG|ERROR|FATAL|TRACE)\b/m,
] as const
/** Lines that belong on stderr only: the CLI's log lines and progress. */
const STDERR_ONLY = [/^(warning|error|info|debug|trace|fatal): /m, /^⚠ /m, /^✓ /m, /^→ /m, /^↻ /m] as const

const said = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

/** Whether --json has a document to print: not when the parser refused the line, nor when status failed to look. */
const expectsDocument = (fault: Fault, command: Command): boolean =>
  fault.noResult === undefined || (fault.noResult === "failure" && command !== "status")

const checkContract = (fault: Fault, command: Command, json: boolean, run: Run, r: CliResult) => {
  expect(r.code, said(r)).toBe(run.exit)
  for (const pattern of FOREIGN_LOG_LINE) {
    expect(r.stdout, `stdout holds a foreign log line (${pattern})\n${said(r)}`).not.toMatch(pattern)
    expect(r.stderr, `stderr holds a log line not in the CLI's format (${pattern})\n${said(r)}`).not.toMatch(pattern)
  }
  for (const pattern of STDERR_ONLY) expect(r.stdout, `stdout holds ${pattern}\n${said(r)}`).not.toMatch(pattern)
  expect(`${r.stdout}${r.stderr}`).not.toContain(DB_PASSWORD)
  if (run.logLine !== undefined) {
    expect(r.stderr, said(r)).toMatch(run.logLine)
    // Once, although the binary and the command both install the CLI's logger (the same instance).
    if (run.logLineRepeats !== true)
      expect(r.stderr.split("\n").filter((l) => run.logLine?.test(l)).length, said(r)).toBe(1)
  }
  if (run.exit !== 0) expect(r.stderr.trim(), `a failure says why on stderr\n${said(r)}`).not.toBe("")

  if (json) {
    if (expectsDocument(fault, command)) {
      const parsed = (() => {
        try {
          return JSON.parse(r.stdout) as Record<string, unknown>
        } catch (error) {
          throw new Error(`stdout is not exactly one JSON document (${String(error)})\n${said(r)}`)
        }
      })()
      if (command === "status") expect(Object.keys(parsed), said(r)).toEqual(STATUS_KEYS)
      else {
        expect(parsed.command, said(r)).toBe(command)
        expect(parsed.ok, said(r)).toBe(run.exit === 0)
        expect(parsed.error === null, said(r)).toBe(run.exit === 0)
      }
    } else expect(r.stdout, said(r)).toBe("")
  } else if (command === "status") {
    // The table (or nothing, when status could not look), and nothing else.
    if (r.stdout !== "")
      expect(r.stdout.split("\n")[0], said(r)).toMatch(/^Service\s+Expected\s+Actual\s+Version\s+Reason/)
  } else expect(r.stdout, `start/stop/restart print their result on stdout only with --json\n${said(r)}`).toBe("")
}

const closedLoopbackPort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 1))
    })
  })

/** The built embedding script (e2e/embeddedOperation.ts), checked to be newer than its source. */
const embeddedScript = fileURLToPath(new URL("../../dist/e2e/embeddedOperation.js", import.meta.url))
const requireBuiltEmbeddedScript = () => {
  const source = fileURLToPath(new URL("./embeddedOperation.ts", import.meta.url))
  if (!fs.existsSync(embeddedScript)) throw new Error(`${embeddedScript} does not exist: run npm run build`)
  if (fs.statSync(source).mtimeMs > fs.statSync(embeddedScript).mtimeMs)
    throw new Error(`${embeddedScript} is older than ${source}: run npm run build`)
}

const hostsNeeded = skipUnless(...sandboxPrerequisites("pm2"), ...sandboxPrerequisites("systemd"))

describe.skipIf(hostsNeeded)("the output contract of the built tamanu and of the SDK", () => {
  const hosts: Partial<Record<Where, SandboxHost>> = {}
  let ctx: Context
  const bareEnv = () => ({ ...baseEnv(), HOME: path.join(ctx.scratch, "home") })

  beforeAll(async () => {
    requireBuiltCli()
    requireBuiltEmbeddedScript()
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-contract-"))
    fs.mkdirSync(path.join(scratch, "home"))
    fs.mkdirSync(path.join(scratch, "pm2-home-without-daemon"))
    ctx = { scratch, closedPort: await closedLoopbackPort() }
    // READY_DELAY_MS 2000 on pm2: a 100 ms probe budget cannot be met whatever the machine's speed.
    hosts.pm2 = await startSandboxHost({ supervisor: "pm2", readyDelayMs: 2000 })
    hosts.systemd = await startSandboxHost({ supervisor: "systemd", readyDelayMs: 300 })
  })
  afterAll(async () => {
    await hosts.pm2?.stop()
    await hosts.systemd?.stop()
    if (ctx !== undefined) fs.rmSync(ctx.scratch, { recursive: true, force: true })
  })

  /** Run the built binary where the fault lives, with the fault's environment. */
  const cli = (fault: Fault, args: ReadonlyArray<string>, extraEnv: Readonly<Record<string, string>> = {}) => {
    const env = { ...(fault.env?.(ctx) ?? {}), ...extraEnv }
    const host = fault.where === "bare" ? undefined : hosts[fault.where]
    if (fault.where !== "bare" && host === undefined) throw new Error(`no ${fault.where} sandbox`)
    return host === undefined
      ? runChild([process.execPath, cliBin, ...args], { ...bareEnv(), ...env })
      : host.run(args, { env })
  }

  for (const fault of faults) {
    describe(fault.name, () => {
      for (const command of COMMANDS) {
        const run = fault.runs[command]
        if (run === undefined) continue
        for (const json of [true, false]) {
          const args = [command, ...run.args, ...(json ? ["--json"] : [])]
          it(`tamanu ${args.join(" ")}: exit ${run.exit}, ${json ? "one JSON document or nothing" : "no log line"} on stdout`, async () => {
            const host = fault.where === "bare" ? undefined : hosts[fault.where]
            if (host !== undefined) await (run.before ?? ((h: SandboxHost) => h.startAll()))(host)
            checkContract(fault, command, json, run, await cli(fault, args))
          })
        }
      }
    })
  }

  describe("--log-level decides which log lines reach stderr, wherever it is placed", () => {
    const fault = faults.find((f) => f.name.startsWith("the database refusing")) as Fault
    const runStatus = (...extra: ReadonlyArray<string>) => cli(fault, ["status", "--json", ...extra])

    it("by default: warnings and info, no debug", async () => {
      const r = await runStatus()
      expect(r.stderr, said(r)).toMatch(PORTAL_UNKNOWN)
      expect(r.stderr, said(r)).not.toMatch(/^debug: /m)
    })

    it("--log-level error hides the warning; stdout is the same document", async () => {
      const r = await runStatus("--log-level", "error")
      expect(r.code, said(r)).toBe(1)
      expect(r.stderr, said(r)).not.toMatch(/^warning: /m)
      expect(Object.keys(JSON.parse(r.stdout) as object)).toEqual(STATUS_KEYS)
    })

    it("--log-level debug (here after --json) shows every systemctl call, in the same format", async () => {
      const r = await runStatus("--log-level=debug")
      expect(r.stderr, said(r)).toMatch(PORTAL_UNKNOWN)
      expect(r.stderr, said(r)).toMatch(/^debug: systemctl --user list-units .*: exit 0 after \d+ ms$/m)
      for (const pattern of FOREIGN_LOG_LINE) expect(r.stderr, said(r)).not.toMatch(pattern)
      expect(Object.keys(JSON.parse(r.stdout) as object)).toEqual(STATUS_KEYS)
    })
  })

  describe("the SDK writes nothing to stdout or stderr by itself; an embedder's own logger gets core's lines", () => {
    interface SdkCase {
      readonly fault: string
      readonly command: Command
      readonly names?: ReadonlyArray<string>
      /** What the operation ends with: ok, or the error's tag. */
      readonly outcome: string
      /** A line core logs in this case, which the embedder's logger must receive. */
      readonly line?: RegExp
      readonly env?: Readonly<Record<string, string>>
    }
    const sdkCases: ReadonlyArray<SdkCase> = [
      {
        fault: "the database refusing connections (central host)",
        command: "status",
        outcome: "ok",
        line: /^warn: patient portal flag unknown: database postgres:\/\/tamanu:\*\*\*@/m,
      },
      {
        fault: "the database refusing connections (central host)",
        command: "start",
        // The central units are not installed in the sandbox: systemctl start fails, typed.
        outcome: "SupervisorCallFailed",
        line: /^warn: patient portal flag unknown/m,
      },
      {
        fault: "the database refusing connections (central host)",
        command: "stop",
        outcome: "ok",
        line: /^warn: patient portal flag unknown/m,
      },
      {
        fault: "podman missing (no probe URL)",
        command: "restart",
        names: ["api"],
        outcome: "RollStopped",
        line: /^warn: no probe URL for tamanu-facility-api@1: .*podman/m,
      },
      { fault: "the pm2 daemon not running", command: "status", outcome: "SupervisorUnavailable" },
      { fault: "the pm2 daemon not running", command: "restart", outcome: "SupervisorUnavailable" },
      { fault: "systemctl missing", command: "start", outcome: "SupervisorUnavailable" },
      { fault: "no Tamanu root", command: "status", outcome: "NoTamanuRoot" },
      {
        // Logged while LiveLayer is built, before any operation runs.
        fault: "a healthy host",
        command: "status",
        outcome: "ok",
        env: { TAMANU_KIND: "mainframe" },
        line: /^warn: ignoring TAMANU_KIND=mainframe: expected central or facility$/m,
      },
      {
        fault: "a healthy host",
        command: "status",
        outcome: "ok",
        line: /^debug: pm2 getMonitorData \{\}: answered after \d+ ms$/m,
      },
    ]

    const embedded = async (c: SdkCase, routeLogs: boolean) => {
      const fault = faults.find((f) => f.name === c.fault)
      if (fault === undefined) throw new Error(`no fault ${c.fault}`)
      const dir = fs.mkdtempSync(path.join(ctx.scratch, "embed-"))
      const report = path.join(dir, "report.json")
      const logFile = path.join(dir, "log.txt")
      const env: Record<string, string> = {
        ...(fault.env?.(ctx) ?? {}),
        ...c.env,
        EMBED_REPORT: report,
        ...(routeLogs ? { EMBED_LOG_FILE: logFile } : {}),
      }
      const args = [embeddedScript, c.command, ...(c.names ?? [])]
      const host = fault.where === "bare" ? undefined : hosts[fault.where]
      if (host !== undefined) await host.startAll()
      const r =
        host === undefined
          ? await runChild([process.execPath, ...args], { ...bareEnv(), ...env })
          : await host.runNode(args, { env })
      const outcome = JSON.parse(fs.readFileSync(report, "utf8")) as { ok: boolean; tag: string | null }
      const lines = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : ""
      return { r, outcome: outcome.ok ? "ok" : String(outcome.tag), lines }
    }

    for (const c of sdkCases) {
      const what = `${c.command}${c.names === undefined ? "" : ` ${c.names.join(" ")}`} with ${c.fault}${c.line === undefined ? "" : ` (core logs ${c.line.source.slice(1, 40)}…)`}`
      it(`${what}: empty stdout and stderr`, async () => {
        const { r, outcome } = await embedded(c, false)
        expect(outcome, said(r)).toBe(c.outcome)
        expect(r.code, said(r)).toBe(0)
        expect(r.stdout, said(r)).toBe("")
        expect(r.stderr, said(r)).toBe("")
      })
      if (c.line !== undefined) {
        const line = c.line
        it(`${what}: the embedder's own logger receives the line, and still nothing reaches stdout or stderr`, async () => {
          const { r, outcome, lines } = await embedded(c, true)
          expect(outcome, said(r)).toBe(c.outcome)
          expect(lines, said(r)).toMatch(line)
          expect(lines).not.toContain(DB_PASSWORD)
          expect(r.stdout, said(r)).toBe("")
          expect(r.stderr, said(r)).toBe("")
        })
      }
    }
  })
})

describe.skipIf(hostsNeeded)("the output-contract suite", () => {
  it("leaves no tamanu service, Caddy, systemd manager or pm2 daemon behind", () => {
    expect(leftoverSandboxProcesses()).toEqual([])
  })
})
