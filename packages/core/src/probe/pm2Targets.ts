/**
 * Probe URLs on pm2 (spec §8): `http://127.0.0.1:<PORT>/` from the PORT in
 * the process's pm2 environment. No PORT, an unknown process, or a daemon
 * that cannot be asked: no URL, and the caller falls back to the cooldown.
 */
import { Effect, Layer, Option } from "effect"
import { displayInstance, type InstanceRef } from "../model/instance.js"
import { makePm2Client, type Pm2Options } from "../supervisor/pm2.js"
import type { Pm2Process } from "../supervisor/pm2Parse.js"
import { warningOnce } from "../util/logging.js"
import { type InstanceTarget, ProbeTargets, type ProbeTargetsShape } from "./ProbeTargets.js"

/**
 * The process a ref names: its pm_id, or with `pmId: null` the only process of
 * that name (with several, which one to probe is not decidable: none).
 */
export const pm2ProbeUrl = (processes: ReadonlyArray<Pm2Process>, ref: InstanceRef): Option.Option<string> =>
  pm2Target(processes, ref).url

const onlyProcess = (processes: ReadonlyArray<Pm2Process>, ref: InstanceRef): Pm2Process | undefined => {
  const candidates = processes.filter((p) => p.name === ref.name && (ref.pmId === null || p.pmId === ref.pmId))
  return candidates.length === 1 ? candidates[0] : undefined
}

/** Its URL and the release directory it runs from (issue #22), from one process list. */
export const pm2Target = (processes: ReadonlyArray<Pm2Process>, ref: InstanceRef): InstanceTarget => {
  const only = onlyProcess(processes, ref)
  const version = Option.fromNullable(only?.version)
  return {
    url: only === undefined || only.port === null ? Option.none() : Option.some(`http://127.0.0.1:${only.port}/`),
    version,
    versionProblem:
      only === undefined
        ? `pm2 knows no single process ${ref.name}${ref.pmId === null ? "" : `#${ref.pmId}`}`
        : Option.isNone(version)
          ? "neither its exec path nor its cwd is under a release-vX.Y.Z directory"
          : null,
  }
}

export const makePm2ProbeTargets = (options: Pm2Options = {}): ProbeTargetsShape => {
  const client = makePm2Client(options)
  const warn = warningOnce()
  /** Every instance's URL and release directory from one process list (issue #22). */
  const targetsFor = (refs: ReadonlyArray<InstanceRef>): Effect.Effect<ReadonlyMap<string, InstanceTarget>> =>
    client.processes.pipe(
      Effect.map(
        (processes): ReadonlyMap<string, InstanceTarget> =>
          new Map(refs.map((ref) => [displayInstance(ref), pm2Target(processes, ref)])),
      ),
      Effect.tapError((error) =>
        warn(
          `no probe URL for pm2's processes: ${error._tag === "SupervisorUnavailable" ? error.message : error.stderr}`,
        ),
      ),
      Effect.orElseSucceed(
        (): ReadonlyMap<string, InstanceTarget> =>
          new Map(
            refs.map((ref) => [
              displayInstance(ref),
              { url: Option.none(), version: Option.none(), versionProblem: "the pm2 daemon could not be asked" },
            ]),
          ),
      ),
    )
  return {
    targetsFor,
    urlFor: (ref) =>
      client.processes.pipe(
        Effect.map((processes) => pm2ProbeUrl(processes, ref)),
        Effect.tapError((error) =>
          warn(
            `no probe URL for ${ref.name}: ${error._tag === "SupervisorUnavailable" ? error.message : error.stderr}`,
          ),
        ),
        Effect.orElseSucceed(() => Option.none<string>()),
      ),
  }
}

/** ProbeTargets reading PORT from the pm2 daemon of `options.pm2Home`. One RPC per lookup. */
export const Pm2ProbeTargetsLive = (options: Pm2Options = {}): Layer.Layer<ProbeTargets> =>
  Layer.sync(ProbeTargets, () => makePm2ProbeTargets(options))
