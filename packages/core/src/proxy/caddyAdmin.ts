/**
 * Keep Caddy routing only to instances that serve, through its admin API
 * (spec §9.2): the session over the thin I/O beneath it. The decisions are
 * decide.ts's, routing.ts's and caddyConfig.ts's; the admin API calls are
 * adminClient.ts's (typed errors), and the routing state kept between runs
 * (a file beside the host lock, so that a run that dies, SIGKILL included,
 * leaves the next one what it needs to finish the restore) is
 * stateStore.ts's.
 *
 * Every load is preceded by a read: if Caddy runs something other than what
 * tamanu last loaded (someone reloaded or restarted it), tamanu stops rather
 * than overwrite it.
 *
 * Without a reachable admin API the session falls back to `reload` (the old
 * way of §9.4), said once with a warning.
 */
import * as fs from "node:fs"
import type { HttpClient } from "@effect/platform"
import { Clock, Duration, Effect, Either, Option, Ref, type Scope } from "effect"
import { emit, type Progress, ProgressEvent } from "../events/Progress.js"
import { type CaddyAdminError, loadTimeout, makeAdminClient } from "./adminClient.js"
import {
  adminUrlFromAddress,
  caddyfileAdmin,
  defaultAdminUrl,
  formatMillis,
  type Json,
  jsonEqual,
  type ServiceEndpoints,
} from "./caddyConfig.js"
import {
  adoption,
  handlersFor,
  isDue,
  repinTo,
  retryMillis,
  routingOf,
  sameDue,
  scheduleTime,
  silentOf,
} from "./decide.js"
import { inspectCaddy } from "./inspect.js"
import { makeNamePins, resolveNow } from "./namePins.js"
import {
  type Answering,
  addTally,
  noTally,
  ProxyFailed,
  type ProxyFailed as ProxyFailedType,
  type ProxySession,
  type ProxyTally,
  type ReverseProxyShape,
} from "./ReverseProxy.js"
import type { RestoreScheduler } from "./restoreSchedule.js"
import {
  type Desired,
  freshState,
  nextLoad,
  pinnedServices,
  type RoutingState,
  restoreDueAt,
  restorePending,
} from "./routing.js"
import { fileStore, memoryStore, savedState } from "./stateStore.js"

// ---------------------------------------------------------------- the admin API

export interface CaddyAdminOptions {
  /** `--caddy-admin` / TAMANU_CADDY_ADMIN; null: the Caddyfile's global `admin`, else http://localhost:2019. */
  readonly adminUrl: string | null
  /** The Caddyfile whose global `admin` option to read when `adminUrl` is null. */
  readonly caddyfile: string | null
  /** Where the routing state is kept between runs (beside the host lock); null: this process's memory. */
  readonly stateFile: string | null
  /** The old way (§9.4), used when the admin API cannot be reached. */
  readonly reload: Effect.Effect<{ readonly reloaded: boolean; readonly warnings: ReadonlyArray<string> }>
  /** What to call this run in the state file (`tamanu restart`). */
  readonly command?: string
  /**
   * The DNS name of an instance (by display name) that a pin may name
   * instead of its address: its podman container's name (containerNames.ts).
   * Absent, or None: pins name addresses.
   */
  readonly containerName?: (instance: string) => Effect.Effect<Option.Option<string>>
  /**
   * Schedules tamanu's own restore with the service manager at the first
   * pin, so that Caddy gets its own config back without another run
   * (restoreSchedule.ts). Absent: only a next run restores.
   */
  readonly scheduler?: RestoreScheduler
  /** How `inspect` resolves a `dynamic a` name, and a pin checks a container name (default: DNS through the handler's own resolvers). */
  readonly resolve?: (
    name: string,
    resolvers: ReadonlyArray<string>,
    port: string,
  ) => Effect.Effect<ReadonlyArray<string>>
}

/** The admin base URL, or why there is none. */
export const resolveAdminUrl = (
  explicit: string | null,
  caddyfileText: string | null,
): Either.Either<string, string> => {
  if (explicit !== null) return adminUrlFromAddress(explicit)
  if (caddyfileText === null) return Either.right(defaultAdminUrl)
  const setting = caddyfileAdmin(caddyfileText)
  switch (setting._tag) {
    case "Default":
      return Either.right(defaultAdminUrl)
    case "Off":
      return Either.left("the Caddyfile turns the admin API off (admin off)")
    case "Address":
      return Either.mapLeft(adminUrlFromAddress(setting.address), (why) => `the Caddyfile's admin address is ${why}`)
  }
}

