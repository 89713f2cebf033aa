/**
 * A fixed Tamanu install: a host context (or the error reading it gives) and
 * a patient-portal flag behind a database that becomes reachable after a
 * scripted delay, read with the contract's retry (every 2 s up to `wait`).
 */

import {
  type HostContext,
  type HostError,
  TamanuHost,
  type TamanuHostShape,
  type UpgradeMarker,
} from "@tamanu-lifecycle/core/internal"
import { Clock, Context, Duration, Effect, Layer, Ref, Schedule } from "effect"

export interface FakeTamanuHostConfig {
  /** Default: a central server at /opt/tamanu with FHIR workers disabled. */
  readonly context?: HostContext | HostError
  /** `features.patientPortal` once the DB answers (default false). */
  readonly patientPortal?: boolean
  /** From layer construction until the DB answers (default 0; `Duration.infinity`: never). */
  readonly dbReachableAfter?: Duration.DurationInput
  /** `/run/tamanu/upgrade-in-progress` (default: none). */
  readonly upgradeMarker?: UpgradeMarker | null
}

export interface FakeTamanuHostControlShape {
  /** Clock millis of every DB connection attempt. */
  readonly dbAttempts: Effect.Effect<ReadonlyArray<number>>
}

export class FakeTamanuHostControl extends Context.Tag("@tamanu-lifecycle/testing/FakeTamanuHostControl")<
  FakeTamanuHostControl,
  FakeTamanuHostControlShape
>() {}

export const defaultHostContext: HostContext = {
  root: "/opt/tamanu",
  version: "2.30.0",
  config: { integrations: { fhir: { worker: { enabled: false } } } },
  kind: "central",
  fhirWorkerEnabled: false,
}

/** The retry the real layer promises (spec §5.7): one try, then every 2 s until `wait` has passed. */
const dbRetry = (wait: Duration.Duration): Schedule.Schedule<unknown> => {
  const retries = Math.floor(Duration.toMillis(wait) / 2000)
  const every = Schedule.spaced(Duration.seconds(2))
  return Number.isFinite(retries) ? Schedule.intersect(every, Schedule.recurs(retries)) : every
}

const isHostError = (c: HostContext | HostError): c is HostError => "_tag" in c

export const FakeTamanuHost = {
  layer: (config: FakeTamanuHostConfig = {}): Layer.Layer<TamanuHost | FakeTamanuHostControl> =>
    Layer.effectContext(
      Effect.gen(function* () {
        const builtAt = yield* Clock.currentTimeMillis
        const reachableAt = builtAt + Duration.toMillis(config.dbReachableAfter ?? Duration.zero)
        const attempts = yield* Ref.make<ReadonlyArray<number>>([])
        const c = config.context ?? defaultHostContext

        const tryDb = Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          yield* Ref.update(attempts, (all) => [...all, now])
          return now >= reachableAt ? (config.patientPortal ?? false) : yield* Effect.fail("unreachable" as const)
        })

        const host: TamanuHostShape = {
          context: isHostError(c) ? Effect.fail(c) : Effect.succeed(c),
          patientPortal: (wait: Duration.Duration) =>
            tryDb.pipe(
              Effect.retry(dbRetry(wait)),
              Effect.orElseSucceed(() => null),
            ),
          upgradeMarker: Effect.succeed(config.upgradeMarker ?? null),
        }
        return Context.make(TamanuHost, host).pipe(
          Context.add(FakeTamanuHostControl, { dbAttempts: Ref.get(attempts) }),
        )
      }),
    ),
}
