/**
 * Probe URLs for tests: a static map by display name, the pm2 `PORT` of the
 * fake pm2's processes, and `FakeReadiness`, which wires targets and a tied
 * prober for a set of instances in one layer.
 */

import {
  containerVersion,
  displayInstance,
  type InstanceRef,
  type InstanceTarget,
  type LookupMiss,
  type Prober,
  ProbeTargets,
  type ProbeTargetsShape,
  unitName,
} from "@tamanu-lifecycle/core/internal"
import { Clock, Context, Duration, Effect, Layer, Option, Ref } from "effect"
import { FakeSupervisorControl } from "../supervisor/FakeSupervisor.js"
import { FakeProber, type FakeProberControl, type ProbeOutcome } from "./FakeProber.js"

/**
 * Where each instance really serves now, whatever a lookup finds: what the
 * network alias resolves to (aardvark-dns answers for a container with no
 * `PODMAN_SYSTEMD_UNIT` label too). The fake Caddy reads it when present.
 */
export class FakeNetwork extends Context.Tag("@tamanu-lifecycle/testing/FakeNetwork")<
  FakeNetwork,
  { readonly addressOf: (ref: InstanceRef) => Effect.Effect<Option.Option<string>> }
>() {}

export const FakeProbeTargets = {
  /** URL by display name (`tamanu-facility-api@1`, `tamanu-api#0`); others have none. */
  layer: (urls: Readonly<Record<string, string>>): Layer.Layer<ProbeTargets> =>
    Layer.succeed(ProbeTargets, {
      urlFor: (ref) => Effect.succeed(Option.fromNullable(urls[displayInstance(ref)])),
    }),
  /** `http://127.0.0.1:<PORT>/` from the fake pm2's process environment, as the pm2 adapter does (§8). */
  pm2Ports: Layer.effect(
    ProbeTargets,
    Effect.map(FakeSupervisorControl, (control) => ({
      urlFor: (ref: InstanceRef) =>
        Effect.map(control.instances, (instances) =>
          Option.fromNullable(
            instances.find((i) => i.name === ref.name && ref.pmId !== null && i.pmId === ref.pmId)?.port,
          ).pipe(Option.map((port) => `http://127.0.0.1:${port}/`)),
        ),
    })),
  ),
}

export interface ReadinessSpec {
  readonly instance: InstanceRef
  /** From becoming running until it answers (default 0). */
  readonly readyAfter?: Duration.DurationInput
  readonly whileStarting?: ProbeOutcome
  /** false: no probe URL can be built for it (the operations fall back to the cooldown). */
  readonly probeable?: boolean
  /**
   * How podman sees its container, with per-start addresses (the unit shapes of linux-host.md).
   * The units running when the world begins have theirs already.
   */
  readonly container?: ContainerSpec
}

export interface ContainerSpec {
  /** The container exists only this long after the unit became running (`Type=simple`: `podman run` in the foreground). */
  readonly foundAfter?: Duration.DurationInput
  /** The container is replaced this long after the unit became running: a new address from then on, the old one gone. */
  readonly replacedAfter?: Duration.DurationInput
  /** false: it carries no `PODMAN_SYSTEMD_UNIT` label, so no lookup ever finds it (it still serves). */
  readonly labelled?: boolean
}

