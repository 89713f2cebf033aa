/**
 * Real rootful podman as a Tamanu Linux host runs it (linux-host.md): a
 * bridge network with aardvark-dns, containers made from the host's own root
 * (`--rootfs /:O`: no image registry is needed), each service's instances
 * sharing a network alias. For the real-shape sandbox host (e2e/sandboxHost.ts).
 *
 * What this machine needs, found by trying (rs1's measurements):
 * - a containers.conf of our own (CONTAINERS_CONF, exported for EVERY podman
 *   call, the CLI's included): `network_backend = "netavark"` (the storage
 *   may say `cni`, which gives a network without aardvark-dns),
 *   `default_ulimits = []` (setting RLIMIT_NOFILE is refused), `runtime =
 *   "runc"`, `cgroup_manager = "cgroupfs"` (no systemd as PID 1),
 *   `events_logger = "file"`;
 * - `/run/netns` a SHARED mount, so the network namespaces netavark creates
 *   for containers started inside a user manager's mount namespace are seen
 *   by the host's podman (else `podman ps` fails there for every caller);
 * - aardvark-dns started by a container outside the units (a sleeper, the
 *   "DNS keeper"): the first container on a network spawns it into its own
 *   cgroup, and a unit's stop would take it along.
 *
 * Each sandbox has its own container storage (graphroot, runroot:
 * CONTAINERS_STORAGE_CONF, in the sandbox directory). On a Tamanu host
 * `podman ps --filter label=PODMAN_SYSTEMD_UNIT=<unit>` sees that host's
 * containers only; sandboxes sharing the machine's storage would see each
 * other's (every sandbox has a `tamanu-facility-api@1.service`), and the CLI
 * of one would probe, and route Caddy to, another's containers (seen:
 * concurrent scenarios "ready" at addresses of another sandbox's subnet).
 * Networks stay where the machine's podman keeps them
 * (`/etc/containers/networks`), and so does netavark's lock there: with a
 * network config dir per sandbox, netavark runs of two sandboxes overlapped,
 * each spawned its own aardvark-dns, and one gateway's alias went unanswered
 * for good (seen: four stray aardvark-dns processes after a few runs). What
 * sandboxes share is therefore the machine's: network configs, the
 * aardvark-dns process (one config file per network name), netavark's IPAM
 * database (by network name). So names are unique (`tl<pid>-<n>`, or a
 * suite's own prefix for `tl`), and each
 * network gets its own bridge name (`tl<pid>n<n>`) and a FREE /24 out of
 * 10.89.100.0–10.89.199.0 (never one the host's podman networks or routes
 * use; `podman network create` refuses an overlap under netavark's lock).
 * Every container also carries a label naming its sandbox. Teardown removes
 * exactly what the sandbox made, and `leftoverPodman()` proves it did.
 * Nothing here ever touches a container or network it did not create.
 */
import { execFile, execFileSync, spawn } from "node:child_process"
import { Resolver } from "node:dns/promises"
import * as fs from "node:fs"
import * as path from "node:path"
import { Duration, Effect, Schedule } from "effect"
import { hasCommand, isRoot, type Prerequisite } from "./prerequisites.js"

/** Where Debian's podman keeps its network helpers. */
const helperDirs = ["/usr/lib/podman", "/usr/libexec/podman"] as const
const helper = (name: string): string | null =>
  helperDirs.map((d) => path.join(d, name)).find((f) => fs.existsSync(f)) ?? null

/** Whether real podman containers can run here; for `skipUnless`. */
export const podmanPrerequisite = (): Prerequisite => {
  const missing = !isRoot()
    ? "needs root (rootful podman on a bridge network, as a Tamanu host runs it)"
    : (["podman", "runc", "conmon", "findmnt", "ip"].find((c) => !hasCommand(c) && !fs.existsSync(`/usr/bin/${c}`)) ??
      ["netavark", "aardvark-dns"].find((h) => helper(h) === null) ??
      null)
  return {
    component: "podman",
    missing:
      missing === null || missing.startsWith("needs")
        ? missing
        : `${missing} not found (install the Debian packages podman and runc: scripts/setup.sh)`,
  }
}

/** Where rootful podman keeps netavark network configs (and netavark's lock). */
const networkConfigDir = "/etc/containers/networks"

/**
 * The containers.conf of a sandbox (each line needed here, see the header).
 * `tmp_dir` (podman's per-boot directory) is the sandbox's own: every podman
 * command takes `<tmp_dir>/alive.lck` while its runtime starts (libpod
 * `makeRuntime`), and the podman-lock fault (`holdPodmanLock`) holds it for
 * this sandbox's podman alone, never the machine's (`/run/libpod`).
 */
