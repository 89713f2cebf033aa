/**
 * Caddy's live config, read and changed as data (spec §9.2). Pure: the admin
 * API layer (caddyAdmin.ts) fetches the JSON and loads what these functions
 * return, so every decision about which handler to change, to what, and
 * when Caddy's own config may come back is tested here without a Caddy.
 *
 * Only `reverse_proxy` handlers change, and only their upstreams: a handler
 * with `dynamic_upstreams` of source `a` (Tamanu's Linux hosts: the service's
 * aardvark-dns alias) or static `upstreams` (Windows: `localhost:PORT`) that
 * routes to a service being rolled gets static `upstreams` naming exactly the
 * instances that serve. Everything else in the config is left as read.
 */
import { Duration, Either, Option } from "effect"

/** JSON as Caddy's admin API returns it. */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
type JsonObject = { readonly [key: string]: Json }

/** Where a handler sits in the config: object keys and array indexes from the root. */
export type JsonPath = ReadonlyArray<string | number>

const isObject = (j: Json | undefined): j is JsonObject => typeof j === "object" && j !== null && !Array.isArray(j)

/** How a `reverse_proxy` handler finds its upstreams. */
export type Upstreams =
  /** `dynamic a`: `name` resolved to addresses, kept in Caddy's process-wide cache for `refreshMillis`. */
  | {
      readonly _tag: "DynamicA"
      readonly name: string
      readonly port: string
      readonly refreshMillis: number
      /** `resolver.addresses` (`udp/10.89.0.1:53`); empty: the system's resolvers. */
      readonly resolvers: ReadonlyArray<string>
    }
  /**
   * Fixed dial addresses (`host:port`). `resolvers`: the HTTP transport's
   * `resolver.addresses`, which resolve a dial's host name at every dial
   * (Go's resolver keeps no cache); empty: none set.
   */
  | { readonly _tag: "Static"; readonly dials: ReadonlyArray<string>; readonly resolvers?: ReadonlyArray<string> }
  /** A source tamanu does not change (`dynamic srv`, `multi`, placeholders, …). */
  | { readonly _tag: "Other"; readonly what: string }

export interface ProxyHandler {
  readonly path: JsonPath
  readonly upstreams: Upstreams
  /** `load_balancing.try_duration` (0 when unset: a failed dial is not retried). */
  readonly tryDurationMillis: number
  /**
   * The `transport`'s `protocol` (`http`, `fastcgi`, …); absent: no
   * transport set (Caddy's default, http). Only an http transport takes a
   * `resolver`, so only then can an instance be pinned by name.
   */
  readonly transport?: string
}

/** Caddy's default `refresh` for `dynamic a` (modules/caddyhttp/reverseproxy/upstreams.go). */
export const defaultRefreshMillis = 60_000

/**
 * A Caddy JSON duration: integer nanoseconds, or a string Go's
 * time.ParseDuration reads (`1m`, `500ms`, `1m30s`, `1.5s`), plus Caddy's
 * `d` for days. None when it is neither.
 */
export const caddyDurationMillis = (value: Json | undefined): Option.Option<number> => {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return Option.some(value / 1e6)
  if (typeof value !== "string") return Option.none()
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }
  const parts = /^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h|d)/
  let rest = value.trim()
  if (rest === "" || rest === "0") return rest === "0" ? Option.some(0) : Option.none()
  let total = 0
  while (rest.length > 0) {
    const match = parts.exec(rest)
    if (match === null) return Option.none()
    const [whole] = match
    const number = /^(?:\d+(?:\.\d*)?|\.\d+)/.exec(whole)?.[0] ?? "0"
    total += Number.parseFloat(number) * (unit[whole.slice(number.length)] ?? 0)
    rest = rest.slice(whole.length)
  }
  return Option.some(total)
}

const stringField = (o: JsonObject, key: string): string | null => {
  const v = o[key]
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : null
}

