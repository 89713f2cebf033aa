/**
 * The sudo re-exec's process handling against a fake `sudo` that logs its
 * argv and answers as told (the real sudo, with real sudoers rules, is the
 * system-manager suite's: packages/lab/src/e2e/systemHost.it.test.ts).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { PRESERVED_ENV, Privileges, PrivilegesLive } from "./Privileges.js"

const dir = mkdtempSync(join(tmpdir(), "fake-sudo-"))
// The settings a re-run carries (vitest sets NODE_ENV): none, as on a host configured through its files.
const saved = Object.fromEntries(PRESERVED_ENV.map((name) => [name, process.env[name]]))
beforeAll(() => {
  for (const name of PRESERVED_ENV) delete process.env[name]
})
afterAll(() => {
  for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value
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

const argv = ["/usr/bin/node", "/usr/local/bin/tamanu", "stop", "tasks"]

const reexec = (sudo: string, terminal: boolean) =>
  Effect.runPromise(
    Effect.either(Effect.flatMap(Privileges, (p) => p.reexecUnderSudo(argv))).pipe(
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

  it("a setting carried into the re-run: the rule suggested has SETENV", async () => {
    process.env.TAMANU_CADDY_ADMIN = "http://127.0.0.1:2019"
    try {
      const result = await reexec(fakeSudo("setenv", false, 0).path, false)
      expect(Either.isLeft(result) && result.left.message).toMatch(/NOPASSWD:SETENV: \/usr\/bin\/node/)
    } finally {
      delete process.env.TAMANU_CADDY_ADMIN
    }
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
