/**
 * Security: no shell ever reads operator input, nothing that looks like an
 * option reaches a supervisor as one, the database password never shows in
 * anything printed or logged, sudo re-runs exactly the original arguments.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import {
  checkUrl,
  encodeOperationReport,
  failureReport,
  names,
  renderCause,
  renderError,
  renderStatusTable,
  rerunInvocation,
  resolveSettings,
  type SettingFlags,
  tamanuCommand,
} from "@tamanu-lifecycle/cli"
import {
  type InstanceRef,
  makeSystemdSupervisor,
  resolveTargets,
  SupervisorCallFailed,
  status,
  sudoArgv,
  TamanuHostLive,
} from "@tamanu-lifecycle/core/internal"
import { Effect, Either, Exit, Option } from "effect"
import fc from "fast-check"
import { everythingSaid, faultWorld } from "./faultWorld.js"

const noFlags: SettingFlags = {
  root: Option.none(),
  supervisor: Option.none(),
  systemdScope: Option.none(),
  kind: Option.none(),
  caddyAdmin: Option.none(),
  caddyfile: Option.none(),
  nodeEnv: Option.none(),
  databaseUrl: Option.none(),
  pm2Home: Option.none(),
}

const repo = fileURLToPath(new URL("../../../../", import.meta.url))
const ref = (name: string, suffix: string | null = null): InstanceRef => ({ name, suffix, pmId: null })

// ---------------------------------------------------------------------------

describe("no shell ever sees operator input", () => {
  const sources = ["packages/core/src", "packages/cli/src"].flatMap((dir) =>
    (fs.readdirSync(path.join(repo, dir), { recursive: true }) as Array<string>)
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.includes(".test."))
      .map((f) => {
        const file = path.join(dir, f)
        return { file, text: fs.readFileSync(path.join(repo, file), "utf8") }
      }),
  )

  /** Every place a process is spawned, each with its arguments as an array. */
  const allowed: Readonly<Record<string, number>> = {
    "packages/core/src/supervisor/systemd.ts": 2, // execFile(systemctl, rest) and spawn(journalctl, rest)
    "packages/core/src/privileges/Privileges.ts": 1, // spawn(sudo, [...args]): sudo -n -l -- argv, then [-n] sudoArgv(invocation)
    "packages/core/src/proxy/restoreSchedule.ts": 1, // spawn(node, rest): tamanu's own restore-caddy --at=<ms>, detached (pm2 hosts)
  }

  it("finds the sources it scans", () => {
    expect(sources.length).toBeGreaterThan(30)
    expect(sources.map((s) => s.file)).toContain("packages/core/src/supervisor/systemd.ts")
  })

  it("no exec/execSync, no shell: true, no runInShell anywhere", () => {
    for (const { file, text } of sources) {
      // `exec(` of child_process, not RegExp's `.exec(`.
      expect({ file, exec: text.match(/(?<![.\w])exec(?:Sync)?\(/g) ?? [] }).toEqual({ file, exec: [] })
      expect(text).not.toMatch(/shell\s*:\s*true/)
      expect(text).not.toMatch(/runInShell/)
      expect(text).not.toMatch(/\bexecSync\(|\bspawnSync\(|\bexecFileSync\(/)
    }
  })

  it("node:child_process is used only at the allow-listed call sites, each with an argument array", () => {
    for (const { file, text } of sources) {
      const imports = /from "node:child_process"|require\("child_process"\)|from "child_process"/.test(text)
      const calls = [...text.matchAll(/\b(spawn|execFile)\(\s*([^,]+),\s*([^,\n]+)/g)]
      expect({ file, spawns: calls.length }).toEqual({ file, spawns: allowed[file] ?? 0 })
      if (!imports) continue
      expect(Object.keys(allowed)).toContain(file)
      for (const [, , , args] of calls) expect(args?.trim()).toMatch(/^(\[|rest\b)/)
    }
  })

  it("@effect/platform commands are built from a program and separate arguments, never a command line", () => {
    for (const { file, text } of sources) {
      for (const [call] of text.matchAll(/Command\.make\([^)]*\)/g)) {
        if (file.startsWith("packages/cli/")) continue // @effect/cli's Command, not a process
        expect({ file, call }).toEqual({ file, call: "Command.make(command, ...args)" })
      }
    }
  })
})

// ---------------------------------------------------------------------------

const runCli = (command: Command.Command<string, never, unknown, unknown>, argv: ReadonlyArray<string>) =>
  Command.run(command as Command.Command<string, never, never, unknown>, { name: "tamanu", version: "test" })([
    "node",
    "tamanu",
    ...argv,
  ]).pipe(Effect.provide(NodeContext.layer), Effect.exit)

describe("names and units that look like options", () => {
  it.effect("NAMES starting with - are refused with exit 2 by the real command tree, before anything runs", () =>
    Effect.gen(function* () {
      for (const argv of [
        ["status", "--now"],
        ["status", "-H", "host"],
        ["status", "--", "--now"],
        ["status", "api", "--", "-H"],
      ]) {
        const exit = yield* runCli(tamanuCommand as never, argv)
        const { exitCode } = rendered(exit)
        expect({ argv, exitCode }).toEqual({ argv, exitCode: 2 })
      }
    }),
  )

  it.effect(`any NAME that starts with - never reaches the handler (${300} generated names)`, () =>
    Effect.gen(function* () {
      const reached: Array<ReadonlyArray<string>> = []
      const probe = Command.make("probe", { names }, (a) => Effect.sync(() => reached.push(a.names)))
      const samples = fc.sample(
        fc.string({ maxLength: 12 }).map((s) => `-${s}`),
        { numRuns: 300, seed: 42 },
      )
      for (const name of samples) {
        const exit = yield* runCli(probe as never, ["--", name])
        expect({ name, exitCode: rendered(exit).exitCode }).toEqual({ name, exitCode: 2 })
      }
      expect(reached).toEqual([])
      // And an ordinary name does reach it: the check is not refusing everything.
      yield* runCli(probe as never, ["api"])
      expect(reached).toEqual([["api"]])
    }),
  )

  it.effect(
    "the systemd layer refuses an option-like or ill-formed unit without running systemctl, and puts -- before units",
    () =>
      Effect.gen(function* () {
        const spawned: Array<ReadonlyArray<string>> = []
        const sd = makeSystemdSupervisor({ scope: "user", systemctl: ["true"], onSpawn: (argv) => spawned.push(argv) })
        for (const bad of [ref("--now"), ref("-H"), ref("tamanu-x;reboot"), ref("tamanu x")]) {
          for (const call of [
            sd.start([bad]),
            sd.stop([bad]),
            sd.restartOne(bad),
            sd.disable([bad]),
            sd.enabled([bad]),
          ]) {
            const exit = yield* Effect.exit(call)
            expect(Exit.isFailure(exit)).toBe(true)
            const { exitCode, message } = rendered(exit)
            expect(exitCode).toBe(1)
            expect(message).toContain("refused before running")
          }
        }
        expect(spawned).toEqual([])
        // A suffix may hold dashes (systemd allows them); the unit name then starts with "tamanu-", after "--".
        yield* sd.start([ref("tamanu-facility-api", "1"), ref("tamanu-facility-sync"), ref("tamanu-x", "--now")])
        expect(spawned).toEqual([
          [
            "true",
            "--user",
            "start",
            "--",
            "tamanu-facility-api@1.service",
            "tamanu-facility-sync.service",
            "tamanu-x@--now.service",
          ],
        ])
      }),
  )

  it("pm2 compares names as data: --now only ever addresses a process called --now", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), (name) => {
        const processes = [
          { name: "tamanu-api", pmId: 1 },
          { name: "tamanu-tasks", pmId: 0 },
        ]
        const { ids, missingNames } = resolveTargets(processes, [{ name, suffix: null, pmId: null }])
        expect(ids).toEqual(processes.filter((p) => p.name === name).map((p) => p.pmId))
        expect(missingNames).toEqual(ids.length === 0 ? [name] : [])
      }),
      { numRuns: 1000 },
    )
  })
})

