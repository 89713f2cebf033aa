import { describe, expect, it } from "vitest"
import { isLoopbackUrl, refusedUnderSudo, type SudoSettings, sudoCaller } from "./sudoPolicy.js"

describe("who a run as root acts for", () => {
  const table: ReadonlyArray<readonly [string, number | null, Record<string, string>, number | null]> = [
    ["root through sudo for uid 1001", 0, { SUDO_UID: "1001" }, 1001],
    ["root itself (no sudo)", 0, {}, null],
    ["root through sudo for root", 0, { SUDO_UID: "0" }, null],
    ["not root, SUDO_UID set (sudo to another user)", 1002, { SUDO_UID: "1001" }, null],
    ["not root at all", 1001, {}, null],
    ["no getuid (Windows)", null, { SUDO_UID: "1001" }, null],
    ["an empty SUDO_UID", 0, { SUDO_UID: "" }, null],
    ["a SUDO_UID that is not a number", 0, { SUDO_UID: "x1" }, null],
  ]
  for (const [what, uid, env, caller] of table) {
    it(what, () => {
      expect(sudoCaller(uid, env)).toBe(caller)
    })
  }
})

describe("loopback URLs (Caddy's admin API under sudo)", () => {
  const table: ReadonlyArray<readonly [string, boolean]> = [
    ["http://localhost:2019", true],
    ["http://LOCALHOST:2019", true],
    ["http://127.0.0.1:2019", true],
    ["http://127.8.9.10:2019", true],
    ["https://[::1]:2019", true],
    ["http://127.1:2019", true], // the URL parser writes it 127.0.0.1
    ["http://10.0.0.5:2019", false],
    ["http://caddy.example:2019", false],
    ["http://localhost.evil.example:2019", false],
    ["http://127.0.0.1.nip.io:2019", false],
    ["http://[::ffff:127.0.0.1]:2019", false],
    ["not a url", false],
  ]
  for (const [url, loopback] of table) {
    it(`${url}: ${loopback ? "loopback" : "not loopback"}`, () => {
      expect(isLoopbackUrl(url)).toBe(loopback)
    })
  }
})

describe("what a run under sudo refuses", () => {
  const plain: SudoSettings = {
    supervisor: "systemd",
    systemdScope: "system",
    caddyAdmin: null,
    databaseUrl: null,
    pm2Home: null,
  }
  const table: ReadonlyArray<readonly [string, Partial<SudoSettings>, ReadonlyArray<string>]> = [
    ["the system manager with no other setting: nothing", {}, []],
    ["a loopback admin API: nothing", { caddyAdmin: "http://127.0.0.1:2019" }, []],
    ["pm2", { supervisor: "pm2" }, ["--supervisor pm2"]],
    ["the user manager", { systemdScope: "user" }, ["--systemd-scope user"]],
    ["a pm2 home", { pm2Home: "/home/op/.pm2" }, ["--pm2-home"]],
    ["a remote admin API", { caddyAdmin: "http://10.0.0.5:2019" }, ["--caddy-admin"]],
    ["a database URL, with a password", { databaseUrl: "postgres://u:pw@db/tamanu" }, ["--database-url"]],
    [
      "a database URL without one",
      { databaseUrl: "postgres://u@db/tamanu?sslkey=/root/.ssh/id_rsa" },
      ["--database-url"],
    ],
    [
      "all of them, in option order",
      {
        supervisor: "pm2",
        systemdScope: "user",
        pm2Home: "/x",
        caddyAdmin: "http://example.org",
        databaseUrl: "postgres://db/t",
      },
      ["--supervisor pm2", "--systemd-scope user", "--pm2-home", "--caddy-admin", "--database-url"],
    ],
  ]
  for (const [what, settings, refused] of table) {
    it(what, () => {
      expect(refusedUnderSudo({ ...plain, ...settings }).map((r) => r.setting)).toEqual(refused)
    })
  }

  it("says why in words an operator can act on", () => {
    const [db] = refusedUnderSudo({ ...plain, databaseUrl: "postgres://u:pw@db/t" })
    expect(db?.reason).toMatch(/db` section/)
    expect(db?.reason).toMatch(/\.pgpass/)
    expect(db?.reason).not.toContain("pw")
  })
})
