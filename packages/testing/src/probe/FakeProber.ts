/**
 * Scripted HTTP readiness behind the core `Prober` interface. A URL answers
 * either from a fixed sequence of outcomes, or, tied to the fake supervisor,
 * as a real Tamanu server does: refused while the instance is down, still
 * refusing for N ms after it last became running, then 200. The tie is what
 * lets the operations' tests check that a roll never takes down the next
 * API instance before the previous one answers.
 */

import { type InstanceRef, ProbeFailed, Prober, type ProberShape } from "@tamanu-lifecycle/core/internal"
import { Clock, Context, Duration, Effect, Layer, Option, SynchronizedRef } from "effect"
import { FakeSupervisorControl, type FakeSupervisorControlShape } from "../supervisor/FakeSupervisor.js"

/** An HTTP status, or the text of a connection-level error ("connect ECONNREFUSED"). */
export type ProbeOutcome = number | string

/** Answers in order, one per attempt; the last one repeats. */
export interface OutcomeScript {
  readonly outcomes: ReadonlyArray<ProbeOutcome>
  /** How long each attempt takes before it answers (default 0). */
  readonly takes?: Duration.DurationInput
}

/** Ready `readyAfter` after the instance last became running (per the fake supervisor). */
export interface InstanceScript {
  readonly instance: InstanceRef
  readonly readyAfter: Duration.DurationInput
  /** The answer once ready (default 200). */
  readonly status?: number
  /** The answer while the instance runs but is not ready yet (default "connect ECONNREFUSED"). */
  readonly whileStarting?: ProbeOutcome
  readonly takes?: Duration.DurationInput
}

export type ProbeScript = OutcomeScript | InstanceScript

export interface ProbeAttempt {
  readonly url: string
  /** Clock millis when the attempt began. */
  readonly at: number
  readonly outcome: ProbeOutcome
  readonly ready: boolean
}

export interface FakeProberControlShape {
  /** Every attempt so far, in order. */
  readonly attempts: Effect.Effect<ReadonlyArray<ProbeAttempt>>
  readonly attemptsFor: (url: string) => Effect.Effect<ReadonlyArray<ProbeAttempt>>
  /** Replace the script of a URL (its outcome sequence starts over). */
  readonly script: (url: string, script: ProbeScript) => Effect.Effect<void>
}

export class FakeProberControl extends Context.Tag("@tamanu-lifecycle/testing/FakeProberControl")<
  FakeProberControl,
  FakeProberControlShape
>() {}

const refused = "connect ECONNREFUSED"

const isReady = (outcome: ProbeOutcome): boolean => typeof outcome === "number" && outcome < 500

interface State {
  readonly scripts: Readonly<Record<string, ProbeScript>>
  /** Attempts answered so far per URL, for outcome sequences. */
  readonly served: Readonly<Record<string, number>>
  readonly attempts: ReadonlyArray<ProbeAttempt>
}

/** Where an instance serves now, when addresses change at every start (podman); an older address answers nothing. */
export type CurrentUrl = (ref: InstanceRef) => Effect.Effect<Option.Option<string>>

/** `http://x.g3.test:3000/` → `http://x.test:3000/`: the script key of a per-start address. */
const scriptKey = (url: string): string => url.replace(/\.g\d+\.test/, ".test")

const make = (
  scripts: Readonly<Record<string, ProbeScript>>,
  supervisor: Option.Option<FakeSupervisorControlShape>,
  currentUrl: Option.Option<CurrentUrl> = Option.none(),
) =>
  Effect.gen(function* () {
    const state = yield* SynchronizedRef.make<State>({ scripts, served: {}, attempts: [] })

    /** The answer of an instance-tied script at `now`. */
    const instanceOutcome = (script: InstanceScript, now: number): Effect.Effect<ProbeOutcome> =>
      Option.match(supervisor, {
        onNone: () =>
          Effect.dieMessage("FakeProber: an instance-tied script needs FakeSupervisorControl (use FakeProber.tied)"),
        onSome: (control) =>
          Effect.map(control.runningSince(script.instance), (since) =>
            since === null
              ? refused
              : now - since < Duration.toMillis(script.readyAfter)
                ? (script.whileStarting ?? refused)
                : (script.status ?? 200),
          ),
      })

    const probeOnce: ProberShape["probeOnce"] = (url) =>
      Effect.gen(function* () {
        const at = yield* Clock.currentTimeMillis
        const { script, index } = yield* SynchronizedRef.modify(state, (s) => {
          const index = s.served[url] ?? 0
          return [
            { script: s.scripts[url] ?? s.scripts[scriptKey(url)], index },
            { ...s, served: { ...s.served, [url]: index + 1 } },
          ] as const
        })
        if (script?.takes !== undefined) yield* Effect.sleep(script.takes)
        // The answer reflects the server when the attempt reaches it: after `takes`.
        const now = yield* Clock.currentTimeMillis
        const gone =
          script !== undefined && !("outcomes" in script) && Option.isSome(currentUrl)
            ? Option.getOrNull(yield* currentUrl.value(script.instance)) !== url
            : false
        const outcome: ProbeOutcome =
          script === undefined
            ? refused
            : "outcomes" in script
              ? (script.outcomes[Math.min(index, script.outcomes.length - 1)] ?? refused)
              : gone
                ? "connect EHOSTUNREACH"
                : yield* instanceOutcome(script, now)
        const ready = isReady(outcome)
        yield* SynchronizedRef.update(state, (s) => ({ ...s, attempts: [...s.attempts, { url, at, outcome, ready }] }))
        return ready && typeof outcome === "number"
          ? outcome
          : yield* Effect.fail(
              new ProbeFailed({ url, lastError: typeof outcome === "number" ? `HTTP ${outcome}` : outcome }),
            )
      })

    const control: FakeProberControlShape = {
      attempts: Effect.map(SynchronizedRef.get(state), (s) => s.attempts),
      attemptsFor: (url) => Effect.map(SynchronizedRef.get(state), (s) => s.attempts.filter((a) => a.url === url)),
      script: (url, script) =>
        SynchronizedRef.update(state, (s) => ({
          ...s,
          scripts: { ...s.scripts, [url]: script },
          served: { ...s.served, [url]: 0 },
        })),
    }
    return Context.make(Prober, { probeOnce }).pipe(Context.add(FakeProberControl, control))
  })

export const FakeProber = {
  /** Outcome sequences per URL; an unscripted URL refuses connections. */
  layer: (scripts: Readonly<Record<string, OutcomeScript>> = {}): Layer.Layer<Prober | FakeProberControl> =>
    Layer.effectContext(make(scripts, Option.none())),
  /** Scripts that may be tied to instances of the fake supervisor (provide a FakeSystemd/FakePm2 layer). */
  tied: (
    scripts: Readonly<Record<string, ProbeScript>>,
    currentUrl?: CurrentUrl,
  ): Layer.Layer<Prober | FakeProberControl, never, FakeSupervisorControl> =>
    Layer.effectContext(
      Effect.flatMap(FakeSupervisorControl, (control) =>
        make(scripts, Option.some(control), Option.fromNullable(currentUrl)),
      ),
    ),
}
