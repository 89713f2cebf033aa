/**
 * A real systemd **system** manager for the end-to-end suites
 * (architecture.md, "Real components in tests"; linux-host.md): systemd 252
 * as PID 1 of a rootful podman container made from this host's own root
 * (`--rootfs /:O`, an overlay: every write stays in the container), with
 * journald, D-Bus, logind, Debian's own `caddy.service` and the
 * `postgresql@<version>-main` cluster running as on a Tamanu Linux host.
 * Nested rootful podman works inside it (runc, the systemd cgroup manager,
 * netavark; every `podman run` there must say `--cgroupns=private`), so the
 * Tamanu units can be podman containers there (e2e/centralSystemHost.ts).
 *
 * What it takes on this machine (measured; the docs/testing.md section on
 * the system manager has the figures):
 * - the container is `--privileged` (cgroup v1 controllers are read-only in
 *   an unprivileged one, and nested podman needs them), has a tmpfs on
 *   `/var/lib/containers` (`notmpcopyup`: podman's graph root cannot be on
 *   an overlay, and the host's storage must not be copied up), and never
 *   `--cgroupns=private` (on this hybrid cgroup host that puts the inner
 *   systemd at the host's own `name=systemd` root);
 * - units that would fail or hang here are masked with `systemd.mask=`
 *   arguments, which PID 1 reads like a kernel command line: podman's own
 *   units (enabled on the host, they fail on an overlay of an overlay and
 *   one hangs shutdown for 90 s), timers, gettys, and `user@.service` (a
 *   PAM login would start a user manager whose stop waits for SIGKILL);
 * - its own podman network on a free /24 in 10.89.200-249, so the host
 *   reaches its Caddy and nothing else shares the address space;
 * - podman on the host with netavark (this host records CNI as its
 *   default), runc, `default_ulimits = []` and the cgroupfs manager: a
 *   containers.conf of our own through CONTAINERS_CONF.
 *
 * Commands run inside through `nsenter -t PID -a` (about 10 ms, against
 * 100-250 ms for `podman exec`), as root or, through `setpriv` (no PAM, no
 * sudo, so sudo's own log only shows what the code under test asked for),
 * as any user, always with a clean environment. Files are written through
 * `/proc/PID/root`. `stop()` shuts systemd down (`podman stop`, SIGRTMIN+3),
 * removes the container and the network, and reports anything left on the
 * host: processes, mounts, cgroups, the bridge.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { hasCommand, isRoot, type Prerequisite } from "./prerequisites.js"
import { onExit } from "./processes.js"

/** What a command inside printed, and how it ended. */
export interface ExecResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  readonly elapsedMs: number
}

export interface ExecOptions {
  /** Run as this user (through setpriv: no PAM session, no sudo); default root. */
  readonly user?: string
  /** Added to the clean environment (PATH, HOME, USER, LOGNAME, LANG). */
  readonly env?: Readonly<Record<string, string>>
  /** Written to the command's stdin (else stdin is closed). */
  readonly input?: string
  /** Killed after this long (default 180 s): a hung command must not hang the suite. */
  readonly timeoutMs?: number
}

/** One journal entry as `journalctl -o json` gives it (the fields we read). */
export interface JournalEntry {
  readonly MESSAGE?: string
  readonly SYSLOG_IDENTIFIER?: string
  readonly _SYSTEMD_UNIT?: string
  readonly UNIT?: string
  readonly _PID?: string
  readonly __REALTIME_TIMESTAMP?: string
}

/** What `stop()` found on the host once the container and its network were removed (all empty: clean). */
export interface Leftovers {
  /** Host processes still in the container's cgroups. */
  readonly processes: ReadonlyArray<string>
  /** Mounts naming the container. */
  readonly mounts: ReadonlyArray<string>
  /** Cgroup directories of the container. */
  readonly cgroups: ReadonlyArray<string>
  /** Host interfaces still holding the network's gateway address. */
  readonly bridges: ReadonlyArray<string>
  /** The container or the network still known to podman. */
  readonly podman: ReadonlyArray<string>
}

