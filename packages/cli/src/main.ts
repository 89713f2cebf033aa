/** The `tamanu` binary's entry point (bundled into dist/tamanu.mjs). */
import { type CliApp, Command } from "@effect/cli"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { currentSudoCaller } from "@tamanu-lifecycle/core/internal"
import { Cause, Console, Effect, Exit, Layer, Logger } from "effect"
import { asksVersion, colorFromArgv, hoistLogLevel, refusedBuiltIn } from "./argv.js"
import { tamanuCommand } from "./commands.js"
import { runRestoreCaddy } from "./handlers.js"
import { colorEnabled, stripAnsi } from "./render/color.js"
import { renderCause, renderError } from "./render/errors.js"
import { stderrLogger } from "./render/logger.js"
import { cliVersion, currentRuntime, versionLine } from "./runtime.js"

/**
 * @effect/cli styles its help and usage errors with ANSI codes whatever the
 * stream is. Colour only on a TTY and never with NO_COLOR, unless `--color`
 * says otherwise: where colour is off, strip it at the stream, so every
 * line we print follows one rule.
 */
const color = colorFromArgv(process.argv)
for (const stream of [process.stdout, process.stderr]) {
  if (colorEnabled(stream, process.env, color)) continue
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: ReadonlyArray<unknown>) => boolean
  stream.write = ((chunk: unknown, ...rest: ReadonlyArray<unknown>) =>
    write(typeof chunk === "string" ? stripAnsi(chunk) : chunk, ...rest)) as typeof stream.write
}

/**
 * Bundled, pm2-axon's `new Buffer()` no longer sits under node_modules, so
 * Node takes it for our code and prints DEP0005 on the operator's stderr at
 * every pm2 connection; Node 24 and later (the executables' Node) also print
 * DEP0169 for its `url.parse()` of the socket's address. Those warnings are
 * about a dependency (our own code calls neither): drop them alone.
 */
const dependencyDeprecations: ReadonlySet<unknown> = new Set(["DEP0005", "DEP0169"])
const emitWarning = process.emitWarning.bind(process)
process.emitWarning = ((warning: string | Error, ...rest: ReadonlyArray<unknown>) => {
  const code = typeof rest[0] === "object" && rest[0] !== null ? (rest[0] as { code?: unknown }).code : rest[1]
  if (dependencyDeprecations.has(code)) return
  ;(emitWarning as (...args: ReadonlyArray<unknown>) => void)(warning, ...rest)
}) as typeof process.emitWarning

/**
 * Exit as soon as what we wrote has reached stdout and stderr. Left to
 * itself, Node would also exit once nothing is pending, but only after
 * tearing down the whole environment and heap first: 10-20 ms at the end of
 * every command, measured. The empty writes complete after every earlier
 * write on the same stream, so nothing printed is lost (pipes on Windows
 * are asynchronous).
 */
const exitOnceFlushed = (code: number): void => {
  let pending = 2
  const done = () => {
    pending -= 1
    if (pending === 0) process.exit(code)
  }
  process.stdout.write("", done)
  process.stderr.write("", done)
}

const cli = Command.run(tamanuCommand, { name: "tamanu", version: cliVersion })

/** Refused before parsing: what @effect/cli would act on before any command's own checks run. */
const refused = refusedBuiltIn(process.argv, currentSudoCaller())

const program = Effect.suspend(
  (): Effect.Effect<void, unknown, CliApp.CliApp.Environment> =>
    refused !== null
      ? Effect.fail(refused).pipe(
          Effect.tapError((error) =>
            Effect.sync(() => process.stderr.write(`tamanu: ${renderError(error).message}\n`)),
          ),
        )
      : // Internal: what a scheduled restore of Caddy's own config runs (issue #25); not in the command tree.
        process.argv[2] === "restore-caddy"
        ? runRestoreCaddy(process.argv.slice(3))
        : asksVersion(process.argv)
          ? Console.log(versionLine(currentRuntime()))
          : cli(hoistLogLevel(process.argv)),
).pipe(
  // @effect/cli has already printed the usage problem: bad usage exits 2 (§12).
  Effect.catchAll(() =>
    Effect.sync(() => {
      process.exitCode = 2
    }),
  ),
  // What @effect/cli needs (CliApp.Environment). NodeContext.layer would add
  // a worker manager nothing here uses, and loading it costs every start.
  // Every log line goes to stderr in the CLI's own format (render/logger.ts),
  // never through Effect's default logger, which wrote to stdout.
  Effect.provide(
    Layer.mergeAll(
      NodeFileSystem.layer,
      NodePath.layer,
      NodeTerminal.layer,
      Logger.replace(Logger.defaultLogger, stderrLogger),
    ),
  ),
)

/**
 * Which signal interrupted the command, for its exit status: 130 for Ctrl+C
 * (SIGINT), 143 for SIGTERM, as a shell reports them. runMain turns both
 * into an interruption of the main fiber; this only remembers which.
 */
let interruptedBy: "SIGINT" | "SIGTERM" = "SIGINT"
process.once("SIGTERM", () => {
  interruptedBy = "SIGTERM"
})

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  // runMain would put its pretty logger (clock time, `WARN`, fiber id, on stdout) in the default's place.
  disablePrettyLogger: true,
  teardown: (exit, onExit) => {
    // A defect (a bug, not a typed error) is said in one paragraph and exits 1; an interruption
    // exits 130 (Ctrl+C) or 143 (SIGTERM), having said what was and was not done through its events.
    if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
      process.stderr.write(`tamanu: ${renderCause(exit.cause).message}\n`)
      process.exitCode = 1
    }
    const code = Exit.isSuccess(exit)
      ? typeof process.exitCode === "number"
        ? process.exitCode
        : 0
      : typeof process.exitCode === "number" && process.exitCode !== 0
        ? process.exitCode
        : interruptedBy === "SIGTERM"
          ? 143
          : 130
    onExit(code)
    exitOnceFlushed(code)
  },
})
