/**
 * A central Tamanu server of the real Linux shape (linux-host.md), inside a
 * real systemd system manager (harness/systemdSystemManager.ts), for the
 * end-to-end suites of the BUILT `tamanu` binary run by a non-root operator
 * in the default system scope:
 *
 * - the Tamanu units under /etc/systemd/system, each a rootful podman
 *   container made from the system's own root (`podman run --rootfs /:O`,
 *   the `podman generate systemd --new` shape, `PODMAN_SYSTEMD_UNIT` label,
 *   `--sdnotify=conmon`) running fixtures/tamanu-service.mjs on port 3000,
 *   on the podman network `tamanu` whose aardvark-dns answers the aliases
 *   `api.central.tamanu.internal`, `frontend.tamanu.internal` and
 *   `patientportal.tamanu.internal`: `tamanu-central-api@.service`,
 *   `tamanu-frontend@.service`, `tamanu-patientportal@.service` (or the
 *   singleton, see `setPortalLayout`), `tamanu-central-tasks.service`,
 *   `tamanu-central-fhir-{resolve,refresh}.service` and the legacy
 *   `tamanu-facility.service`;
 * - Debian's own `caddy.service` with a Tamanu-shaped /etc/caddy/Caddyfile
 *   importing /etc/caddy/servers/*: `dynamic a` on the aliases,
 *   `resolvers udp/<the network's gateway>:53`, `lb_try_duration 1s`, and
 *   Caddy's defaults otherwise (admin API on localhost:2019, refresh 1 min);
 * - the PostgreSQL cluster Debian set up, with a `tamanu` role and database
 *   and Tamanu's `settings` table;
 * - /etc/tamanu/default.json5 (central: no facility keys, FHIR workers off)
 *   readable by the operator's group, as the CLI reads it before deciding
 *   whether it needs root;
 * - the operator `tamanuop`, not root, whose sudoers rule is the plain
 *   `NOPASSWD: <node> /usr/local/bin/tamanu *`; `/usr/local/bin/tamanu` is
 *   the built CLI of this worktree (seen through the container's overlay).
 */
import { performance } from "node:perf_hooks"
import {
  bootSystemManager,
  type ExecOptions,
  type ExecResult,
  type SystemManager,
  systemManagerPrerequisite,
} from "../harness/systemdSystemManager.js"
import { tamanuServiceScript } from "../harness/systemdUserManager.js"
import { requireBuiltCli } from "./sandboxHost.js"

export const operator = "tamanuop"
export const databasePassword = "tamanu-pw"
/** The podman network of the Tamanu containers, inside the system (invisible to the host). */
export const innerSubnet = "10.99.1"
export const innerGateway = `${innerSubnet}.1`

export const aliases = {
  "tamanu-central-api": "api.central.tamanu.internal",
  "tamanu-frontend": "frontend.tamanu.internal",
  "tamanu-patientportal": "patientportal.tamanu.internal",
} as const

/** How the patient portal is installed: the template (`@a`/`@b`), the singleton, or both (an unfinished migration). */
export type PortalLayout = "instanced" | "singleton" | "both"

/**
 * What `sudo` may do for the operator: the plain NOPASSWD rule for the
 * tamanu command, the same rule with a password, no rule, or a rule's exact
 * text (e.g. the one tamanu suggests).
 */
export type SudoRule = "nopasswd" | "password" | "none" | { readonly text: string }

/** The settings row: JSON true or false, or no row at all. */
export type PortalSetting = true | false | "absent"

/** One unit as the system manager reports it. */
export interface UnitState {
  readonly load: string
  readonly active: string
  readonly sub: string
  /** `enabled`, `disabled`, `static`, or "" when there is no unit file. */
  readonly enabled: string
  readonly mainPid: number
}

