/**
 * Probe URLs for systemd instances (spec §8). Tamanu's units run podman
 * containers; podman labels each one with the unit that owns it
 * (`PODMAN_SYSTEMD_UNIT`), and the container's bridge address is where the
 * app listens (port 3000). Every way this can go wrong (podman missing, no
 * container, no address) is `None` plus a logged warning for `urlFor`, and
 * the reason for `lookup`, which the roll, start and the restore's check
 * call again on a Schedule until the instance's probe budget runs out: a
 * `Type=simple` unit is active before its container exists.
 *
 * Discovery of many instances (`urlsFor`) costs two podman calls whatever
 * their number: one `podman ps` of every container carrying the label, one
 * `podman inspect` of those that belong to the units asked about. The same
 * two calls say what each container runs (`targetsFor`, issue #22): its
 * image's version label, else a version in its tag (probe/containerVersion.ts).
 */
import type { CommandExecutor } from "@effect/platform"
import { Effect, Either, Layer, Option, ParseResult, Schema } from "effect"
import { displayInstance, type InstanceRef, unitName } from "../model/instance.js"
import { warningOnce } from "../util/logging.js"
import { containerVersion, InspectVersionFields, PsVersionFields } from "./containerVersion.js"
import { type InstanceTarget, type LookupMiss, ProbeTargets, type ProbeTargetsShape } from "./ProbeTargets.js"
import { NodeCommandLayer, runCommand } from "./runCommand.js"

/** The part of one `podman ps --format json` entry we read: its labels name its unit and may carry its version. */
const PsEntry = Schema.Struct({
  Id: Schema.String,
  State: Schema.optional(Schema.String),
  ...PsVersionFields,
})
type PsEntry = typeof PsEntry.Type

/** `podman ps --format json` prints `null` instead of `[]` on some 3.x/4.x builds. */
const PsOutput = Schema.parseJson(Schema.NullOr(Schema.Array(PsEntry)))

const Network = Schema.Struct({ IPAddress: Schema.optional(Schema.NullOr(Schema.String)) })

const InspectEntry = Schema.Struct({
  Id: Schema.optional(Schema.String),
  ...InspectVersionFields,
  NetworkSettings: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        Networks: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Network }))),
      }),
    ),
  ),
})
type InspectEntry = typeof InspectEntry.Type

const InspectOutput = Schema.parseJson(Schema.Array(InspectEntry))

const describeParseError = (e: ParseResult.ParseError): string => ParseResult.TreeFormatter.formatErrorSync(e)

/**
 * The container to probe: the first running one, else the first listed
 * (`podman ps` lists running containers only unless asked otherwise).
 */
export const containerFromPs = (stdout: string): Either.Either<Option.Option<PsEntry>, string> =>
  Schema.decodeUnknownEither(PsOutput)(stdout).pipe(
    Either.mapLeft(describeParseError),
    Either.map((entries) => {
      const all = entries ?? []
      const running = all.find((e) => e.State === undefined || e.State === "running")
      return Option.fromNullable(running ?? all[0]).pipe(Option.filter((e) => e.Id.length > 0))
    }),
  )

/** The id of the container to probe (see `containerFromPs`). */
export const containerIdFromPs = (stdout: string): Either.Either<Option.Option<string>, string> =>
  Either.map(
    containerFromPs(stdout),
    Option.map((e) => e.Id),
  )

/** The first inspected container (its address and version fields). */
export const containerFromInspect = (stdout: string): Either.Either<InspectEntry | undefined, string> =>
  Schema.decodeUnknownEither(InspectOutput)(stdout).pipe(
    Either.mapLeft(describeParseError),
    Either.map((entries) => entries[0]),
  )

/** The label podman puts on a container run by a systemd unit: the unit's name. */
export const unitLabel = "PODMAN_SYSTEMD_UNIT"

/** The first non-empty `NetworkSettings.Networks.*.IPAddress` of one inspect entry, in podman's order. */
const ipOf = (entry: InspectEntry | undefined): Option.Option<string> =>
  Option.fromNullable(
    Object.values(entry?.NetworkSettings?.Networks ?? {})
      .map((n) => n.IPAddress ?? "")
      .find((ip) => ip.length > 0),
  )

/** The first non-empty `NetworkSettings.Networks.*.IPAddress`, in podman's order. */
export const ipFromInspect = (stdout: string): Either.Either<Option.Option<string>, string> =>
  Either.map(containerFromInspect(stdout), ipOf)