const upstreamsOf = (handler: JsonObject): Upstreams => {
  const dynamic = handler.dynamic_upstreams
  if (isObject(dynamic)) {
    const name = stringField(dynamic, "name")
    const port = stringField(dynamic, "port")
    if (dynamic.source !== "a") return { _tag: "Other", what: `dynamic ${String(dynamic.source)}` }
    if (name === null || port === null || name.includes("{") || port.includes("{"))
      return { _tag: "Other", what: `dynamic a ${name ?? "?"}:${port ?? "?"}` }
    const refresh =
      dynamic.refresh === undefined ? Option.some(defaultRefreshMillis) : caddyDurationMillis(dynamic.refresh)
    const resolver = dynamic.resolver
    const addresses = isObject(resolver) && Array.isArray(resolver.addresses) ? resolver.addresses : []
    const resolvers = addresses.flatMap((a: Json) => (typeof a === "string" ? [a] : []))
    return Option.match(refresh, {
      onNone: () => ({ _tag: "Other", what: `dynamic a ${name}:${port} with refresh ${String(dynamic.refresh)}` }),
      onSome: (refreshMillis) => ({ _tag: "DynamicA", name, port, refreshMillis, resolvers }),
    })
  }
  const list = handler.upstreams
  const dials = Array.isArray(list)
    ? list.flatMap((u: Json) => (isObject(u) && typeof u.dial === "string" ? [u.dial] : []))
    : []
  const resolvers = transportResolvers(handler)
  return resolvers.length > 0 ? { _tag: "Static", dials, resolvers } : { _tag: "Static", dials }
}

const transportResolvers = (handler: JsonObject): ReadonlyArray<string> => {
  const transport = handler.transport
  const resolver = isObject(transport) ? transport.resolver : undefined
  const addresses = isObject(resolver) && Array.isArray(resolver.addresses) ? resolver.addresses : []
  return addresses.flatMap((a: Json) => (typeof a === "string" ? [a] : []))
}

/** Every `reverse_proxy` handler in the config, wherever it is nested (subroutes, handle_response, …). */
export const proxyHandlers = (config: Json): ReadonlyArray<ProxyHandler> => {
  const found: Array<ProxyHandler> = []
  const walk = (node: Json, path: JsonPath): void => {
    if (Array.isArray(node)) {
      node.forEach((child: Json, index: number) => {
        walk(child, [...path, index])
      })
      return
    }
    if (!isObject(node)) return
    if (node.handler === "reverse_proxy") {
      const lb = node.load_balancing
      const tryDurationMillis = isObject(lb) ? Option.getOrElse(caddyDurationMillis(lb.try_duration), () => 0) : 0
      const transport = isObject(node.transport) ? stringField(node.transport, "protocol") : null
      found.push({
        path,
        upstreams: upstreamsOf(node),
        tryDurationMillis,
        ...(transport === null ? {} : { transport }),
      })
    }
    for (const [key, child] of Object.entries(node)) walk(child, [...path, key])
  }
  walk(config, [])
  return found
}

/** `apps.http.servers.srv0.routes[0].handle[0]`, for messages and `--dry-run`. */
export const describePath = (path: JsonPath): string =>
  path.reduce<string>(
    (text, step) => (typeof step === "number" ? `${text}[${step}]` : text ? `${text}.${step}` : step),
    "",
  )

// ---------------------------------------------------------------- addresses