const slug = (ref: InstanceRef): string => displayInstance(ref).replace(/[@#]/g, "-")

/** The fake URL of an instance: `http://<name>-<suffix or pm_id>.test:3000/`. */
export const fakeUrl = (ref: InstanceRef): string => `http://${slug(ref)}.test:3000/`

/** Its address after its `generation`th start, when addresses change at every start (podman). */
export const fakeUrlAt = (ref: InstanceRef, generation: number): string =>
  `http://${slug(ref)}.g${generation}.test:3000/`

/**
 * What the instances run (issue #22), the way a Tamanu host's units take
 * their image tag from the env file: `running` until the instance is started
 * or restarted during the test, `afterStart` from then on (the new tag).
 */
export interface FakeVersions {
  /** By display name (`tamanu-facility-api@1`, `tamanu-api#0`); an instance not here runs an unknown version. */
  readonly running: Readonly<Record<string, string>>
  /** What a start or restart brings up: one version for every instance, or by display name (default: `running`). */
  readonly afterStart?: string | Readonly<Record<string, string>>
  /**
   * By display name: the image its container runs, with no version label
   * (`localhost/tamanu:latest`); the version and the reason it is unknown are
   * what core's `containerVersion` reads from it, as from `podman ps`. Wins
   * over `running` and `afterStart`.
   */
  readonly images?: Readonly<Record<string, string>>
  /**
   * Podman cannot be read at all (a run that is not root on the system
   * manager's rootful containers): every instance has neither address nor
   * version, for this reason (`rootfulContainersUnseen`).
   */
  readonly unreadable?: string
}

const started =
  (journal: ReadonlyArray<{ readonly method: string; readonly refs: ReadonlyArray<InstanceRef> }>) =>
  (ref: InstanceRef): boolean =>
    journal.some(
      (e) =>
        (e.method === "start" || e.method === "restart" || e.method === "restartOne") &&
        e.refs.some(
          (r) =>
            r.name === ref.name &&
            r.suffix === ref.suffix &&
            (r.pmId === null || ref.pmId === null || r.pmId === ref.pmId),
        ),
    )

/**
 * Adds `targetsFor` to probe targets: each instance's URL as before, and the
 * version `versions` says it runs now (podman's batched ps + inspect).
 */
export const withFakeVersions = (
  targets: ProbeTargetsShape,
  versions: FakeVersions,
): Effect.Effect<ProbeTargetsShape, never, FakeSupervisorControl> =>
  Effect.map(FakeSupervisorControl, (control) => ({
    ...targets,
    targetsFor: (refs: ReadonlyArray<InstanceRef>): Effect.Effect<ReadonlyMap<string, InstanceTarget>> =>
      Effect.gen(function* () {
        const restarted = started(yield* control.journal)
        const found = new Map<string, InstanceTarget>()
        for (const ref of refs) {
          const name = displayInstance(ref)
          if (versions.unreadable !== undefined) {
            found.set(name, { url: Option.none(), version: Option.none(), versionProblem: versions.unreadable })
            continue
          }
          const image = versions.images?.[name]
          if (image !== undefined) {
            const read = containerVersion({ Image: image }, null)
            found.set(name, {
              url: yield* targets.urlFor(ref),
              version: Option.fromNullable(read.version),
              versionProblem: read.problem,
            })
            continue
          }
          const url = yield* targets.urlFor(ref)
          const after = versions.afterStart
          const version = !restarted(ref)
            ? versions.running[name]
            : after === undefined
              ? versions.running[name]
              : typeof after === "string"
                ? after
                : after[name]
          found.set(name, {
            url,
            version: Option.fromNullable(version),
            versionProblem: version === undefined ? `no version scripted for ${name}` : null,
          })
        }
        return found
      }),
  }))

export interface FakeReadinessOptions {
  /** What each instance runs; absent: the targets know no versions (no `targetsFor`). */
  readonly versions?: FakeVersions
  /**
   * `fixed` (default): an instance keeps `fakeUrl` for ever (pm2's `PORT`).
   * `per-start`: a new address at every start (`fakeUrlAt`), none while it is
   * down, and an old one answers nothing: podman's IPAM on a Tamanu Linux host.
   */
  readonly addresses?: "fixed" | "per-start"
}

/**
 * ProbeTargets + a Prober tied to the fake supervisor: each instance answers
 * `readyAfter` after it last became running. Provide a FakeSystemd/FakePm2 layer.
 */
export const FakeReadiness = {
  layer: (
    specs: ReadonlyArray<ReadinessSpec>,
    options: FakeReadinessOptions = {},
  ): Layer.Layer<ProbeTargets | Prober | FakeProberControl | FakeNetwork, never, FakeSupervisorControl> => {
    const probeable = specs.filter((s) => s.probeable !== false)
    const scripts = Object.fromEntries(
      probeable.map((s) => [
        fakeUrl(s.instance),
        {
          instance: s.instance,
          readyAfter: s.readyAfter ?? Duration.zero,
          ...(s.whileStarting === undefined ? {} : { whileStarting: s.whileStarting }),
        },
      ]),
    )
    const versioned = (targets: ProbeTargetsShape): Layer.Layer<ProbeTargets, never, FakeSupervisorControl> =>
      options.versions === undefined
        ? Layer.succeed(ProbeTargets, targets)
        : Layer.effect(ProbeTargets, withFakeVersions(targets, options.versions))
    if (options.addresses !== "per-start") {
      const urls: Readonly<Record<string, string>> = Object.fromEntries(
        probeable.map((s) => [displayInstance(s.instance), fakeUrl(s.instance)]),
      )
      const urlFor = (ref: InstanceRef) => Effect.succeed(Option.fromNullable(urls[displayInstance(ref)]))
      return Layer.mergeAll(
        versioned({ urlFor }),
        Layer.succeed(FakeNetwork, { addressOf: urlFor }),
        FakeProber.tied(scripts),
      )
    }
    const known = new Set(probeable.map((s) => displayInstance(s.instance)))
    const containers = new Map(probeable.map((s) => [displayInstance(s.instance), s.container ?? {}]))
    return Layer.unwrapEffect(
      Effect.gen(function* () {
        const control = yield* FakeSupervisorControl
        const generations = yield* Ref.make(new Map<string, { readonly key: string; readonly generation: number }>())
        /** Where it serves now (none while its container does not exist): each container, a new address. */
        const currentUrl = (ref: InstanceRef): Effect.Effect<Option.Option<string>> =>
          Effect.gen(function* () {
            const name = displayInstance(ref)
            if (!known.has(name)) return Option.none()
            const since = yield* control.runningSince(ref)
            if (since === null) return Option.none()
            const container = containers.get(name) ?? {}
            const age = (yield* Clock.currentTimeMillis) - since
            if (container.foundAfter !== undefined && age < Duration.toMillis(container.foundAfter))
              return Option.none()
            const replaced = container.replacedAfter !== undefined && age >= Duration.toMillis(container.replacedAfter)
            const key = `${since}/${replaced}`
            const generation = yield* Ref.modify(generations, (all) => {
              const seen = all.get(name)
              if (seen !== undefined && seen.key === key) return [seen.generation, all] as const
              const next = (seen?.generation ?? 0) + 1
              return [next, new Map(all).set(name, { key, generation: next })] as const
            })
            return Option.some(fakeUrlAt(ref, generation))
          })
        /** What a podman lookup finds: the current address of a labelled container. */
        const lookup = (ref: InstanceRef): Effect.Effect<string, LookupMiss> =>
          Effect.flatMap(
            containers.get(displayInstance(ref))?.labelled === false ? Effect.succeed(Option.none()) : currentUrl(ref),
            Option.match({
              onNone: () =>
                Effect.fail({
                  reason: known.has(displayInstance(ref))
                    ? `no running podman container labelled PODMAN_SYSTEMD_UNIT=${unitName(ref)}`
                    : "no probe URL could be built",
                  // An instance the world gives no readiness has no address at all: looking again cannot help.
                  final: !known.has(displayInstance(ref)),
                }),
              onSome: Effect.succeed,
            }),
          )
        const urlFor = (ref: InstanceRef) => Effect.option(lookup(ref))
        return Layer.mergeAll(
          versioned({ urlFor, lookup }),
          Layer.succeed(FakeNetwork, { addressOf: currentUrl }),
          FakeProber.tied(scripts, currentUrl),
        )
      }),
    )
  },
}
