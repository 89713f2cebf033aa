import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { retryMillis, scheduleTime } from "./decide.js"
import { cancelArgv, detachedArgv, scheduleEnv, systemdRunArgv } from "./restoreSchedule.js"
import { freshState, type RoutingState } from "./routing.js"

const target = {
  tamanu: ["/usr/bin/node", "/usr/lib/tamanu/tamanu.cjs"],
  env: { TAMANU_SUPERVISOR: "systemd", XDG_RUNTIME_DIR: "/run/user/1000" },
}

describe("the scheduled restore's command lines", () => {
  it("systemd: a transient timer firing once, to the second, whose service runs tamanu's own restore", () => {
    expect(systemdRunArgv("system", "tamanu-caddy-restore-1700000000000", 61_200, target)).toEqual([
      "systemd-run",
      "--unit=tamanu-caddy-restore-1700000000000",
      "--on-active=62s",
      "--timer-property=AccuracySec=1s",
      "--collect",
      "--quiet",
      "--description=tamanu: put Caddy's own config back (issue #25)",
      "--setenv=TAMANU_SUPERVISOR=systemd",
      "--setenv=XDG_RUNTIME_DIR=/run/user/1000",
      "--",
      "/usr/bin/node",
      "/usr/lib/tamanu/tamanu.cjs",
      "restore-caddy",
    ])
    expect(systemdRunArgv("user", "u", -5_000, target).slice(0, 4)).toEqual([
      "systemd-run",
      "--user",
      "--unit=u",
      "--on-active=1s",
    ])
  })

  it("cancel stops every scheduled timer of the manager, never a restore that runs", () => {
    expect(cancelArgv("system")).toEqual(["systemctl", "stop", "tamanu-caddy-restore-*.timer"])
    expect(cancelArgv("user")).toEqual(["systemctl", "--user", "stop", "tamanu-caddy-restore-*.timer"])
  })

  it("without systemd: a detached tamanu that waits until the due time itself", () => {
    expect(detachedArgv(1_700_000_061_000.4, target)).toEqual([
      "/usr/bin/node",
      "/usr/lib/tamanu/tamanu.cjs",
      "restore-caddy",
      "--at=1700000061000",
    ])
  })

  it("carries what finds the host, never the database URL", () => {
    expect(
      scheduleEnv({
        PATH: "/usr/bin",
        TAMANU_ROOT: "/opt/tamanu",
        TAMANU_DATABASE_URL: "postgres://u:secret@db/tamanu",
        TAMANU_CADDY_ADMIN: "",
        SSH_AUTH_SOCK: "/tmp/x",
      }),
    ).toEqual({ PATH: "/usr/bin", TAMANU_ROOT: "/opt/tamanu" })
  })
})

describe("when the scheduled restore runs", () => {
  const pinned = (clocks: RoutingState["clocks"]): RoutingState => ({
    ...freshState({ a: 1 }),
    current: { a: 2 },
    clocks,
  })

  it("a second after the pins are due, or sooner to refresh them; a start's pins (nothing stale) after the retry delay", () => {
    const now = 1_000_000
    const soon = pinned({ h: { service: "s", swappedAt: now - 60_000, holdMillis: 62_000, staled: true } })
    expect(scheduleTime(soon, now)).toBe(now + 3_000)
    const later = pinned({ h: { service: "s", swappedAt: now, holdMillis: 62_000, staled: true } })
    expect(scheduleTime(later, now)).toBe(now + retryMillis)
    expect(scheduleTime(pinned({ h: { service: "s", swappedAt: now, holdMillis: 62_000, staled: false } }), now)).toBe(
      now + retryMillis,
    )
  })

  it("between 1 s and the retry delay from now, and at the due time when that comes first (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            swappedAt: fc.integer({ min: 0, max: 1e6 }),
            holdMillis: fc.integer({ min: 0, max: 1e5 }),
            staled: fc.boolean(),
          }),
          { maxLength: 4 },
        ),
        fc.integer({ min: 0, max: 2e6 }),
        (clocks, now) => {
          const state = pinned(Object.fromEntries(clocks.map((c, i) => [`h${i}`, { service: "s", ...c }])))
          const at = scheduleTime(state, now)
          expect(at).toBeGreaterThanOrEqual(now + 1000)
          expect(at).toBeLessThanOrEqual(now + retryMillis)
          const due = Math.max(...clocks.filter((c) => c.staled).map((c) => c.swappedAt + c.holdMillis))
          if (Number.isFinite(due) && due + 1000 > now + 1000 && due + 1000 < now + retryMillis)
            expect(at).toBe(due + 1000)
        },
      ),
    )
  })
})