export const containersConf = (tmpDir: string): string =>
  [
    "[containers]",
    "default_ulimits = []",
    "",
    "[network]",
    'network_backend = "netavark"',
    "",
    "[engine]",
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `tmp_dir = "${tmpDir}"`,
    "",
  ].join("\n")

/** The storage.conf of a sandbox: its own containers database and overlay layers. */
export const storageConf = (graphroot: string, runroot: string): string =>
  ["[storage]", 'driver = "overlay"', `graphroot = "${graphroot}"`, `runroot = "${runroot}"`, ""].join("\n")

/** The label every container of a sandbox carries: `tamanu-lifecycle.sandbox=<name>`. */
export const sandboxLabelKey = "tamanu-lifecycle.sandbox"

export interface PodmanResult {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

type PodmanEnv = Readonly<Record<"CONTAINERS_CONF" | "CONTAINERS_STORAGE_CONF", string>>

/** Run podman of this sandbox; never rejects on a non-zero exit. */
const podmanIn =
  (env: PodmanEnv) =>
  (args: ReadonlyArray<string>): Promise<PodmanResult> =>
    new Promise((resolve) => {
      execFile(
        "podman",
        [...args],
        { env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) =>
          resolve({
            stdout,
            stderr,
            exitCode: error === null ? 0 : typeof error.code === "number" ? error.code : 127,
          }),
      )
    })

const podmanSync = (env: PodmanEnv, args: ReadonlyArray<string>): string | null => {
  try {
    return execFileSync("podman", [...args], {
      env: { ...process.env, ...env },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    })
  } catch {
    return null
  }
}

/**
 * Make `/run/netns` a shared mount (a bind of itself, then --make-shared) if
 * it is not one yet. Host-wide and left in place: it changes nothing for
 * anyone else (podman on the host reads the same files as before), and other
 * sessions on this machine rely on it too.
 */
export const ensureSharedNetns = (): void => {
  fs.mkdirSync("/run/netns", { recursive: true })
  const propagation = (() => {
    try {
      return execFileSync("findmnt", ["-n", "-o", "PROPAGATION", "--mountpoint", "/run/netns"], {
        encoding: "utf8",
      }).trim()
    } catch {
      return null
    }
  })()
  if (propagation?.includes("shared")) return
  if (propagation === null) execFileSync("mount", ["--bind", "/run/netns", "/run/netns"])
  execFileSync("mount", ["--make-shared", "/run/netns"])
}

/** Mount points at or below `dir` in this process's mount namespace, deepest first. */
export const mountsUnder = (dir: string): ReadonlyArray<string> => {
  const base = path.resolve(dir)
  try {
    return fs
      .readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((line) =>
        (line.split(" ")[4] ?? "").replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))),
      )
      .filter((m) => m === base || m.startsWith(`${base}/`))
      .sort((a, b) => b.length - a.length)
  } catch {
    return []
  }
}

// ---------------------------------------------------------------- subnets

const firstThird = 100
const lastThird = 199
/** Subnets this process claimed (so two sandboxes started at once never pick the same). */
const claimed = new Set<number>()

/** The host's podman networks (the default config dir) and routes, as text to scan for subnets. */
const hostNetworkTexts = (): ReadonlyArray<string> => {
  const texts: Array<string> = []
  for (const dir of ["/etc/containers/networks", "/etc/cni/net.d"]) {
    try {
      for (const f of fs.readdirSync(dir)) texts.push(fs.readFileSync(path.join(dir, f), "utf8"))
    } catch {}
  }
  for (const args of [
    ["-4", "route", "show"],
    ["-4", "addr", "show"],
  ])
    try {
      texts.push(execFileSync("ip", args, { encoding: "utf8" }))
    } catch {}
  return texts
}

/** Third octets of 10.89.X.0 that the host's podman networks or routes already use. */
const usedThirds = (): Set<number> => {
  const used = new Set<number>(claimed)
  for (const text of hostNetworkTexts()) {
    for (const m of text.matchAll(/\b10\.89\.(\d+)\./g)) used.add(Number(m[1]))
    // A wider subnet (10.89.0.0/16, 10.0.0.0/8) covers all of ours: use none.
    for (const wide of text.matchAll(/\b10\.(\d+)\.\d+\.\d+\/(\d+)/g))
      if (Number(wide[2]) <= 8 || (Number(wide[2]) <= 16 && wide[1] === "89"))
        for (let t = firstThird; t <= lastThird; t++) used.add(t)
  }
  return used
}