// ---------------------------------------------------------------------------

describe("--check-url", () => {
  it.effect(
    "accepts only absolute http(s) URLs; anything else is exit 2 before anything runs (300 generated values)",
    () =>
      Effect.gen(function* () {
        const reached: Array<string | null> = []
        const probe = Command.make("probe", { checkUrl }, (a) => Effect.sync(() => reached.push(a.checkUrl)))
        const samples = fc.sample(
          fc.oneof(
            fc.webUrl(),
            fc.string({ maxLength: 30 }),
            fc.constantFrom(
              "ftp://x/",
              "file:///etc/passwd",
              "http//x",
              "localhost:3000",
              "javascript:alert(1)",
              "http://",
            ),
          ),
          { numRuns: 300, seed: 7 },
        )
        for (const value of samples) {
          const before = reached.length
          const exit = yield* runCli(probe as never, ["--check-url", value])
          if (Exit.isSuccess(exit) && reached.length > before) {
            const got = reached[reached.length - 1] ?? ""
            expect(["http:", "https:"]).toContain(new URL(got).protocol)
          } else {
            expect({ value, exitCode: rendered(exit).exitCode }).toEqual({ value, exitCode: 2 })
          }
        }
        expect(reached.length).toBeGreaterThan(0)
      }),
    // 300 parses: about 4 s alone on the shared 2-core machine, over vitest's 5 s default under load.
    60_000,
  )
})

// ---------------------------------------------------------------------------

