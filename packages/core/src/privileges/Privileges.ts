/**
 * Privileges (spec §10): mutating commands on the system systemd manager
 * need root; when not root, the same command line is re-run under sudo and
 * its exit status becomes ours. Decided after "nothing to do", never for
 * status, --dry-run, the user manager or pm2.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import { Context, Effect, Either, Layer, Schema } from "effect"
import { commandLine, type Invocation, programOf } from "./invocation.js"
import { trustedPath } from "./trustedPath.js"

export class SudoFailed extends Schema.TaggedError<SudoFailed>()("SudoFailed", {
  message: Schema.String,
}) {}

export interface PrivilegesShape {
  /** Whether mutating this host needs root at all (the system systemd manager). */
  readonly required: boolean
  readonly isRoot: Effect.Effect<boolean>
  /** Re-run `invocation` (its program and exactly its arguments) under sudo; the child's exit code. */
  readonly reexecUnderSudo: (invocation: Invocation) => Effect.Effect<number, SudoFailed>
}

export class Privileges extends Context.Tag("@tamanu-lifecycle/core/Privileges")<Privileges, PrivilegesShape>() {}

/**
 * sudo's argv for re-running `invocation`: `--` so nothing in it is read as
 * a sudo option, then exactly its command line. Nothing goes through sudo's
 * environment (no `--preserve-env`): the settings that came from the
 * environment are options in `invocation.args` (the CLI's carried
 * settings), so a plain `NOPASSWD` rule for the tamanu command is enough,
 * and a rule never needs `SETENV`, which would let the caller hand root any
 * environment (`NODE_OPTIONS=--require=…` runs any code as root).
 */
export const sudoArgv = (invocation: Invocation): ReadonlyArray<string> => ["--", ...commandLine(invocation)]

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

/** A word of a sudoers `Cmnd`: its special characters (and spaces) escaped with a backslash. */
const sudoersWord = (word: string): string => word.replace(/[\\,:= \t]/g, (c) => `\\${c}`)

/**
 * The sudoers rule that lets this user re-run tamanu without a password: the
 * program (the executable, and the script a Node executable runs) by its
 * full path, any arguments, and never `SETENV`.
 */
export const suggestedSudoersRule = (user: string, invocation: Invocation): string =>
  `${user} ALL=(root) NOPASSWD: ${programOf(invocation).map(sudoersWord).join(" ")} *`

/**
 * Why no rule can safely name this program, or null: a rule that names a
 * file the operator can change (or a directory on its way) hands them root.
 * `trust(path)` is `trustedPath` for the operator's uid.
 */
export const unsafeProgram = (invocation: Invocation, trust: (path: string) => string | null): string | null => {
  for (const file of programOf(invocation)) {
    const why = trust(file)
    if (why !== null) return `${file}: ${why}`
  }
  return null
}

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
 * rule that would (unless the program is one the operator can change: then
 * no rule is safe, and the message says why), and change nothing. The
 * re-run itself is then `sudo -n`.
 */
export const PrivilegesLive = (required: boolean, options: PrivilegesLiveOptions = {}): Layer.Layer<Privileges> =>
  Layer.succeed(Privileges, {
    required,
    isRoot: Effect.sync(() => typeof process.getuid === "function" && process.getuid() === 0),
    reexecUnderSudo: (invocation) =>
      Effect.gen(function* () {
        if (underSudo(process.env))
          return yield* Effect.fail(new SudoFailed({ message: "already re-run under sudo and still not root" }))
        const sudo = options.sudo ?? "sudo"
        const args = sudoArgv(invocation)
        if (options.terminal ?? hasControllingTerminal()) return (yield* runSudo(sudo, args, "inherit")).code
        const allowed = yield* runSudo(sudo, ["-n", "-l", ...args], "keep")
        if (allowed.code !== 0) {
          const user = os.userInfo().username
          const said = allowed.stderr
            .trim()
            .split("\n")
            .filter((l) => l.trim() !== "")
            .at(-1)
          // Judged for this user, who would be the rule's operator (root needs no rule: nothing to judge).
          const uid = typeof process.getuid === "function" ? process.getuid() : 0
          const unsafe =
            uid === 0
              ? null
              : unsafeProgram(invocation, (file) =>
                  Either.match(trustedPath("program", file, uid, "file"), {
                    onLeft: (e) => e.reason,
                    onRight: () => null,
                  }),
                )
          return yield* Effect.fail(
            new SudoFailed({
              message: `there is no terminal to ask for a password on, and sudo does not let ${user} run it without one (${
                said ?? `sudo -n -l exited ${allowed.code}`
              }); ${
                unsafe === null
                  ? `a sudoers rule that would: \`${suggestedSudoersRule(user, invocation)}\``
                  : `no sudoers rule can safely name this tamanu, since ${user} could change what it runs (${unsafe}): install tamanu (and the node it runs on) in directories only root can write, and name those in the rule`
              }`,
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
