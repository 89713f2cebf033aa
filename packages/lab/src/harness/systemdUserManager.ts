/**
 * A real systemd user manager for the systemd Supervisor's tests, the demo
 * and the benchmarks (architecture.md, "Real components in tests").
 *
 * As root, `systemd --user` runs inside its own mount namespace whose
 * `/run/systemd` is a fresh tmpfs holding an empty `/run/systemd/system`
 * (so the manager believes it runs on a booted systemd host), with a private
 * `XDG_RUNTIME_DIR` (its control socket) and `XDG_CONFIG_HOME` (the test's
 * unit files). Nothing of the host's own systemd state is touched.
 *
 * `systemctl --user` with that `XDG_RUNTIME_DIR` reaches the manager from
 * outside. One catch: outside the namespace there is no
 * `/run/systemd/system`, so systemctl decides the host is "not booted" and
 * does enable/disable/is-enabled/list-unit-files itself on the caller's
 * files, not through the manager. `systemctl` below therefore runs systemctl
 * inside the namespace (`nsenter -t PID -m`), which behaves as on a real host.
 *
 * `stop()` asks the manager to exit, kills what is left after a bound, and
 * removes the directories; a process exit stops managers a test forgot.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { SystemdSupervisorOptions } from "@tamanu-lifecycle/core/internal"
import { Data, Duration, Effect, Schedule } from "effect"
import type { Prerequisite } from "./prerequisites.js"
import { hasCommand, isRoot } from "./prerequisites.js"
import { descendants, onExit } from "./processes.js"

/** A unit file (or drop-in, `name.service.d/x.conf`) to install. */
export interface UnitFile {
  readonly name: string
  readonly text: string
}

export class UserManagerError extends Data.TaggedError("UserManagerError")<{
  readonly message: string
}> {}