export interface SystemManager {
  /** The container's name (`tlsys-<pid>-<n>`), also its network's and its hostname. */
  readonly name: string
  readonly containerId: string
  /** PID of the container's systemd on the host. */
  readonly pid: number
  /** The container's address on its network: the host reaches Caddy at `http://<address>/`. */
  readonly address: string
  /** The network's subnet (`10.89.2xx.0/24`). */
  readonly subnet: string
  /** The PostgreSQL cluster's unit (`postgresql@15-main`). */
  readonly postgresUnit: string
  /** From `podman run` to `systemctl is-system-running` = running. */
  readonly bootMs: number
  /** The environment for CONTAINERS_CONF-aware podman calls on the host. */
  readonly podmanEnv: Readonly<Record<string, string>>
  /** Run a command inside; never rejects on a non-zero exit. */
  readonly exec: (argv: ReadonlyArray<string>, options?: ExecOptions) => Promise<ExecResult>
  /** Start a command inside and hand back the process, in its own process group (`killGroup` ends it all). */
  readonly spawn: (argv: ReadonlyArray<string>, options?: ExecOptions) => ChildProcess
  /** `bash -c SCRIPT` inside as root; rejects on a non-zero exit, with what it printed. */
  readonly sh: (script: string) => Promise<string>
  /** `systemctl ARGS` inside as root; never rejects on a non-zero exit. */
  readonly systemctl: (args: ReadonlyArray<string>) => Promise<ExecResult>
  /** Where a path inside is seen from the host (`/proc/PID/root/...`). */
  readonly hostPath: (inside: string) => string
  /** Write a file inside (parents created). */
  readonly writeFile: (inside: string, text: string, mode?: number) => void
  readonly readFile: (inside: string) => string
  /** Now, as the journal's realtime clock (microseconds since the epoch), to read what is logged after it. */
  readonly journalMark: () => Promise<number>
  /**
   * Journal entries logged at or after `mark` matching journalctl MATCHES
   * (`SYSLOG_IDENTIFIER=sudo`, `_PID=1`), after `journalctl --sync`: everything
   * logged before this call is in the answer. By time, not by cursor: with a
   * system and a per-user journal file, `--after-cursor` skipped entries of the
   * other file (seen with sudo's own lines, which land in user-1001.journal).
   */
  readonly journal: (mark: number, matches: ReadonlyArray<string>) => Promise<ReadonlyArray<JournalEntry>>
  /** Shut systemd down, remove the container and its network, and report what is left. Idempotent. */
  readonly stop: () => Promise<Leftovers>
}

export interface SystemManagerOptions {
  /** Extra units to mask at boot (`systemd.mask=`). */
  readonly mask?: ReadonlyArray<string>
  /** Limit for reaching `running` (default 90 s; about 3 s on an idle machine). */
  readonly bootLimitMs?: number
}

/** Units masked at boot, and why (see the file comment). */
export const bootMasks: ReadonlyArray<string> = [
  // Enabled on the host: they fail on an overlay of an overlay, and podman-auto-update then hangs shutdown.
  "podman.service",
  "podman.socket",
  "podman-restart.service",
  "podman-auto-update.service",
  "podman-auto-update.timer",
  // Quiet: nothing here needs them.
  "apt-daily.timer",
  "apt-daily-upgrade.timer",
  "man-db.timer",
  "e2scrub_all.timer",
  "e2scrub_reap.service",
  "fstrim.timer",
  "dpkg-db-backup.timer",
  "systemd-timesyncd.service",
  "getty@tty1.service",
  "console-getty.service",
  // A PAM login would start a user manager whose stop never finishes at shutdown.
  "user@.service",
]

const podmanHelpers = "/usr/lib/podman"

/** The newest PostgreSQL cluster `main` Debian set up (`/etc/postgresql/<v>/main`), as its unit's instance. */
export const postgresMainCluster = (): string | null => {
  const versions = fs.existsSync("/etc/postgresql")
    ? fs
        .readdirSync("/etc/postgresql")
        .filter((v) => /^\d+$/.test(v) && fs.existsSync(`/etc/postgresql/${v}/main/postgresql.conf`))
        .sort((a, b) => Number(b) - Number(a))
    : []
  return versions[0] === undefined ? null : `${versions[0]}-main`
}

