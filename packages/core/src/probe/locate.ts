/**
 * Find where a started or restarted instance serves, and wait until it
 * answers there (spec §7.4, §8): its podman container may appear only after
 * the unit is active (a `Type=simple` unit running `podman run` in the
 * foreground) or be replaced under it, so its address is looked up again on
 * a Schedule until the instance's budget runs out, as the seed's own loop
 * did at every attempt. Only then is there no address.
 *
 * Each attempt: look the address up when none is known yet, or when the one
 * known has not answered for `relookEvery` (the container may have been
 * replaced: a new address); then probe it. Attempts follow the probe
 * spacing (20 ms) once an address is known, the lookup spacing (100 ms)
 * while none is: a podman lookup is two process spawns, not a refused SYN.
 */
import { Clock, Duration, Effect, Option, Ref, Schedule, Schema } from "effect"
import { ProbeFailed, Prober } from "./Prober.js"
import type { LookupMiss } from "./ProbeTargets.js"
import { defaultProbeSpacing } from "./readiness.js"

/** No address was found for the instance within its budget. */
export class AddressNotFound extends Schema.TaggedError<AddressNotFound>()("AddressNotFound", {
  /** The last lookup's reason (`no running podman container labelled …`). */
  reason: Schema.String,
  /** Looking again could not have helped (pm2 without PORT): the budget was not waited out. */
  final: Schema.Boolean,
  budgetMillis: Schema.Number,
  lookups: Schema.Number,
}) {}

export interface Located {
  readonly url: string
  /** The status that counted as ready; null when not probed (`--no-probe-http`). */
  readonly status: number | null
  /** The ready answer's `X-Version` header, what the instance serves (issue #22); null when none, not read or not probed. */
  readonly version: string | null
  /** From the first lookup to the answer (or to the address, unprobed). */
  readonly elapsedMs: number
  readonly attempts: number
  readonly lookups: number
}

export interface LocateOptions {
  /** The whole wait, lookups and probes (the instance's `--probe-timeout`, or what is left of start's). */
  readonly budget: Duration.DurationInput
  /** Probe the address until it answers (false: the address is all that is wanted). */
  readonly probe: boolean
  /** Gap after an attempt that probed (default 20 ms). */
  readonly spacing?: Duration.DurationInput
  /** Gap after an attempt that found no address (default 100 ms). */
  readonly lookupSpacing?: Duration.DurationInput
  /** Look again when the known address has not answered for this long (default 1 s). */
  readonly relookEvery?: Duration.DurationInput
}

export const defaultLookupSpacing: Duration.Duration = Duration.millis(100)
export const defaultRelookEvery: Duration.Duration = Duration.seconds(1)

interface State {
  readonly url: Option.Option<string>
  /** Clock millis of the last lookup (of the address now known). */
  readonly lookedAt: number
  readonly lookups: number
  readonly attempts: number
  readonly lastMiss: string
  readonly final: boolean
  readonly lastError: Option.Option<string>
}

type Miss = { readonly _tag: "Miss" } | { readonly _tag: "Unanswered" } | { readonly _tag: "Final" }

/** Look up (and probe) until found (and answering) or the budget is spent. */
export const locate = (
  lookup: Effect.Effect<string, LookupMiss>,
  options: LocateOptions,
): Effect.Effect<Located, AddressNotFound | ProbeFailed, Prober> =>
  Effect.gen(function* () {
    const prober = yield* Prober
    const budget = Duration.decode(options.budget)
    const relook = Duration.toMillis(options.relookEvery ?? defaultRelookEvery)
    const startedAt = yield* Clock.currentTimeMillis
    const state = yield* Ref.make<State>({
      url: Option.none(),
      lookedAt: startedAt,
      lookups: 0,
      attempts: 0,
      lastMiss: "",
      final: false,
      lastError: Option.none(),
    })

    // A prober that reads headers also says what the instance serves (`X-Version`).
    const ask = (url: string) =>
      prober.answer !== undefined
        ? prober.answer(url)
        : Effect.map(prober.probeOnce(url), (status) => ({ status, version: null }))

    const attempt: Effect.Effect<{ url: string; status: number | null; version: string | null }, Miss> = Effect.gen(
      function* () {
        const now = yield* Clock.currentTimeMillis
        const before = yield* Ref.get(state)
        const stale = Option.isSome(before.url) && options.probe && !before.final && now - before.lookedAt >= relook
        let url = before.url
        if (Option.isNone(url) || stale) {
          const found = yield* Effect.either(lookup)
          yield* Ref.update(state, (s) => ({ ...s, lookups: s.lookups + 1, lookedAt: now }))
          if (found._tag === "Left") {
            // A known address whose container is gone is no address at all.
            yield* Ref.update(state, (s) => ({
              ...s,
              url: Option.none(),
              lastMiss: found.left.reason,
              final: found.left.final,
            }))
            return yield* Effect.fail<Miss>({ _tag: found.left.final ? "Final" : "Miss" })
          }
          url = Option.some(found.right)
          yield* Ref.update(state, (s) => ({ ...s, url }))
        }
        const at = Option.getOrThrow(url)
        if (!options.probe) return { url: at, status: null, version: null }
        yield* Ref.update(state, (s) => ({ ...s, attempts: s.attempts + 1 }))
        const answer = yield* Effect.either(ask(at))
        if (answer._tag === "Left") {
          yield* Ref.update(state, (s) => ({ ...s, lastError: Option.some(answer.left.lastError) }))
          return yield* Effect.fail<Miss>({ _tag: "Unanswered" })
        }
        return { url: at, status: answer.right.status, version: answer.right.version }
      },
    )

    const schedule = Schedule.identity<Miss>().pipe(
      Schedule.whileInput((m: Miss) => m._tag !== "Final"),
      Schedule.addDelay((m) =>
        m._tag === "Miss" ? (options.lookupSpacing ?? defaultLookupSpacing) : (options.spacing ?? defaultProbeSpacing),
      ),
    )

    const found = yield* attempt.pipe(Effect.retry(schedule), Effect.timeout(budget), Effect.option)
    const end = yield* Ref.get(state)
    if (Option.isSome(found)) {
      const finishedAt = yield* Clock.currentTimeMillis
      return {
        ...found.value,
        elapsedMs: finishedAt - startedAt,
        attempts: end.attempts,
        lookups: end.lookups,
      }
    }
    // The budget ended (or the miss was final): say what the lookups or the probes said last.
    if (Option.isNone(end.url))
      return yield* Effect.fail(
        new AddressNotFound({
          reason:
            end.lastMiss ||
            (Duration.toMillis(budget) === 0
              ? "no time was left of the budget to look it up"
              : `no lookup ended within ${Duration.format(budget)}`),
          final: end.final,
          budgetMillis: Duration.toMillis(budget),
          lookups: end.lookups,
        }),
      )
    return yield* Effect.fail(
      new ProbeFailed({
        url: Option.getOrElse(end.url, () => ""),
        lastError: Option.getOrElse(end.lastError, () =>
          Duration.toMillis(budget) === 0
            ? "no time was left of the budget to wait for an answer"
            : `no answer within ${Duration.format(budget)}`,
        ),
      }),
    )
  })
