/**
 * Probe URLs for systemd instances (spec §8). Tamanu's units run podman
 * containers; podman labels each one with the unit that owns it
 * (`PODMAN_SYSTEMD_UNIT`), and the container's bridge address is where the
 * app listens (port 3000). Every way this can go wrong (podman missing, no
 * container, no address) is `None` plus a logged warning: the roll then
 * falls back to the cooldown instead of failing.
 */
import type { CommandExecutor } from "@effect/platform"
import { Effect, Either, Layer, Option, ParseResult, Schema } from "effect"
import { displayInstance, type InstanceRef, unitName } from "../model/instance.js"
import { warningOnce } from "../util/logging.js"
import { ProbeTargets, type ProbeTargetsShape } from "./ProbeTargets.js"
import { NodeCommandLayer, runCommand } from "./runCommand.js"

/** The part of one `podman ps --format json` entry we read. */
const PsEntry = Schema.Struct({
  Id: Schema.String,
  State: Schema.optional(Schema.String),
})

/** `podman ps --format json` prints `null` instead of `[]` on some 3.x/4.x builds. */
const PsOutput = Schema.parseJson(Schema.NullOr(Schema.Array(PsEntry)))

const Network = Schema.Struct({ IPAddress: Schema.optional(Schema.NullOr(Schema.String)) })

const InspectEntry = Schema.Struct({
  NetworkSettings: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        Networks: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Network }))),
      }),
    ),
  ),
})

const InspectOutput = Schema.parseJson(Schema.Array(InspectEntry))

const describeParseError = (e: ParseResult.ParseError): string => ParseResult.TreeFormatter.formatErrorSync(e)

/**
 * The container to probe: the first running one, else the first listed
 * (`podman ps` lists running containers only unless asked otherwise).
 */
export const containerIdFromPs = (stdout: string): Either.Either<Option.Option<string>, string> =>
  Schema.decodeUnknownEither(PsOutput)(stdout).pipe(
    Either.mapLeft(describeParseError),
    Either.map((entries) => {
      const all = entries ?? []
      const running = all.find((e) => e.State === undefined || e.State === "running")
      return Option.fromNullable((running ?? all[0])?.Id).pipe(Option.filter((id) => id.length > 0))
    }),
  )

/** The first non-empty `NetworkSettings.Networks.*.IPAddress`, in podman's order. */
export const ipFromInspect = (stdout: string): Either.Either<Option.Option<string>, string> =>
  Schema.decodeUnknownEither(InspectOutput)(stdout).pipe(
    Either.mapLeft(describeParseError),
    Either.map((entries) => {
      const networks = entries[0]?.NetworkSettings?.Networks ?? {}
      return Option.fromNullable(
        Object.values(networks)
          .map((n) => n.IPAddress ?? "")
          .find((ip) => ip.length > 0),
      )
    }),
  )

/** `http://<ip>:<port>/`, bracketing IPv6 addresses. */
export const containerUrl = (ip: string, port = 3000): string =>
  ip.includes(":") ? `http://[${ip}]:${port}/` : `http://${ip}:${port}/`

export interface PodmanProbeTargetsOptions {
  /** The podman executable (default `podman` on PATH). */
  readonly podmanPath?: string
  /** Where Tamanu listens inside the container (default 3000). */
  readonly port?: number
  /**
   * The containers are root's (the system manager's units run rootful
   * podman). A run that is not root then has no URL for any instance and
   * does not ask podman: rootless podman would list the caller's own
   * containers (none) or fail, once per instance.
   */
  readonly rootful?: boolean
  /** Whether this process is root (default: its effective uid is 0). */
  readonly isRoot?: boolean
}

/** What a run that is not root is told about the system manager's containers. */
export const rootfulContainersUnseen =
  "the Tamanu units' podman containers are root's, and this run is not root (sudo tamanu status shows them)"

export const makePodmanProbeTargets = (
  options: PodmanProbeTargetsOptions = {},
): Effect.Effect<ProbeTargetsShape, never, CommandExecutor.CommandExecutor> =>
  Effect.map(Effect.context<CommandExecutor.CommandExecutor>(), (context) => {
    const podman = options.podmanPath ?? "podman"
    const warn = warningOnce()

    /** Run podman; a failure to run or a non-zero exit becomes a warning reason. */
    const run = (args: ReadonlyArray<string>) =>
      runCommand(podman, args).pipe(
        Effect.mapError((e) => `${e.command}: ${e.reason}`),
        Effect.filterOrFail(
          (r) => r.exitCode === 0,
          (r) => `${podman} ${args.join(" ")} exited ${r.exitCode}: ${r.stderr.trim()}`,
        ),
        Effect.map((r) => r.stdout),
      )

    const orWarn = <A>(either: Either.Either<Option.Option<A>, string>, what: string) =>
      Either.match(either, {
        onLeft: (e) => Effect.fail(`could not read ${what}: ${e}`),
        onRight: Effect.succeed,
      })

    const isRoot = options.isRoot ?? (typeof process.getuid === "function" && process.getuid() === 0)
    if (options.rootful === true && !isRoot)
      return { urlFor: () => Effect.succeed(Option.none()), unavailable: rootfulContainersUnseen }

    const urlFor = (ref: InstanceRef): Effect.Effect<Option.Option<string>> => {
      const unit = unitName(ref)
      return Effect.gen(function* () {
        const ps = yield* run(["ps", "--filter", `label=PODMAN_SYSTEMD_UNIT=${unit}`, "--format", "json"])
        const id = yield* orWarn(containerIdFromPs(ps), "podman ps output")
        if (Option.isNone(id)) return yield* Effect.fail(`no running podman container for ${unit}`)
        const inspect = yield* run(["inspect", id.value])
        const ip = yield* orWarn(ipFromInspect(inspect), "podman inspect output")
        if (Option.isNone(ip))
          return yield* Effect.fail(`container ${id.value.slice(0, 12)} of ${unit} has no IP address`)
        return Option.some(containerUrl(ip.value, options.port))
      }).pipe(
        Effect.catchAll((why) =>
          warn(`no probe URL for ${displayInstance(ref)}: ${why}`).pipe(Effect.as(Option.none<string>())),
        ),
        Effect.provide(context),
      )
    }
    return { urlFor }
  })

/** Probe targets from podman, for the systemd supervisor. */
export const PodmanProbeTargetsLive = (options: PodmanProbeTargetsOptions = {}): Layer.Layer<ProbeTargets> =>
  Layer.effect(ProbeTargets, makePodmanProbeTargets(options)).pipe(Layer.provide(NodeCommandLayer))

/**
 * Fixed URLs keyed by `displayInstance` (`name@suffix`, `name#pm_id`, or the
 * bare name); an instance not in the map has no probe URL.
 */
export const StaticProbeTargets = (urls: Readonly<Record<string, string>>): Layer.Layer<ProbeTargets> =>
  Layer.succeed(ProbeTargets, {
    urlFor: (ref) => Effect.succeed(Option.fromNullable(urls[displayInstance(ref)])),
  })

/** URLs computed from the instance, e.g. `127.0.0.1:<port of suffix>` in the test harnesses; null = no URL. */
export const TemplateProbeTargets = (template: (ref: InstanceRef) => string | null): Layer.Layer<ProbeTargets> =>
  Layer.succeed(ProbeTargets, { urlFor: (ref) => Effect.succeed(Option.fromNullable(template(ref))) })