/** Devices the host routes this /24 to (one, ours, once our bridge is up). */
const routeDevices = (subnet: string): ReadonlyArray<string> => {
  try {
    return execFileSync("ip", ["-4", "route", "show", subnet], { encoding: "utf8" })
      .split("\n")
      .flatMap((l) => /\bdev (\S+)/.exec(l)?.[1] ?? [])
  } catch {
    return []
  }
}

// ---------------------------------------------------------------- the network

export interface PodmanNetwork {
  /** The network's name, also the prefix of every container name of this sandbox. */
  readonly name: string
  /** `10.89.X.0/24`. */
  readonly subnet: string
  /** `10.89.X.1`: where aardvark-dns answers the aliases (Caddy's `resolvers udp/<gateway>:53`). */
  readonly gateway: string
  /** CONTAINERS_CONF and CONTAINERS_STORAGE_CONF: what every podman call of this sandbox runs with. */
  readonly env: PodmanEnv
  /** `--label` value every container of this sandbox must carry. */
  readonly label: string
  /** podman of this sandbox. */
  readonly podman: (args: ReadonlyArray<string>) => Promise<PodmanResult>
  /** A container's address on this network, read now (synchronously); null when it has none. */
  readonly addressOf: (container: string) => string | null
  /** Container name → address on this network, for every running container of this sandbox (two podman calls, async). */
  readonly addresses: () => Promise<Readonly<Record<string, string>>>
  /** Names and states of this sandbox's containers. */
  readonly containers: () => Promise<ReadonlyArray<{ readonly name: string; readonly state: string }>>
  /**
   * The podman-lock fault: another process (perl, as podman's own
   * containers/storage lockfile does: an fcntl write lock) holds
   * `<tmp_dir>/alive.lck`, which every podman command of this sandbox takes
   * while its runtime starts, for `ms`. Resolves once the lock is HELD, with
   * `released`, which resolves once it is let go. Meanwhile every podman call
   * of this sandbox waits: a unit's `podman run`/`start`/`stop`, conmon's
   * cleanup, tamanu's `podman ps`/`inspect`.
   */
  readonly holdLock: (ms: number) => Promise<{ readonly released: Promise<void> }>
  /** Remove every container of this sandbox and the network; fails if a mount is left under its storage. Safe to call twice. */
  readonly stop: () => Promise<void>
}

/**
 * Hold an fcntl write lock on `file` for `ms` (a child perl: Node has no
 * fcntl locks; perl-base is in every Debian). `struct flock` on Linux
 * x86-64/arm64: short type, short whence, (pad), off_t start, off_t len, pid_t pid.
 */
export const holdFcntlLock = (file: string, ms: number): Promise<{ readonly released: Promise<void> }> =>
  new Promise((resolve, reject) => {
    const script =
      'use Fcntl; open(my $f, ">>", $ARGV[0]) or die "open: $!"; ' +
      'fcntl($f, F_SETLKW, pack("s s x4 q q i x4", F_WRLCK, SEEK_SET, 0, 0, 0)) or die "lock: $!"; ' +
      '$| = 1; print "held\n"; select(undef, undef, undef, $ARGV[1] / 1000); close($f);'
    const child = spawn("perl", ["-e", script, file, String(ms)], { stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d
    })
    const released = new Promise<void>((done) => child.on("close", () => done()))
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      if (d.includes("held")) resolve({ released })
    })
    child.on("close", (code) => reject(new Error(`holding ${file}: perl exited ${code}: ${stderr.trim()}`)))
  })

let counter = 0
/** Every network this process made, for `leftoverPodman` and the exit hook. */
const made: Array<{
  readonly name: string
  readonly env: PodmanEnv
  readonly home: string
  removed: boolean
  /** Once known: aardvark-dns answers there while the network has containers, and must not after. */
  gateway: string | null
}> = []

/** Processes (`name pid`) with a UDP socket on `address:53`. */
const dnsListeners = (address: string): ReadonlyArray<string> => {
  try {
    return execFileSync("ss", ["-Hulpn"], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.includes(` ${address}:53 `))
      .map((line) => /users:\(\("([^"]+)",pid=(\d+)/.exec(line)?.slice(1, 3).join(" ") ?? line.trim())
  } catch {
    return []
  }
}
let exitHookInstalled = false
const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once("exit", () => {
    for (const n of made.filter((m) => !m.removed)) removeSync(n.name, n.env)
  })
}