const unitFileExists = (unit: string): boolean =>
  ["/lib/systemd/system", "/usr/lib/systemd/system", "/etc/systemd/system"].some((d) =>
    fs.existsSync(path.join(d, unit)),
  )

/** Under a path the container mounts a tmpfs on (so the host's files there are hidden inside). */
const underTmpfs = (file: string): boolean => ["/tmp/", "/run/"].some((p) => file.startsWith(p))

/**
 * This checkout (the built CLI, the fixtures), shown inside the container at
 * the same path when it sits under /tmp or /run (a clone made there), where
 * the container's tmpfs would otherwise hide it. As an overlay, like the rest
 * of the root: the container may write beside the bundle (root's own V8 code
 * cache, which systemHost.it removes and expects back) and the host's files
 * stay as they were. Read-only, a clone under /tmp failed that test alone.
 */
const checkout = path.resolve(fileURLToPath(new URL("../../../..", import.meta.url)))
const checkoutMounts = (): ReadonlyArray<string> => (underTmpfs(checkout) ? ["-v", `${checkout}:${checkout}:O`] : [])

/** Whether a system manager can be booted here; for `skipUnless`. */
export const systemManagerPrerequisite = (): Prerequisite => {
  const missing = (): string | null => {
    if (!isRoot()) return "needs root (rootful podman, --privileged, nsenter)"
    for (const command of ["podman", "runc", "nsenter", "setpriv"])
      if (!hasCommand(command)) return `${command} not on PATH (install podman runc util-linux)`
    for (const helper of ["netavark", "aardvark-dns"])
      if (!fs.existsSync(path.join(podmanHelpers, helper)))
        return `no ${podmanHelpers}/${helper} (install netavark aardvark-dns)`
    if (!fs.existsSync("/lib/systemd/systemd")) return "no /lib/systemd/systemd (install systemd)"
    if (!fs.existsSync("/usr/bin/sudo")) return "no /usr/bin/sudo (install sudo)"
    if (!unitFileExists("caddy.service")) return "no caddy.service (install the Debian package caddy)"
    if (postgresMainCluster() === null || !unitFileExists("postgresql@.service"))
      return "no PostgreSQL cluster main (install the Debian package postgresql)"
    if (underTmpfs(process.execPath)) return `node at ${process.execPath} would be hidden by the container's tmpfs`
    return null
  }
  return { component: "systemd system manager (podman)", missing: missing() }
}

/** podman on the host as the harness runs it: netavark, runc, cgroupfs, no ulimits (linux-host.md). */
export const hostContainersConf = `[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
`

/** podman inside the system: the real host's shape (systemd cgroups, journald events), as this kernel allows. */
export const innerContainersConf = `[containers]
default_ulimits = []
# podman 4.3.1 ignores cgroupns = "private" here: each unit says --cgroupns=private itself.

[engine]
runtime = "runc"
cgroup_manager = "systemd"
events_logger = "journald"

[network]
network_backend = "netavark"
`

const run = (
  file: string,
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  timeoutMs = 120_000,
): Promise<ExecResult> =>
  new Promise((resolve) => {
    const began = performance.now()
    execFile(
      file,
      [...args],
      { env, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 127
        resolve({ code, stdout, stderr, elapsedMs: performance.now() - began })
      },
    )
  })

