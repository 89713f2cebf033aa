/**
 * Benchmark: systemd discovery (spec §3: a constant number of supervisor
 * calls whatever the number of instances) on a real user manager holding
 * 4, 40 and 200 Tamanu-named units. The units are `oneshot` +
 * `RemainAfterExit` `/bin/true`: active, listed, and no process left running,
 * so the benchmark measures systemctl and our parsing, not the machine's load.
 *
 * Discovery runs with plain `systemctl --user` and `XDG_RUNTIME_DIR`, as in
 * production (list-units needs no namespace tricks).
 */
import { makeSystemdSupervisor } from "@tamanu-lifecycle/core/internal"
import { Effect } from "effect"
import { cheapUnit, startUserManager } from "../harness/systemdUserManager.js"
import { medianOfRuns, round } from "./stats.js"

export interface DiscoveryFigure {
  /** Tamanu units loaded in the manager. */
  readonly units: number
  /** systemctl processes spawned per discovery. */
  readonly calls: number
  /** Median wall time of one discovery, in milliseconds. */
  readonly medianMs: number
}

export interface DiscoveryBenchOptions {
  readonly sizes?: ReadonlyArray<number>
  /** Timed discoveries per size (one untimed warm-up comes first). */
  readonly runs?: number
}

export const benchDiscoverySystemd = async (options: DiscoveryBenchOptions = {}): Promise<Array<DiscoveryFigure>> => {
  const sizes = [...(options.sizes ?? [4, 40, 200])].sort((a, b) => a - b)
  const runs = options.runs ?? 15
  const manager = await startUserManager({
    units: [cheapUnit("tamanu-bench@.service", "oneshot"), cheapUnit("other-bench@.service", "oneshot")],
  })
  try {
    let spawned = 0
    const supervisor = makeSystemdSupervisor({ scope: "user", env: manager.env, onSpawn: () => spawned++ })
    // A few foreign units beside ours, as on a real host: discovery must skip them.
    await manager.ctl(["start", "--", "other-bench@1.service", "other-bench@2.service"])
    const figures: Array<DiscoveryFigure> = []
    let started = 0
    for (const size of sizes) {
      const more = Array.from({ length: size - started }, (_, i) => `tamanu-bench@${started + i + 1}.service`)
      if (more.length > 0) {
        const result = await manager.ctl(["start", "--", ...more])
        if (result.exitCode !== 0) throw new Error(`could not start bench units: ${result.stderr}`)
      }
      started = size
      const found = await Effect.runPromise(supervisor.list)
      if (found.length !== size) throw new Error(`discovery found ${found.length} units, expected ${size}`)
      spawned = 0
      const medianMs = await medianOfRuns(runs, () => Effect.runPromise(supervisor.list))
      // medianOfRuns makes one untimed warm-up call before the timed ones.
      figures.push({ units: size, calls: spawned / (runs + 1), medianMs: round(medianMs) })
    }
    return figures
  } finally {
    await manager.stop()
  }
}
