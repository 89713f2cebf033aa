/**
 * The sudo re-exec's process handling against a fake `sudo` that logs its
 * argv and answers as told (the real sudo, with real sudoers rules, is the
 * system-manager suite's: packages/lab/src/e2e/systemHost.it.test.ts).
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Either } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import type { Invocation } from "./invocation.js"
import { Privileges, PrivilegesLive } from "./Privileges.js"
import { trustedPath } from "./trustedPath.js"

const dir = mkdtempSync(join(tmpdir(), "fake-sudo-"))
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** A sudo that logs each argv and, for `-l`, allows or refuses as a sudo with or without a NOPASSWD rule. */
const fakeSudo = (name: string, listAllowed: boolean, runExit: number) => {
  const path = join(dir, name)
  writeFileSync(
    path,
    `#!/bin/sh
printf '%s\\n' "$*" >> '${path}.calls'
for a in "$@"; do [ "$a" = -l ] && { ${listAllowed ? "exit 0" : "echo 'sudo: a password is required' >&2; exit 1"}; }; done
exit ${runExit}
`,
  )
  chmodSync(path, 0o755)
  return {
    path,
    calls: () => (existsSync(`${path}.calls`) ? readFileSync(`${path}.calls`, "utf8").trim().split("\n") : []),
  }
}

const invocation: Invocation = { executable: "/usr/bin/node", script: "/usr/local/bin/tamanu", args: ["stop", "tasks"] }

const reexec = (sudo: string, terminal: boolean, rerun: Invocation = invocation) =>
  Effect.runPromise(
    Effect.either(Effect.flatMap(Privileges, (p) => p.reexecUnderSudo(rerun))).pipe(
      Effect.provide(PrivilegesLive(true, { sudo, terminal })),
    ),
  )

describe.skipIf(process.env.SUDO_UID !== undefined)("sudo re-exec", () => {
  it("without a terminal, a rule that needs a password is refused before anything runs, naming the rule that would do", async () => {
    const sudo = fakeSudo("refuses", false, 0)
    const result = await reexec(sudo.path, false)
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left.message).toContain("there is no terminal to ask for a password on")
      expect(result.left.message).toContain("sudo: a password is required")
      // Run by root here, who needs no rule: the rule is said without judging the install (the system suite does).
      expect(result.left.message).toMatch(/ALL=\(root\) NOPASSWD: \/usr\/bin\/node \/usr\/local\/bin\/tamanu \*`$/)
    }
    expect(sudo.calls()).toEqual(["-n -l -- /usr/bin/node /usr/local/bin/tamanu stop tasks"])
  })

  it("without a terminal, an allowed command re-runs non-interactively and its exit status is ours", async () => {
    const sudo = fakeSudo("allows", true, 3)
    expect(await reexec(sudo.path, false)).toEqual(Either.right(3))
    expect(sudo.calls()).toEqual([
      "-n -l -- /usr/bin/node /usr/local/bin/tamanu stop tasks",
      "-n -- /usr/bin/node /usr/local/bin/tamanu stop tasks",
    ])
  })

  it("settings in this process's environment never reach sudo's options, and the rule suggested never has SETENV", async () => {
    const names = ["TAMANU_ROOT", "TAMANU_CADDY_ADMIN", "NODE_ENV", "NO_COLOR", "PM2_HOME"] as const
    const saved = names.map((n) => [n, process.env[n]] as const)
    for (const n of names) process.env[n] = n === "TAMANU_CADDY_ADMIN" ? "http://127.0.0.1:2019" : "x"
    try {
      const sudo = fakeSudo("settings", false, 0)
      const result = await reexec(sudo.path, false)
      expect(Either.isLeft(result) && result.left.message).toMatch(/NOPASSWD: \/usr\/bin\/node/)
      expect(Either.isLeft(result) && result.left.message).not.toMatch(/SETENV|env_keep|preserve-env/)
      for (const call of sudo.calls()) expect(call).not.toMatch(/preserve-env|-E\b|SETENV/)
    } finally {
      for (const [n, v] of saved) {
        if (v === undefined) delete process.env[n]
        else process.env[n] = v
      }
    }
  })

  it("a single executable re-runs as itself, with the carried options the caller put in its arguments", async () => {
    const sudo = fakeSudo("sea", true, 0)
    const sea: Invocation = { executable: "/usr/bin/tamanu", script: null, args: ["stop", "tasks", "--kind=central"] }
    expect(await reexec(sudo.path, false, sea)).toEqual(Either.right(0))
    expect(sudo.calls()).toEqual([
      "-n -l -- /usr/bin/tamanu stop tasks --kind=central",
      "-n -- /usr/bin/tamanu stop tasks --kind=central",
    ])
  })

  it("with a terminal, sudo runs at once and may ask for a password there", async () => {
    const sudo = fakeSudo("terminal", false, 0)
    expect(await reexec(sudo.path, true)).toEqual(Either.right(0))
    expect(sudo.calls()).toEqual(["-- /usr/bin/node /usr/local/bin/tamanu stop tasks"])
  })

  it("sudo missing: SudoFailed saying it could not run", async () => {
    const result = await reexec(join(dir, "no-such-sudo"), false)
    expect(Either.isLeft(result) && result.left.message).toMatch(/could not run sudo/)
  })
})

/**
 * trustedPath on this machine's filesystem (the decision is trustedPath.test.ts's): a tree under a
 * root-owned 0755 temporary directory, parts of it given to an operator uid. Needs root to chown.
 */
describe.skipIf(typeof process.getuid !== "function" || process.getuid() !== 0)(
  "trustedPath on a real filesystem",
  () => {
    const operatorUid = 4242
    const base = join(dir, "tree")
    const at = (p: string) => join(base, p)
    const verdict = (p: string, want: "directory" | "file") =>
      Either.match(trustedPath("--root", p, operatorUid, want), {
        onLeft: (e) => `refused: ${e.reason}`,
        onRight: (r) => r,
      })

    it("reads root's files through their real paths, and refuses what the operator could swap", () => {
      mkdirSync(at("etc/tamanu"), { recursive: true })
      chmodSync(dir, 0o755)
      writeFileSync(at("etc/tamanu/default.json5"), "{}", { mode: 0o640 })
      symlinkSync("default.json5", at("etc/tamanu/local.json5"))
      mkdirSync(at("home/op"), { recursive: true })
      chownSync(at("home/op"), operatorUid, operatorUid)
      symlinkSync(at("etc/tamanu"), at("home/op/root"))
      writeFileSync(at("home/op/default.json5"), "{}")
      symlinkSync(at("home/op/default.json5"), at("etc/tamanu/production.json5"))
      mkdirSync(at("etc/shared"), { mode: 0o775 })
      chmodSync(at("etc/shared"), 0o775)

      expect(verdict(at("etc/tamanu"), "directory")).toBe(at("etc/tamanu"))
      expect(verdict(at("etc/tamanu/local.json5"), "file")).toBe(at("etc/tamanu/default.json5"))
      expect(verdict(at("home/op/root"), "directory")).toMatch(
        /^refused: .*home\/op belongs to the user sudo runs this for/,
      )
      expect(verdict(at("etc/tamanu/production.json5"), "file")).toMatch(/^refused: .*home\/op belongs/)
      expect(verdict(at("etc/shared"), "directory")).toMatch(/^refused: .*writable by its group \(mode 0775\)/)
      expect(verdict(at("etc/tamanu/default.json5"), "directory")).toMatch(/^refused: .*not a directory/)
      expect(verdict(at("etc/nope"), "directory")).toBe("refused: it does not resolve to a path root could check")
    })
  },
)
