/** The `tamanu` binary's entry point (bundled into dist/tamanu.mjs). */
import { Command } from "@effect/cli"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { Effect, Exit, Layer } from "effect"
import { tamanuCommand } from "./commands.js"
import { colorEnabled, stripAnsi } from "./render/color.js"

/**
 * @effect/cli styles its help and usage errors with ANSI codes whatever the
 * stream is. Colour only on a TTY and never with NO_COLOR: where colour is
 * off, strip it at the stream, so every line we print follows one rule.
 */
for (const stream of [process.stdout, process.stderr]) {
  if (colorEnabled(stream, process.env)) continue
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: ReadonlyArray<unknown>) => boolean
  stream.write = ((chunk: unknown, ...rest: ReadonlyArray<unknown>) =>
    write(typeof chunk === "string" ? stripAnsi(chunk) : chunk, ...rest)) as typeof stream.write
}

/**
 * Bundled, pm2-axon's `new Buffer()` no longer sits under node_modules, so
 * Node takes it for our code and prints DEP0005 on the operator's stderr at
 * every pm2 connection. That warning is about a dependency: drop it alone.
 */
const emitWarning = process.emitWarning.bind(process)
process.emitWarning = ((warning: string | Error, ...rest: ReadonlyArray<unknown>) => {
  const code = typeof rest[0] === "object" && rest[0] !== null ? (rest[0] as { code?: unknown }).code : rest[1]
  if (code === "DEP0005") return
  ;(emitWarning as (...args: ReadonlyArray<unknown>) => void)(warning, ...rest)
}) as typeof process.emitWarning

const cli = Command.run(tamanuCommand, { name: "tamanu", version: "0.1.0" })

const program = Effect.suspend(() => cli(process.argv)).pipe(
  // @effect/cli has already printed the usage problem: bad usage exits 2 (§12).
  Effect.catchAll(() =>
    Effect.sync(() => {
      process.exitCode = 2
    }),
  ),
  // What @effect/cli needs (CliApp.Environment). NodeContext.layer would add
  // a worker manager nothing here uses, and loading it costs every start.
  Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)),
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit)) onExit(typeof process.exitCode === "number" ? process.exitCode : 0)
    else onExit(typeof process.exitCode === "number" && process.exitCode !== 0 ? process.exitCode : 130)
  },
})