/**
 * One `podman ps --filter label=PODMAN_SYSTEMD_UNIT` for every unit: the
 * container of each of `units` (unit name → its ps entry), the running one
 * when it has several (one being replaced), else the first listed.
 */
export const containerEntriesByUnit = (
  stdout: string,
  units: ReadonlySet<string>,
): Either.Either<ReadonlyMap<string, PsEntry>, string> =>
  Schema.decodeUnknownEither(PsOutput)(stdout).pipe(
    Either.mapLeft(describeParseError),
    Either.map((entries) => {
      const found = new Map<string, { readonly entry: PsEntry; readonly running: boolean }>()
      for (const e of entries ?? []) {
        const unit = e.Labels?.[unitLabel]
        if (unit === undefined || !units.has(unit) || e.Id.length === 0) continue
        const running = e.State === undefined || e.State === "running"
        const seen = found.get(unit)
        if (seen === undefined || (running && !seen.running)) found.set(unit, { entry: e, running })
      }
      return new Map([...found].map(([unit, c]) => [unit, c.entry]))
    }),
  )

/** `containerEntriesByUnit`'s container Ids (unit name → Id). */
export const containersByUnit = (
  stdout: string,
  units: ReadonlySet<string>,
): Either.Either<ReadonlyMap<string, string>, string> =>
  Either.map(containerEntriesByUnit(stdout, units), (byUnit) => new Map([...byUnit].map(([u, e]) => [u, e.Id])))

/** One `podman inspect` of many containers: each one's entry, by Id (full or as given). */
export const inspectedById = (stdout: string): Either.Either<ReadonlyMap<string, InspectEntry>, string> =>
  Schema.decodeUnknownEither(InspectOutput)(stdout).pipe(
    Either.mapLeft(describeParseError),
    Either.map((entries) => new Map(entries.flatMap((e) => (e.Id === undefined ? [] : [[e.Id, e] as const])))),
  )

