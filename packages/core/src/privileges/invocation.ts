/**
 * How this process was started, and the command line that runs it again
 * under sudo (spec §10): the same program with exactly the arguments it was
 * given, plus the settings that came from the environment, as options.
 *
 * The program is either a Node executable running a script (`/usr/bin/node
 * /usr/local/bin/tamanu`) or a single executable (a Node SEA, where
 * `process.argv[0]` and `[1]` both name the executable): the argument list
 * is kept apart from it, so the re-run never repeats the executable as an
 * argument and a sudoers rule can name exactly the program.
 */

export interface Invocation {
  /** The executable: `process.execPath`. */
  readonly executable: string
  /** The script a Node executable runs (`process.argv[1]`); null for a single executable. */
  readonly script: string | null
  /** The arguments the operator gave, exactly (`process.argv.slice(2)`). */
  readonly args: ReadonlyArray<string>
}

/** The program part of the command line: what a sudoers rule names. */
export const programOf = (invocation: Invocation): ReadonlyArray<string> =>
  invocation.script === null ? [invocation.executable] : [invocation.executable, invocation.script]

/** The whole command line, program first. */
export const commandLine = (invocation: Invocation): ReadonlyArray<string> => [
  ...programOf(invocation),
  ...invocation.args,
]

/**
 * The same invocation with `options` added to its arguments: before the
 * first `--` (after it, every argument is a NAME), else at the end. Options
 * are read wherever they stand among a command's arguments, so this keeps
 * the meaning of everything the operator typed.
 */
export const withOptions = (invocation: Invocation, options: ReadonlyArray<string>): Invocation => {
  if (options.length === 0) return invocation
  const end = invocation.args.indexOf("--")
  const args =
    end === -1
      ? [...invocation.args, ...options]
      : [...invocation.args.slice(0, end), ...options, ...invocation.args.slice(end)]
  return { ...invocation, args }
}

/**
 * An invocation from a process's own facts: a single executable has no
 * script (its `argv[1]` is the executable again); a Node executable's
 * script is `argv[1]`, already an absolute path.
 */
export const invocationOf = (facts: {
  readonly execPath: string
  readonly argv: ReadonlyArray<string>
  readonly singleExecutable: boolean
}): Invocation => ({
  executable: facts.execPath,
  script: facts.singleExecutable ? null : (facts.argv[1] ?? null),
  args: facts.argv.slice(2),
})

/** Whether this process is a Node single executable (`node:sea`, Node 20.16+ for `getBuiltinModule`). */
export const isSingleExecutable = (): boolean => {
  const sea = process.getBuiltinModule?.("node:sea") as { readonly isSea?: () => boolean } | undefined
  return sea?.isSea?.() ?? false
}

/** This process's invocation. */
export const currentInvocation = (): Invocation =>
  invocationOf({ execPath: process.execPath, argv: process.argv, singleExecutable: isSingleExecutable() })
