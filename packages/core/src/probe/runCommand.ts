/**
 * Run a helper program (podman, systemctl, resolvectl, caddy) and keep what
 * it said. A non-zero exit is a result, not an error: the callers turn it
 * into a warning or a `None`. Only "could not run it at all" (missing
 * executable, killed, too slow) is `CommandFailed`.
 */
import { Command, type CommandExecutor } from "@effect/platform"
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Data, Duration, Effect, Layer, Stream } from "effect"

export interface CommandResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

export class CommandFailed extends Data.TaggedError("CommandFailed")<{
  /** The command line, for the operator. */
  readonly command: string
  /** Not found, timed out, killed by a signal, … */
  readonly reason: string
}> {}

export interface RunOptions {
  /** Added to the caller's environment. */
  readonly env?: Readonly<Record<string, string>>
  /** Default 30 s: a wedged podman or systemctl must not hang an operation. */
  readonly timeout?: Duration.DurationInput
}

const collect = <E>(stream: Stream.Stream<Uint8Array, E>) => stream.pipe(Stream.decodeText(), Stream.mkString)

/** `ENOENT` from spawn reads as "not found"; anything else keeps its message. */
const reasonOf = (error: { readonly message: string }): string =>
  /ENOENT|NotFound/.test(error.message) ? "not found" : error.message

export const runCommand = (
  command: string,
  args: ReadonlyArray<string>,
  options: RunOptions = {},
): Effect.Effect<CommandResult, CommandFailed, CommandExecutor.CommandExecutor> => {
  const line = [command, ...args].join(" ")
  const timeout = Duration.decode(options.timeout ?? Duration.seconds(30))
  const cmd = Command.make(command, ...args).pipe(Command.env(options.env ?? {}))
  return Effect.scoped(
    Effect.gen(function* () {
      const proc = yield* Command.start(cmd)
      const [stdout, stderr, exitCode] = yield* Effect.all(
        [collect(proc.stdout), collect(proc.stderr), proc.exitCode],
        {
          concurrency: "unbounded",
        },
      )
      return { exitCode, stdout, stderr }
    }),
  ).pipe(
    Effect.mapError((error) => new CommandFailed({ command: line, reason: reasonOf(error) })),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new CommandFailed({ command: line, reason: `timed out after ${Duration.format(timeout)}` }),
    }),
  )
}

/** Node's process spawning, for the live layers. */
export const NodeCommandLayer: Layer.Layer<CommandExecutor.CommandExecutor> = NodeCommandExecutor.layer.pipe(
  Layer.provide(NodeFileSystem.layer),
)