describe("the database password never shows", () => {
  const password = "s3cr3t-PW"
  const leaks = (texts: ReadonlyArray<string>) =>
    texts.filter((t) => t.includes(password) || t.includes(encodeURIComponent(password)))

  /** A central install whose config points at a database that refuses connections. */
  const install = () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-secret-"))
    fs.writeFileSync(
      path.join(root, "local.json5"),
      `{ db: { host: "127.0.0.1", port: 1, name: "tamanu", username: "tamanu", password: "${password}" } }`,
    )
    return root
  }

  const centralUnits = {
    systemd: {
      units: [
        { name: "tamanu-central-tasks", running: true, enabled: true },
        { name: "tamanu-central-api", suffix: "1", running: true, enabled: true },
      ],
      unitFiles: ["tamanu-patientportal@.service"],
    },
  }

  it.live("status over the real host layer with an unreachable DB: not in logs, events, table, JSON or errors", () =>
    Effect.gen(function* () {
      const result = yield* status({ names: [], all: false })
      const portal = result.json.expectations.find((e) => e.name === "tamanu-patientportal")
      expect(portal?.status).toBe("unknown")
      const said = yield* everythingSaid
      // The DB was really asked: its failure is in the logs, masked.
      expect(said.some((l) => l.includes("patient portal flag unknown"))).toBe(true)
      const texts = [
        ...said,
        JSON.stringify(result.json),
        renderStatusTable(result, { color: false }),
        JSON.stringify(result.survey.facts),
      ]
      expect(leaks(texts)).toEqual([])
    }).pipe(
      Effect.provide(TamanuHostLive({ root: install(), kind: "central" })),
      Effect.provide(faultWorld({ supervisor: centralUnits })),
    ),
  )

  it("every rendered error and --json failure report masks a URL password, whatever the password", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }).filter((p) => !/[\s/?#@]/.test(p)),
        (pw) => {
          const secret = `Zq${pw}`
          const url = `postgres://tamanu:${secret}@db.internal:5432/tamanu`
          const error = new SupervisorCallFailed({
            supervisor: "systemd",
            command: ["systemctl", "start", "--", "tamanu-central-api@1.service"],
            stderr: `Environment=TAMANU_DATABASE_URL=${url} password=${secret}`,
            exitCode: 1,
          })
          const { message } = renderError(error)
          const json = encodeOperationReport(failureReport("start", error))
          for (const text of [message, json]) expect(text).not.toContain(secret)
        },
      ),
      { numRuns: 1000 },
    )
  })
})

// ---------------------------------------------------------------------------

describe("sudo re-exec", () => {
  it("passes exactly the original command line after --, and never an environment option, whatever it is", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.option(fc.string({ minLength: 1, maxLength: 12 }), { nil: null }),
        fc.array(fc.string({ maxLength: 12 }), { maxLength: 8 }),
        (executable, script, args) => {
          const out = sudoArgv({ executable, script, args })
          // Nothing of ours after "--", nothing of the operator's before it, and no --preserve-env/-E at all.
          expect(out[0]).toBe("--")
          expect(out.slice(1)).toEqual([executable, ...(script === null ? [] : [script]), ...args])
        },
      ),
      { numRuns: 1000 },
    )
  })

  it("a re-run carries what the environment said as options, never through sudo's environment", () => {
    fc.assert(
      fc.property(
        fc.record({
          TAMANU_ROOT: fc.option(fc.string({ minLength: 1, maxLength: 10 }), { nil: undefined }),
          TAMANU_KIND: fc.option(fc.constantFrom("central", "facility"), { nil: undefined }),
          NODE_ENV: fc.option(fc.constantFrom("production", "staging"), { nil: undefined }),
          NO_COLOR: fc.option(fc.constant("1"), { nil: undefined }),
        }),
        fc.array(fc.constantFrom("stop", "tasks", "--", "--wait", "30s"), { maxLength: 6 }),
        (env, args) => {
          const settings = resolveSettings(noFlags, env)
          if (Either.isLeft(settings)) return
          const rerun = rerunInvocation(
            { executable: "/usr/bin/node", script: "/usr/local/bin/tamanu", args },
            settings.right,
            false,
            "linux",
          )
          expect(Either.isRight(rerun)).toBe(true)
          if (Either.isLeft(rerun)) return
          const out = sudoArgv(rerun.right)
          expect(out.join(" ")).not.toMatch(/preserve-env|SETENV|NO_COLOR=/)
          if (env.TAMANU_ROOT !== undefined && env.TAMANU_ROOT !== "")
            expect(out).toContain(`--root=${env.TAMANU_ROOT}`)
          if (env.TAMANU_KIND !== undefined) expect(out).toContain(`--kind=${env.TAMANU_KIND}`)
        },
      ),
      { numRuns: 500 },
    )
  })
})

/** The rendered failure of an Exit, as the CLI prints it. */
const rendered = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) ? renderCause(exit.cause) : { exitCode: 0 as const, message: "" }
