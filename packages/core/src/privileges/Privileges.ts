/**
 * Privileges (spec §10): mutating commands on the system systemd manager
 * need root; when not root, the same command line is re-run under sudo and
 * its exit status becomes ours. Decided after "nothing to do", never for
 * status, --dry-run, the user manager or pm2.
 */
import { spawn } from "node:child_process"
import * as os from "node:os"
import { Context, Effect, Layer, Schema } from "effect"

export class SudoFailed extends Schema.TaggedError<SudoFailed>()("SudoFailed", {
  message: Schema.String,
}) {}

export interface PrivilegesShape {
  /** Whether mutating this host needs root at all (the system systemd manager). */
  readonly required: boolean
  readonly isRoot: Effect.Effect<boolean>
  /** Re-run `argv` (the program and its arguments, exactly as given) under sudo; the child's exit code. */
  readonly reexecUnderSudo: (argv: ReadonlyArray<string>) => Effect.Effect<number, SudoFailed>
}

export class Privileges extends Context.Tag("@tamanu-lifecycle/core/Privileges")<Privileges, PrivilegesShape>() {}

/** The environment a command line depends on: carried into the re-run so it means the same thing. */
export const PRESERVED_ENV = [
  "TAMANU_ROOT",
  "TAMANU_SUPERVISOR",
  "TAMANU_SYSTEMD_SCOPE",
  "TAMANU_KIND",
  "TAMANU_DATABASE_URL",
  "TAMANU_CADDY_ADMIN",
  "TAMANU_CADDYFILE",
  "PM2_HOME",
  "NODE_ENV",
  "NO_COLOR",
] as const

/**
 * sudo's argv for re-running `argv`: `--` so nothing in argv is read as a
 * sudo option; `--preserve-env=` only for the settings actually set, so a
 * plain `NOPASSWD` rule for the tamanu command is enough on a host
 * configured through its files (preserving any variable needs the rule's
 * `SETENV`, or `env_keep`).
 */
export const sudoArgv = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): ReadonlyArray<string> => {
  const preserved = PRESERVED_ENV.filter((name) => env[name] !== undefined && env[name] !== "")
  return [...(preserved.length > 0 ? [`--preserve-env=${preserved.join(",")}`] : []), "--", ...argv]
}

/** sudo sets SUDO_UID in the environment of what it runs: a run that has it and is still not root must not ask again. */
export const underSudo = (env: NodeJS.ProcessEnv): boolean => env.SUDO_UID !== undefined && env.SUDO_UID !== ""

export const PrivilegesLive = (required: boolean): Layer.Layer<Privileges> =>
  Layer.succeed(Privileges, {
    required,
    isRoot: Effect.sync(() => typeof process.getuid === "function" && process.getuid() === 0),
    reexecUnderSudo: (argv) =>
      underSudo(process.env)
        ? Effect.fail(new SudoFailed({ message: "already re-run under sudo and still not root" }))
        : Effect.async<number, SudoFailed>((resume) => {
            // Arguments go as an array: no shell ever sees them.
            const child = spawn("sudo", [...sudoArgv(argv, process.env)], { stdio: "inherit" })
            child.on("error", (error) =>
              resume(Effect.fail(new SudoFailed({ message: `could not run sudo: ${error.message}` }))),
            )
            child.on("exit", (code, signal) =>
              resume(Effect.succeed(code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0)))),
            )
          }),
  })

/** For tests and for embedders that already run as root (or never need it). */
export const PrivilegesFixed = (root: boolean, required = true, sudoExitCode = 0): Layer.Layer<Privileges> =>
  Layer.succeed(Privileges, {
    required,
    isRoot: Effect.succeed(root),
    reexecUnderSudo: () => Effect.succeed(sudoExitCode),
  })
