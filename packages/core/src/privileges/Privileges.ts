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

/** Set in the environment of the re-executed child so it never asks for sudo again. */
export const SUDO_MARKER = "TAMANU_LIFECYCLE_SUDO"

/** sudo's argv for re-running `argv`: `--` so nothing in argv is read as a sudo option. */
export const sudoArgv = (argv: ReadonlyArray<string>): ReadonlyArray<string> => [
  "--preserve-env=TAMANU_ROOT,TAMANU_SUPERVISOR,TAMANU_SYSTEMD_SCOPE,TAMANU_KIND,TAMANU_DATABASE_URL,PM2_HOME,NODE_ENV,NO_COLOR",
  `${SUDO_MARKER}=1`,
  "--",
  ...argv,
]

export const PrivilegesLive = (required: boolean): Layer.Layer<Privileges> =>
  Layer.succeed(Privileges, {
    required,
    isRoot: Effect.sync(() => typeof process.getuid === "function" && process.getuid() === 0),
    reexecUnderSudo: (argv) =>
      process.env[SUDO_MARKER] === "1"
        ? Effect.fail(new SudoFailed({ message: "already re-run under sudo and still not root" }))
        : Effect.async<number, SudoFailed>((resume) => {
            // Arguments go as an array: no shell ever sees them.
            const child = spawn("sudo", [...sudoArgv(argv)], { stdio: "inherit" })
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