export interface CtlResult {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

export interface UserManager {
  /** What a process needs to reach the manager with `systemctl --user`. */
  readonly env: Readonly<Record<string, string>>
  readonly runtimeDir: string
  /** Where unit files live (`$XDG_CONFIG_HOME/systemd/user`). */
  readonly unitDir: string
  /** PID of `systemd --user`. */
  readonly pid: number
  /** argv that runs systemctl inside the manager's namespace (add `--user` yourself). */
  readonly systemctl: ReadonlyArray<string>
  /** Options for `SystemdSupervisorLive` aimed at this manager. */
  readonly supervisorOptions: SystemdSupervisorOptions
  /** Write (or overwrite) a unit file; call `daemonReload()` after. */
  readonly writeUnit: (name: string, text: string) => Promise<void>
  readonly removeUnit: (name: string) => Promise<void>
  readonly daemonReload: () => Promise<void>
  /** `systemctl --user ARGS` against this manager; never throws on a non-zero exit. */
  readonly ctl: (args: ReadonlyArray<string>) => Promise<CtlResult>
  /** Exit the manager and every service it runs, remove its directories. Idempotent. */
  readonly stop: () => Promise<void>
}

export interface UserManagerOptions {
  readonly units?: ReadonlyArray<UnitFile>
  /**
   * The mount propagation of the manager's namespace (`unshare --propagation`).
   * `private` (default): nothing mounted inside is seen outside, nor the
   * reverse. `unchanged`: the namespace keeps the host's propagation, so a
   * mount under a SHARED host mount propagates both ways; what podman needs
   * when units run containers: the network namespaces netavark mounts under
   * `/run/netns` must be seen by the host, or `podman ps` fails there for
   * every caller ("unknown FS magic on /run/netns/netns-…"; podman.ts makes
   * `/run/netns` shared first). The mount holding `/run/systemd` is made
   * private inside the namespace before the tmpfs goes on it, so the host's
   * own `/run/systemd` is never covered, whatever the host's propagation.
   */
  readonly propagation?: "private" | "unchanged"
  /**
   * Directories that get a fresh, empty tmpfs inside the namespace (made
   * private first, as `/run/systemd` is): what the units and whoever runs
   * through `nsenter` see there, never the host (`/run/tamanu`, where a
   * Tamanu host keeps its upgrade marker). A missing directory is made on the
   * host, empty, as the mount point.
   */
  readonly privateDirs?: ReadonlyArray<string>
}

/** Whether a user manager can be started here; for `skipUnless`. */
export const userManagerPrerequisite = (): Prerequisite => {
  const missing = !isRoot()
    ? "needs root (to mount a tmpfs on /run/systemd in a private mount namespace)"
    : (["systemd", "systemctl", "unshare", "nsenter"].find((c) => !hasCommand(c)) ?? null)
  return {
    component: "systemd user manager",
    missing:
      missing === null || missing.startsWith("needs")
        ? missing
        : `${missing} not on PATH (install systemd and util-linux)`,
  }
}

/** The shared Tamanu-shaped test service, resolved from this module so it works from src and dist. */
export const tamanuServiceScript = fileURLToPath(new URL("../../fixtures/tamanu-service.mjs", import.meta.url))

/** A path or word as one ExecStart argument: quoted, `%` kept literal. */
const execArg = (arg: string): string =>
  `"${arg.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("%", "%%")}"`

const install = "[Install]\nWantedBy=default.target\n"

export interface TamanuUnitOptions {
  readonly description?: string
  /** READY_DELAY_MS of the service (default 300: slow enough to be real, fast enough for tests). */
  readonly readyDelayMs?: number
  /** Extra `Environment=` pairs. */
  readonly environment?: Readonly<Record<string, string>>
}

const tamanuService = (description: string, port: string, options: TamanuUnitOptions): string =>
  [
    "[Unit]",
    `Description=${description}`,
    "[Service]",
    "Type=simple",
    `ExecStart=${execArg(process.execPath)} ${execArg(tamanuServiceScript)}`,
    "Environment=HOST=127.0.0.1",
    `Environment=PORT=${port}`,
    "Environment=SERVICE_NAME=%n",
    `Environment=READY_DELAY_MS=${options.readyDelayMs ?? 300}`,
    ...Object.entries(options.environment ?? {}).map(([k, v]) => `Environment="${k}=${v.replaceAll("%", "%%")}"`),
    "KillSignal=SIGTERM",
    "TimeoutStopSec=15",
    "",
    install,
  ].join("\n")

/**
 * A templated Tamanu-shaped service (`tamanu-facility-api@.service`). Each
 * instance's port comes from a drop-in (`instancePort`), which works for any
 * suffix (`@1`, `@a`); an instance without one listens on a free port.
 */
export const tamanuTemplateUnit = (name: string, options: TamanuUnitOptions = {}): UnitFile => ({
  name: `${name}@.service`,
  text: tamanuService(options.description ?? `${name} instance %i (test)`, "0", options),
})

/** The drop-in that gives one instance of a template its PORT. */
export const instancePort = (name: string, suffix: string, port: number): UnitFile => ({
  name: `${name}@${suffix}.service.d/port.conf`,
  text: `[Service]\nEnvironment=PORT=${port}\n`,
})

/** A singleton Tamanu-shaped service (`tamanu-facility-tasks.service`) on a fixed port. */
export const tamanuSingletonUnit = (name: string, port: number, options: TamanuUnitOptions = {}): UnitFile => ({
  name: `${name}.service`,
  text: tamanuService(options.description ?? `${name} (test)`, String(port), options),
})

/**
 * A unit whose process exits 1 at once. `oneshot` (default): `systemctl
 * start` waits for it and fails ("Job for … failed"). `simple`: start
 * succeeds and the unit turns `failed` right after.
 */
export const failingUnit = (name: string, type: "oneshot" | "simple" = "oneshot"): UnitFile => ({
  name: `${name}.service`,
  text: `[Unit]\nDescription=${name} (always fails)\n[Service]\nType=${type}\nExecStart=/bin/false\n\n${install}`,
})

/** Cheap units for benchmarks: `sleep` (runs until stopped) or `oneshot` (RemainAfterExit, no process at all). */
export const cheapUnit = (unitName: string, kind: "sleep" | "oneshot" = "oneshot"): UnitFile => ({
  name: unitName,
  text:
    kind === "sleep"
      ? `[Service]\nType=simple\nExecStart=/bin/sleep infinity\nKillSignal=SIGTERM\n\n${install}`
      : `[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n\n${install}`,
})

const ctlIn = (systemctl: ReadonlyArray<string>, env: NodeJS.ProcessEnv, args: ReadonlyArray<string>) =>
  Effect.async<CtlResult>((resume) => {
    const [file, ...rest] = [...systemctl, "--user", ...args]
    execFile(file ?? "systemctl", rest, { env, encoding: "utf8" }, (error, stdout, stderr) => {
      resume(
        Effect.succeed({
          stdout,
          stderr,
          exitCode: error === null ? 0 : typeof error.code === "number" ? error.code : 127,
        }),
      )
    })
  })

const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null

const waitExit = (child: ChildProcess, limit: Duration.Duration) =>
  exited(child)
    ? Effect.succeed(true)
    : Effect.async<boolean>((resume) => {
        child.once("exit", () => resume(Effect.succeed(true)))
      }).pipe(
        Effect.timeoutTo({ duration: limit, onTimeout: () => false, onSuccess: (done) => done }),
        Effect.map((done) => done || exited(child)),
      )

/** Where the per-manager cgroups go: the named systemd and unified hierarchies (hybrid), or cgroup2 at the root. */
const cgroupHierarchies = ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"] as const

/** Remove a manager's cgroups once its processes are gone (deepest first; best effort). */
const removeCgroups = (name: string): void => {
  const removeTree = (dir: string): void => {
    let entries: ReadonlyArray<fs.Dirent> = []
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const entry of entries) if (entry.isDirectory()) removeTree(path.join(dir, entry.name))
    try {
      fs.rmdirSync(dir)
    } catch {}
  }
  for (const hierarchy of cgroupHierarchies) removeTree(path.join(hierarchy, name))
}

