/**
 * The restore that comes back by itself (issue #25). At the first pin a run
 * asks the service manager to run tamanu's own restore (`tamanu
 * restore-caddy`, an internal command) once the pins are due, so that
 * whatever ends the run (SIGKILL, a crash, Ctrl+C, a closed terminal) Caddy
 * gets its own config back without another tamanu run, which on a hospital
 * server may be weeks away.
 *
 * - systemd: a transient timer and service (`systemd-run --on-active`) in the
 *   manager the run drives (`--user` for the user manager): it outlives the
 *   run and its terminal, and the manager runs it at the due time. Each one
 *   has its own name (`tamanu-caddy-restore-<ms>`); a new schedule stops the
 *   earlier timers (`systemctl stop 'tamanu-caddy-restore-*.timer'`), and a
 *   restore done by a run cancels them the same way.
 * - pm2 (and any host without systemd): a detached tamanu process that
 *   sleeps until the due time, then runs the same restore. It is not
 *   cancelled: when it wakes and finds nothing pending it exits.
 *
 * The scheduled restore obeys the command's rules (operations/restoreCaddy.ts):
 * the host lock, the saved state, Caddy's config compared before anything is
 * loaded, every pinned service's instances probed; when something is not
 * serving yet it re-pins to what serves and schedules itself again.
 */
import { spawn } from "node:child_process"
import { Effect } from "effect"
import { currentInvocation } from "../privileges/invocation.js"
import { NodeCommandLayer, runCommand } from "../probe/runCommand.js"

/** What a scheduled restore needs to find the host again: the run's resolved settings, as environment. */
export interface ScheduleTarget {
  /** The argv that runs tamanu itself (`[node, /usr/lib/tamanu/tamanu.cjs]`); `restore-caddy` is appended. */
  readonly tamanu: ReadonlyArray<string>
  /** Environment for the restore (settings, PATH, XDG_RUNTIME_DIR, podman's config): no secrets. */
  readonly env: Readonly<Record<string, string>>
}

export interface RestoreScheduler {
  /** Run tamanu's restore at `at` (epoch ms), replacing any earlier schedule. Best effort: a failure is returned as a warning. */
  readonly schedule: (at: number) => Effect.Effect<ReadonlyArray<string>>
  /** Drop every scheduled restore (Caddy's own config is back). Best effort. */
  readonly cancel: Effect.Effect<void>
  /** For messages: how the restore is scheduled (`a systemd timer`, `a detached tamanu process`). */
  readonly how: string
}

/** The internal command a schedule runs. */
export const restoreCommand = "restore-caddy"

/** Unit names of scheduled restores: `tamanu-caddy-restore-<ms>` (.timer and .service). */
export const restoreUnitPrefix = "tamanu-caddy-restore-"

/** The environment a scheduled restore gets: what decides which host it is, never a secret (the database URL). */
export const scheduleEnv = (env: NodeJS.ProcessEnv): Readonly<Record<string, string>> => {
  const keep = [
    "PATH",
    "HOME",
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
    "CONTAINERS_CONF",
    "CONTAINERS_STORAGE_CONF",
    "PM2_HOME",
    "NODE_ENV",
    "TAMANU_ROOT",
    "TAMANU_SUPERVISOR",
    "TAMANU_SYSTEMD_SCOPE",
    "TAMANU_KIND",
    "TAMANU_CADDY_ADMIN",
    "TAMANU_CADDYFILE",
  ]
  return Object.fromEntries(keep.flatMap((k) => (env[k] === undefined || env[k] === "" ? [] : [[k, env[k]]])))
}

/**
 * The `systemd-run` argv of one scheduled restore, `delayMillis` from now
 * (whole seconds, at least 1): a transient timer firing once, accurate to the
 * second, whose service runs tamanu's restore with `env`, and is unloaded
 * once it ends, failed or not (`--collect`).
 */
export const systemdRunArgv = (
  scope: "system" | "user",
  unit: string,
  delayMillis: number,
  target: ScheduleTarget,
): ReadonlyArray<string> => [
  "systemd-run",
  ...(scope === "user" ? ["--user"] : []),
  `--unit=${unit}`,
  `--on-active=${Math.max(1, Math.ceil(delayMillis / 1000))}s`,
  "--timer-property=AccuracySec=1s",
  "--collect",
  "--quiet",
  `--description=tamanu: put Caddy's own config back (issue #25)`,
  ...Object.entries(target.env).map(([k, v]) => `--setenv=${k}=${v}`),
  "--",
  ...target.tamanu,
  restoreCommand,
]

/** `systemctl stop` of every scheduled restore's timer (a running restore's own service is left alone). */
export const cancelArgv = (scope: "system" | "user"): ReadonlyArray<string> => [
  "systemctl",
  ...(scope === "user" ? ["--user"] : []),
  "stop",
  `${restoreUnitPrefix}*.timer`,
]

export const systemdScheduler = (
  scope: "system" | "user",
  target: ScheduleTarget,
  now: () => number = Date.now,
): RestoreScheduler => {
  const run = (argv: ReadonlyArray<string>) =>
    runCommand(argv[0] ?? "systemd-run", argv.slice(1), { env: { LC_ALL: "C" }, timeout: "15 seconds" }).pipe(
      Effect.map((r) =>
        r.exitCode === 0 ? [] : [`${argv.slice(0, 3).join(" ")} … exited ${r.exitCode}: ${r.stderr.trim()}`],
      ),
      Effect.catchAll((e) => Effect.succeed([`${e.command}: ${e.reason}`])),
      Effect.provide(NodeCommandLayer),
    )
  const cancel = Effect.asVoid(run(cancelArgv(scope)))
  return {
    how: `a systemd timer (${restoreUnitPrefix}*.timer${scope === "user" ? ", user manager" : ""})`,
    cancel,
    schedule: (at) =>
      Effect.gen(function* () {
        yield* cancel
        const t = now()
        return yield* run(systemdRunArgv(scope, `${restoreUnitPrefix}${t}`, at - t, target))
      }),
  }
}

/** The argv of a detached restore that waits until `at` itself (pm2 hosts). */
export const detachedArgv = (at: number, target: ScheduleTarget): ReadonlyArray<string> => [
  ...target.tamanu,
  restoreCommand,
  `--at=${Math.round(at)}`,
]

export const detachedScheduler = (target: ScheduleTarget): RestoreScheduler => ({
  how: "a detached tamanu process",
  cancel: Effect.void,
  schedule: (at) =>
    Effect.sync(() => {
      const [file, ...rest] = detachedArgv(at, target)
      try {
        const child = spawn(file ?? process.execPath, rest, {
          detached: true,
          stdio: "ignore",
          env: { ...target.env },
        })
        child.on("error", () => {})
        child.unref()
        return []
      } catch (error) {
        return [`could not start a detached restore: ${error instanceof Error ? error.message : String(error)}`]
      }
    }),
})

/**
 * This process's own tamanu argv: node and the script it runs, or the single
 * executable alone (its `argv[1]` is itself again; spawned with
 * `restore-caddy`, it sees that as its `argv[2]`, as main.ts reads it).
 */
export const ownTamanuArgv = (): ReadonlyArray<string> => {
  const self = currentInvocation()
  return self.script === null ? [self.executable] : [self.executable, self.script]
}
