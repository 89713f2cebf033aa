/**
 * Every Caddy decision of a run, in one pure module (issue #21). The I/O
 * beneath it (stateStore.ts: the routing state between runs; adminClient.ts:
 * the admin API; caddyAdmin.ts: the session over both) and the executor's
 * view of it (session.ts) only carry out what these functions answer:
 *
 * - **Endpoints** (`Book`): where each instance behind Caddy serves now,
 *   which ones a probe found not answering, and which ones this run vouches
 *   for (the take-down rule's input, takeDown.ts).
 * - **The next load**: the routes a step wants (`desiredRoutes`), the drain
 *   before an instance goes down (`drainFor`), and whether a `RouteProxy`
 *   step's load is left to the step after it (`routeDeferred`, shared with
 *   `--dry-run`'s preview). The config itself is routing.ts's `nextLoad`.
 * - **The restore**: when it is due (`isDue`), what a command does with one
 *   an earlier run left (`earlierRestore`), which run's state to adopt
 *   (`adoption`), what the pins name meanwhile (`repinTo`), and when the
 *   scheduled restore runs (`scheduleTime`).
 */
import { displayInstance, type SupervisorKind } from "../model/instance.js"
import type { PlanStep } from "../plan/Plan.js"
import {
  describePath,
  type Endpoint,
  handlersByService,
  type Json,
  jsonEqual,
  type ProxyHandler,
  proxyHandlers,
  type ServiceEndpoints,
} from "./caddyConfig.js"
import type { ProxyMode } from "./ReverseProxy.js"
import type { Desired, RoutingState } from "./routing.js"
import { restoreDueAt } from "./routing.js"
import { mayTakeDown, type TakeDown, type Vouched } from "./takeDown.js"

// ---------------------------------------------------------------- endpoints

/**
 * What a run knows of the instances behind Caddy. An instance is in
 * `endpoints` while it runs at a known address and is not known to be
 * unready; its entry changes when it restarts.
 */
export interface Book {
  /** Services behind Caddy the plan routes or rolls. */
  readonly services: ReadonlyArray<string>
  /** Service → instance display name → URL. */
  readonly endpoints: ReadonlyMap<string, ReadonlyMap<string, string>>
  /** Instances a probe found not answering: never routed to. */
  readonly unready: ReadonlySet<string>
  /**
   * Instances known to serve, at which address: found running when the
   * session opened, or answered (settled, without probes) in this run; an
   * instance leaves it when it is drained. What `mayTakeDown` is asked with.
   */
  readonly vouched: ReadonlyMap<string, Vouched>
}

export const emptyBook = (services: ReadonlyArray<string>): Book => ({
  services,
  endpoints: new Map(),
  unready: new Set(),
  vouched: new Map(),
})

/** The book with these services' endpoints as just found (instances known unready left out). */
export const discovered = (book: Book, found: ReadonlyArray<ServiceEndpoints>): Book => {
  const endpoints = new Map(book.endpoints)
  for (const { service, endpoints: list } of found)
    endpoints.set(service, new Map(list.filter((e) => !book.unready.has(e.instance)).map((e) => [e.instance, e.url])))
  return { ...book, endpoints }
}

/** A service's endpoints, without `except`. */
export const endpointsOf = (book: Book, service: string, except: ReadonlySet<string> = new Set()): Array<Endpoint> =>
  [...(book.endpoints.get(service) ?? new Map<string, string>())]
    .filter(([instance]) => !except.has(instance))
    .map(([instance, url]) => ({ instance, url }))

/** What a session opens over: every service at its current endpoints. */
export const openedOver = (book: Book): ReadonlyArray<ServiceEndpoints> =>
  book.services.map((service) => ({ service, endpoints: endpointsOf(book, service) }))

/** Once the session is open: every instance found serving then is vouched for (`serving`), unless already known. */
export const vouchServing = (book: Book, opened: ReadonlyArray<ServiceEndpoints>): Book => {
  const vouched = new Map(book.vouched)
  for (const { endpoints } of opened)
    for (const e of endpoints) if (!vouched.has(e.instance)) vouched.set(e.instance, { url: e.url, basis: "serving" })
  return { ...book, vouched }
}

export const vouch = (book: Book, instance: string, basis: Vouched): Book => ({
  ...book,
  vouched: new Map([...book.vouched, [instance, basis]]),
})

/** Instances a probe found not answering: left out of every later route. */
export const markUnready = (book: Book, instances: ReadonlyArray<string>): Book => ({
  ...book,
  unready: new Set([...book.unready, ...instances]),
})

/** These instances no longer routed to in these services (drained, or about to start or restart). */
export const leftOut = (book: Book, services: ReadonlyArray<string>, instances: ReadonlySet<string>): Book => {
  const endpoints = new Map(book.endpoints)
  for (const service of services) {
    const own = endpoints.get(service)
    if (own !== undefined) endpoints.set(service, new Map([...own].filter(([instance]) => !instances.has(instance))))
  }
  return { ...book, endpoints }
}

