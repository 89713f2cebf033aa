/**
 * Embedding example 3 (docs/embedding.md): mount `status`, `start`, `stop`
 * and `restart` under a command of another @effect/cli program, e.g. the
 * packaged Tamanu CLI's `tamanu-ops lifecycle restart api`.
 */
import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { lifecycleCommands } from "@tamanu-lifecycle/cli"
import { Effect } from "effect"

const lifecycle = Command.make("lifecycle").pipe(
  Command.withDescription("Look at and drive this server's processes"),
  Command.withSubcommands(lifecycleCommands),
)

export const opsCommand = Command.make("tamanu-ops").pipe(Command.withSubcommands([lifecycle]))

export const runOps = (argv: ReadonlyArray<string>) =>
  Command.run(opsCommand, { name: "tamanu-ops", version: "1.0.0" })(argv).pipe(Effect.provide(NodeContext.layer))