export const makeCaddyAdminProxy = (
  options: CaddyAdminOptions,
): Effect.Effect<ReverseProxyShape, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const store = options.stateFile === null ? yield* memoryStore() : fileStore(options.stateFile)

    const caddyfileText =
      options.adminUrl !== null || options.caddyfile === null
        ? null
        : (() => {
            try {
              return fs.readFileSync(options.caddyfile, "utf8")
            } catch {
              return null
            }
          })()
    const admin = resolveAdminUrl(options.adminUrl, caddyfileText)
    const adminUrl = Either.getOrElse(admin, () => defaultAdminUrl)
    const client = yield* makeAdminClient(adminUrl)
    const command = options.command ?? "tamanu"

    /**
     * A warning for the operator: published, and kept until the session
     * call it was said in returns it (`ProxyTally.warnings`, `openWarnings`).
     */
    const said = yield* Ref.make<ReadonlyArray<string>>([])
    const warn = (message: string) =>
      Effect.zipRight(
        emit(ProgressEvent.Warning({ message })),
        Ref.update(said, (list) => [...list, message]),
      )
    const takeSaid = Ref.getAndSet(said, [])
    /** A call's tally with the warnings said during it. */
    const reported = <E>(call: Effect.Effect<ProxyTally, E, Progress>): Effect.Effect<ProxyTally, E, Progress> =>
      Effect.flatMap(call, (tally) =>
        Effect.map(takeSaid, (warnings) => ({ ...tally, warnings: [...tally.warnings, ...warnings] })),
      )

    const withNames = yield* makeNamePins({
      ...(options.containerName === undefined ? {} : { containerName: options.containerName }),
      resolve: options.resolve ?? resolveNow,
    })

    /** The due time this process last scheduled a restore for (NaN: none). */
    const scheduledFor = yield* Ref.make(Number.NaN)
    /** When the scheduled restore runs now (epoch ms), if this process scheduled one. */
    const scheduledAt = yield* Ref.make<number | null>(null)
    /**
     * The scheduled restore at `at`, unless one is already set within a
     * second of it. A failure to schedule is a warning: the pins serve, and
     * the next run restores.
     */
    const scheduleRestore = (at: number): Effect.Effect<void, never, Progress> =>
      Effect.gen(function* () {
        const scheduler = options.scheduler
        if (scheduler === undefined) return
        const last = yield* Ref.get(scheduledAt)
        if (last !== null && Math.abs(last - at) < 1000) return
        const problems = yield* scheduler.schedule(at)
        if (problems.length === 0) yield* Ref.set(scheduledAt, at)
        else
          yield* warn(
            `Could not schedule Caddy's restore with ${scheduler.how} (${problems.join("; ")}): if this run stops, Caddy stays pinned until the next tamanu start or restart.`,
          )
      })
    const cancelScheduled = Effect.gen(function* () {
      if (options.scheduler === undefined) return
      yield* options.scheduler.cancel
      yield* Ref.set(scheduledAt, null)
    })

    /** An earlier run's state, if Caddy still runs what it loaded; else None (and the file is dropped, with a warning if Caddy runs another config). */
    const adopt = (live: Json): Effect.Effect<Option.Option<{ state: RoutingState; since: number }>, never, Progress> =>
      Effect.gen(function* () {
        const found = yield* store.read
        if (Option.isNone(found)) return Option.none()
        const decided = adoption(found.value, live)
        if (decided._tag === "Adopt") return Option.some({ state: decided.state, since: decided.since })
        yield* store.remove
        if (decided.warn)
          yield* warn(
            `Caddy's config changed since ${found.value.command} routed it (${new Date(found.value.since).toISOString()}): a reload or restart of Caddy put another one in place. tamanu leaves it as it is and forgets its unfinished restore.`,
          )
        return Option.none()
      })

    // ------------------------------------------------------------ the reload way

    const reloadSession = (
      services: ReadonlyArray<ServiceEndpoints>,
      reason: string,
    ): Effect.Effect<Omit<ProxySession, "openWarnings">, never, Progress> =>
      Effect.gen(function* () {
        yield* warn(
          `Caddy's admin API cannot be used (${reason}): reloading Caddy after each instance instead, the old way. Requests may be lost while Caddy still holds addresses of restarted instances (up to its dynamic upstreams' refresh, 1 minute by default).`,
        )
        const known = yield* Ref.make(new Set(services.flatMap((s) => s.endpoints.map((e) => e.url))))
        const reloadIfAdded = (desired: ReadonlyArray<Desired>) =>
          Effect.gen(function* () {
            const urls = desired.flatMap((d) => d.endpoints.map((e) => e.url))
            const before = yield* Ref.get(known)
            if (urls.every((u) => before.has(u))) return noTally
            yield* Ref.set(known, new Set([...before, ...urls]))
            const result = yield* options.reload
            yield* emit(ProgressEvent.ProxyReloaded({ reloaded: result.reloaded, warnings: result.warnings }))
            return { ...noTally, reloads: 1, warnings: result.warnings }
          }).pipe(reported)
        return { mode: "reload", route: reloadIfAdded, restore: reloadIfAdded }
      })

    // ------------------------------------------------------------ the admin way

    const adminSession = (
      services: ReadonlyArray<ServiceEndpoints>,
      live: Json,
    ): Effect.Effect<Omit<ProxySession, "openWarnings">, never, Progress | Scope.Scope> =>
      Effect.gen(function* () {
        const adopted = yield* adopt(live)
        const now = yield* Clock.currentTimeMillis
        const state = yield* Ref.make(Option.match(adopted, { onNone: () => freshState(live), onSome: (a) => a.state }))
        const since = Option.match(adopted, { onNone: () => now, onSome: (a) => a.since })
        const saved = (routing: RoutingState, beforeLoad: Json | null) =>
          savedState(routing, { adminUrl, since, command, beforeLoad })
        const handlers = handlersFor(services, yield* Ref.get(state))
        for (const service of services) {
          if ((handlers.get(service.service) ?? []).length === 0)
            yield* warn(
              `Caddy's config has no reverse_proxy that tamanu recognises for ${service.service} (a dynamic a upstream on its network alias, or upstreams at its instances' addresses): Caddy is left alone for it.`,
            )
        }

        const failed = (action: "route" | "restore", reason: string): ProxyFailedType =>
          new ProxyFailed({ target: adminUrl, action, reason })
        const failedWith = (action: "route" | "restore") => (e: CaddyAdminError) => failed(action, e.message)

        /** Caddy must still run what we last loaded: never overwrite someone else's change. */
        const verify = (action: "route" | "restore") =>
          Effect.gen(function* () {
            const running = yield* client.getConfig.pipe(Effect.mapError(failedWith(action)))
            if (!jsonEqual(running, (yield* Ref.get(state)).current))
              return yield* Effect.fail(
                failed(
                  action,
                  "Caddy runs a config tamanu did not load (it was reloaded or restarted meanwhile); tamanu will not overwrite it",
                ),
              )
          })

        /** One load routing each desired service to exactly its endpoints (`among`: every instance each has). */
        const routeAmong = (
          among: ReadonlyArray<ServiceEndpoints>,
          desired: ReadonlyArray<Desired>,
        ): Effect.Effect<ProxyTally, ProxyFailedType, Progress> =>
          Effect.gen(function* () {
            const before = yield* Ref.get(state)
            const handlers = handlersFor(among, before)
            // Every endpoint a pin may name, at its address now (a restarted instance's is new).
            const named = yield* withNames(desired, handlers)
            const desiredNamed = desired.map((d, i) => ({ ...d, endpoints: named[i]?.endpoints ?? d.endpoints }))
            const next = nextLoad(before, handlers, among, desiredNamed)
            if (!next.load) {
              yield* Ref.set(state, next.commit(yield* Clock.currentTimeMillis))
              return noTally
            }
            yield* verify("route")
            // Written first: if this run dies during the load, the next one still knows both configs,
            // and clocks that start no earlier than the load can have ended.
            const ahead = next.commit((yield* Clock.currentTimeMillis) + Duration.toMillis(loadTimeout))
            yield* store.write(saved(ahead, before.current))
            // Before the load: whatever ends this run from here on, the restore comes back by itself.
            // Once per due time: the scheduled restore comes back every `retryMillis` by itself,
            // so the run does not push it at every load (on pm2 each schedule is a process).
            const dueThen = restoreDueAt(next.commit(yield* Clock.currentTimeMillis))
            if (!sameDue(yield* Ref.get(scheduledFor), dueThen)) {
              yield* scheduleRestore(
                scheduleTime(next.commit(yield* Clock.currentTimeMillis), yield* Clock.currentTimeMillis),
              )
              yield* Ref.set(scheduledFor, dueThen)
            }
            const loadMillis = yield* client.load(next.config).pipe(
              Effect.tapError(() => store.write(saved(before, null))),
              Effect.mapError(failedWith("route")),
            )
            const after = next.commit(yield* Clock.currentTimeMillis)
            yield* Ref.set(state, after)
            yield* store.write(saved(after, null))
            yield* emit(
              ProgressEvent.ProxyRouted({
                routes: desired
                  .filter((d) => next.changes.some((c) => c.service === d.service))
                  .map((d) => ({ service: d.service, instances: d.endpoints.map((e) => e.instance) })),
                loadMillis,
              }),
            )
            return { ...noTally, configLoads: 1 }
          })

        const route = (desired: ReadonlyArray<Desired>) => reported(routeAmong(services, desired))

        /** Whether this session already said why Caddy's own config is not back (said once). */
        const saidNotBack = yield* Ref.make(false)
        const warnRestore = (why: string) =>
          Effect.gen(function* () {
            yield* Ref.set(saidNotBack, true)
            const due = restoreDueAt(yield* Ref.get(state))
            yield* warn(
              `Caddy's own config is not back yet (${why}). Caddy routes the rolled services to their serving instances only; ${
                options.scheduler === undefined
                  ? "the next tamanu start or restart puts its own config back"
                  : `tamanu's scheduled restore (${options.scheduler.how}) puts its own config back by itself, as does the next tamanu start or restart`
              }${Number.isFinite(due) ? ` (not before ${new Date(due).toISOString()})` : ""}.`,
            )
          })

        /**
         * The pins re-made to every running instance of each pinned service
         * that answers now (issue #25): an instance a stopped run took out
         * and that came back (its `systemctl restart` went on without the
         * run) gets traffic again before the restore is due, so a restart of
         * the instance the pins named alone loses nothing either. Nothing
         * is drained, so no expiry clock changes.
         */
        const repin = (answering: Answering): Effect.Effect<void, never, Progress> =>
          Effect.gen(function* () {
            if (!restorePending(yield* Ref.get(state))) return
            const to = repinTo(yield* answering(pinnedServices(yield* Ref.get(state))))
            yield* routeAmong(to.among, to.desired)
          }).pipe(Effect.catchAll((e) => warn(`tamanu's pins were not refreshed: ${e.message}`)))

        const restore = (
          desired: ReadonlyArray<Desired>,
          answering: Answering,
        ): Effect.Effect<ProxyTally, never, Progress> =>
          Effect.gen(function* () {
            const tally = yield* Ref.make(noTally)
            const count = (t: ProxyTally) => Ref.update(tally, (sum) => addTally(sum, t))
            return yield* Effect.gen(function* () {
              const now = yield* Clock.currentTimeMillis
              // A drained service whose handler is still Caddy's own (it had no other instance to
              // route to) must first be routed to its new address: its cache may name the old one.
              const ahead = nextLoad(yield* Ref.get(state), handlers, services, desired).commit(now)
              if (!isDue(restoreDueAt(ahead), now)) {
                yield* count(yield* route(desired))
                const wait = restoreDueAt(yield* Ref.get(state)) - (yield* Clock.currentTimeMillis)
                if (wait > 0) {
                  yield* emit(ProgressEvent.ProxyRestoreWaiting({ inMillis: wait }))
                  yield* count({ ...noTally, waitedMillis: wait })
                  yield* Effect.sleep(Duration.millis(wait))
                }
              }
              if (!restorePending(yield* Ref.get(state))) {
                yield* store.remove
                yield* cancelScheduled
                return yield* Ref.get(tally)
              }
              // Caddy's own upstreams route to every instance on the alias: only once they all answer.
              const check = yield* answering(pinnedServices(yield* Ref.get(state)))
              const silent = silentOf(check)
              if (silent.length > 0) {
                // Meanwhile the pins name only the instances that answer (and any that came back since).
                const to = repinTo(check)
                yield* count(yield* routeAmong(to.among, to.desired))
                // Tried again by itself, as long as something does not serve.
                yield* scheduleRestore((yield* Clock.currentTimeMillis) + retryMillis)
                yield* warnRestore(
                  `${silent.join(", ")} runs but does not answer, and Caddy's own config would route to it`,
                )
                return yield* Ref.get(tally)
              }
              yield* verify("restore")
              const original = (yield* Ref.get(state)).original
              const loadMillis = yield* client.load(original).pipe(Effect.mapError(failedWith("restore")))
              yield* Ref.set(state, freshState(original))
              yield* store.remove
              yield* cancelScheduled
              yield* emit(ProgressEvent.ProxyRestored({ loadMillis }))
              yield* count({ ...noTally, configLoads: 1, restored: true })
              return yield* Ref.get(tally)
            }).pipe(Effect.catchAll((e) => Effect.zipRight(warnRestore(e.reason), Ref.get(tally))))
          }).pipe(reported)

        // On failure or interruption: the file already holds what the next run needs; say so.
        yield* Effect.addFinalizer(() =>
          Effect.gen(function* () {
            if (restorePending(yield* Ref.get(state)) && !(yield* Ref.get(saidNotBack)))
              yield* warnRestore("this run stopped before it could")
          }),
        )
        return { mode: "admin", route, restore, repin }
      })

    const open: ReverseProxyShape["open"] = (services) =>
      Effect.gen(function* () {
        // Said before this session (a resume, an inspect): not this session's.
        yield* takeSaid
        const session = yield* Either.match(admin, {
          onLeft: (why) => reloadSession(services, why),
          onRight: () =>
            Effect.flatMap(Effect.either(client.getConfig), (live) =>
              Either.match(live, {
                onLeft: (e) => reloadSession(services, e.message),
                onRight: (config) => adminSession(services, config),
              }),
            ),
        })
        return { ...session, openWarnings: yield* takeSaid }
      })

    const pendingRestore: ReverseProxyShape["pendingRestore"] = Effect.map(store.read, (found) =>
      Option.match(found, {
        onNone: () => null,
        onSome: (s) => ({ dueAt: restoreDueAt(routingOf(s)) }),
      }),
    )

    const resume: ReverseProxyShape["resume"] = (answering) =>
      Effect.scoped(
        Effect.gen(function* () {
          if (Option.isNone(yield* store.read)) return
          const live = yield* Effect.either(client.getConfig)
          if (Either.isLeft(live)) {
            yield* warn(
              `An earlier run left Caddy's own config to restore, but ${live.left.message}; tamanu tries again at its next run.`,
            )
            return
          }
          const session = yield* adminSession([], live.right)
          const pending = yield* pendingRestore
          const now = yield* Clock.currentTimeMillis
          // Not left to yet another run (issue #25): this one waits for the due time, as a roll does.
          if (pending !== null && !isDue(pending.dueAt, now)) {
            yield* emit(
              ProgressEvent.Info({
                message: `An earlier run left Caddy pinned: its own config comes back at ${new Date(pending.dueAt).toISOString()} (in ${formatMillis(pending.dueAt - now)}); waiting for it.`,
              }),
            )
            yield* emit(ProgressEvent.ProxyRestoreWaiting({ inMillis: pending.dueAt - now }))
            yield* Effect.sleep(Duration.millis(pending.dueAt - now))
          }
          yield* session.restore([], answering)
        }),
      )

    const refresh: NonNullable<ReverseProxyShape["refresh"]> = (answering) =>
      Effect.scoped(
        Effect.gen(function* () {
          if (Option.isNone(yield* store.read)) return
          const live = yield* Effect.either(client.getConfig)
          if (Either.isLeft(live)) return
          const session = yield* adminSession([], live.right)
          yield* session.repin?.(answering) ?? Effect.void
        }),
      )

    const inspect: ReverseProxyShape["inspect"] = (services) =>
      inspectCaddy({ admin, adminUrl, client, store, resolve: options.resolve ?? resolveNow }, services)

    return { open, inspect, pendingRestore, resume, refresh }
  })
