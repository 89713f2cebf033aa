/**
 * The unit's own words on failure (issue #23): when an instance does not
 * start, settle or become ready, the operation shows the last lines it
 * logged since its own start call (its journal, or pm2's log files), with
 * or without `--logs`, so the operator reads why at once rather than after
 * a second command. The start and restart calls take a log mark first
 * (`Supervisor.logMark`); this module finds the mark of a failed instance
 * and reads from it.
 */
import { Effect } from "effect"
import { emit, type Progress, ProgressEvent } from "../events/Progress.js"
import { displayInstance, type InstanceRef } from "../model/instance.js"
import { linesToShow } from "../supervisor/journal.js"
import { type LogMark, Supervisor } from "../supervisor/Supervisor.js"
import { failedJobUnits } from "../supervisor/systemdParse.js"
import { refMatches } from "../supervisor/wait.js"

/** A start or restart call's refs and the log mark taken just before it. */
export interface MarkedStart {
  readonly refs: ReadonlyArray<InstanceRef>
  readonly mark: LogMark
}

/** Lines shown per failed instance unless told otherwise. */
export const defaultLastLines = 10

/**
 * Lines read per failed instance, of which `limit` are shown: enough to
 * reach back past a crash loop's next start to the lines of the exit
 * (systemd's own `Main process exited` line says how it ended).
 */
const linesRead = 50

/** At most this many failed instances get their lines shown (a whole batch failing would otherwise flood). */
const maxInstancesShown = 6

/** The instances a failure of the executor is about (display names), in its own order. */
export const failedInstances = (error: unknown): ReadonlyArray<string> => {
  if (typeof error !== "object" || error === null || !("_tag" in error)) return []
  const e = error as { readonly _tag: unknown } & Record<string, unknown>
  const strings = (value: unknown): ReadonlyArray<string> =>
    Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []
  switch (e._tag) {
    case "InstanceFailed":
      return strings(e.failed)
    case "WaitTimeout":
      return e.wanted === "running" ? strings(e.pending) : []
    case "SettleFailed":
      return Array.isArray(e.ended)
        ? e.ended.flatMap((x: unknown) =>
            typeof x === "object" && x !== null && "instance" in x && typeof x.instance === "string"
              ? [x.instance]
              : [],
          )
        : []
    case "NotReady":
    case "RollStopped":
      return typeof e.instance === "string" ? [e.instance] : []
    case "SupervisorCallFailed": {
      // A start or restart systemctl refused: the units its stderr names (`Job for x.service failed …`).
      const command = strings(e.command)
      const verb = command.find((w) => w === "start" || w === "restart")
      return e.supervisor === "systemd" && verb !== undefined && typeof e.stderr === "string"
        ? failedJobUnits(e.stderr)
        : []
    }
    default:
      return []
  }
}

/**
 * The ref a display name stands for among a call's refs: the ref itself, or
 * for a pm2 ref by name (`pmId: null`) the process `name#id` it reached.
 */
export const refForInstance = (instance: string, refs: ReadonlyArray<InstanceRef>): InstanceRef | null => {
  const exact = refs.find((ref) => displayInstance(ref) === instance)
  if (exact !== undefined) return exact
  const hash = instance.lastIndexOf("#")
  if (hash <= 0) return null
  const id = instance.slice(hash + 1)
  if (!/^\d+$/.test(id)) return null
  const ref: InstanceRef = { name: instance.slice(0, hash), suffix: null, pmId: Number(id) }
  return refs.some((r) => refMatches(r, ref)) ? ref : null
}

/**
 * Emit `LastLines` for each failed instance (the first few) not in `shown`,
 * read from the latest mark taken before a call that started it, and add
 * it to `shown` (one failure can be seen twice: a settle failure inside a
 * roll is also the roll's). Shows `limit` lines (`linesToShow`) and returns
 * every line read, by instance. Reading them never changes the outcome: a
 * read that fails is a warning.
 */
export const emitLastLines = (
  marks: ReadonlyArray<MarkedStart>,
  instances: ReadonlyArray<string>,
  shown: Set<string>,
  limit: number = defaultLastLines,
): Effect.Effect<ReadonlyMap<string, ReadonlyArray<string>>, never, Supervisor | Progress> =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const wanted = [...new Set(instances)].filter((i) => !shown.has(i)).slice(0, maxInstancesShown)
    for (const instance of wanted) shown.add(instance)
    const found = wanted.flatMap((instance) => {
      for (const marked of [...marks].reverse()) {
        const ref = refForInstance(instance, marked.refs)
        if (ref !== null) return [{ instance, ref, mark: marked.mark }]
      }
      return []
    })
    const read = yield* Effect.forEach(
      found,
      ({ instance, ref, mark }) =>
        Effect.either(
          Effect.map(supervisor.logLines([ref], mark, Math.max(limit, linesRead)), (lines) => ({ instance, lines })),
        ),
      { concurrency: 4 },
    )
    const byInstance = new Map<string, ReadonlyArray<string>>()
    for (const [i, result] of read.entries()) {
      if (result._tag === "Right") {
        const { instance, lines } = result.right
        byInstance.set(instance, lines)
        yield* emit(ProgressEvent.LastLines({ instance, lines: linesToShow(lines, limit) }))
      } else
        yield* emit(
          ProgressEvent.Warning({
            message: `could not read the last lines of ${found[i]?.instance ?? "?"}: ${result.left._tag}${
              "stderr" in result.left ? ` (${result.left.stderr})` : ` (${result.left.message})`
            }`,
          }),
        )
    }
    return byInstance
  })
