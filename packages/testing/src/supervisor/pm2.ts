/**
 * In-memory pm2 behind the core `Supervisor` interface (mirrors core's
 * `supervisor/pm2.ts`): processes that share a name and are told apart by
 * pm_id, each with its own `PORT`. The engine (phases, timing, scripted
 * failures, the call journal) is `FakeSupervisor.ts`.
 */
import { displayInstance, type Supervisor } from "@tamanu-lifecycle/core/internal"
import { Effect, Layer } from "effect"
import {
  armed,
  type FakeBehaviour,
  type FakeFailure,
  type FakeSupervisorControl,
  makeFakeSupervisor,
  type Slot,
  specBehaviour,
  startPhase,
} from "./FakeSupervisor.js"

/** A registered pm2 process in the initial state. */
export interface FakeProcessSpec extends Partial<FakeBehaviour> {
  readonly name: string
  readonly pmId: number
  readonly running?: boolean
  /** `PORT` in the process environment; default none. */
  readonly port?: number | null
}

export interface FakePm2Config {
  readonly processes?: ReadonlyArray<FakeProcessSpec>
  readonly defaults?: Partial<FakeBehaviour>
  /** Behaviour by display name (`tamanu-api#1`) or name. */
  readonly behaviours?: Readonly<Record<string, Partial<FakeBehaviour>>>
  readonly failures?: ReadonlyArray<FakeFailure>
  /** Default true; false is "pm2 daemon not running". */
  readonly available?: boolean
}

/** In-memory pm2: `Supervisor` plus `FakeSupervisorControl`. */
export const FakePm2 = {
  layer: (config: FakePm2Config = {}): Layer.Layer<Supervisor | FakeSupervisorControl> =>
    Layer.effectContext(
      Effect.suspend(() => {
        const processes = config.processes ?? []
        return makeFakeSupervisor({
          kind: "pm2",
          slots: processes.map(
            (p): Slot => ({
              name: p.name,
              suffix: null,
              pmId: p.pmId,
              phase: startPhase(p.running),
              enabled: false,
              loaded: true,
              port: p.port ?? null,
            }),
          ),
          unitFiles: new Set(),
          available: config.available ?? true,
          defaults: config.defaults ?? {},
          behaviours: Object.assign(
            {},
            ...processes.map((p) => specBehaviour(displayInstance({ name: p.name, suffix: null, pmId: p.pmId }), p)),
            config.behaviours,
          ),
          failures: armed(config.failures),
        })
      }),
    ),
}