const mustRun = async (file: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, timeoutMs?: number) => {
  const r = await run(file, args, env, timeoutMs)
  if (r.code !== 0) throw new Error(`${file} ${args.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`)
  return r.stdout
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Every IPv4 /24 in use on this host: podman networks of either backend, and the host's own addresses. */
const subnetsInUse = async (env: NodeJS.ProcessEnv): Promise<ReadonlySet<string>> => {
  const used = new Set<string>()
  const add = (cidr: string) => {
    const m = /^(\d+)\.(\d+)\.(\d+)\.\d+\/(\d+)$/.exec(cidr.trim())
    if (m !== null) used.add(`${m[1]}.${m[2]}.${m[3]}`)
  }
  // With our containers.conf (netavark) and without it (the host's default backend, CNI here).
  for (const e of [env, { ...process.env, CONTAINERS_CONF: "" }]) {
    const names = (await run("podman", ["network", "ls", "--format", "{{.Name}}"], e)).stdout
      .split("\n")
      .filter((n) => n.trim() !== "")
    if (names.length === 0) continue
    const inspected = await run("podman", ["network", "inspect", ...names], e)
    try {
      const networks = JSON.parse(inspected.stdout) as ReadonlyArray<{
        readonly subnets?: ReadonlyArray<{ readonly subnet?: string }>
      }>
      for (const n of networks) for (const s of n.subnets ?? []) if (s.subnet !== undefined) add(s.subnet)
    } catch {}
  }
  for (const line of (await run("ip", ["-4", "-o", "addr"], process.env)).stdout.split("\n")) {
    const cidr = line.split(/\s+/)[3]
    if (cidr !== undefined) add(cidr)
  }
  return used
}

let counter = 0

/** SIGKILL a command started inside and everything in its process group. */
export const killGroup = (child: ChildProcess): void => {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, "SIGKILL")
  } catch {
    child.kill("SIGKILL")
  }
}

/**
 * Boot a system manager: a network on a free subnet, the container, and a
 * wait until systemd says `running` (a `degraded` boot is a failure naming
 * the failed units). Everything is removed again when booting fails.
 */