/** A rolled instance drained: no longer routed to, no longer vouched for until it answers again. */
export const drained = (book: Book, service: string, instance: string): Book => {
  const vouched = new Map(book.vouched)
  vouched.delete(instance)
  return { ...leftOut(book, [service], new Set([instance])), vouched }
}

/** A restarted instance at its new address (routed to from the next load on). */
export const movedTo = (book: Book, service: string, instance: string, url: string): Book => {
  const own = book.endpoints.get(service)
  if (own === undefined) return book
  return { ...book, endpoints: new Map([...book.endpoints, [service, new Map([...own, [instance, url]])]]) }
}

// ---------------------------------------------------------------- the next load

/** Every routed service at its current endpoints, without `leaveOut`; a service that loses one is marked draining when `draining`. */
export const desiredRoutes = (book: Book, leaveOut: ReadonlySet<string>, draining: boolean): ReadonlyArray<Desired> =>
  book.services.map((service) => {
    const endpoints = endpointsOf(book, service, leaveOut)
    return { service, endpoints, draining: draining && endpoints.length < endpointsOf(book, service).length }
  })

/**
 * Whether a `RouteProxy` step makes no load of its own: it drains nothing,
 * and the step after it (a roll behind Caddy, or the restore) loads these
 * routes anyway: one load instead of two. The executor and `--dry-run`'s
 * preview both ask this.
 */
export const routeDeferred = (step: Extract<PlanStep, { _tag: "RouteProxy" }>, next: PlanStep | undefined): boolean =>
  step.except.length === 0 && ((next?._tag === "Roll" && next.behindCaddy) || next?._tag === "RestoreProxy")

/** What a `RouteProxy` step routes around: the instances about to start or restart, by display name. */
export const routeLeaving = (step: Extract<PlanStep, { _tag: "RouteProxy" }>): ReadonlySet<string> =>
  new Set(step.except.map(displayInstance))

/**
 * A failed route of a `RouteProxy` step fails it only when instances are
 * about to change; else Caddy keeps routing as before, with a warning.
 */
export const routeFailureFatal = (step: Extract<PlanStep, { _tag: "RouteProxy" }>): boolean => step.except.length > 0

/**
 * The drain before `instance` goes down: the load that routes its service
 * without it, and the take-down rule's verdict on it (issue #20). With
 * `pins` false (the reload way) the verdict is not binding: Caddy routes by
 * its own config.
 */
export const drainFor = (
  book: Book,
  service: string,
  instance: string,
): { readonly desired: ReadonlyArray<Desired>; readonly verdict: TakeDown } => {
  const desired = desiredRoutes(book, new Set([instance]), true)
  return {
    desired,
    verdict: mayTakeDown({
      instance,
      service,
      routed: desired.find((d) => d.service === service)?.endpoints ?? [],
      vouched: book.vouched,
    }),
  }
}

// ---------------------------------------------------------------- the restore

/** A scheduled restore counts a pending restore due this close to its due time (a timer fires to the second). */
export const dueSlackMillis = 1000

/** Whether a restore due at `dueAt` may be made at `now`. */
export const isDue = (dueAt: number, now: number, slackMillis = 0): boolean => dueAt <= now + slackMillis

/** A scheduled restore that finds something not serving (or the host lock held) tries again this much later. */
export const retryMillis = 15_000

/**
 * When to run the scheduled restore for this routing: a second after its
 * due time, or `retryMillis` from now if that is sooner (pins nothing made
 * stale, a start's, have no due time). Before the due time the scheduled
 * restore refreshes the pins (re-pins to every instance that answers) and
 * comes back; while the run that pinned still holds the host lock it only
 * tries again later.
 */
export const scheduleTime = (state: RoutingState, now: number): number => {
  const due = restoreDueAt(state)
  return Math.max(now + 1000, Math.min(Number.isFinite(due) ? due + 1000 : now + retryMillis, now + retryMillis))
}

/** Whether a restore was already scheduled for this due time (within a second): the run does not push it at every load. */
export const sameDue = (scheduledFor: number, dueAt: number): boolean =>
  scheduledFor === dueAt || Math.abs(scheduledFor - dueAt) < 1000

/**
 * What start, stop or restart does with a restore an earlier run left
 * (§9.3, issue #25):
 * - `Idle`: the plan has nothing to do and the restore is not due: the
 *   command says "nothing to do"; `resume` when a restore is pending and
 *   this is no dry run (it waits for the due time under the host lock).
 * - `Work`: the command runs its plan (a due restore is work too);
 *   `restoreFirst` when the plan routes no service behind Caddy (one that
 *   does adopts the earlier state in its own session); `wouldRestore` is
 *   what `--dry-run` says.
 */
export type EarlierRestore =
  | { readonly _tag: "Idle"; readonly resume: boolean }
  | { readonly _tag: "Work"; readonly restoreFirst: boolean; readonly wouldRestore: boolean }