/** Start a user manager; the Effect form. Prefer `userManagerScoped` (it always stops). */
export const startUserManagerEffect = (
  options: UserManagerOptions = {},
): Effect.Effect<UserManager, UserManagerError> =>
  Effect.gen(function* () {
    const root = yield* Effect.try({
      try: () => fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-sd-")),
      catch: (e) => new UserManagerError({ message: `cannot create a temp dir: ${String(e)}` }),
    })
    const runtimeDir = path.join(root, "run")
    const configHome = path.join(root, "config")
    const unitDir = path.join(configHome, "systemd", "user")
    fs.mkdirSync(runtimeDir, { mode: 0o700 })
    fs.mkdirSync(unitDir, { recursive: true })
    const writeUnitSync = (name: string, text: string) => {
      const file = path.join(unitDir, name)
      if (!file.startsWith(`${unitDir}${path.sep}`)) throw new Error(`unit name escapes the unit dir: ${name}`)
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, text)
    }
    for (const unit of options.units ?? []) writeUnitSync(unit.name, unit.text)

    const propagation = options.propagation ?? "private"
    const privateDirs = (options.privateDirs ?? []).map((d) => {
      if (!path.isAbsolute(d) || /["$`\\]/.test(d)) throw new Error(`privateDirs: not a plain absolute path: ${d}`)
      fs.mkdirSync(d, { recursive: true })
      return `mount --make-private "$(findmnt -n -o TARGET -T "${d}")" && mount -t tmpfs tmpfs "${d}" && `
    })
    const cgroup = `tamanu-test-${path.basename(root)}`
    const logFile = path.join(root, "manager.log")
    const log = fs.openSync(logFile, "a")
    const managerEnv = { ...process.env, XDG_RUNTIME_DIR: runtimeDir, XDG_CONFIG_HOME: configHome }
    // unshare and sh both exec, so the child's PID is systemd's.
    const child = spawn(
      "unshare",
      [
        "--mount",
        "--propagation",
        propagation,
        "sh",
        "-c",
        // Its own cgroup first: managers started from one cgroup would otherwise
        // build the same `app.slice/<unit>` groups and stop each other's units.
        `for d in ${cgroupHierarchies.join(" ")}; do
           if [ -f "$d/cgroup.procs" ]; then mkdir -p "$d/$TAMANU_TEST_CGROUP" && echo $$ > "$d/$TAMANU_TEST_CGROUP/cgroup.procs" || true; fi
         done
         ${propagation === "unchanged" ? 'mount --make-private "$(findmnt -n -o TARGET -T /run/systemd)" &&' : ""} ${privateDirs.join("")}mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/system && exec systemd --user`,
      ],
      { env: { ...managerEnv, TAMANU_TEST_CGROUP: cgroup }, stdio: ["ignore", log, log] },
    )
    fs.closeSync(log)
    const pid = child.pid
    if (pid === undefined) {
      fs.rmSync(root, { recursive: true, force: true })
      return yield* new UserManagerError({ message: "could not spawn unshare" })
    }
    const hardKill = () => {
      for (const p of [...descendants(pid)].reverse())
        try {
          process.kill(p, "SIGKILL")
        } catch {}
      try {
        process.kill(pid, "SIGKILL")
      } catch {}
    }
    // Stopped on process exit if a test forgot.
    const forget = onExit(hardKill)

    const env = { XDG_RUNTIME_DIR: runtimeDir }
    const systemctl = ["nsenter", "-t", String(pid), "-m", "--", "systemctl"]
    const ctlEnv = { ...process.env, ...env, LC_ALL: "C", SYSTEMD_COLORS: "0" }
    const ctl = (args: ReadonlyArray<string>) => ctlIn(systemctl, ctlEnv, args)

    let stopped = false
    const stopEffect = Effect.gen(function* () {
      if (stopped) return
      stopped = true
      if (!exited(child)) {
        yield* ctl(["exit"])
        const clean = yield* waitExit(child, Duration.seconds(10))
        if (!clean) hardKill()
        yield* waitExit(child, Duration.seconds(5))
      }
      // Services of a manager that was killed would be orphans: make sure none survive.
      forget()
      removeCgroups(cgroup)
      fs.rmSync(root, { recursive: true, force: true })
    })

    // Ready once the manager answers on its control socket (any state: offline, running, degraded).
    const ready = yield* Effect.suspend(() =>
      exited(child)
        ? Effect.fail(new UserManagerError({ message: `systemd --user exited: ${fs.readFileSync(logFile, "utf8")}` }))
        : fs.existsSync(path.join(runtimeDir, "systemd", "private"))
          ? Effect.flatMap(ctl(["is-system-running"]), (r) =>
              r.stdout.trim() !== ""
                ? Effect.void
                : Effect.fail(new UserManagerError({ message: `not answering yet: ${r.stderr.trim()}` })),
            )
          : Effect.fail(new UserManagerError({ message: "control socket not there yet" })),
    ).pipe(
      Effect.retry({
        schedule: Schedule.spaced(Duration.millis(50)),
        while: () => !exited(child),
      }),
      Effect.timeoutFail({
        duration: Duration.seconds(20),
        onTimeout: () => new UserManagerError({ message: "systemd --user did not come up within 20 s" }),
      }),
      Effect.either,
    )
    if (ready._tag === "Left") {
      yield* stopEffect
      return yield* ready.left
    }

    const manager: UserManager = {
      env,
      runtimeDir,
      unitDir,
      pid,
      systemctl,
      supervisorOptions: { scope: "user", env, systemctl },
      writeUnit: async (name, text) => writeUnitSync(name, text),
      removeUnit: async (name) => fs.rmSync(path.join(unitDir, name), { recursive: true, force: true }),
      daemonReload: async () => {
        const r = await Effect.runPromise(ctl(["daemon-reload"]))
        if (r.exitCode !== 0) throw new Error(`daemon-reload failed: ${r.stderr}`)
      },
      ctl: (args) => Effect.runPromise(ctl(args)),
      stop: () => Effect.runPromise(stopEffect),
    }
    return manager
  })

/** A user manager that lives as long as the scope (stopped even when the test fails). */
export const userManagerScoped = (options: UserManagerOptions = {}) =>
  Effect.acquireRelease(startUserManagerEffect(options), (manager) => Effect.promise(() => manager.stop()))

/** The same for vitest hooks: `beforeAll(async () => { m = await startUserManager(...) })`, `afterAll(() => m.stop())`. */
export const startUserManager = (options: UserManagerOptions = {}): Promise<UserManager> =>
  Effect.runPromise(startUserManagerEffect(options))