/** `tcp/host:port`, `host:port`, `[::1]:port` → host and port; None for unix sockets and the like. */
export const parseDial = (dial: string): Option.Option<{ readonly host: string; readonly port: string }> => {
  const bare = dial.replace(/^(tcp|tcp4|tcp6)\//, "")
  if (bare.includes("/")) return Option.none()
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(bare)
  if (match === null) return Option.none()
  return Option.some({ host: (match[1] ?? match[2] ?? "").toLowerCase(), port: match[3] ?? "" })
}

const loopback = new Set(["localhost", "127.0.0.1", "::1", ""])

/** Same host and port, taking every loopback spelling (`localhost`, `127.0.0.1`, `::1`, ``) as one. */
export const sameAddress = (
  a: { readonly host: string; readonly port: string },
  b: { readonly host: string; readonly port: string },
): boolean => a.port === b.port && (a.host === b.host || (loopback.has(a.host) && loopback.has(b.host)))

/** The host and port of an instance's URL (`http://10.89.0.5:3000/` → `10.89.0.5`, `3000`). */
export const urlAddress = (url: string): Option.Option<{ readonly host: string; readonly port: string }> => {
  if (!URL.canParse(url)) return Option.none()
  const u = new URL(url)
  const port = u.port !== "" ? u.port : u.protocol === "https:" ? "443" : "80"
  return Option.some({ host: u.hostname.replace(/^\[|\]$/g, "").toLowerCase(), port })
}

const hostPort = (host: string, port: string): string => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`)

// ---------------------------------------------------------------- services

/**
 * aardvark-dns alias of each service behind Caddy on a Tamanu Linux host
 * (linux-host.md): the name its `dynamic a` upstream resolves.
 */
export const serviceAliases: Readonly<Record<string, string>> = {
  "tamanu-facility-api": "api.facility.tamanu.internal",
  "tamanu-central-api": "api.central.tamanu.internal",
  "tamanu-frontend": "frontend.tamanu.internal",
  "tamanu-patientportal": "patientportal.tamanu.internal",
}

/** An instance of a service and where it serves now. */
export interface Endpoint {
  /** Display name (`tamanu-facility-api@1`, `tamanu-api#0`). */
  readonly instance: string
  readonly url: string
  /**
   * A DNS name that answers with this instance's address only, wherever it
   * is (its podman container's name, which aardvark-dns answers and which a
   * restart keeps): a pin may name it instead of the address. Absent: none
   * known (pm2, a name that did not resolve to this address).
   */
  readonly dnsName?: string
}

/** A service behind Caddy with the current addresses of its instances. */
export interface ServiceEndpoints {
  readonly service: string
  readonly endpoints: ReadonlyArray<Endpoint>
}

const normalName = (name: string): string => name.toLowerCase().replace(/\.$/, "")

/** Whether this handler routes to this service: by its alias (`dynamic a`), or by an instance's address (static). */
export const handlerServes = (handler: ProxyHandler, service: ServiceEndpoints): boolean => {
  const u = handler.upstreams
  switch (u._tag) {
    case "DynamicA": {
      const alias = serviceAliases[service.service]
      return alias !== undefined && normalName(u.name) === normalName(alias)
    }
    case "Static": {
      const instances = service.endpoints.flatMap((e) => Option.toArray(urlAddress(e.url)))
      return u.dials.some((dial) =>
        Option.match(parseDial(dial), {
          onNone: () => false,
          onSome: (d) => instances.some((i) => sameAddress(d, i)),
        }),
      )
    }
    case "Other":
      return false
  }
}

/** The handlers of each service (a service may have several: one per site). */
export const handlersByService = (
  handlers: ReadonlyArray<ProxyHandler>,
  services: ReadonlyArray<ServiceEndpoints>,
): ReadonlyMap<string, ReadonlyArray<ProxyHandler>> =>
  new Map(services.map((s) => [s.service, handlers.filter((h) => handlerServes(h, s))]))

/**
 * Whether a pin of this handler may name instances by DNS name: a `dynamic a`
 * handler with its own resolvers (they answer the container names too) and
 * an http transport (the one that takes a `resolver`).
 */
export const namePinnable = (handler: ProxyHandler): boolean =>
  handler.upstreams._tag === "DynamicA" &&
  handler.upstreams.resolvers.length > 0 &&
  (handler.transport === undefined || handler.transport === "http")