const removeSync = (name: string, env: PodmanEnv): void => {
  const ids = (podmanSync(env, ["ps", "-a", "-q", "--filter", `label=${sandboxLabelKey}=${name}`]) ?? "")
    .split("\n")
    .filter((l) => l.trim() !== "")
  if (ids.length > 0) podmanSync(env, ["rm", "-f", "-t", "0", ...ids])
  podmanSync(env, ["network", "rm", "-f", name])
}

/**
 * What any sandbox network of this process left behind: its containers, the
 * network, mounts under its storage. Empty when every sandbox was stopped.
 */
export const leftoverPodman = (): ReadonlyArray<string> =>
  made.flatMap((n) => {
    // An aardvark-dns still on a removed network's gateway (a second one spawned by a race) would answer there for good.
    const dns =
      n.removed && n.gateway !== null ? dnsListeners(n.gateway).map((l) => `DNS on ${n.gateway}:53: ${l}`) : []
    if (!fs.existsSync(n.env.CONTAINERS_STORAGE_CONF)) return [...dns, ...mountsUnder(n.home).map((m) => `mount ${m}`)]
    const left = (podmanSync(n.env, ["ps", "-a", "--format", "{{.Names}}"]) ?? "")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((c) => `container ${c}`)
    const network = podmanSync(n.env, ["network", "exists", n.name]) !== null ? [`network ${n.name}`] : []
    return [...left, ...network, ...dns, ...mountsUnder(n.home).map((m) => `mount ${m}`)]
  })

const until = <A>(what: string, check: () => Promise<A | null>, limit: Duration.DurationInput) =>
  Effect.runPromise(
    Effect.tryPromise(check).pipe(
      Effect.flatMap((a) => (a === null ? Effect.fail(new Error(`${what}: not yet`)) : Effect.succeed(a))),
      Effect.retry(Schedule.spaced(Duration.millis(100))),
      Effect.timeoutFail({
        duration: limit,
        onTimeout: () => new Error(`${what}: not within ${Duration.format(Duration.decode(limit))}`),
      }),
    ),
  )

/**
 * A fresh podman "host" for one sandbox under `dir/podman` (confs, storage)
 * and its bridge network, with aardvark-dns answering on the
 * gateway (kept alive by the DNS keeper container). The caller removes `dir`
 * after `stop()`.
 */