export const earlierRestore = (input: {
  /** The pending restore's due time; null when no earlier run left one. */
  readonly dueAt: number | null
  readonly now: number
  readonly nothingToDo: boolean
  readonly dryRun: boolean
  /** Whether the plan routes a service behind Caddy. */
  readonly routesCaddy: boolean
}): EarlierRestore => {
  const due = input.dueAt !== null && isDue(input.dueAt, input.now)
  if (input.nothingToDo && !due) return { _tag: "Idle", resume: input.dueAt !== null && !input.dryRun }
  return { _tag: "Work", restoreFirst: input.dueAt !== null && !input.routesCaddy, wouldRestore: due }
}

/** The routing state an earlier run saved, with what Caddy runs now (`current`, by default the saved one). */
export interface SavedRouting {
  readonly original: Json
  readonly current: Json
  /** What Caddy runs if the last load never happened (the run died during it). */
  readonly beforeLoad: Json | null
  readonly clocks: RoutingState["clocks"]
  readonly staledServices: ReadonlyArray<string>
  readonly since: number
  readonly command: string
}

/** The one way from a saved state to a routing state (`current`: what Caddy runs, by default what was saved). */
export const routingOf = (saved: SavedRouting, current: Json = saved.current): RoutingState => ({
  original: saved.original,
  current,
  clocks: saved.clocks,
  staledServices: saved.staledServices,
})

/**
 * Whether a run takes over an earlier run's saved routing (`live`: Caddy's
 * config now): only if Caddy still runs what that run loaded, or what ran
 * before its last load (it died during it). Else the state is forgotten,
 * with a warning unless Caddy runs its own config again.
 */
export type Adoption =
  | { readonly _tag: "Adopt"; readonly state: RoutingState; readonly since: number }
  | { readonly _tag: "Forget"; readonly warn: boolean }

export const adoption = (saved: SavedRouting, live: Json): Adoption => {
  const current = jsonEqual(live, saved.current)
    ? saved.current
    : saved.beforeLoad !== null && jsonEqual(live, saved.beforeLoad)
      ? saved.beforeLoad
      : null
  if (current === null) return { _tag: "Forget", warn: !jsonEqual(live, saved.original) }
  return { _tag: "Adopt", state: routingOf(saved, current), since: saved.since }
}

/** What `status` shows of a saved state: pending only while Caddy runs what it loaded. */
export const pendingOf = (
  saved: SavedRouting,
  live: Json | null,
): { readonly since: number; readonly dueAt: number; readonly handlers: ReadonlyArray<string> } | null =>
  live !== null && !jsonEqual(live, saved.current)
    ? null
    : { since: saved.since, dueAt: restoreDueAt(routingOf(saved)), handlers: Object.keys(saved.clocks) }

/** What answers now, per pinned service (the restore's probe). */
export interface AnswerCheck {
  readonly service: string
  readonly answering: ReadonlyArray<Endpoint>
  readonly silent: ReadonlyArray<Endpoint>
}

/**
 * The load that re-pins each service to the instances that answer now,
 * among every instance it runs (answering or not); a service none of whose
 * instances answers keeps its pins.
 */
export const repinTo = (
  check: ReadonlyArray<AnswerCheck>,
): { readonly among: ReadonlyArray<ServiceEndpoints>; readonly desired: ReadonlyArray<Desired> } => ({
  among: check.map((s) => ({ service: s.service, endpoints: [...s.answering, ...s.silent] })),
  desired: check
    .filter((s) => s.answering.length > 0)
    .map((s) => ({ service: s.service, endpoints: s.answering, draining: false })),
})

/** The instances that run without answering: Caddy's own upstreams would route to them, so no restore yet. */
export const silentOf = (check: ReadonlyArray<AnswerCheck>): ReadonlyArray<string> =>
  check.flatMap((s) => s.silent.map((e) => e.instance))

/**
 * The handlers of these services in Caddy's own config, and those a state
 * pinned (by the path its clocks keep: a pinned static handler no longer
 * names its instances).
 */
export const handlersFor = (
  list: ReadonlyArray<ServiceEndpoints>,
  routing: RoutingState,
): ReadonlyMap<string, ReadonlyArray<ProxyHandler>> => {
  const all = proxyHandlers(routing.original)
  const found = new Map(handlersByService(all, list))
  for (const [key, clock] of Object.entries(routing.clocks)) {
    const handler = all.find((h) => describePath(h.path) === key)
    const known = found.get(clock.service) ?? []
    if (handler !== undefined && !known.some((h) => describePath(h.path) === key))
      found.set(clock.service, [...known, handler])
  }
  return found
}

/**
 * Whether a rolled instance's new address must be found before the next
 * goes down (spec §7.3 point 4, §8): behind a Caddy that routes by address.
 * That is tamanu's pins (the admin way), and on a systemd host also Caddy's
 * own `dynamic a` upstreams (the old reload way: the next instance may go
 * down only once the restarted one serves at an address Caddy can reach,
 * and a container that cannot be found serves nobody). An address not
 * found then stops the roll; it never turns into a blind cooldown. A pm2
 * host's upstreams are fixed `localhost:PORT`s: a process with no PORT
 * there waits the cooldown instead, with its warning.
 */
export const addressRequired = (mode: ProxyMode | null, supervisor: SupervisorKind): boolean =>
  mode === "admin" || (mode !== null && supervisor === "systemd")