/** A dial by name, as a pin writes it: rooted (`tamanu-frontend-a.:3000`), so no search domain is tried first. */
export const nameDial = (name: string, port: string): string => `${name.replace(/\.$/, "")}.:${port}`

/** Whether this dial names a host by a rooted DNS name (what `nameDial` writes), not an address. */
export const isNameDial = (dial: string): boolean =>
  Option.match(parseDial(dial), { onNone: () => false, onSome: (d) => d.host.endsWith(".") })

/**
 * The dial addresses that route `handler` to exactly these endpoints:
 * - `dynamic a`: each endpoint by its DNS name when the handler can pin by name
 *   (`namePinnable`) and the endpoint has one, else its address, on the
 *   handler's port (what the alias resolves to);
 * - static: the handler's own dial for each endpoint (its spelling, e.g. `localhost:3001`),
 *   plus, unchanged, any dial that is no instance of this service at all.
 */
export const dialsFor = (
  handler: ProxyHandler,
  service: ServiceEndpoints,
  endpoints: ReadonlyArray<Endpoint>,
): ReadonlyArray<string> => {
  const chosen = endpoints.flatMap((e) => Option.toArray(urlAddress(e.url)))
  const u = handler.upstreams
  switch (u._tag) {
    case "DynamicA": {
      const byName = namePinnable(handler)
      return [
        ...new Set(
          endpoints.flatMap((e) =>
            byName && e.dnsName !== undefined && e.dnsName !== ""
              ? [nameDial(e.dnsName, u.port)]
              : Option.toArray(Option.map(urlAddress(e.url), (a) => hostPort(a.host, u.port))),
          ),
        ),
      ]
    }
    case "Static": {
      const everyInstance = service.endpoints.flatMap((e) => Option.toArray(urlAddress(e.url)))
      const isInstance = (dial: string) =>
        Option.match(parseDial(dial), {
          onNone: () => false,
          onSome: (d) => everyInstance.some((i) => sameAddress(d, i)),
        })
      const own = chosen.map(
        (a) =>
          u.dials.find((dial) =>
            Option.match(parseDial(dial), { onNone: () => false, onSome: (d) => sameAddress(d, a) }),
          ) ?? hostPort(a.host, a.port),
      )
      return [...new Set([...u.dials.filter((d) => !isInstance(d)), ...own])]
    }
    case "Other":
      return []
  }
}

// ---------------------------------------------------------------- editing

const getAt = (config: Json, path: JsonPath): Json | undefined =>
  path.reduce<Json | undefined>((node, step) => {
    if (node === undefined || node === null || typeof node !== "object") return undefined
    return Array.isArray(node) ? (typeof step === "number" ? node[step] : undefined) : (node as JsonObject)[step]
  }, config)

const setAt = (config: Json, path: JsonPath, value: Json): Json => {
  if (path.length === 0) return value
  const [step, ...rest] = path
  if (Array.isArray(config) && typeof step === "number") {
    return config.map((child: Json, index: number) => (index === step ? setAt(child, rest, value) : child))
  }
  if (isObject(config) && typeof step === "string")
    return { ...config, [step]: setAt(config[step] ?? null, rest, value) }
  return config
}

/**
 * The config with this handler sending to exactly these dials as static
 * upstreams (its `dynamic_upstreams` dropped). A static handler keeps the
 * upstream objects it had for the dials it keeps (with their own settings).
 * `resolvers` (given when a dial is a name): the http transport's
 * `resolver.addresses`, set on the handler's own transport (its other
 * settings kept) or on a new `{ "protocol": "http" }` one.
 */