export const startPodmanNetwork = async (
  dir: string,
  options: {
    /** Of the network's name and bridge (`<prefix><pid>-<n>`; default `tl`): a suite's own, so two suites never collide. */
    readonly prefix?: string
  } = {},
): Promise<PodmanNetwork> => {
  const prefix = options.prefix ?? "tl"
  if (!/^[a-z]{1,4}$/.test(prefix)) throw new Error(`network name prefix: 1 to 4 lower-case letters, not ${prefix}`)
  ensureSharedNetns()
  const home = path.join(dir, "podman")
  fs.mkdirSync(home, { recursive: true })
  const env: PodmanEnv = {
    CONTAINERS_CONF: path.join(home, "containers.conf"),
    CONTAINERS_STORAGE_CONF: path.join(home, "storage.conf"),
  }
  fs.mkdirSync(path.join(home, "tmp"), { recursive: true })
  fs.writeFileSync(env.CONTAINERS_CONF, containersConf(path.join(home, "tmp")))
  fs.writeFileSync(env.CONTAINERS_STORAGE_CONF, storageConf(path.join(home, "storage"), path.join(home, "run")))
  const podman = podmanIn(env)
  counter += 1
  const n = counter
  const name = `${prefix}${process.pid}-${n}`
  const label = `${sandboxLabelKey}=${name}`
  const entry: (typeof made)[number] = { name, env, home, removed: false, gateway: null }
  let third: number | null = null

  const removeAll = async () => {
    const ids = (await podman(["ps", "-a", "-q", "--filter", `label=${label}`])).stdout
      .split("\n")
      .filter((l) => l.trim() !== "")
    if (ids.length > 0) await podman(["rm", "-f", "-t", "0", ...ids])
    const rm = await podman(["network", "rm", "-f", name])
    if ((await podman(["network", "exists", name])).exitCode === 0)
      throw new Error(`podman network rm ${name}: ${rm.stderr.trim()}`)
  }
  const stop = async () => {
    if (entry.removed) return
    await removeAll()
    const left = mountsUnder(home)
    if (left.length > 0) throw new Error(`mounts left under ${home}: ${left.join(", ")}`)
    entry.removed = true
    if (third !== null) claimed.delete(third)
    // aardvark-dns drops the gateway once netavark's SIGHUP makes it re-read its configs: give it a moment,
    // so that a stray one (which no SIGHUP reaches) is what `leftoverPodman` reports, not the legitimate one.
    const gw = entry.gateway
    if (gw !== null)
      await until(
        "aardvark-dns leaving the removed network's gateway",
        async () => (dnsListeners(gw).length === 0 ? true : null),
        "5 seconds",
      ).catch(() => undefined)
  }

  // A free /24: scan what the host uses, pick at random, and make sure no other bridge took it meanwhile.
  let lastError = ""
  made.push(entry)
  installExitHook()
  for (let attempt = 0; attempt < 8 && third === null; attempt++) {
    const used = usedThirds()
    const free = Array.from({ length: lastThird - firstThird + 1 }, (_, i) => firstThird + i).filter(
      (t) => !used.has(t),
    )
    if (free.length === 0) throw new Error("no free subnet in 10.89.100.0/24–10.89.199.0/24")
    const pick = free[Math.floor(Math.random() * free.length)] ?? firstThird
    claimed.add(pick)
    const created = await podman(["network", "create", "--subnet", `10.89.${pick}.0/24`, name])
    if (created.exitCode !== 0) {
      lastError = created.stderr.trim()
      continue
    }
    // Its own bridge name, so a leftover is easy to name (netavark would pick the next free `podman<N>`).
    // Replaced in one rename: a podman reading the directory meanwhile sees the old file or the new one.
    const file = path.join(networkConfigDir, `${name}.json`)
    if (fs.existsSync(file)) {
      const config = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>
      fs.writeFileSync(
        `${file}.${process.pid}.tmp`,
        JSON.stringify({ ...config, network_interface: `${prefix}${process.pid}n${n}`.slice(-15) }),
      )
      fs.renameSync(`${file}.${process.pid}.tmp`, file)
    }
    third = pick
  }
  if (third === null) throw new Error(`podman network create ${name}: ${lastError}`)
  const subnet = `10.89.${third}.0/24`
  const gateway = `10.89.${third}.1`
  entry.gateway = gateway

  const addressOf = (container: string): string | null => {
    const out = podmanSync(env, ["inspect", "--format", "{{json .NetworkSettings.Networks}}", container])
    if (out === null) return null
    try {
      const networks = JSON.parse(out) as Record<string, { readonly IPAddress?: string }> | null
      const ip = networks?.[name]?.IPAddress ?? ""
      return ip === "" ? null : ip
    } catch {
      return null
    }
  }

  try {
    const inspect = JSON.parse((await podman(["network", "inspect", name])).stdout) as ReadonlyArray<{
      readonly dns_enabled?: boolean
    }>
    if (inspect[0]?.dns_enabled !== true)
      throw new Error(`network ${name} has no DNS (aardvark-dns): is netavark the network backend?`)
    // The DNS keeper: aardvark-dns is spawned into this container's start, outside every unit.
    const keeper = `${name}-dns-keeper`
    const run = await podman([
      "run",
      "-d",
      "--name",
      keeper,
      "--label",
      label,
      "--network",
      name,
      "--rootfs",
      "/:O",
      "sleep",
      "infinity",
    ])
    if (run.exitCode !== 0) throw new Error(`podman run ${keeper}: ${run.stderr.trim()}`)
    const devices = routeDevices(subnet)
    if (devices.length !== 1)
      throw new Error(`${subnet} is routed to ${devices.join(", ") || "nothing"}: another bridge took it meanwhile`)
    // aardvark-dns answers the keeper's own name once it serves this network.
    const resolver = new Resolver({ timeout: 1000, tries: 1 })
    resolver.setServers([gateway])
    await until(
      `aardvark-dns answering on ${gateway}`,
      async () => ((await resolver.resolve4(keeper).catch(() => [])).length > 0 ? true : null),
      "20 seconds",
    )
  } catch (error) {
    await stop().catch(() => undefined)
    throw error
  }

  return {
    name,
    subnet,
    gateway,
    env,
    label,
    podman,
    addressOf,
    holdLock: (ms) => holdFcntlLock(path.join(home, "tmp", "alive.lck"), ms),
    addresses: async () => {
      const ids = (await podman(["ps", "-q", "--filter", `label=${label}`])).stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
      if (ids.length === 0) return {}
      // A container gone between the two calls is left out (inspect prints the others, exits non-zero).
      const inspect = await podman(["inspect", "--format", "{{.Name}} {{json .NetworkSettings.Networks}}", ...ids])
      const out: Record<string, string> = {}
      for (const line of inspect.stdout.split("\n")) {
        const space = line.indexOf(" ")
        if (space < 0) continue
        try {
          const networks = JSON.parse(line.slice(space + 1)) as Record<string, { readonly IPAddress?: string }> | null
          const ip = networks?.[name]?.IPAddress ?? ""
          if (ip !== "") out[line.slice(0, space)] = ip
        } catch {}
      }
      return out
    },
    containers: async () => {
      const r = await podman(["ps", "-a", "--filter", `label=${label}`, "--format", "json"])
      const list = JSON.parse(r.stdout || "[]") as ReadonlyArray<{
        readonly Names?: ReadonlyArray<string>
        readonly State?: string
      }> | null
      return (list ?? []).map((c) => ({ name: c.Names?.[0] ?? "?", state: c.State ?? "?" }))
    },
    stop,
  }
}

