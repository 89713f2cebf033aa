/**
 * Where to probe an instance for readiness (spec §8): the podman container's
 * address on systemd, the process's PORT on pm2. `None` means no probe URL
 * could be built by one look.
 *
 * A podman container may appear only after its unit is active (a
 * `Type=simple` unit running `podman run` in the foreground) or be replaced
 * under it: targets that can find an address later say so with `lookup`,
 * and the callers look again on a Schedule until the instance's probe budget
 * runs out (probe/locate.ts). Discovery of many instances is `urlsFor`: one
 * podman ps and one podman inspect for all of them; `targetsFor` reads what
 * each runs from the same two calls (issue #22).
 */
import { Context, Effect, Option } from "effect"
import { displayInstance, type InstanceRef } from "../model/instance.js"

/** Where an instance serves and what it runs, from one look-up (issue #22). */
export interface InstanceTarget {
  readonly url: Option.Option<string>
  /** The image's version label or tag (podman), the release directory (pm2); None when nothing says. */
  readonly version: Option.Option<string>
  /** Why the version is unknown, when the look-up can say (`image … has no … label and its tag "latest" …`). */
  readonly versionProblem: string | null
}

export interface ProbeTargetsShape {
  /** One look; a miss is logged as a warning (once per message). */
  readonly urlFor: (ref: InstanceRef) => Effect.Effect<Option.Option<string>>
  /**
   * One look without a warning: the URL, or why there is none now, and
   * whether looking again may find one (podman: the container may not exist
   * yet, or be being replaced). Absent: `urlFor`, whose miss is final (pm2's PORT).
   */
  readonly lookup?: (ref: InstanceRef) => Effect.Effect<string, LookupMiss>
  /**
   * The URLs of many instances in one go, by display name (an instance
   * without one is left out). Absent: one `urlFor` each, all at once.
   */
  readonly urlsFor?: (refs: ReadonlyArray<InstanceRef>) => Effect.Effect<ReadonlyMap<string, string>>
  /**
   * The URL and the running version of many instances, by display name (every
   * one asked about), from the same calls as `urlsFor` (one `podman ps` + one
   * `podman inspect`; one pm2 list), so `status` reads both without an extra
   * call per instance (issue #22). Absent: no version is known (`targetsOf`
   * then asks `urlsOf` alone).
   */
  readonly targetsFor?: (refs: ReadonlyArray<InstanceRef>) => Effect.Effect<ReadonlyMap<string, InstanceTarget>>
  /**
   * Why this process cannot see where any instance is, when it cannot: the
   * system manager's podman containers are root's, and rootless podman in a
   * run that is not root lists only its own (none). Absent when it can.
   * `status` then shows Caddy's routes without matching them to instances,
   * rather than flag every address as one no running instance has.
   */
  readonly unavailable?: string
}

/** Why one look found no URL; `final`: looking again cannot help. */
export interface LookupMiss {
  readonly reason: string
  readonly final: boolean
}

export class ProbeTargets extends Context.Tag("@tamanu-lifecycle/core/ProbeTargets")<
  ProbeTargets,
  ProbeTargetsShape
>() {}

/** One quiet look: the targets' own `lookup`, else `urlFor` (whose miss is final). */
export const lookupOnce = (targets: ProbeTargetsShape, ref: InstanceRef): Effect.Effect<string, LookupMiss> =>
  targets.lookup !== undefined
    ? targets.lookup(ref)
    : Effect.flatMap(
        targets.urlFor(ref),
        Option.match({
          onNone: () => Effect.fail({ reason: "no probe URL could be built", final: true }),
          onSome: Effect.succeed,
        }),
      )

/** The URLs of these instances, by display name: the targets' batch look-up, else one `urlFor` each, all at once. */
export const urlsOf = (
  targets: ProbeTargetsShape,
  refs: ReadonlyArray<InstanceRef>,
): Effect.Effect<ReadonlyMap<string, string>> =>
  refs.length === 0
    ? Effect.succeed(new Map())
    : targets.urlsFor !== undefined
      ? targets.urlsFor(refs)
      : Effect.map(
          Effect.forEach(
            refs,
            (ref) =>
              Effect.map(targets.urlFor(ref), (url) => Option.map(url, (u) => [displayInstance(ref), u] as const)),
            { concurrency: "unbounded" },
          ),
          (found) => new Map(found.flatMap(Option.toArray)),
        )

/**
 * Where each of these instances serves and what it runs, by display name
 * (every one of them): the targets' `targetsFor`, else `urlsOf` with unknown
 * versions where the targets know no versions.
 */
export const targetsOf = (
  targets: ProbeTargetsShape,
  refs: ReadonlyArray<InstanceRef>,
): Effect.Effect<ReadonlyMap<string, InstanceTarget>> =>
  refs.length === 0
    ? Effect.succeed(new Map())
    : targets.targetsFor !== undefined
      ? targets.targetsFor(refs)
      : Effect.map(
          urlsOf(targets, refs),
          (urls) =>
            new Map(
              refs.map((ref) => [
                displayInstance(ref),
                {
                  url: Option.fromNullable(urls.get(displayInstance(ref))),
                  version: Option.none(),
                  versionProblem: null,
                },
              ]),
            ),
        )

/** One instance's URL and version (`targetsOf` for one: podman's two calls). */
/** An instance no look-up found: no address, no version. */
export const noTarget: InstanceTarget = { url: Option.none(), version: Option.none(), versionProblem: null }

export const lookupTarget = (targets: ProbeTargetsShape, ref: InstanceRef): Effect.Effect<InstanceTarget> =>
  Effect.map(targetsOf(targets, [ref]), (found) => found.get(displayInstance(ref)) ?? noTarget)