export const withStaticUpstreams = (
  config: Json,
  path: JsonPath,
  dials: ReadonlyArray<string>,
  resolvers: ReadonlyArray<string> = [],
): Json => {
  const handler = getAt(config, path)
  if (!isObject(handler)) return config
  const previous = Array.isArray(handler.upstreams) ? (handler.upstreams as ReadonlyArray<Json>) : []
  const upstreams = dials.map((dial): Json => previous.find((u: Json) => isObject(u) && u.dial === dial) ?? { dial })
  const { dynamic_upstreams: _dropped, ...rest } = handler
  if (resolvers.length === 0) return setAt(config, path, { ...rest, upstreams })
  const transport: JsonObject = isObject(handler.transport) ? handler.transport : { protocol: "http" }
  return setAt(config, path, {
    ...rest,
    upstreams,
    transport: { ...transport, resolver: { addresses: [...resolvers] } },
  })
}

/** The resolvers a pin of `handler` to `dials` needs: the handler's own, when a dial is a name. */
export const pinResolvers = (handler: ProxyHandler, dials: ReadonlyArray<string>): ReadonlyArray<string> =>
  handler.upstreams._tag === "DynamicA" && dials.some(isNameDial) ? handler.upstreams.resolvers : []

/** Deep equality of two JSON values (key order ignored, as Caddy re-serialises). */
export const jsonEqual = (a: Json | undefined, b: Json | undefined): boolean => {
  if (a === b) return true
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x: Json, i: number) => jsonEqual(x, b[i]))
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a)
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && jsonEqual(a[k], b[k]))
  }
  return false
}

// ---------------------------------------------------------------- the admin address

/** What a Caddyfile's global options block says about the admin endpoint. */
export type AdminSetting =
  | { readonly _tag: "Default" }
  | { readonly _tag: "Off" }
  | { readonly _tag: "Address"; readonly address: string }

/**
 * The `admin` global option of a Caddyfile (`admin off`, `admin
 * 127.0.0.1:2020`, `admin unix//run/caddy.sock`, `admin :2019 { … }`), or
 * Default when there is no global block or no `admin` in it.
 */
export const caddyfileAdmin = (text: string): AdminSetting => {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.replace(/(^|\s)#.*$/, "").trim())
    .filter((line) => line !== "")
  if (lines[0] !== "{") return { _tag: "Default" }
  let depth = 0
  for (const line of lines) {
    const opens = (line.match(/\{/g) ?? []).length
    const closes = (line.match(/\}/g) ?? []).length
    if (depth === 1) {
      const [word, value] = line.split(/\s+/)
      if (word === "admin") {
        if (value === undefined || value === "{") return { _tag: "Default" }
        return value === "off" ? { _tag: "Off" } : { _tag: "Address", address: value }
      }
    }
    depth += opens - closes
    if (depth <= 0 && line !== "{") break
  }
  return { _tag: "Default" }
}

/**
 * An admin address as Caddy writes it (`localhost:2019`, `:2019`,
 * `127.0.0.1:2020`, `tcp/localhost:2019`) → the base URL to call; a unix
 * socket or anything else Node's HTTP client cannot reach → Left with why.
 */
export const adminUrlFromAddress = (address: string): Either.Either<string, string> => {
  if (/^https?:\/\//.test(address)) return Either.right(address.replace(/\/+$/, ""))
  if (address.startsWith("unix/")) return Either.left(`a unix socket (${address}), which tamanu does not speak to`)
  return Option.match(parseDial(address), {
    onNone: () => Either.left(`"${address}", which is not a host:port`),
    onSome: ({ host, port }) => Either.right(`http://${hostPort(host === "" ? "localhost" : host, port)}`),
  })
}

export const defaultAdminUrl = "http://localhost:2019"

/** The restore margin past `refresh`: a request of the old config may still look the name up this long after a load. */
export const restoreMarginMillis = (handler: ProxyHandler): number => Math.max(1000, handler.tryDurationMillis) + 1000

/** For messages: `1m`, `38s`. */
export const formatMillis = (millis: number): string =>
  Duration.format(Duration.millis(Math.max(0, Math.round(millis))))