// ---------------------------------------------------------------- units

/** The absolute path of podman (a unit's ExecStart needs one). */
export const podmanPath = (): string => {
  try {
    return execFileSync("sh", ["-c", "command -v podman"], { encoding: "utf8" }).trim() || "/usr/bin/podman"
  } catch {
    return "/usr/bin/podman"
  }
}

/** One ExecStart word, quoted, with `%` kept literal (for paths; specifiers are written bare). */
const word = (arg: string): string => `"${arg.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("%", "%%")}"`

/**
 * How a unit runs its container (linux-host.md: a host may use any of them,
 * and tamanu must be safe with each):
 * - `notify`: what `podman generate systemd --new` writes, `Type=notify`
 *   with `--sdnotify=conmon`: active once the container runs;
 * - `simple`: a common hand-written unit, `podman run --rm` in the
 *   foreground as `Type=simple`: active as soon as podman is started, BEFORE
 *   its container exists (a `podman ps` right after `systemctl restart` may
 *   find nothing);
 * - `forking`: what `podman generate systemd` without `--new` writes,
 *   `Type=forking` with `podman start` of a container created beforehand
 *   (`createContainers`) with the `PODMAN_SYSTEMD_UNIT` label, conmon's pid
 *   file as `PIDFile=`;
 * - `unlabelled`: the `notify` shape with no `PODMAN_SYSTEMD_UNIT` label
 *   (nor the variable, from which podman would add it): nothing ties the
 *   container to its unit, so tamanu cannot find it.
 */
export type UnitShape = "notify" | "simple" | "forking" | "unlabelled"
export const unitShapes: ReadonlyArray<UnitShape> = ["notify", "simple", "forking", "unlabelled"]

export interface ContainerUnitOptions {
  /** `tamanu-facility-api@.service` (a template) or `tamanu-facility-tasks.service`. */
  readonly unit: string
  readonly description: string
  readonly network: PodmanNetwork
  /** The network alias the service's instances share (`api.facility.tamanu.internal`); null: none. */
  readonly alias: string | null
  /**
   * READY_DELAY_MS of the service; a drop-in `Environment=READY_DELAY_MS=…`
   * overrides it per instance (not in the `forking` shape, whose container's
   * environment is fixed when it is created).
   */
  readonly readyDelayMs: number
  /** The script the container runs with node (mounted read-only at /opt/tamanu/service.mjs). */
  readonly script: string
  /** Put in the container's command line, so `pgrep -f` finds it (the sandbox directory). */
  readonly marker: string
  /** Default `notify`. */
  readonly shape?: UnitShape
  /** `forking` only: where conmon writes its pid (`PIDFile=<pidDir>/%n.pid`; `createContainers` uses the same). */
  readonly pidDir?: string
  /**
   * Run an image (`importServiceImages`) instead of the host's root: the
   * unit reads `envFile` (`EnvironmentFile=`, as a Tamanu host's units read
   * `/etc/tamanu/env`) and `reference` names the image with systemd's own
   * `${VAR}` expansion (`localhost/tamanu-facility:v${TAMANU_VERSION}`), so
   * the env file picks the tag at each start. `notify` and `simple` only
   * (a `forking` container's image is fixed when it is created).
   */
  readonly image?: { readonly reference: string; readonly envFile: string }
}

/** An argument written bare into a unit file (a specifier such as `%n`, or `${VAR}`), not quoted. */
interface Bare {
  readonly bare: string
}

