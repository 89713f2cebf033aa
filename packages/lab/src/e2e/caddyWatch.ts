/**
 * Watches what a real Caddy routes to while `tamanu` works on a sandbox host,
 * independently of tamanu's own code: every few hundred ms it reads Caddy's
 * live config (`GET /config/`), finds every `reverse_proxy` handler, and
 * checks each place it can send a request:
 * - static upstreams (`upstreams[].dial`): each dial must be the address of a
 *   container that runs now (podman, asked again whenever a dial is not among
 *   the addresses it gave last) and must answer HTTP below 500;
 * - `dynamic a` upstreams: every address aardvark-dns gives for the name must
 *   answer (what Caddy finds when it looks the name up).
 * A sample counts only if the config read again after the checks is the same
 * (a load in between makes the sample meaningless, not a failure). The
 * spec's line (§9.3) is "never routes ONLY to addresses that do not serve";
 * by design a drain never even names one, so both are recorded.
 */
import { Resolver } from "node:dns/promises"
import http from "node:http"
import { performance } from "node:perf_hooks"
import type { SandboxHost } from "./sandboxHost.js"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

const isObject = (j: Json | undefined): j is { readonly [key: string]: Json } =>
  typeof j === "object" && j !== null && !Array.isArray(j)

/** What one reverse_proxy handler sends to. */
export type HandlerUpstreams =
  | { readonly kind: "static"; readonly dials: ReadonlyArray<string> }
  | { readonly kind: "dynamic"; readonly name: string; readonly port: string }

/** Every reverse_proxy handler in a config, in document order. */
export const reverseProxies = (config: Json): ReadonlyArray<HandlerUpstreams> => {
  const found: Array<HandlerUpstreams> = []
  const walk = (node: Json): void => {
    if (Array.isArray(node)) {
      for (const child of node) walk(child)
      return
    }
    if (!isObject(node)) return
    if (node.handler === "reverse_proxy") {
      const dynamic = node.dynamic_upstreams
      if (isObject(dynamic))
        found.push({ kind: "dynamic", name: String(dynamic.name ?? ""), port: String(dynamic.port ?? "") })
      else {
        const list = Array.isArray(node.upstreams) ? node.upstreams : []
        found.push({
          kind: "static",
          dials: list.flatMap((u: Json) => (isObject(u) && typeof u.dial === "string" ? [u.dial] : [])),
        })
      }
    }
    for (const child of Object.values(node)) walk(child)
  }
  walk(config)
  return found
}

/**
 * Caddy's live config. On a fresh connection each time: every config load
 * replaces Caddy's admin server too, and a kept-alive connection to the old
 * one fails ("socket hang up"), which is about this client, not about Caddy.
 */
/** A dial naming a host by a rooted name (`tamanu-frontend-a.:3000`), as tamanu's pins by container name do. */
const isNameDial = (dial: string): boolean => /^[^:[\]]+\.:\d+$/.test(dial)
const splitDial = (dial: string): [string, string] => {
  const at = dial.lastIndexOf(":")
  return [dial.slice(0, at), dial.slice(at + 1)]
}

