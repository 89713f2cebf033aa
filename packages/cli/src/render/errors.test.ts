import { HelpDoc, ValidationError } from "@effect/cli"
import {
  CheckUrlFailed,
  ConfigMissingDb,
  ConfigUnreadable,
  InstanceFailed,
  InvalidDuration,
  LockFailed,
  LockHeld,
  NeedsRoot,
  NoTamanuRoot,
  NotReady,
  PlanRefused,
  ProbeFailed,
  ProxyFailed,
  RollStopped,
  SettleFailed,
  SudoFailed,
  SupervisorCallFailed,
  SupervisorUnavailable,
  UnmatchedNames,
  WaitTimeout,
} from "@tamanu-lifecycle/core"
import { Cause, FiberId } from "effect"
import { describe, expect, it } from "vitest"
import { stripAnsi } from "./color.js"
import { redactSecrets, renderCause, renderError } from "./errors.js"

interface Case {
  readonly error: unknown
  readonly exitCode: 1 | 2
  /** Facts the paragraph must mention for the operator to act. */
  readonly mentions: ReadonlyArray<string>
  /** What it must not say: advice that points at the wrong culprit. */
  readonly never?: ReadonlyArray<string>
}

const cases: Record<string, Case> = {
  "NAMES that match nothing (usage): the bad patterns, the available names and --ignore-unmatched": {
    error: new UnmatchedNames({
      patterns: ["fihr", "apii"],
      available: ["tamanu-central-api", "tamanu-central-tasks"],
    }),
    exitCode: 2,
    mentions: ['"fihr"', '"apii"', "tamanu-central-api, tamanu-central-tasks", "--ignore-unmatched"],
  },
  "an unparsable duration (usage): the input and the accepted forms": {
    error: new InvalidDuration({ input: "30 secs" }),
    exitCode: 2,
    mentions: ['"30 secs"', "1m30s", "PT30S"],
  },
  "a pm2 daemon that is not running: PM2_HOME, the playbook, and that tamanu never starts one": {
    error: new SupervisorUnavailable({ supervisor: "pm2", message: "pm2 is not running (PM2_HOME=C:\\pm2)" }),
    exitCode: 1,
    mentions: ["PM2_HOME=C:\\pm2", "ops playbook", "never starts a pm2 daemon"],
  },
  "systemd that cannot be reached: the cause and the other supervisor/scope": {
    error: new SupervisorUnavailable({
      supervisor: "systemd",
      message: "systemctl not found (is systemd installed and on PATH?)",
    }),
    exitCode: 1,
    mentions: ["systemctl not found", "--supervisor pm2", "--systemd-scope user"],
  },
  "a failed supervisor call: the command, its exit status and its stderr": {
    error: new SupervisorCallFailed({
      supervisor: "systemd",
      command: ["systemctl", "start", "tamanu-facility-api@1.service"],
      stderr: 'Job for tamanu-facility-api@1.service failed.\nSee "journalctl -xeu tamanu-facility-api@1.service".\n',
      exitCode: 1,
    }),
    exitCode: 1,
    mentions: [
      "`systemctl start tamanu-facility-api@1.service`",
      "exit status 1",
      "Job for tamanu-facility-api@1.service failed.",
      "journalctl -xeu",
    ],
  },
  "a wait timeout: the pending instances, the wanted state, the limit and --wait": {
    error: new WaitTimeout({
      wanted: "running",
      pending: ["tamanu-facility-api@2", "tamanu-facility-sync"],
      limitMillis: 60_000,
    }),
    exitCode: 1,
    mentions: [
      "tamanu-facility-api@2, tamanu-facility-sync",
      "running",
      "1m",
      "journalctl -u tamanu-facility-api@2",
      "--wait",
    ],
  },
  "a pm2 wait timeout points at pm2 logs": {
    error: new WaitTimeout({ wanted: "stopped", pending: ["tamanu-api#3"], limitMillis: 90_000 }),
    exitCode: 1,
    mentions: ["1 instance was still not stopped", "1m30s", "tamanu-api#3", "pm2 logs tamanu-api"],
  },
  "a unit systemd reports failed: the unit, failed, both journalctl forms, what else was pending": {
    error: new InstanceFailed({
      supervisor: "systemd",
      failed: ["tamanu-facility-api@1"],
      pending: ["tamanu-facility-api@2"],
      afterMillis: 40,
    }),
    exitCode: 1,
    mentions: [
      "tamanu-facility-api@1 failed: systemd reports the unit `failed` 40ms after",
      "Still not running at that moment: tamanu-facility-api@2.",
      "`journalctl -u tamanu-facility-api@1 -n 50`",
      "`journalctl --user -u tamanu-facility-api@1 -n 50`",
      "--systemd-scope user",
    ],
  },
  "several units failed: every one in the list and in one journalctl": {
    error: new InstanceFailed({
      supervisor: "systemd",
      failed: ["tamanu-facility-api@1", "tamanu-facility-sync"],
      pending: [],
      afterMillis: 1250,
    }),
    exitCode: 1,
    mentions: [
      "tamanu-facility-api@1, tamanu-facility-sync failed: systemd reports these units `failed`",
      "1s250ms",
      "journalctl -u tamanu-facility-api@1 -u tamanu-facility-sync -n 50",
    ],
  },
  "a pm2 process errored: the process, errored and pm2 logs by name": {
    error: new InstanceFailed({
      supervisor: "pm2",
      failed: ["tamanu-api#3", "tamanu-api#4"],
      pending: [],
      afterMillis: 16_000,
    }),
    exitCode: 1,
    mentions: [
      "tamanu-api#3, tamanu-api#4 failed",
      "pm2 reports these processes `errored`",
      "`pm2 logs tamanu-api` to see why",
    ],
  },
  "a worker that did not stay up: the instance, how it ended, how long, the window, where its lines are": {
    error: new SettleFailed({
      supervisor: "systemd",
      windowMillis: 5000,
      afterMillis: 1480,
      ended: [
        {
          instance: "tamanu-facility-sync",
          how: "failed",
          exit: { _tag: "Exited", code: 3 },
          lastedMillis: 1003,
          lastedExact: true,
          restarts: 0,
        },
      ],
      stillUp: ["tamanu-facility-tasks"],
    }),
    exitCode: 1,
    mentions: [
      "tamanu-facility-sync did not stay up through the 5s settle window: systemd says it failed (exit code 3) after 1.0 s, 1.5 s into the window",
      "It does not count as started",
      "from its journal",
      "Still running when tamanu stopped watching: tamanu-facility-tasks.",
      "`journalctl -u tamanu-facility-sync -n 50`",
      "--settle sets the window (0s turns it off)",
    ],
  },
  "a pm2 crash loop in the window: each instance with its own words, pm2's log files": {
    error: new SettleFailed({
      supervisor: "pm2",
      windowMillis: 5000,
      afterMillis: 400,
      ended: [
        {
          instance: "tamanu-sync#3",
          how: "restarted",
          exit: { _tag: "Exited", code: 3 },
          lastedMillis: 1200,
          lastedExact: false,
          restarts: 1,
        },
        { instance: "tamanu-tasks#0", how: "gone", exit: null, lastedMillis: null, lastedExact: false, restarts: 0 },
      ],
      stillUp: [],
    }),
    exitCode: 1,
    mentions: [
      "tamanu-sync#3, tamanu-tasks#0 did not stay up",
      "pm2 says tamanu-sync#3 ended (exit code 3) after at most 1.2 s and was started again (1 restart); tamanu-tasks#0 is gone from the supervisor's list, 400 ms into the window",
      "from pm2's log files",
      "`pm2 logs tamanu-sync`",
    ],
  },
  "a probe failure: the URL and the last error": {
    error: new ProbeFailed({ url: "http://10.88.0.5:3000/", lastError: "HTTP 503" }),
    exitCode: 1,
    mentions: ["http://10.88.0.5:3000/", "HTTP 503"],
  },
  "no Tamanu root: the places searched and --root / TAMANU_ROOT": {
    error: new NoTamanuRoot({ searched: ["/etc/tamanu", "/opt/bes/tamanu", "~/tamanu"] }),
    exitCode: 1,
    mentions: ["/etc/tamanu, /opt/bes/tamanu, ~/tamanu", "--root", "TAMANU_ROOT"],
  },
  "an unreadable config: file:line:column and the parser's words": {
    error: new ConfigUnreadable({
      file: "/etc/tamanu/local.json5",
      message: "invalid character '}'",
      line: 12,
      column: 5,
    }),
    exitCode: 1,
    mentions: ["/etc/tamanu/local.json5:12:5", "invalid character '}'", "JSON5"],
  },
  "a config this user may not read: permission, not JSON5; the group or root": {
    error: new ConfigUnreadable({
      file: "/etc/tamanu/default.json5",
      message: "cannot read: EACCES: permission denied",
      line: null,
      column: null,
      permissionDenied: true,
    }),
    exitCode: 1,
    mentions: ["/etc/tamanu/default.json5", "permission denied", "chmod 640", "sudo tamanu"],
  },
  "a config without db settings: the root and TAMANU_DATABASE_URL": {
    error: new ConfigMissingDb({ root: "/etc/tamanu" }),
    exitCode: 1,
    mentions: ["/etc/tamanu", "TAMANU_DATABASE_URL", "db"],
  },
  "a held lock: the other command, its pid, since when, and the lock file": {
    error: new LockHeld({
      file: "/run/tamanu-lifecycle.lock",
      pid: 123,
      command: "tamanu restart",
      since: "2025-01-02T03:04:05.000Z",
    }),
    exitCode: 1,
    mentions: [
      "Another tamanu restart (pid 123, since 2025-01-02T03:04:05.000Z) is running on this host",
      "wait for it",
      "/run/tamanu-lifecycle.lock",
    ],
  },
  "a held lock recorded without the program name still reads naturally": {
    error: new LockHeld({ file: "/run/x.lock", pid: 9, command: "stop", since: "2025-01-02T03:04:05.000Z" }),
    exitCode: 1,
    mentions: ["Another tamanu stop (pid 9"],
  },
  "a lock that cannot be taken: the file and the reason": {
    error: new LockFailed({ file: "/run/tamanu-lifecycle.lock", message: "EACCES: permission denied" }),
    exitCode: 1,
    mentions: ["/run/tamanu-lifecycle.lock", "EACCES: permission denied"],
  },
  "sudo that failed: the reason, running as root, and --dry-run": {
    error: new SudoFailed({ message: "could not run sudo: spawn sudo ENOENT" }),
    exitCode: 1,
    mentions: ["spawn sudo ENOENT", "root", "--dry-run"],
  },
  "a stopped roll: the instance, why, and which instances were and were not restarted": {
    error: new RollStopped({
      service: "tamanu-facility-api",
      instance: "tamanu-facility-api@2",
      cause: "http://10.88.0.6:3000/: connection refused",
      restarted: ["tamanu-facility-api@1"],
      notRestarted: ["tamanu-facility-api@3", "tamanu-facility-api@4"],
    }),
    exitCode: 1,
    mentions: [
      "tamanu-facility-api@2 did not become ready (http://10.88.0.6:3000/: connection refused)",
      "Restarted and ready: tamanu-facility-api@1.",
      "Not restarted: tamanu-facility-api@3, tamanu-facility-api@4",
      "`journalctl -u tamanu-facility-api@2 -n 50`",
    ],
  },
  "Caddy gone mid-roll: names Caddy and what to do, not the instance that is fine": {
    error: new RollStopped({
      service: "tamanu-frontend",
      instance: "tamanu-frontend@b",
      cause:
        "Caddy (http://localhost:2019) did not take the routing change: GET http://localhost:2019/config/: connect ECONNREFUSED 127.0.0.1:2019; it was not restarted, so Caddy still routes to instances that serve",
      restarted: ["tamanu-frontend@a"],
      notRestarted: ["tamanu-frontend@b"],
      culprit: "caddy",
    }),
    exitCode: 1,
    mentions: [
      "stopped before taking tamanu-frontend@b down",
      "Caddy did not take the routing change",
      "ECONNREFUSED",
      "`systemctl status caddy`",
      "admin API",
      "run restart again",
    ],
    never: ["journalctl -u tamanu-frontend@b", "Fix tamanu-frontend@b", "did not become ready"],
  },
  "a take-down the rule refused: which instance, why, and that nothing serving was taken down": {
    error: new RollStopped({
      service: "tamanu-frontend",
      instance: "tamanu-frontend@b",
      cause: "Caddy would route tamanu-frontend to no instance other than tamanu-frontend@b",
      restarted: ["tamanu-frontend@a"],
      notRestarted: ["tamanu-frontend@b"],
      culprit: "rule",
    }),
    exitCode: 1,
    mentions: ["stopped before taking tamanu-frontend@b down", "no instance other than", "`tamanu status`"],
    never: ["did not become ready", "Fix tamanu-frontend@b"],
  },
  "a restarted instance whose address was never found: the label to check": {
    error: new RollStopped({
      service: "tamanu-frontend",
      instance: "tamanu-frontend@a",
      cause:
        "its address was not found within 2m (1200 lookups; last: no running podman container labelled PODMAN_SYSTEMD_UNIT=tamanu-frontend@a.service)",
      restarted: [],
      notRestarted: ["tamanu-frontend@b"],
      culprit: "address",
    }),
    exitCode: 1,
    mentions: [
      "tamanu-frontend@a was restarted, but its address was not found within 2m",
      "podman ps --filter label=PODMAN_SYSTEMD_UNIT=tamanu-frontend@a.service",
      "--label PODMAN_SYSTEMD_UNIT=%n",
      "Not restarted: tamanu-frontend@b",
    ],
    never: ["did not become ready"],
  },
  "Caddy refusing a routing change outside a roll (ProxyFailed): Caddy, its admin API, not a bug": {
    error: new ProxyFailed({
      target: "http://localhost:2019",
      action: "route",
      reason: "POST http://localhost:2019/load: HTTP 400",
    }),
    exitCode: 1,
    mentions: [
      "Caddy (http://localhost:2019) did not take the routing change",
      "HTTP 400",
      "curl http://localhost:2019/config/",
    ],
    never: ["bug in tamanu"],
  },
  "an instance not ready: the URL, the last error, the budget and --probe-timeout": {
    error: new NotReady({
      instance: "tamanu-frontend@a",
      url: "http://10.88.0.9:3000/",
      lastError: "HTTP 502",
      budgetMillis: 60_000,
    }),
    exitCode: 1,
    mentions: ["tamanu-frontend@a", "http://10.88.0.9:3000/", "HTTP 502", "1m", "--probe-timeout", "--no-probe-http"],
  },
  "a failed --check-url: the URL and the last error": {
    error: new CheckUrlFailed({ url: "https://tamanu.example/api/", lastError: "timed out after 5s" }),
    exitCode: 1,
    mentions: ["https://tamanu.example/api/", "timed out after 5s"],
  },
  "a refused plan (pm2 under-registered): the command and core's reasons": {
    error: new PlanRefused({
      command: "start",
      reasons: [
        "tamanu-api: pm2 has 1 process(es) registered but 2 are required. First-time pm2 registration is the ops playbook's job.",
      ],
    }),
    exitCode: 1,
    mentions: [
      "tamanu start",
      "changed nothing",
      "tamanu-api: pm2 has 1 process(es)",
      "First-time pm2 registration is the ops playbook's job",
    ],
  },
  "needing root: the command and sudo": {
    error: new NeedsRoot({ command: "restart" }),
    exitCode: 1,
    mentions: ["tamanu restart", "root", "sudo"],
  },
  "an @effect/cli validation error (usage): its text and --help": {
    error: ValidationError.invalidValue(HelpDoc.p("Expected one of: systemd, pm2; got 'upstart'")),
    exitCode: 2,
    mentions: ["Expected one of: systemd, pm2; got 'upstart'.", "--help"],
  },
  "an unknown error (defect): its message": {
    error: new TypeError("cannot read properties of undefined (reading 'x')"),
    exitCode: 1,
    mentions: ["TypeError: cannot read properties of undefined (reading 'x')", "bug"],
  },
}