/** The container's options and command after `podman run`/`podman create` (no `--name`, no unit label). */
const containerArgs = (
  options: Pick<ContainerUnitOptions, "network" | "alias" | "script" | "marker" | "image">,
  serviceName: string | Bare,
  readyDelay: string | Bare,
): ReadonlyArray<string | Bare> => [
  "--label",
  options.network.label,
  "--network",
  options.network.name,
  ...(options.alias === null ? [] : ["--network-alias", options.alias]),
  "-e",
  "PORT=3000",
  "-e",
  "HOST=0.0.0.0",
  "-e",
  typeof serviceName === "string" ? `SERVICE_NAME=${serviceName}` : { bare: `SERVICE_NAME=${serviceName.bare}` },
  "-e",
  typeof readyDelay === "string" ? `READY_DELAY_MS=${readyDelay}` : { bare: `READY_DELAY_MS=${readyDelay.bare}` },
  "--stop-timeout",
  "15",
  ...(options.image === undefined
    ? ["-v", `${options.script}:/opt/tamanu/service.mjs:ro`, "--rootfs", "/:O"]
    : [{ bare: options.image.reference }]),
  process.execPath,
  "/opt/tamanu/service.mjs",
  `--sandbox=${options.marker}`,
]

/** ExecStart words: quoted unless bare. */
const unitWords = (args: ReadonlyArray<string | Bare>): ReadonlyArray<string> =>
  args.map((a) => (typeof a === "string" ? word(a) : a.bare))

/**
 * A Tamanu-shaped unit that runs one podman container, in one of the shapes
 * above (default `notify`, what Tamanu's units are): the container labelled
 * `PODMAN_SYSTEMD_UNIT=%n` (how tamanu finds its address, spec §8) unless
 * `unlabelled`, stopped gracefully by `podman stop` (SIGTERM, then SIGKILL
 * after 15 s). The container sits outside the unit's cgroup (cgroupfs), so
 * systemd's own kill would never reach it: the stop is podman's. Container
 * names cannot contain `@`: `<network>-%p-%i`.
 *
 * `StartLimitIntervalSec=0`: a test restarts instances far more often than
 * a real host (5 starts in 10 s would otherwise be refused).
 */
export const containerUnit = (options: ContainerUnitOptions): { readonly name: string; readonly text: string } => {
  const shape = options.shape ?? "notify"
  if (options.image !== undefined && shape === "forking")
    throw new Error("a forking unit starts a container created beforehand: its image cannot follow the env file")
  const template = options.unit.includes("@.")
  const podman = podmanPath()
  const container = `${options.network.name}-%p${template ? "-%i" : ""}`
  // systemd's own ${VAR} expansion, so a drop-in can change one instance's boot time.
  const args = unitWords(containerArgs(options, { bare: "%n" }, { bare: `${"$"}{READY_DELAY_MS}` }))
  const labelled = shape !== "unlabelled"
  const service: ReadonlyArray<string> =
    shape === "simple"
      ? [
          "Type=simple",
          `ExecStart=${[podman, "run", "--rm", "--replace", `--name ${container}`, "--label PODMAN_SYSTEMD_UNIT=%n", ...args].join(" ")}`,
          `ExecStop=${podman} stop --ignore -t 15 ${container}`,
          `ExecStopPost=-${podman} rm -f --ignore -t 0 ${container}`,
        ]
      : shape === "forking"
        ? [
            "Type=forking",
            `PIDFile=${options.pidDir ?? "%t"}/%n.pid`,
            `ExecStart=${podman} start ${container}`,
            `ExecStop=${podman} stop -t 15 ${container}`,
            `ExecStopPost=${podman} stop -t 15 ${container}`,
          ]
        : [
            "Type=notify",
            "NotifyAccess=all",
            "ExecStartPre=/bin/rm -f %t/%n.ctr-id",
            `ExecStart=${[
              podman,
              "run",
              "--cidfile=%t/%n.ctr-id",
              "--cgroups=no-conmon",
              "--rm",
              "--sdnotify=conmon",
              "-d",
              "--replace",
              `--name ${container}`,
              ...(labelled ? ["--label PODMAN_SYSTEMD_UNIT=%n"] : []),
              ...args,
            ].join(" ")}`,
            `ExecStop=${podman} stop --ignore -t 15 --cidfile=%t/%n.ctr-id`,
            `ExecStopPost=-${podman} rm -f --ignore -t 0 --cidfile=%t/%n.ctr-id`,
          ]
  return {
    name: options.unit,
    text: [
      "[Unit]",
      `Description=${options.description}`,
      "StartLimitIntervalSec=0",
      "",
      "[Service]",
      ...Object.entries(options.network.env).map(([k, v]) => `Environment=${word(`${k}=${v}`)}`),
      ...(labelled ? ["Environment=PODMAN_SYSTEMD_UNIT=%n"] : []),
      `Environment=READY_DELAY_MS=${options.readyDelayMs}`,
      ...(options.image === undefined ? [] : [`EnvironmentFile=${options.image.envFile}`]),
      "TimeoutStartSec=60",
      "TimeoutStopSec=30",
      ...service,
      "",
      "[Install]",
      "WantedBy=default.target",
      "",
    ].join("\n"),
  }
}

