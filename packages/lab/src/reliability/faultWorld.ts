/**
 * A whole fake host for fault injection: fake systemd or pm2, readiness tied
 * to it, a recording Caddy, a scripted Tamanu install, a chosen Privileges,
 * and a capture of everything an operator could read (progress events and
 * every log line, with the default logger replaced). Time is Effect's Clock
 * only, so faults that would take minutes run in milliseconds under TestClock.
 */
import { Progress, type ProgressEvent } from "@tamanu-lifecycle/core/internal"
import { type FakeHostServices, type FakeHostSpec, FakeSupervisorControl, fakeHost } from "@tamanu-lifecycle/testing"
import { Context, type Duration, Effect, Fiber, Layer, Logger, Ref, TestClock } from "effect"

export interface CapturedOutputShape {
  readonly events: Effect.Effect<ReadonlyArray<ProgressEvent>>
  /** Every line logged through Effect's logger, as `LEVEL message`. */
  readonly logs: Effect.Effect<ReadonlyArray<string>>
}

export class CapturedOutput extends Context.Tag("@tamanu-lifecycle/testing/reliability/CapturedOutput")<
  CapturedOutput,
  CapturedOutputShape
>() {}

const logText = (message: unknown): string =>
  (Array.isArray(message) ? message : [message])
    .map((m) => (typeof m === "string" ? m : (JSON.stringify(m) ?? String(m))))
    .join(" ")

/** Progress and logs into Refs; the default logger replaced, so nothing reaches the console unseen. */
const capture: Layer.Layer<Progress | CapturedOutput> = Layer.unwrapEffect(
  Effect.gen(function* () {
    const events = yield* Ref.make<ReadonlyArray<ProgressEvent>>([])
    const logs = yield* Ref.make<ReadonlyArray<string>>([])
    const logger = Logger.make(({ logLevel, message }) => {
      Effect.runSync(Ref.update(logs, (all) => [...all, `${logLevel.label} ${logText(message)}`]))
    })
    const services = Layer.succeedContext(
      Context.make(Progress, { emit: (e: ProgressEvent) => Ref.update(events, (all) => [...all, e]) }).pipe(
        Context.add(CapturedOutput, { events: Ref.get(events), logs: Ref.get(logs) }),
      ),
    )
    return Layer.merge(services, Logger.replace(Logger.defaultLogger, logger))
  }),
)

export type FaultWorldSpec = FakeHostSpec

export type FaultWorld = FakeHostServices | Progress | CapturedOutput

export const faultWorld = (spec: FaultWorldSpec): Layer.Layer<FaultWorld> => Layer.merge(fakeHost(spec), capture)

/**
 * Run an operation to its end under TestClock: fork, move the clock past
 * every wait it may make, and return its Exit (failures are data here).
 */
export const runToEnd = <A, E, R>(operation: Effect.Effect<A, E, R>, horizon: Duration.DurationInput = "3 hours") =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(operation)
    yield* TestClock.adjust(horizon)
    return yield* Fiber.await(fiber)
  })

/** Display names of what runs now, sorted. */
export const runningInstances = Effect.map(
  Effect.flatMap(FakeSupervisorControl, (c) => c.instances),
  (instances) =>
    instances
      .filter((i) => i.running)
      .map((i) => (i.suffix !== null ? `${i.name}@${i.suffix}` : i.pmId !== null ? `${i.name}#${i.pmId}` : i.name))
      .sort(),
)

/** Every text an operator could read from the run: progress event fields and log lines. */
export const everythingSaid = Effect.gen(function* () {
  const out = yield* CapturedOutput
  const events = yield* out.events
  const logs = yield* out.logs
  return [...events.map((e) => JSON.stringify(e)), ...logs]
})
