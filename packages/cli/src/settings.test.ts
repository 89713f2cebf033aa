import type { Invocation } from "@tamanu-lifecycle/core/internal"
import { Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import {
  carriedOptions,
  type HostSettings,
  refusedSettings,
  rerunInvocation,
  resolveSettings,
  SETTING_KEYS,
  SETTINGS,
  type SettingFlags,
  type SettingKey,
} from "./settings.js"

const none: SettingFlags = {
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
const flags = (given: Partial<{ [K in SettingKey]: NonNullable<HostSettings[K]> }>): SettingFlags => ({
  ...none,
  ...Object.fromEntries(Object.entries(given).map(([k, v]) => [k, Option.some(v)])),
})
const resolved = (f: SettingFlags, env: Record<string, string>) => Either.getOrThrow(resolveSettings(f, env))

/** One valid value per setting, and its environment variable. */
const sample: { readonly [K in SettingKey]: NonNullable<HostSettings[K]> } = {
  root: "/etc/tamanu",
  supervisor: "systemd",
  systemdScope: "system",
  kind: "central",
  caddyAdmin: "http://127.0.0.1:2019",
  caddyfile: "/etc/caddy/Caddyfile",
  nodeEnv: "production",
  databaseUrl: "postgres://tamanu@127.0.0.1/tamanu",
  pm2Home: "/home/op/.pm2",
}

describe("every setting has an option and a variable", () => {
  it("the table covers the architecture's contract, each option and variable once", () => {
    expect(SETTING_KEYS.map((k) => [SETTINGS[k].option, SETTINGS[k].env])).toEqual([
      ["root", "TAMANU_ROOT"],
      ["supervisor", "TAMANU_SUPERVISOR"],
      ["systemd-scope", "TAMANU_SYSTEMD_SCOPE"],
      ["kind", "TAMANU_KIND"],
      ["caddy-admin", "TAMANU_CADDY_ADMIN"],
      ["caddyfile", "TAMANU_CADDYFILE"],
      ["node-env", "NODE_ENV"],
      ["database-url", "TAMANU_DATABASE_URL"],
      ["pm2-home", "PM2_HOME"],
    ])
  })

  it("what a re-run under sudo does with each, when it came from the environment", () => {
    expect(Object.fromEntries(SETTING_KEYS.map((k) => [SETTINGS[k].env, SETTINGS[k].underSudo]))).toEqual({
      TAMANU_ROOT: "carried",
      TAMANU_SUPERVISOR: "carried",
      TAMANU_SYSTEMD_SCOPE: "carried",
      TAMANU_KIND: "carried",
      TAMANU_CADDY_ADMIN: "carried",
      TAMANU_CADDYFILE: "carried",
      NODE_ENV: "carried",
      TAMANU_DATABASE_URL: "refused",
      PM2_HOME: "dropped",
    })
  })
})

describe("resolveSettings: flags win over the environment", () => {
  for (const key of SETTING_KEYS) {
    const spec = SETTINGS[key]
    it(`${spec.env} alone: used, and noted as from the environment`, () => {
      const r = resolved(none, { [spec.env]: String(sample[key]) })
      expect(r.values[key]).toBe(sample[key])
      expect(r.fromEnv).toEqual([key])
    })
    it(`--${spec.option} and ${spec.env}: the flag, not noted as from the environment (the variable is not even read)`, () => {
      const r = resolved(flags({ [key]: sample[key] }), { [spec.env]: "not valid for anything/../" })
      expect(r.values[key]).toBe(sample[key])
      expect(r.fromEnv).toEqual([])
    })
  }

  it("an empty variable is unset; nothing given is null everywhere", () => {
    const r = resolved(none, { TAMANU_ROOT: "", NODE_ENV: "" })
    expect(Object.values(r.values).every((v) => v === null)).toBe(true)
    expect(r.fromEnv).toEqual([])
  })

  it("the environment's settings in table order, whatever order the variables come in", () => {
    const r = resolved(none, { NODE_ENV: "staging", TAMANU_KIND: "facility", TAMANU_ROOT: "/opt/tamanu" })
    expect(r.fromEnv).toEqual(["root", "kind", "nodeEnv"])
  })

  const bad: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["TAMANU_KIND", "bogus", /^TAMANU_KIND \(the variable for --kind\): "bogus" is not one of central, facility$/],
    [
      "TAMANU_SUPERVISOR",
      "runit",
      /^TAMANU_SUPERVISOR \(the variable for --supervisor\): "runit" is not one of systemd, pm2/,
    ],
    ["TAMANU_SYSTEMD_SCOPE", "global", /^TAMANU_SYSTEMD_SCOPE \(the variable for --systemd-scope\): /],
    [
      "TAMANU_CADDY_ADMIN",
      "localhost:2019",
      /^TAMANU_CADDY_ADMIN \(the variable for --caddy-admin\): "localhost:2019" is not an http\(s\) URL/,
    ],
    [
      "TAMANU_DATABASE_URL",
      "mysql://db/x",
      /^TAMANU_DATABASE_URL \(the variable for --database-url\): it is not a postgres/,
    ],
    ["NODE_ENV", "../../etc/x", /^NODE_ENV \(the variable for --node-env\): "\.\.\/\.\.\/etc\/x" is not a plain name/],
    ["NODE_ENV", "prod/eu", /is not a plain name/],
    ["NODE_ENV", ".hidden", /is not a plain name/],
    ["NODE_ENV", "a..b", /is not a plain name/],
  ]
  for (const [name, value, says] of bad) {
    it(`${name}=${value} is a usage error naming the variable`, () => {
      const r = resolveSettings(none, { [name]: value })
      expect(Either.isLeft(r) && r.left).toMatch(says)
    })
  }

  it("the database URL's password is never in the usage message", () => {
    const r = resolveSettings(none, { TAMANU_DATABASE_URL: "mysql://u:secret@db/x" })
    expect(Either.isLeft(r) && r.left).not.toContain("secret")
  })
})

describe("carriedOptions: what a re-run under sudo is told", () => {
  it("nothing from the environment and --color given: nothing", () => {
    expect(carriedOptions(resolved(none, {}), null)).toEqual([])
  })

  it("colour: this run's decision, always or never", () => {
    expect(carriedOptions(resolved(none, {}), true)).toEqual(["--color=always"])
    expect(carriedOptions(resolved(none, {}), false)).toEqual(["--color=never"])
  })

  it("every carried setting from the environment as one --option=value argument, in table order; PM2_HOME dropped", () => {
    const env = Object.fromEntries(
      SETTING_KEYS.filter((k) => k !== "databaseUrl").map((k) => [SETTINGS[k].env, String(sample[k])]),
    )
    expect(carriedOptions(resolved(none, { ...env, NO_COLOR: "1" }), false)).toEqual([
      "--root=/etc/tamanu",
      "--supervisor=systemd",
      "--systemd-scope=system",
      "--kind=central",
      "--caddy-admin=http://127.0.0.1:2019",
      "--caddyfile=/etc/caddy/Caddyfile",
      "--node-env=production",
      "--color=never",
    ])
  })

  it("a flag is already among the arguments: not carried again, even with its variable set", () => {
    expect(carriedOptions(resolved(flags({ root: "/opt/t" }), { TAMANU_ROOT: "/etc/tamanu" }), null)).toEqual([])
  })

  it("values that look like options or hold = and spaces stay one argument", () => {
    expect(carriedOptions(resolved(none, { TAMANU_ROOT: "-x =y z" }), null)).toEqual(["--root=-x =y z"])
  })
})

describe("refusedSettings and rerunInvocation: never ask sudo for a run that would be refused", () => {
  const invocation: Invocation = {
    executable: "/usr/bin/node",
    script: "/usr/local/bin/tamanu",
    args: ["stop", "tasks"],
  }

  it("TAMANU_DATABASE_URL: refused, named as the variable it came from", () => {
    const r = rerunInvocation(invocation, resolved(none, { TAMANU_DATABASE_URL: sample.databaseUrl }), null, "linux")
    expect(Either.isLeft(r)).toBe(true)
    if (Either.isLeft(r)) {
      expect(r.left.map((x) => x.setting)).toEqual([
        "TAMANU_DATABASE_URL (in the environment; a re-run under sudo would be told --database-url)",
      ])
      expect(r.left[0]?.reason).toMatch(/db` section/)
    }
  })

  it("--database-url as a flag: refused as the flag", () => {
    const r = refusedSettings(resolved(flags({ databaseUrl: sample.databaseUrl }), {}), "linux")
    expect(r.map((x) => x.setting)).toEqual(["--database-url"])
  })

  it("PM2_HOME from the environment is ignored (nothing of pm2 runs under sudo); --pm2-home is refused", () => {
    expect(refusedSettings(resolved(none, { PM2_HOME: "/home/op/.pm2" }), "linux")).toEqual([])
    expect(refusedSettings(resolved(flags({ pm2Home: "/home/op/.pm2" }), {}), "linux").map((x) => x.setting)).toEqual([
      "--pm2-home",
    ])
  })

  it("a remote TAMANU_CADDY_ADMIN is refused before sudo; a loopback one is carried", () => {
    expect(
      refusedSettings(resolved(none, { TAMANU_CADDY_ADMIN: "http://10.1.2.3:2019" }), "linux").map((x) => x.setting),
    ).toEqual(["TAMANU_CADDY_ADMIN (in the environment; a re-run under sudo would be told --caddy-admin)"])
    const ok = rerunInvocation(invocation, resolved(none, { TAMANU_CADDY_ADMIN: "http://localhost:2019/" }), false)
    expect(ok).toEqual(
      Either.right({ ...invocation, args: ["stop", "tasks", "--caddy-admin=http://localhost:2019", "--color=never"] }),
    )
  })

  it("an operator with every TAMANU_* setting (but the database) and NO_COLOR: the exact re-run", () => {
    const env = {
      TAMANU_ROOT: "/etc/tamanu",
      TAMANU_SUPERVISOR: "systemd",
      TAMANU_SYSTEMD_SCOPE: "system",
      TAMANU_KIND: "central",
      TAMANU_CADDYFILE: "/etc/caddy/Caddyfile",
      NODE_ENV: "production",
      PM2_HOME: "/home/op/.pm2",
      NO_COLOR: "1",
    }
    const r = rerunInvocation({ ...invocation, args: ["restart", "--", "api"] }, resolved(none, env), false, "linux")
    expect(r).toEqual(
      Either.right({
        ...invocation,
        args: [
          "restart",
          "--root=/etc/tamanu",
          "--supervisor=systemd",
          "--systemd-scope=system",
          "--kind=central",
          "--caddyfile=/etc/caddy/Caddyfile",
          "--node-env=production",
          "--color=never",
          "--",
          "api",
        ],
      }),
    )
  })
})