export interface CentralSystemHost {
  readonly system: SystemManager
  /** The site through Caddy, from the host: `http://<container address>`. */
  readonly siteUrl: string
  readonly readyDelayMs: number
  /** The built CLI as the operator, with a clean environment plus `env`; never rejects on a non-zero exit. */
  readonly tamanu: (args: ReadonlyArray<string>, options?: Omit<ExecOptions, "user">) => Promise<ExecResult>
  /** The argv that runs the CLI as the operator (for `system.spawn`). */
  readonly tamanuArgv: (args: ReadonlyArray<string>) => ReadonlyArray<string>
  /** Units (`tamanu-central-api@1.service`) as systemd reports them now (not through the CLI). */
  readonly units: (names: ReadonlyArray<string>) => Promise<Readonly<Record<string, UnitState>>>
  /** `systemctl ARGS` as root; rejects on a non-zero exit. */
  readonly ctl: (args: ReadonlyArray<string>) => Promise<string>
  /** Start these units as root and wait until each one's container answers on port 3000. */
  readonly startUnits: (units: ReadonlyArray<string>) => Promise<void>
  /** The bridge address of a unit's container (`10.99.1.7`), or null. */
  readonly containerAddress: (unit: string) => Promise<string | null>
  readonly setPortalLayout: (layout: PortalLayout) => Promise<void>
  readonly setPortalSetting: (value: PortalSetting) => Promise<void>
  readonly stopDatabase: () => Promise<void>
  readonly startDatabase: () => Promise<void>
  readonly setSudoRule: (rule: SudoRule) => Promise<void>
  /** Caddy's live config from its admin API (inside). */
  readonly caddyConfig: () => Promise<unknown>
  /** Replace the Caddyfile's global options block (`admin off`) or drop it (null), then restart caddy.service. */
  readonly setCaddyGlobal: (global: string | null) => Promise<void>
  /** Every unit file this host installs, by unit name. */
  readonly unitNames: ReadonlyArray<string>
  /** Setup time inside, after boot. */
  readonly setupMs: number
}

export const centralSystemHostPrerequisites = () => [systemManagerPrerequisite()]

/** A Tamanu unit as `podman generate systemd --new` writes one, running the test service on port 3000. */
const podmanUnit = (input: {
  readonly description: string
  readonly container: string
  readonly alias: string | null
  readonly readyDelayMs: number
  readonly wantedBy: string
  readonly node: string
}) => `[Unit]
Description=${input.description}
Wants=network-online.target
After=network-online.target

[Service]
Environment=PODMAN_SYSTEMD_UNIT=%n
Restart=on-failure
TimeoutStopSec=30
ExecStartPre=/bin/rm -f %t/%n.ctr-id
ExecStart=/usr/bin/podman run --cidfile=%t/%n.ctr-id --cgroups=no-conmon --rm --sdnotify=conmon --replace -d --name ${input.container} --cgroupns=private --network tamanu${input.alias === null ? "" : ` --network-alias ${input.alias}`} -e PORT=3000 -e HOST=0.0.0.0 -e READY_DELAY_MS=${input.readyDelayMs} -e SERVICE_NAME=%n --rootfs /:O ${input.node} ${tamanuServiceScript}
ExecStop=/usr/bin/podman stop --ignore -t 10 --cidfile=%t/%n.ctr-id
ExecStopPost=/usr/bin/podman rm -f --ignore -t 10 --cidfile=%t/%n.ctr-id
Type=notify
NotifyAccess=all

[Install]
WantedBy=${input.wantedBy}
`

const proxy = (path: string | null, alias: string) => `\treverse_proxy${path === null ? "" : ` ${path}`} {
\t\tdynamic a {
\t\t\tname ${alias}
\t\t\tport 3000
\t\t\tresolvers udp/${innerGateway}:53
\t\t}
\t\tlb_try_duration 1s
\t}`

/** The central site, as a Tamanu host's /etc/caddy/servers/ holds it. */
export const centralSite = [
  ":80 {",
  proxy("/api/*", aliases["tamanu-central-api"]),
  proxy("/portal/*", aliases["tamanu-patientportal"]),
  proxy(null, aliases["tamanu-frontend"]),
  "}",
  "",
].join("\n")