describe("renderError", () => {
  for (const [what, c] of Object.entries(cases)) {
    it(`renders ${what}; exit ${c.exitCode}`, () => {
      const rendered = renderError(c.error)
      expect(rendered.exitCode).toBe(c.exitCode)
      for (const fact of c.mentions) expect(rendered.message).toContain(fact)
      for (const wrong of c.never ?? []) expect(rendered.message).not.toContain(wrong)
      // One paragraph: no line breaks, no colour escapes.
      expect(rendered.message).not.toContain("\n")
      expect(stripAnsi(rendered.message)).toBe(rendered.message)
    })
  }

  it("never prints the database password a supervisor's stderr quotes", () => {
    const rendered = renderError(
      new SupervisorCallFailed({
        supervisor: "systemd",
        command: ["systemctl", "start", "tamanu-central-api@1.service"],
        stderr: "connect failed: postgres://tamanu:s3cret@db.local:5432/tamanu",
        exitCode: 1,
      }),
    )
    expect(rendered.message).not.toContain("s3cret")
    expect(rendered.message).toContain("postgres://tamanu:***@db.local:5432/tamanu")
  })

  it("renders a Cause by its failure, and a defect as an unexpected error", () => {
    expect(renderCause(Cause.fail(new NeedsRoot({ command: "stop" })))).toEqual(
      renderError(new NeedsRoot({ command: "stop" })),
    )
    expect(renderCause(Cause.die(new Error("boom")))).toMatchObject({
      exitCode: 1,
      message: expect.stringContaining("boom"),
    })
    expect(renderCause(Cause.interrupt(FiberId.none)).exitCode).toBe(1)
  })
})