export const readConfig = (adminUrl: string): Promise<Json> =>
  new Promise((resolve, reject) => {
    const req = http.get(`${adminUrl}/config/`, { agent: false, timeout: 5_000 }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (d: string) => {
        body += d
      })
      res.on("end", () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${adminUrl}/config/: HTTP ${res.statusCode}`))
        else {
          try {
            resolve(JSON.parse(body) as Json)
          } catch (e) {
            reject(e)
          }
        }
      })
      res.on("error", reject)
    })
    req.on("timeout", () => req.destroy(new Error(`GET ${adminUrl}/config/: no answer within 5 s`)))
    req.on("error", reject)
  })

/** A failure to talk to the admin server at all (not an HTTP answer). */
const connectionError = (e: unknown): boolean =>
  e instanceof Error && /ECONNRESET|ECONNREFUSED|socket hang up|EPIPE/.test(e.message)

/**
 * Caddy's live config, read again (fresh connection, 100 ms apart, up to 5
 * tries) when the connection itself fails: Caddy 2.6.2 replaces its admin
 * server at every config load, and a connection it accepted just before
 * was reset (seen once in a CI run, mid-roll: ECONNRESET on a fresh
 * connection). That says nothing about where Caddy routes; a config that
 * still cannot be read after 5 tries is recorded as a failure by the caller.
 */
const readConfigSettled = async (adminUrl: string, tries = 5): Promise<Json> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readConfig(adminUrl)
    } catch (e) {
      if (attempt >= tries || !connectionError(e)) throw e
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

/** Deep equality, key order ignored (as Caddy re-serialises). */
export const sameJson = (a: Json | undefined, b: Json | undefined): boolean => {
  if (a === b) return true
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameJson(x, b[i]))
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a)
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && sameJson(a[k], b[k]))
  }
  return false
}

const answers = async (hostPort: string): Promise<boolean> => {
  const response = await fetch(`http://${hostPort}/`, { signal: AbortSignal.timeout(2_000) }).catch(() => null)
  await response?.body?.cancel()
  return response !== null && response.status < 500
}

export interface WatchResult {
  /** Samples whose config did not change during the checks. */
  readonly samples: number
  /** Each distinct config Caddy ran, in order, with when it was first seen (ms from the watch's start). */
  readonly configs: ReadonlyArray<{ readonly atMs: number; readonly config: Json }>
  /** A handler ALL of whose addresses did not serve at a sample (spec §9.3): must be empty. */
  readonly onlyDead: ReadonlyArray<string>
  /** A handler naming at least one address that did not serve: by design, also empty. */
  readonly someDead: ReadonlyArray<string>
  /**
   * Name pins that got no DNS answer within the resolver's patience (aardvark-dns reloading, issue #25), one
   * line per sample and handler: left unjudged (the load judges those moments), recorded to measure the risk.
   */
  readonly unanswered: ReadonlyArray<string>
}

export interface CaddyWatch {
  readonly stop: () => Promise<WatchResult>
}

export const watchCaddy = (host: SandboxHost, options: { readonly intervalMs?: number } = {}): CaddyWatch => {
  const intervalMs = options.intervalMs ?? 250
  const t0 = performance.now()
  const configs: Array<{ atMs: number; config: Json }> = []
  const onlyDead: Array<string> = []
  const someDead: Array<string> = []
  const unanswered: Array<string> = []
  let samples = 0
  let stopping = false
  /** Addresses of the sandbox's running containers, as podman last said. */
  let running: ReadonlySet<string> | null = null
  // As patient as the dial it judges: Caddy's http transport resolves through Go's resolver, 5 s per try and two
  // tries (resolv.conf's defaults). With 1 s, a lookup aardvark-dns answered late while it reloaded for a
  // restarted container (a SIGKILLed roll's last instance) was called dead though Caddy's dial got its answer and
  // no request was lost.
  const resolver = new Resolver({ timeout: 5000, tries: 2 })
  if (host.podman !== null) resolver.setServers([host.podman.gateway])

  const sample = async () => {
    const before = await readConfigSettled(host.caddyAdminUrl)
    const at = performance.now() - t0
    const last = configs.at(-1)
    if (last === undefined || !sameJson(last.config, before)) configs.push({ atMs: at, config: before })
    const network = host.podman
    // Container addresses change only when one restarts: read them again from podman when a dial is not among them.
    if (network !== null) {
      const dials = reverseProxies(before).flatMap((h) =>
        h.kind === "static" ? h.dials.filter((d) => !isNameDial(d)) : [],
      )
      if (running === null || dials.some((d) => !running?.has(d.replace(/:\d+$/, ""))))
        running = new Set(Object.values(await network.addresses()))
    }
    const findings = await Promise.all(
      reverseProxies(before).map(async (h, i) => {
        // Name pins that got no answer in this sample: aardvark-dns reloads at every container start and stop, and
        // a sample taken then cannot tell a name that is gone from one not answered yet (Caddy's kept-alive
        // connections to its upstreams need no lookup). Such a sample judges that handler not at all; the
        // requests the load sends, every one of which must be served, are the judge there.
        const unresolved: Array<string> = []
        const why = new Map<string, string>()
        const resolved = async (name: string, port: string) =>
          (
            await resolver.resolve4(name).catch((e: unknown) => {
              why.set(
                name,
                `${(e as NodeJS.ErrnoException).code ?? String(e)} after ${Math.round(performance.now() - t0 - at)} ms`,
              )
              return [] as ReadonlyArray<string>
            })
          ).map((ip) => `${ip}:${port}`)
        // A pin by container name (tamanu's, issue #25) reaches what the name resolves to now, as Caddy's dial does.
        const targets =
          h.kind === "static"
            ? (
                await Promise.all(
                  h.dials.map(async (d) => {
                    if (!isNameDial(d)) return [d]
                    const [name, port] = splitDial(d)
                    const found = await resolved(name, port)
                    if (found.length === 0) unresolved.push(`${d} (${why.get(name) ?? "no address"})`)
                    return found.length > 0 ? found : [d]
                  }),
                )
              ).flat()
            : await resolved(h.name, h.port)
        const dead = (
          await Promise.all(
            targets.map(async (t) => {
              const ip = t.replace(/:\d+$/, "")
              const known =
                host.podman === null ||
                h.kind === "dynamic" ||
                running?.has(ip) === true ||
                (/^\d+\.\d+\.\d+\.\d+$/.test(ip) && !h.dials.includes(t))
              return known && (await answers(t)) ? null : t
            }),
          )
        ).filter((t) => t !== null)
        return {
          handler: `#${i} ${h.kind === "static" ? "static" : `dynamic a ${h.name}`}`,
          targets,
          dead: unresolved.length > 0 ? [] : dead,
          unresolved,
        }
      }),
    )
    const after = await readConfigSettled(host.caddyAdminUrl)
    if (!sameJson(before, after)) return
    samples += 1
    for (const f of findings) {
      if (f.unresolved.length > 0) unanswered.push(`${Math.round(at)} ms: ${f.handler}: ${f.unresolved.join(", ")}`)
      if (f.dead.length === 0) continue
      const line = `${Math.round(at)} ms: ${f.handler} → ${f.targets.join(", ") || "(none)"}; not serving: ${f.dead.join(", ")}`
      someDead.push(line)
      if (f.dead.length === f.targets.length) onlyDead.push(line)
    }
  }

  const loop = (async () => {
    while (!stopping) {
      const began = performance.now()
      await sample().catch((e: unknown) => {
        onlyDead.push(`${Math.round(performance.now() - t0)} ms: cannot read Caddy's config: ${String(e)}`)
      })
      const rest = intervalMs - (performance.now() - began)
      if (rest > 0 && !stopping) await new Promise((resolve) => setTimeout(resolve, rest))
    }
  })()

  return {
    stop: async () => {
      stopping = true
      await loop
      return { samples, configs, onlyDead, someDead, unanswered }
    },
  }
}

/** What `probeNames` saw: every lookup of every name, and the longest stretch in which no name got an answer in time. */
export interface NameProbeResult {
  readonly lookups: number
  /** Lookups with no address within the probe's timeout (error code → count). */
  readonly failed: Readonly<Record<string, number>>
  /** Lookups that answered, but later than 500 ms. */
  readonly slow: number
  readonly slowestMs: number
  /** The longest time from a failed lookup's start to the next answer for the same name (ms). */
  readonly longestGapMs: number
  /** Rounds (every name looked up once) and those in which no name got an answer: aardvark-dns answering nothing. */
  readonly rounds: number
  readonly roundsAllFailed: number
}

/**
 * Measures how the sandbox's aardvark-dns answers container names, the way
 * a pin by name needs it (issue #25): every `intervalMs` each name is looked
 * up at the network's gateway with one try of `timeoutMs` (Caddy's dial
 * gives a lookup at most its 3 s dial timeout). A measurement, printed by
 * the tests; never asserted (how often it happens is the machine's load and
 * the podman events, not a property).
 */
export const probeNames = (
  host: SandboxHost,
  options: { readonly intervalMs?: number; readonly timeoutMs?: number; readonly match?: RegExp } = {},
): { readonly stop: () => Promise<NameProbeResult> } => {
  const intervalMs = options.intervalMs ?? 100
  const network = host.podman
  let stopping = false
  let lookups = 0
  let slow = 0
  let slowestMs = 0
  let longestGapMs = 0
  let rounds = 0
  let roundsAllFailed = 0
  const failed: Record<string, number> = {}
  const failingSince = new Map<string, number>()
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 1000, tries: 1 })
  if (network !== null) resolver.setServers([network.gateway])
  const loop = (async () => {
    if (network === null) return
    const names = Object.keys(await network.addresses()).filter((n) => (options.match ?? /tamanu-/).test(n))
    while (!stopping) {
      const began = performance.now()
      const answered = await Promise.all(
        names.map(async (name) => {
          const t = performance.now()
          const answer = await resolver.resolve4(`${name}.`).then(
            (a) => (a.length > 0 ? null : "NOADDRESS"),
            (e: unknown) => (e as NodeJS.ErrnoException).code ?? "ERROR",
          )
          const took = performance.now() - t
          lookups += 1
          if (answer === null) {
            if (took > 500) slow += 1
            slowestMs = Math.max(slowestMs, took)
            const since = failingSince.get(name)
            if (since !== undefined) longestGapMs = Math.max(longestGapMs, performance.now() - since)
            failingSince.delete(name)
          } else {
            failed[answer] = (failed[answer] ?? 0) + 1
            if (!failingSince.has(name)) failingSince.set(name, t)
          }
          return answer === null
        }),
      )
      rounds += 1
      if (answered.length > 0 && answered.every((a) => !a)) roundsAllFailed += 1
      const rest = intervalMs - (performance.now() - began)
      if (rest > 0 && !stopping) await new Promise((resolve) => setTimeout(resolve, rest))
    }
  })()
  return {
    stop: async () => {
      stopping = true
      await loop
      return {
        lookups,
        failed,
        slow,
        slowestMs: Math.round(slowestMs),
        longestGapMs: Math.round(longestGapMs),
        rounds,
        roundsAllFailed,
      }
    },
  }
}
