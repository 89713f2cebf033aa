/**
 * Benchmark: pm2 discovery (spec §3: a constant number of supervisor calls
 * whatever the number of instances) on a real pm2 daemon holding 4, 40 and
 * 200 Tamanu-named processes. The processes are `/bin/sleep` run with
 * interpreter `none` (a few hundred KB each, not a Node runtime), so the
 * benchmark measures the daemon's answer and our parsing, not the load.
 *
 * `benchPm2ListMechanisms` compares the three ways to ask pm2 for its list
 * (RPC socket, pm2's programmatic API, the pm2 CLI): the reason pm2.ts uses
 * the socket, with figures in docs/pm2.md.
 */
import { execFile } from "node:child_process"
import { createRequire } from "node:module"
import { performance } from "node:perf_hooks"
import { promisify } from "node:util"
import { makePm2Supervisor } from "@tamanu-lifecycle/core/internal"
import { Effect } from "effect"
import { pm2Bin, startPm2Daemon } from "../harness/pm2Daemon.js"
import { medianOfRuns, round } from "./stats.js"

const run = promisify(execFile)

const timeRuns = async (runs: number, once: () => Promise<unknown>): Promise<number> =>
  round(await medianOfRuns(runs, once))

export interface Pm2DiscoveryFigure {
  /** Tamanu processes registered in the daemon. */
  readonly processes: number
  /** RPC calls sent to the daemon per discovery. */
  readonly calls: number
  /** Median wall time of one discovery, in milliseconds. */
  readonly medianMs: number
}

export interface Pm2BenchOptions {
  readonly sizes?: ReadonlyArray<number>
  /** Timed runs per size (one untimed warm-up comes first). */
  readonly runs?: number
}

/** Cheap processes: `sleep` as a binary, `instances` of them under one name. */
const sleepers = (name: string, instances: number) => ({
  name,
  script: "/bin/sleep",
  args: ["1000000"],
  interpreter: "none",
  instances,
})

export const benchDiscoveryPm2 = async (options: Pm2BenchOptions = {}): Promise<Array<Pm2DiscoveryFigure>> => {
  const sizes = [...(options.sizes ?? [4, 40, 200])].sort((a, b) => a - b)
  const runs = options.runs ?? 15
  const daemon = await startPm2Daemon()
  try {
    let calls = 0
    const supervisor = makePm2Supervisor({ pm2Home: daemon.pm2Home, onCall: () => calls++ })
    // Foreign processes beside ours, as on a real host: discovery must skip them.
    await daemon.register([sleepers("other-bench", 2)])
    const figures: Array<Pm2DiscoveryFigure> = []
    let registered = 0
    for (const size of sizes) {
      // pm2 restarts, rather than adds, an app whose name it has: each step gets its own name.
      if (size > registered) await daemon.register([sleepers(`tamanu-bench-${size}`, size - registered)])
      registered = size
      const found = await Effect.runPromise(supervisor.list)
      if (found.length !== size) throw new Error(`discovery found ${found.length} processes, expected ${size}`)
      calls = 0
      const medianMs = await timeRuns(runs, () => Effect.runPromise(supervisor.list))
      figures.push({ processes: size, calls: calls / (runs + 1), medianMs })
    }
    return figures
  } finally {
    await daemon.kill()
  }
}

export interface Pm2MechanismFigure {
  readonly mechanism: "rpc-socket" | "pm2-api" | "pm2-cli-jlist"
  /** Median wall time of one full list (connect, ask, disconnect), in milliseconds. */
  readonly medianMs: number
}

/** The slice of pm2's programmatic API timed here. */
interface Pm2Api {
  connect(cb: (error: unknown) => void): void
  list(cb: (error: unknown, list: ReadonlyArray<unknown>) => void): void
  disconnect(cb?: () => void): void
}
type Pm2Module = { custom: new (opts: { pm2_home: string }) => Pm2Api }

/** Median cost of one list of `processes` Tamanu processes, by each mechanism. */
export const benchPm2ListMechanisms = async (
  processes = 4,
  runs = 15,
): Promise<Array<Pm2MechanismFigure & { readonly requireMs: number }>> => {
  const bin = pm2Bin()
  if (bin === null) throw new Error("pm2 npm package not found")
  const daemon = await startPm2Daemon()
  try {
    await daemon.register([sleepers("tamanu-bench", processes)])
    const supervisor = makePm2Supervisor({ pm2Home: daemon.pm2Home })
    const rpcMs = await timeRuns(runs, () => Effect.runPromise(supervisor.list))

    const t0 = performance.now()
    const pm2 = createRequire(import.meta.url)("pm2") as Pm2Module
    const requireMs = round(performance.now() - t0)
    const apiMs = await timeRuns(
      runs,
      () =>
        new Promise<void>((resolve, reject) => {
          // A connect with no daemon would start one: here one is running, which is the only case compared.
          const api = new pm2.custom({ pm2_home: daemon.pm2Home })
          api.connect((error) => {
            if (error) return reject(error)
            api.list((listError) => api.disconnect(() => (listError ? reject(listError) : resolve())))
          })
        }),
    )

    const cliMs = await timeRuns(runs, () =>
      run(process.execPath, [bin, "jlist"], { env: { ...process.env, ...daemon.env }, maxBuffer: 64 * 1024 * 1024 }),
    )
    return [
      { mechanism: "rpc-socket", medianMs: rpcMs, requireMs: 0 },
      { mechanism: "pm2-api", medianMs: apiMs, requireMs },
      { mechanism: "pm2-cli-jlist", medianMs: cliMs, requireMs: 0 },
    ]
  } finally {
    await daemon.kill()
  }
}