/**
 * The `forking` shape's containers, created (not started) as an operator
 * does before `podman generate systemd`: one per instance, named as the unit
 * names it, labelled `PODMAN_SYSTEMD_UNIT=<instance>.service`, conmon's pid
 * written where the unit's `PIDFile=` reads it. `--cgroups=no-conmon`, as the
 * `notify` units say, keeps conmon in the unit's cgroup.
 */
export const createContainers = async (
  options: Pick<ContainerUnitOptions, "network" | "script" | "marker" | "readyDelayMs"> & { readonly pidDir: string },
  instances: ReadonlyArray<{ readonly instance: string; readonly alias: string | null }>,
): Promise<void> => {
  fs.mkdirSync(options.pidDir, { recursive: true })
  for (const { instance, alias } of instances) {
    const unit = `${instance}.service`
    const words = containerArgs({ ...options, alias }, unit, String(options.readyDelayMs)).map((a) =>
      typeof a === "string" ? a : a.bare,
    )
    const r = await options.network.podman([
      "create",
      "--cgroups=no-conmon",
      `--conmon-pidfile=${path.join(options.pidDir, `${unit}.pid`)}`,
      "--name",
      containerName(options.network, instance),
      "--label",
      `PODMAN_SYSTEMD_UNIT=${unit}`,
      ...words,
    ])
    if (r.exitCode !== 0) throw new Error(`podman create for ${unit}: ${r.stderr.trim()}`)
  }
}

/** The container a unit of `containerUnit` runs: `tamanu-facility-api@1` → `<network>-tamanu-facility-api-1`. */
export const containerName = (network: PodmanNetwork, instance: string): string =>
  `${network.name}-${instance.replace(/\.service$/, "").replace("@", "-")}`

// ---------------------------------------------------------------- images

/** One image `importServiceImages` makes. */
export interface ServiceImage {
  /** `localhost/tamanu-facility:v2.64.0`: its name and tag. */
  readonly reference: string
  /** The `org.opencontainers.image.version` label; null: none (the tag alone says the version). */
  readonly versionLabel: string | null
  /** `ENV` of the image (X_VERSION: what the service answers in `X-Version`). */
  readonly env: Readonly<Record<string, string>>
}

/**
 * Small local images of the Tamanu-shaped service for a sandbox's podman
 * (issue #22): a root filesystem holding only node (at the host's path, with
 * the shared libraries `ldd` names) and the service script at
 * `/opt/tamanu/service.mjs`, made once as a tar in `workDir`, then
 * `podman import`ed once per image with its label and environment set. The
 * layer is the same every time, so storage holds it once; only the configs
 * differ. The sandbox's other containers (`--rootfs /:O`) run the whole host
 * root, which is far too big to import.
 */
export const importServiceImages = async (
  network: Pick<PodmanNetwork, "podman">,
  script: string,
  workDir: string,
  images: ReadonlyArray<ServiceImage>,
): Promise<void> => {
  const rootfs = path.join(workDir, "rootfs")
  const libraries = execFileSync("ldd", [process.execPath], { encoding: "utf8" })
    .split("\n")
    .flatMap((line) => /(\/\S+) \(0x/.exec(line)?.[1] ?? [])
  for (const file of [process.execPath, ...libraries]) {
    fs.mkdirSync(path.join(rootfs, path.dirname(file)), { recursive: true })
    fs.copyFileSync(fs.realpathSync(file), path.join(rootfs, file))
    fs.chmodSync(path.join(rootfs, file), 0o755)
  }
  for (const dir of ["etc", "tmp", "opt/tamanu"]) fs.mkdirSync(path.join(rootfs, dir), { recursive: true })
  fs.copyFileSync(script, path.join(rootfs, "opt/tamanu/service.mjs"))
  const tar = path.join(workDir, "rootfs.tar")
  execFileSync("tar", ["-C", rootfs, "-cf", tar, "."])
  fs.rmSync(rootfs, { recursive: true, force: true })
  try {
    for (const image of images) {
      const changes = [
        ...(image.versionLabel === null ? [] : [`LABEL org.opencontainers.image.version=${image.versionLabel}`]),
        ...Object.entries(image.env).map(([k, v]) => `ENV ${k}=${v}`),
      ].flatMap((c) => ["--change", c])
      const r = await network.podman(["import", "--quiet", ...changes, tar, image.reference])
      if (r.exitCode !== 0) throw new Error(`podman import ${image.reference}: ${r.stderr.trim()}`)
    }
  } finally {
    fs.rmSync(tar, { force: true })
  }
}