export const bootSystemManager = async (options: SystemManagerOptions = {}): Promise<SystemManager> => {
  counter += 1
  const name = `tlsys-${process.pid}-${counter}`
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tlsys-"))
  const conf = path.join(dir, "containers.conf")
  fs.writeFileSync(conf, hostContainersConf)
  const podmanEnv = { CONTAINERS_CONF: conf }
  const env = { ...process.env, ...podmanEnv }
  const podman = (args: ReadonlyArray<string>, timeoutMs?: number) => run("podman", args, env, timeoutMs)

  let containerId = ""
  let gateway = ""
  const removeSync = () => {
    for (const args of [
      ["rm", "-f", "-t", "10", name],
      ["network", "rm", "-f", name],
    ])
      try {
        execFileSync("podman", args, { env, stdio: "ignore", timeout: 60_000 })
      } catch {}
    fs.rmSync(dir, { recursive: true, force: true })
  }
  // Removed on process exit if a test forgot.
  const forget = onExit(removeSync)

  const leftovers = async (): Promise<Leftovers> => {
    const processes: Array<string> = []
    if (containerId !== "")
      for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue
        try {
          if (fs.readFileSync(`/proc/${entry}/cgroup`, "utf8").includes(containerId)) {
            const command = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim()
            const state = fs.readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]?.[0]
            // conmon shows as a zombie until the host's init reaps it: not a process left running.
            if (state !== "Z") processes.push(`${entry} ${command}`)
          }
        } catch {}
      }
    const mounts =
      containerId === ""
        ? []
        : fs
            .readFileSync("/proc/mounts", "utf8")
            .split("\n")
            .filter((l) => l.includes(containerId))
    const cgroups: Array<string> = []
    if (containerId !== "")
      for (const hierarchy of fs.readdirSync("/sys/fs/cgroup")) {
        for (const parent of ["libpod_parent", "machine.slice"]) {
          const base = path.join("/sys/fs/cgroup", hierarchy, parent)
          try {
            for (const d of fs.readdirSync(base)) if (d.includes(containerId)) cgroups.push(path.join(base, d))
          } catch {}
        }
      }
    const bridges =
      gateway === ""
        ? []
        : (await run("ip", ["-4", "-o", "addr"], process.env)).stdout
            .split("\n")
            .filter((l) => l.includes(` ${gateway}/`))
    const known: Array<string> = []
    if ((await podman(["container", "exists", name])).code === 0) known.push(`container ${name}`)
    if ((await podman(["network", "exists", name])).code === 0) known.push(`network ${name}`)
    return { processes, mounts, cgroups, bridges, podman: known }
  }

  let stopped: Promise<Leftovers> | null = null
  const stop = () => {
    stopped ??= (async () => {
      // Long enough that a slow shutdown shows as time, not as a SIGKILL that hides it.
      await podman(["stop", "-t", "30", name], 90_000)
      await podman(["rm", "-f", "-t", "10", name])
      await podman(["network", "rm", "-f", name])
      forget()
      fs.rmSync(dir, { recursive: true, force: true })
      return leftovers()
    })()
    return stopped
  }

  try {
    // A free /24 in 10.89.200-249 (other suites use the 10.89.1xx range); creation fails if someone took it meanwhile.
    const used = await subnetsInUse(env)
    const start = 200 + Math.floor(Math.random() * 50)
    let subnet = ""
    for (let i = 0; i < 50 && subnet === ""; i++) {
      const third = 200 + ((start - 200 + i) % 50)
      if (used.has(`10.89.${third}`)) continue
      const r = await podman(["network", "create", "--subnet", `10.89.${third}.0/24`, name])
      if (r.code === 0) subnet = `10.89.${third}.0/24`
      else if (!/already|overlap|in use/i.test(r.stderr)) throw new Error(`podman network create: ${r.stderr.trim()}`)
    }
    if (subnet === "") throw new Error("no free /24 in 10.89.200.0-10.89.249.0 for the system manager's network")
    gateway = subnet.replace(/\.0\/24$/, ".1")

    const masks = [...bootMasks, ...(options.mask ?? [])].map((u) => `systemd.mask=${u}`)
    const began = performance.now()
    const created = await podman([
      "run",
      "-d",
      "--name",
      name,
      "--hostname",
      name,
      "--systemd=always",
      "--tmpfs",
      "/tmp:rw,notmpcopyup",
      "--tmpfs",
      "/run:rw,notmpcopyup",
      "--tmpfs",
      "/run/lock:rw,notmpcopyup",
      "--tmpfs",
      "/var/lib/containers:rw,notmpcopyup",
      ...checkoutMounts(),
      "--privileged",
      "--network",
      name,
      "--rootfs",
      "/:O",
      "/lib/systemd/systemd",
      ...masks,
    ])
    if (created.code !== 0) throw new Error(`podman run: ${created.stderr.trim()}`)
    containerId = created.stdout.trim()
    const inspect = JSON.parse(await mustRun("podman", ["inspect", name], env)) as ReadonlyArray<{
      readonly State?: { readonly Pid?: number }
      readonly NetworkSettings?: { readonly Networks?: Readonly<Record<string, { readonly IPAddress?: string }>> }
    }>
    const pid = inspect[0]?.State?.Pid ?? 0
    const address = inspect[0]?.NetworkSettings?.Networks?.[name]?.IPAddress ?? ""
    if (pid <= 0 || address === "") throw new Error(`podman inspect ${name}: no pid or address`)

    const cleanEnv = (user: string | undefined, extra: Readonly<Record<string, string>> | undefined) => {
      const home = user === undefined ? "/root" : `/home/${user}`
      return [
        `PATH=${user === undefined ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" : "/usr/local/bin:/usr/bin:/bin"}`,
        `HOME=${home}`,
        `USER=${user ?? "root"}`,
        `LOGNAME=${user ?? "root"}`,
        "LANG=C.UTF-8",
        ...Object.entries(extra ?? {}).map(([k, v]) => `${k}=${v}`),
      ]
    }
    const argvInside = (argv: ReadonlyArray<string>, options: ExecOptions = {}): ReadonlyArray<string> => [
      "-t",
      String(pid),
      "-a",
      "--",
      ...(options.user === undefined
        ? []
        : ["setpriv", `--reuid=${options.user}`, `--regid=${options.user}`, "--init-groups", "--"]),
      "env",
      "-i",
      ...cleanEnv(options.user, options.env),
      ...argv,
    ]
    const spawnInside = (argv: ReadonlyArray<string>, options: ExecOptions = {}) =>
      spawn("nsenter", [...argvInside(argv, options)], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
        stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        // Its own process group: nsenter forks into the PID namespace, so killing nsenter
        // alone would leave the command (and what it started) running and its pipes open.
        detached: true,
      })
    const exec = (argv: ReadonlyArray<string>, options: ExecOptions = {}): Promise<ExecResult> =>
      new Promise((resolve) => {
        const began = performance.now()
        const child = spawnInside(argv, options)
        let stdout = ""
        let stderr = ""
        child.stdout?.setEncoding("utf8").on("data", (d: string) => {
          stdout += d
        })
        child.stderr?.setEncoding("utf8").on("data", (d: string) => {
          stderr += d
        })
        if (options.input !== undefined) child.stdin?.end(options.input)
        const timer = setTimeout(() => killGroup(child), options.timeoutMs ?? 180_000)
        child.on("close", (code, signal) => {
          clearTimeout(timer)
          resolve({
            code: code ?? (signal === null ? -1 : 128),
            stdout,
            stderr: signal === null ? stderr : `${stderr}\n[killed by ${signal}]`,
            elapsedMs: performance.now() - began,
          })
        })
      })

    // Running: every unit started; degraded: something failed, which the suites must not build on.
    let state = ""
    const deadline = performance.now() + (options.bootLimitMs ?? 90_000)
    while (performance.now() < deadline) {
      state = (await exec(["systemctl", "is-system-running"], { timeoutMs: 10_000 })).stdout.trim()
      if (state === "running" || state === "degraded") break
      await sleep(100)
    }
    const bootMs = performance.now() - began
    if (state !== "running") {
      const failed = await exec(["systemctl", "--failed", "--no-legend", "--plain", "--no-pager"])
      throw new Error(
        `the system manager in ${name} is ${state || "not answering"} after ${Math.round(bootMs)} ms${
          failed.stdout.trim() ? `; failed units:\n${failed.stdout.trim()}` : ""
        }`,
      )
    }

    const hostPath = (inside: string) => path.join(`/proc/${pid}/root`, inside)
    // Nested podman as this kernel allows it (the host's own containers.conf is for the host).
    fs.mkdirSync(hostPath("/etc/containers"), { recursive: true })
    fs.writeFileSync(hostPath("/etc/containers/containers.conf"), innerContainersConf)
    const journalSince = async (mark: number, matches: ReadonlyArray<string>) => {
      await exec(["journalctl", "--sync"])
      const r = await exec(["journalctl", "--no-pager", "-o", "json", `--since=@${Math.floor(mark / 1e6)}`, ...matches])
      return r.stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as JournalEntry)
        .filter((e) => Number(e.__REALTIME_TIMESTAMP ?? "0") >= mark)
    }
    return {
      name,
      containerId,
      pid,
      address,
      subnet,
      postgresUnit: `postgresql@${postgresMainCluster() ?? "15-main"}`,
      bootMs,
      podmanEnv,
      exec,
      spawn: spawnInside,
      sh: async (script) => {
        const r = await exec(["bash", "-euo", "pipefail", "-c", script])
        if (r.code !== 0) throw new Error(`in ${name}: bash -c exited ${r.code}:\n${script}\n--- stderr\n${r.stderr}`)
        return r.stdout
      },
      systemctl: (args) => exec(["systemctl", "--no-pager", ...args]),
      hostPath,
      writeFile: (inside, text, mode) => {
        const file = hostPath(inside)
        fs.mkdirSync(path.dirname(file), { recursive: true })
        fs.writeFileSync(file, text, mode === undefined ? {} : { mode })
        if (mode !== undefined) fs.chmodSync(file, mode)
      },
      readFile: (inside) => fs.readFileSync(hostPath(inside), "utf8"),
      journalMark: async () => {
        // The container shares the host's clock: entries logged from now on have a later realtime.
        await exec(["journalctl", "--sync"])
        return Math.round((performance.timeOrigin + performance.now()) * 1000)
      },
      journal: journalSince,
      stop,
    }
  } catch (error) {
    await stop().catch(() => undefined)
    throw error
  }
}
