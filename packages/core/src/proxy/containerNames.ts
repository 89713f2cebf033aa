/**
 * The name a pin may give an instance (spec §9, issue #25): its podman
 * container's name. aardvark-dns answers a container's name on its network
 * with that container's address only, and a unit's container keeps its
 * name when it restarts (`podman run --name … --replace`), so a pin naming
 * it follows the instance to its new address, where a pin naming the
 * address would send Caddy to a dead one.
 *
 * The caller checks that the name resolves, through the handler's own
 * resolvers, to the instance's address before a pin names it
 * (`nameFits`): a random podman name, or a name another network answers
 * differently, never becomes a pin.
 */
import type { CommandExecutor } from "@effect/platform"
import { Effect, Either, Option, Schema } from "effect"
import { runCommand } from "../probe/runCommand.js"

const PsEntry = Schema.Struct({
  Names: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  State: Schema.optional(Schema.String),
})
const PsOutput = Schema.parseJson(Schema.NullOr(Schema.Array(PsEntry)))

/** The name of the running container in `podman ps --format json` output (the first one listed), if any. */
export const containerNameFromPs = (stdout: string): Option.Option<string> =>
  Either.match(Schema.decodeUnknownEither(PsOutput)(stdout), {
    onLeft: () => Option.none(),
    onRight: (entries) => {
      const all = entries ?? []
      const running = all.find((e) => e.State === undefined || e.State === "running") ?? all[0]
      return Option.fromNullable(running?.Names?.[0]).pipe(Option.filter((n) => /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(n)))
    },
  })

/** The systemd unit of a systemd instance's display name (`tamanu-frontend@a` → `tamanu-frontend@a.service`); None for pm2's `name#id`. */
export const unitOfInstance = (instance: string): Option.Option<string> =>
  instance.includes("#") || instance === "" ? Option.none() : Option.some(`${instance}.service`)

/**
 * Whether a pin may name `name` for an instance at `address` (`10.89.0.5:3000`):
 * the name's answer through the handler's resolvers is exactly that address.
 * An empty answer (no such name), or one with another address (a stale
 * record, another container), is a no: the pin names the address.
 */
export const nameFits = (address: string, answers: ReadonlyArray<string>): boolean =>
  answers.length > 0 && answers.every((a) => a === address)

/** A podman container name per instance display name, from `podman ps --filter label=PODMAN_SYSTEMD_UNIT=<unit>`. */
export const podmanContainerName =
  (podman = "podman") =>
  (instance: string): Effect.Effect<Option.Option<string>, never, CommandExecutor.CommandExecutor> =>
    Option.match(unitOfInstance(instance), {
      onNone: () => Effect.succeed(Option.none<string>()),
      onSome: (unit) =>
        runCommand(podman, ["ps", "--filter", `label=PODMAN_SYSTEMD_UNIT=${unit}`, "--format", "json"], {
          timeout: "10 seconds",
        }).pipe(
          Effect.map((r) => (r.exitCode === 0 ? containerNameFromPs(r.stdout) : Option.none<string>())),
          Effect.orElseSucceed(() => Option.none<string>()),
        ),
    })
