/**
 * Privileges (spec §10): mutating commands on the system systemd manager
 * need root; when not root, the same command line is re-run under sudo and
 * its exit status becomes ours. Decided after "nothing to do", never for
 * status, --dry-run, the user manager or pm2.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
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

/** Whether this process has a controlling terminal, the only place sudo asks for a password. */
export const hasControllingTerminal = (): boolean => {
  try {
    fs.closeSync(fs.openSync("/dev/tty", "r"))
    return true
  } catch {
    return false
  }
}

/** The sudoers rule that lets this user re-run `argv` without a password (SETENV when it carries settings). */
export const suggestedSudoersRule = (user: string, argv: ReadonlyArray<string>, setenv: boolean): string =>
  `${user} ALL=(root) NOPASSWD:${setenv ? "SETENV:" : ""} ${argv.slice(0, 2).join(" ")} *`

export interface PrivilegesLiveOptions {
  /** The sudo executable (default `sudo` on PATH). */
  readonly sudo?: string
  /** Whether sudo could ask for a password (default: this process has a controlling terminal). */
  readonly terminal?: boolean
}

interface Ran {
  readonly code: number
  readonly stderr: string
}

/** Run sudo; stderr either shown (`inherit`) or kept. */
const runSudo = (sudo: string, args: ReadonlyArray<string>, stderr: "inherit" | "keep") =>
  Effect.async<Ran, SudoFailed>((resume) => {
    // Arguments go as an array: no shell ever sees them.
    const child = spawn(sudo, [...args], {
      stdio: stderr === "inherit" ? "inherit" : ["ignore", "ignore", "pipe"],
    })
    let said = ""
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      said = (said + d).slice(-4096)
    })
    child.on("error", (error) =>
      resume(Effect.fail(new SudoFailed({ message: `could not run sudo: ${error.message}` }))),
    )
    child.on("close", (code, signal) =>
      resume(
        Effect.succeed({
          code: code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0)),
          stderr: said,
        }),
      ),
    )
  })

/**
 * Without a terminal sudo cannot ask for a password, and what it prints then
 * ("a terminal is required … use the -S option") is no help to an operator
 * of tamanu. So, only then, first ask sudo without running anything whether
 * the rule lets this command through without a password (`sudo -n -l --
 * argv`, which sudo answers from its policy alone); if not, say so with the
 * rule that would, and change nothing. The re-run itself is then `sudo -n`.
 */
export const PrivilegesLive = (required: boolean, options: PrivilegesLiveOptions = {}): Layer.Layer<Privileges> =>
  Layer.succeed(Privileges, {
    required,
    isRoot: Effect.sync(() => typeof process.getuid === "function" && process.getuid() === 0),
    reexecUnderSudo: (argv) =>
      Effect.gen(function* () {
        if (underSudo(process.env))
          return yield* Effect.fail(new SudoFailed({ message: "already re-run under sudo and still not root" }))
        const sudo = options.sudo ?? "sudo"
        const args = sudoArgv(argv, process.env)
        if (options.terminal ?? hasControllingTerminal()) return (yield* runSudo(sudo, args, "inherit")).code
        const allowed = yield* runSudo(sudo, ["-n", "-l", "--", ...argv], "keep")
        if (allowed.code !== 0) {
          const user = os.userInfo().username
          const said = allowed.stderr
            .trim()
            .split("\n")
            .filter((l) => l.trim() !== "")
            .at(-1)
          return yield* Effect.fail(
            new SudoFailed({
              message: `there is no terminal to ask for a password on, and sudo does not let ${user} run it without one (${
                said ?? `sudo -n -l exited ${allowed.code}`
              }); a sudoers rule that would: \`${suggestedSudoersRule(user, argv, args[0] !== "--")}\``,
            }),
          )
        }
        return (yield* runSudo(sudo, ["-n", ...args], "inherit")).code
      }),
  })

/** For tests and for embedders that already run as root (or never need it). */
export const PrivilegesFixed = (root: boolean, required = true, sudoExitCode = 0): Layer.Layer<Privileges> =>
  Layer.succeed(Privileges, {
    required,
    isRoot: Effect.succeed(root),
    reexecUnderSudo: () => Effect.succeed(sudoExitCode),
  })
