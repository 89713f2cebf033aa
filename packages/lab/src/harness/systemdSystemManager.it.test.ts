/**
 * The system-manager harness itself: what it boots, how commands and files
 * reach inside, reading the journal, and a teardown that leaves nothing on
 * the host. The Tamanu host built on it is the e2e suites' (e2e/systemHost*).
 */
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { skipUnless } from "./prerequisites.js"
import { bootMasks, bootSystemManager, type SystemManager, systemManagerPrerequisite } from "./systemdSystemManager.js"

describe.skipIf(skipUnless(systemManagerPrerequisite()))("a real systemd system manager in a podman container", () => {
  let system: SystemManager

  beforeAll(async () => {
    system = await bootSystemManager()
    process.stderr.write(
      `[system manager] ${system.name} on ${system.subnet}: running after ${Math.round(system.bootMs)} ms\n`,
    )
  }, 180_000)
  afterAll(async () => {
    await system?.stop()
  }, 120_000)

  it("boots to running with journald, D-Bus, logind, Debian's caddy.service and the PostgreSQL cluster", async () => {
    const state = await system.exec(["systemctl", "is-system-running"])
    expect(state.stdout.trim()).toBe("running")
    const units = ["systemd-journald", "dbus", "systemd-logind", "caddy", system.postgresUnit]
    const active = await system.exec(["systemctl", "is-active", ...units])
    expect(active.stdout.trim().split("\n")).toEqual(units.map(() => "active"))
    // PID 1 is systemd, and the masks given on its command line hold.
    expect((await system.exec(["cat", "/proc/1/comm"])).stdout.trim()).toBe("systemd")
    const masked = await system.exec(["systemctl", "is-enabled", "podman-auto-update.service", "user@.service"])
    expect(masked.stdout.trim().split("\n")).toEqual(["masked-runtime", "masked-runtime"])
    expect(bootMasks).toContain("user@.service")
    // The host reaches Caddy's site on the container's own address.
    const site = await fetch(`http://${system.address}/`, { signal: AbortSignal.timeout(5_000) })
    expect(site.status).toBe(200)
    await site.body?.cancel()
  })

  it("runs commands as root or as a user, with a clean environment, and hands back exit codes and output", async () => {
    await system.sh("id probe-user >/dev/null 2>&1 || useradd --no-create-home probe-user")
    const root = await system.exec(["sh", "-c", 'id -u; echo "$PATH"; env | grep -c "^CI=" || true'])
    expect(root.stdout.split("\n").slice(0, 3)).toEqual([
      "0",
      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "0",
    ])
    const user = await system.exec(["sh", "-c", 'id -un; echo "$HOME $X"'], { user: "probe-user", env: { X: "y" } })
    expect(user.stdout).toBe("probe-user\n/home/probe-user y\n")
    const input = await system.exec(["cat"], { input: "through stdin" })
    expect(input.stdout).toBe("through stdin")
    expect((await system.exec(["sh", "-c", "echo oops >&2; exit 7"])).code).toBe(7)
    const slow = await system.exec(["sleep", "30"], { timeoutMs: 300 })
    expect(slow.stderr).toContain("[killed by SIGKILL]")
    await expect(system.sh("exit 3")).rejects.toThrow(/exited 3/)
  })

  it("sees the host's files through its overlay, and keeps its own writes to itself", async () => {
    const here = fileURLToPath(import.meta.url)
    expect((await system.exec(["test", "-r", here])).code).toBe(0)
    const inside = `/etc/tlsys-harness-${process.pid}`
    system.writeFile(inside, "written from the host\n", 0o640)
    expect(system.readFile(inside)).toBe("written from the host\n")
    expect((await system.exec(["stat", "-c", "%a %U", inside])).stdout.trim()).toBe("640 root")
    expect(fs.existsSync(inside)).toBe(false)
  })

  it("reads the journal from a mark: what was logged after it, and nothing before", async () => {
    const tag = `tlsys-harness-${process.pid}`
    await system.exec(["logger", "-t", tag, "before the mark"])
    const mark = await system.journalMark()
    await system.exec(["logger", "-t", tag, "after the mark"])
    const entries = await system.journal(mark, [`SYSLOG_IDENTIFIER=${tag}`])
    expect(entries.map((e) => e.MESSAGE)).toEqual(["after the mark"])
  })

  it("runs nested rootful podman (what the Tamanu units are)", async () => {
    const r = await system.exec([
      "podman",
      "run",
      "--rm",
      "--cgroupns=private",
      "--network=none",
      "--rootfs",
      "/:O",
      "/bin/sh",
      "-c",
      "echo nested",
    ])
    expect(r.stdout.trim(), r.stderr).toBe("nested")
  })

  it("stops: nothing of it is left on the host, and a second stop says the same", async () => {
    const left = await system.stop()
    expect(left).toEqual({ processes: [], mounts: [], cgroups: [], bridges: [], podman: [] })
    expect(await system.stop()).toEqual(left)
    expect((await system.exec(["true"])).code).not.toBe(0)
  })
})
