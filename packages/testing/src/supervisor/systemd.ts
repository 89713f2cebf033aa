/**
 * In-memory systemd behind the core `Supervisor` interface (mirrors core's
 * `supervisor/systemd.ts`): units with `@suffix` instances, enable state,
 * installed unit files, stopped disabled units dropping out of the list.
 * The engine (phases, timing, scripted failures, the call journal) is
 * `FakeSupervisor.ts`.
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

/** A systemd unit in the initial state. */
export interface FakeUnitSpec extends Partial<FakeBehaviour> {
  readonly name: string
  /** `@suffix`; omitted or null for a singleton. */
  readonly suffix?: string | null
  readonly running?: boolean
  readonly enabled?: boolean
  /** In `list`. Default: running or enabled (enabled units are pulled in by their target). */
  readonly loaded?: boolean
}

export interface FakeSystemdConfig {
  readonly units?: ReadonlyArray<FakeUnitSpec>
  /**
   * Installed unit files beyond those the units imply (`name.service`, or the
   * template `name@.service`), e.g. `tamanu-patientportal@.service` with no instance loaded.
   */
  readonly unitFiles?: ReadonlyArray<string>
  readonly defaults?: Partial<FakeBehaviour>
  /** Behaviour by display name (`tamanu-facility-api@2`) or base name. */
  readonly behaviours?: Readonly<Record<string, Partial<FakeBehaviour>>>
  readonly failures?: ReadonlyArray<FakeFailure>
  /** Default true. */
  readonly available?: boolean
}

/** In-memory systemd: `Supervisor` plus `FakeSupervisorControl`. */
export const FakeSystemd = {
  layer: (config: FakeSystemdConfig = {}): Layer.Layer<Supervisor | FakeSupervisorControl> =>
    Layer.effectContext(
      Effect.suspend(() => {
        const units = config.units ?? []
        const slots = units.map(
          (u): Slot => ({
            name: u.name,
            suffix: u.suffix ?? null,
            pmId: null,
            phase: startPhase(u.running),
            enabled: u.enabled ?? false,
            loaded: u.loaded ?? (u.running === true || u.enabled === true),
            port: null,
          }),
        )
        const implied = units.map((u) => (u.suffix == null ? `${u.name}.service` : `${u.name}@.service`))
        return makeFakeSupervisor({
          kind: "systemd",
          slots,
          unitFiles: new Set([...implied, ...(config.unitFiles ?? [])]),
          available: config.available ?? true,
          defaults: config.defaults ?? {},
          behaviours: Object.assign(
            {},
            ...units.map((u) =>
              specBehaviour(displayInstance({ name: u.name, suffix: u.suffix ?? null, pmId: null }), u),
            ),
            config.behaviours,
          ),
          failures: armed(config.failures),
        })
      }),
    ),
}