const caddyfile = (global: string | null) =>
  `${global === null ? "" : `{\n\t${global}\n}\n\n`}# The Tamanu sites.\nimport /etc/caddy/servers/*\n`

const centralConfig = `{
  db: { host: '127.0.0.1', port: 5432, name: 'tamanu', username: 'tamanu', password: '${databasePassword}' },
  integrations: { fhir: { worker: { enabled: false } } },
}
`

const sqlSetup = `
CREATE ROLE tamanu LOGIN PASSWORD '${databasePassword}';
CREATE DATABASE tamanu OWNER tamanu;
`
const tableSetup = `
CREATE TABLE settings (id serial PRIMARY KEY, key text NOT NULL, value jsonb, scope text NOT NULL DEFAULT 'global',
  facility_id text, deleted_at timestamptz);
INSERT INTO settings (key, value) VALUES ('features.patientPortal', 'true');
`

export interface CentralSystemHostOptions {
  /** READY_DELAY_MS of every Tamanu service (default 1000). */
  readonly readyDelayMs?: number
  /** How the patient portal is installed at first (default instanced). */
  readonly portalLayout?: PortalLayout
  /**
   * The node the Tamanu units' containers run the test service with (default
   * this process's node). A path off PATH lets a test take every node off the
   * system's PATH, as on a Tamanu host, whose containers carry their own.
   */
  readonly serviceNode?: string
}