/** One `podman inspect` of many containers: each one's address, by Id (full or as given). */
export const ipsFromInspect = (stdout: string): Either.Either<ReadonlyMap<string, string>, string> =>
  Either.map(
    inspectedById(stdout),
    (byId) => new Map([...byId].flatMap(([id, e]) => Option.toArray(Option.map(ipOf(e), (ip) => [id, ip] as const)))),
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

/** A target with neither address nor version, and why. */
const unknownTarget = (why: string): InstanceTarget => ({
  url: Option.none(),
  version: Option.none(),
  versionProblem: why,
})

export const makePodmanProbeTargets = (
  options: PodmanProbeTargetsOptions = {},
): Effect.Effect<ProbeTargetsShape, never, CommandExecutor.CommandExecutor> =>
  Effect.map(Effect.context<CommandExecutor.CommandExecutor>(), (context) => {
    const podman = options.podmanPath ?? "podman"
    const warn = warningOnce()

    /** Whether podman could not be run at all (not installed, not on PATH): looking again cannot help. */
    const podmanMissing = (why: string): boolean => why.startsWith(`${podman} `) && why.endsWith(": not found")

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

    const decoded = <A>(either: Either.Either<A, string>, what: string): Effect.Effect<A, string> =>
      Either.match(either, {
        onLeft: (e) => Effect.fail(`could not read ${what}: ${e}`),
        onRight: Effect.succeed,
      })

    const isRoot = options.isRoot ?? (typeof process.getuid === "function" && process.getuid() === 0)
    if (options.rootful === true && !isRoot)
      return {
        urlFor: () => Effect.succeed(Option.none()),
        targetsFor: (refs) =>
          Effect.succeed(new Map(refs.map((ref) => [displayInstance(ref), unknownTarget(rootfulContainersUnseen)]))),
        unavailable: rootfulContainersUnseen,
      }

    /** One look at one unit's container: two podman calls; fails with why there is no URL now. */
    const lookup = (ref: InstanceRef): Effect.Effect<string, LookupMiss> => {
      const unit = unitName(ref)
      return Effect.gen(function* () {
        const ps = yield* run(["ps", "--filter", `label=${unitLabel}=${unit}`, "--format", "json"])
        const id = yield* decoded(containerIdFromPs(ps), "podman ps output")
        if (Option.isNone(id)) return yield* Effect.fail(`no running podman container labelled ${unitLabel}=${unit}`)
        const inspect = yield* run(["inspect", id.value])
        const ip = yield* decoded(ipFromInspect(inspect), "podman inspect output")
        if (Option.isNone(ip))
          return yield* Effect.fail(`container ${id.value.slice(0, 12)} of ${unit} has no IP address`)
        return containerUrl(ip.value, options.port)
      }).pipe(
        // Podman itself may be held up (its lock), a container may appear or be replaced: look again.
        // A podman that is not there will not be there in 100 ms either.
        Effect.mapError((reason) => ({ reason, final: podmanMissing(reason) })),
        Effect.provide(context),
      )
    }

    const urlFor = (ref: InstanceRef): Effect.Effect<Option.Option<string>> =>
      lookup(ref).pipe(
        Effect.map(Option.some),
        Effect.catchAll((miss) =>
          warn(`no probe URL for ${displayInstance(ref)}: ${miss.reason}`).pipe(Effect.as(Option.none<string>())),
        ),
      )

    /**
     * Many units at once: one `podman ps` of every labelled container, one
     * `podman inspect` of those found; each one's address and what its image
     * says it runs. A container that went between the two calls makes podman
     * inspect exit non-zero but still print the others.
     */
    const targetsFor = (refs: ReadonlyArray<InstanceRef>): Effect.Effect<ReadonlyMap<string, InstanceTarget>> =>
      Effect.gen(function* () {
        if (refs.length === 0) return new Map<string, InstanceTarget>()
        const units = new Map(refs.map((r) => [unitName(r), displayInstance(r)] as const))
        const ps = yield* run(["ps", "--filter", `label=${unitLabel}`, "--format", "json"])
        const byUnit = yield* decoded(containerEntriesByUnit(ps, new Set(units.keys())), "podman ps output")
        const ids = [...new Set([...byUnit.values()].map((e) => e.Id))]
        const inspect =
          ids.length === 0
            ? "[]"
            : yield* runCommand(podman, ["inspect", ...ids]).pipe(
                Effect.mapError((e) => `${e.command}: ${e.reason}`),
                Effect.filterOrFail(
                  (r) => r.exitCode === 0 || r.stdout.trim().startsWith("["),
                  (r) => `${podman} inspect exited ${r.exitCode}: ${r.stderr.trim()}`,
                ),
                Effect.map((r) => r.stdout),
              )
        const byId = yield* decoded(inspectedById(inspect), "podman inspect output")
        const found = new Map<string, InstanceTarget>()
        for (const [unit, instance] of units) {
          const entry = byUnit.get(unit)
          if (entry === undefined) {
            const why = `no running podman container labelled ${unitLabel}=${unit}`
            yield* warn(`no probe URL for ${instance}: ${why}`)
            found.set(instance, unknownTarget(why))
            continue
          }
          const inspected = byId.get(entry.Id)
          const running = containerVersion(entry, inspected)
          const ip = ipOf(inspected)
          if (Option.isNone(ip))
            yield* warn(`no probe URL for ${instance}: container ${entry.Id.slice(0, 12)} of ${unit} has no IP address`)
          found.set(instance, {
            url: Option.map(ip, (at) => containerUrl(at, options.port)),
            version: Option.fromNullable(running.version),
            versionProblem: running.problem,
          })
        }
        return found as ReadonlyMap<string, InstanceTarget>
      }).pipe(
        Effect.catchAll((why) =>
          Effect.forEach(refs, (ref) => warn(`no probe URL for ${displayInstance(ref)}: ${why}`), {
            discard: true,
          }).pipe(
            Effect.as(
              new Map(refs.map((ref) => [displayInstance(ref), unknownTarget(why)])) as ReadonlyMap<
                string,
                InstanceTarget
              >,
            ),
          ),
        ),
        Effect.provide(context),
      )

    /** The addresses alone, from the same two calls. */
    const urlsFor = (refs: ReadonlyArray<InstanceRef>): Effect.Effect<ReadonlyMap<string, string>> =>
      Effect.map(
        targetsFor(refs),
        (targets) =>
          new Map(
            [...targets].flatMap(([instance, t]) => Option.toArray(Option.map(t.url, (u) => [instance, u] as const))),
          ),
      )

    return { urlFor, lookup, urlsFor, targetsFor }
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