describe("redactSecrets", () => {
  const table: ReadonlyArray<readonly [string, string]> = [
    ["postgres://tamanu:s3cret@localhost:5432/tamanu", "postgres://tamanu:***@localhost:5432/tamanu"],
    ["postgresql://u:p%40ss@h/db and http://a:b@c/", "postgresql://u:***@h/db and http://a:***@c/"],
    ["postgres://u:p@ss@host/db", "postgres://u:***@host/db"],
    ["postgres://u:@host/db", "postgres://u:***@host/db"],
    ["host=db user=tamanu password=s3cret dbname=t", "host=db user=tamanu password=*** dbname=t"],
    ["PGPASSWORD=s3cret psql", "PGPASSWORD=*** psql"],
    ["?sslmode=require&password=s3cret&x=1", "?sslmode=require&password=***&x=1"],
    ['{"username": "u", "password": "s3cret"}', '{"username": "u", "password": "***"}'],
    ["password: 's3cret'", 'password: "***"'],
  ]
  for (const [input, output] of table) {
    it(`masks ${JSON.stringify(input)}`, () => expect(redactSecrets(input)).toBe(output))
  }

  it("leaves text without credentials alone", () => {
    const plain = "http://10.88.0.5:3000/ ready; user@host; ssh://git@github.com/x; tamanu-api#1"
    expect(redactSecrets(plain)).toBe(plain)
  })
})