export const startCentralSystemHost = async (options: CentralSystemHostOptions = {}): Promise<CentralSystemHost> => {
  const cli = requireBuiltCli()
  const readyDelayMs = options.readyDelayMs ?? 1000
  const system = await bootSystemManager()
  try {
    const began = performance.now()
    const unit = (wantedBy = "multi-user.target") => ({
      readyDelayMs,
      wantedBy,
      node: options.serviceNode ?? process.execPath,
    })
    const files: Record<string, string> = {
      "tamanu-central-api@.service": podmanUnit({
        description: "Tamanu central API %i",
        container: "tamanu-central-api-%i",
        alias: aliases["tamanu-central-api"],
        ...unit(),
      }),
      "tamanu-frontend@.service": podmanUnit({
        description: "Tamanu frontend %i",
        container: "tamanu-frontend-%i",
        alias: aliases["tamanu-frontend"],
        ...unit(),
      }),
      "tamanu-central-tasks.service": podmanUnit({
        description: "Tamanu central tasks",
        container: "tamanu-central-tasks",
        alias: null,
        ...unit(),
      }),
      "tamanu-central-fhir-resolve.service": podmanUnit({
        description: "Tamanu FHIR resolver",
        container: "tamanu-central-fhir-resolve",
        alias: null,
        ...unit(),
      }),
      "tamanu-central-fhir-refresh.service": podmanUnit({
        description: "Tamanu FHIR refresher",
        container: "tamanu-central-fhir-refresh",
        alias: null,
        ...unit(),
      }),
      // An older layout's unit, enabled for a target this host no longer has: enabled but never loaded.
      "tamanu-facility.service": podmanUnit({
        description: "Tamanu (legacy single-process layout)",
        container: "tamanu-facility",
        alias: null,
        ...unit("tamanu-legacy.target"),
      }),
    }
    const portalFiles: Record<"instanced" | "singleton", readonly [string, string]> = {
      instanced: [
        "tamanu-patientportal@.service",
        podmanUnit({
          description: "Tamanu patient portal %i",
          container: "tamanu-patientportal-%i",
          alias: aliases["tamanu-patientportal"],
          ...unit(),
        }),
      ],
      singleton: [
        "tamanu-patientportal.service",
        podmanUnit({
          description: "Tamanu patient portal (single)",
          container: "tamanu-patientportal",
          alias: aliases["tamanu-patientportal"],
          ...unit(),
        }),
      ],
    }
    for (const [name, text] of Object.entries(files)) system.writeFile(`/etc/systemd/system/${name}`, text, 0o644)
    const layout = options.portalLayout ?? "instanced"
    for (const kind of ["instanced", "singleton"] as const)
      if (layout === kind || layout === "both")
        system.writeFile(`/etc/systemd/system/${portalFiles[kind][0]}`, portalFiles[kind][1], 0o644)
    system.writeFile("/etc/caddy/servers/central.caddy", centralSite, 0o644)
    system.writeFile("/etc/caddy/Caddyfile", caddyfile(null), 0o644)
    system.writeFile("/etc/tamanu/default.json5", centralConfig, 0o640)
    system.writeFile("/tmp/tamanu-setup.sql", sqlSetup, 0o644)
    system.writeFile("/tmp/tamanu-table.sql", tableSetup, 0o644)

    await system.sh(`
      useradd --create-home --shell /bin/bash --user-group ${operator}
      chgrp ${operator} /etc/tamanu/default.json5
      ln -s ${cli} /usr/local/bin/tamanu
      podman network create --subnet ${innerSubnet}.0/24 tamanu >/dev/null
      systemctl daemon-reload
      systemctl enable --quiet tamanu-central-api@1 tamanu-central-api@2 tamanu-frontend@a tamanu-frontend@b \
        tamanu-central-tasks
      caddy validate --config /etc/caddy/Caddyfile --adapter caddyfile >/dev/null 2>&1 ||
        caddy validate --config /etc/caddy/Caddyfile --adapter caddyfile
      systemctl reload caddy
      systemctl is-active --quiet ${system.postgresUnit}
    `)
    const psql = async (args: ReadonlyArray<string>, user?: string) => {
      const r = await system.exec(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", ...args], {
        ...(user === undefined ? {} : { user }),
        env: { PGPASSWORD: databasePassword },
      })
      if (r.code !== 0) throw new Error(`psql ${args.join(" ")}: ${r.stderr.trim()}`)
      return r.stdout
    }
    await psql(["-f", "/tmp/tamanu-setup.sql"], "postgres")
    const asTamanu = ["-h", "127.0.0.1", "-U", "tamanu", "-d", "tamanu"]
    await psql([...asTamanu, "-f", "/tmp/tamanu-table.sql"])
    const node = (await system.exec(["readlink", "-f", process.execPath])).stdout.trim()
    const sudoers = (rule: SudoRule) =>
      rule === "none"
        ? null
        : typeof rule === "object"
          ? `${rule.text}\n`
          : `${operator} ALL=(root) ${rule === "nopasswd" ? "NOPASSWD: " : ""}${node} /usr/local/bin/tamanu *\n`
    const setSudoRule = async (rule: SudoRule) => {
      const text = sudoers(rule)
      if (text === null) {
        await system.sh("rm -f /etc/sudoers.d/tamanu")
        return
      }
      system.writeFile("/etc/sudoers.d/tamanu", text, 0o440)
      await system.sh("visudo -cqf /etc/sudoers.d/tamanu")
    }
    await setSudoRule("nopasswd")
    const setupMs = performance.now() - began

    const ctl = async (args: ReadonlyArray<string>) => {
      const r = await system.systemctl(args)
      if (r.code !== 0) throw new Error(`systemctl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`)
      return r.stdout
    }
    const containerAddress = async (unitName: string) => {
      const r = await system.exec([
        "sh",
        "-c",
        `id=$(podman ps -q --filter label=PODMAN_SYSTEMD_UNIT=${unitName}) && [ -n "$id" ] && podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' $id`,
      ])
      const ip = r.stdout.trim().split("\n")[0] ?? ""
      return r.code === 0 && ip !== "" ? ip : null
    }
    const startUnits = async (names: ReadonlyArray<string>) => {
      if (names.length === 0) return
      await ctl(["start", "--", ...names])
      // Each container answers on its own address (curl inside: the bridge is the system's, not the host's).
      await system.sh(`
        for unit in ${names.join(" ")}; do
          for i in $(seq 1 600); do
            id=$(podman ps -q --filter label=PODMAN_SYSTEMD_UNIT=$unit)
            ip=$( [ -n "$id" ] && podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' $id || true)
            [ -n "$ip" ] && curl -fs -o /dev/null -m 2 http://$ip:3000/ && break
            sleep 0.1
          done
          [ -n "$ip" ] && curl -fs -o /dev/null -m 2 http://$ip:3000/ || { echo "$unit does not answer" >&2; exit 1; }
        done
      `)
    }
    const units = async (names: ReadonlyArray<string>) => {
      const props = ["Id", "LoadState", "ActiveState", "SubState", "UnitFileState", "MainPID"]
      const out = await ctl(["show", "-p", props.join(","), "--", ...names])
      const blocks = out.trim().split(/\n\s*\n/)
      const result: Record<string, UnitState> = {}
      blocks.forEach((block, i) => {
        const p = Object.fromEntries(
          block.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as const),
        )
        result[names[i] ?? p.Id ?? `?${i}`] = {
          load: p.LoadState ?? "",
          active: p.ActiveState ?? "",
          sub: p.SubState ?? "",
          enabled: p.UnitFileState ?? "",
          mainPid: Number(p.MainPID ?? "0"),
        }
      })
      return result
    }
    const portalUnitsOf = (kind: "instanced" | "singleton") =>
      kind === "instanced"
        ? ["tamanu-patientportal@a.service", "tamanu-patientportal@b.service"]
        : ["tamanu-patientportal.service"]
    const setPortalLayout = async (next: PortalLayout) => {
      for (const kind of ["instanced", "singleton"] as const) {
        const wanted = next === kind || next === "both"
        const file = `/etc/systemd/system/${portalFiles[kind][0]}`
        if (wanted) system.writeFile(file, portalFiles[kind][1], 0o644)
        else {
          // Never leave a unit running (or enabled) whose file goes away.
          await system.systemctl(["disable", "--now", "--quiet", "--", ...portalUnitsOf(kind)])
          await system.sh(`rm -f ${file}`)
        }
      }
      await ctl(["daemon-reload"])
    }
    const tamanuArgv = (args: ReadonlyArray<string>) => ["tamanu", ...args]
    return {
      system,
      siteUrl: `http://${system.address}`,
      readyDelayMs,
      tamanu: (args, options = {}) => system.exec(tamanuArgv(args), { ...options, user: operator }),
      tamanuArgv,
      units,
      ctl,
      startUnits,
      containerAddress,
      setPortalLayout,
      setPortalSetting: async (value) => {
        const remove = "DELETE FROM settings WHERE key = 'features.patientPortal';"
        await psql([
          ...asTamanu,
          "-c",
          value === "absent"
            ? remove
            : `${remove} INSERT INTO settings (key, value) VALUES ('features.patientPortal', '${value}');`,
        ])
      },
      stopDatabase: async () => {
        // The cluster's own unit: `postgresql.service` is a wrapper that returns before the cluster is down.
        await ctl(["stop", system.postgresUnit])
        await system.systemctl(["reset-failed", system.postgresUnit])
      },
      startDatabase: async () => {
        // Spaced restarts can still hit StartLimitBurst: clear it first.
        await system.systemctl(["reset-failed", system.postgresUnit])
        await ctl(["start", system.postgresUnit])
      },
      setSudoRule,
      caddyConfig: async () => {
        const r = await system.exec(["curl", "-fsS", "-m", "5", "http://localhost:2019/config/"])
        if (r.code !== 0) throw new Error(`GET localhost:2019/config/: ${r.stderr.trim()}`)
        return JSON.parse(r.stdout) as unknown
      },
      setCaddyGlobal: async (global) => {
        system.writeFile("/etc/caddy/Caddyfile", caddyfile(global), 0o644)
        await ctl(["restart", "caddy"])
      },
      unitNames: [...Object.keys(files), portalFiles.instanced[0], portalFiles.singleton[0]],
      setupMs,
    }
  } catch (error) {
    await system.stop()
    throw error
  }
}
