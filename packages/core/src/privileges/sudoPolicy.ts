/**
 * What a run as root on behalf of an operator refuses (docs/security.md).
 * A sudoers rule for tamanu lets the operator run tamanu as root with any
 * arguments they like, not only the re-run tamanu itself builds: every
 * setting that could make root do more than manage Tamanu's services is
 * refused here (or, for paths, in trustedPath.ts), whoever typed it.
 */
import { isIPv4 } from "node:net"
import { Schema } from "effect"

/** A setting a run under sudo will not take, and why (a usage error: nothing was changed). */
export class SudoRefused extends Schema.TaggedError<SudoRefused>()("SudoRefused", {
  /** The option (`--database-url`), or the option and the variable it came from. */
  setting: Schema.String,
  reason: Schema.String,
}) {}

/**
 * The operator root acts for: sudo's `SUDO_UID` when this process is root
 * and was started by sudo for someone else; null otherwise (root itself, or
 * not root). sudo always sets `SUDO_UID` itself, so a plain rule gives the
 * operator no way to hide it or to choose its value.
 */
export const sudoCaller = (uid: number | null, env: Readonly<Record<string, string | undefined>>): number | null => {
  if (uid !== 0) return null
  const text = env.SUDO_UID ?? ""
  if (!/^\d+$/.test(text)) return null
  const caller = Number(text)
  return caller === 0 ? null : caller
}

/** This process's `sudoCaller`. */
export const currentSudoCaller = (): number | null =>
  sudoCaller(typeof process.getuid === "function" ? process.getuid() : null, process.env)

/** The settings of a run that the policy looks at (values as the run will use them). */
export interface SudoSettings {
  readonly supervisor: "systemd" | "pm2"
  readonly systemdScope: "system" | "user"
  readonly caddyAdmin: string | null
  readonly databaseUrl: string | null
  readonly pm2Home: string | null
}

/** Whether a URL names this host's loopback interface: `localhost`, `127.0.0.0/8`, `[::1]`. */
export const isLoopbackUrl = (url: string): boolean => {
  if (!URL.canParse(url)) return false
  const host = new URL(url).hostname.toLowerCase()
  return host === "localhost" || host === "[::1]" || (isIPv4(host) && host.startsWith("127."))
}

/**
 * Every setting a run under sudo refuses, in option order; empty when it
 * may go ahead. Paths (`--root`, `--caddyfile`, the config files) are
 * judged by `trustedPath`, which needs the filesystem.
 */
export const refusedUnderSudo = (settings: SudoSettings): ReadonlyArray<SudoRefused> => [
  ...(settings.supervisor === "pm2"
    ? [
        new SudoRefused({
          setting: "--supervisor pm2",
          reason:
            "pm2 never needs root: run tamanu as the user whose pm2 daemon runs Tamanu, without sudo (as root it would drive a daemon in a PM2_HOME of the caller's choosing)",
        }),
      ]
    : []),
  ...(settings.systemdScope === "user"
    ? [
        new SudoRefused({
          setting: "--systemd-scope user",
          reason:
            "the user scope drives the caller's own systemd user manager and never needs root: run it without sudo",
        }),
      ]
    : []),
  ...(settings.pm2Home !== null
    ? [new SudoRefused({ setting: "--pm2-home", reason: "pm2 never needs root: run tamanu without sudo" })]
    : []),
  ...(settings.caddyAdmin !== null && !isLoopbackUrl(settings.caddyAdmin)
    ? [
        new SudoRefused({
          setting: "--caddy-admin",
          reason: `${settings.caddyAdmin} is not on this host's loopback interface; Caddy's admin API is local to the host it configures (localhost, 127.0.0.0/8 or [::1])`,
        }),
      ]
    : []),
  ...(settings.databaseUrl !== null
    ? [
        new SudoRefused({
          setting: "--database-url",
          reason:
            "as root, tamanu connects only to the database the Tamanu config names (its `db` section, in files only root can change): a URL of the caller's choosing would have root connect with root's own credentials (~/.pgpass, peer authentication) and read files as root (sslkey=, sslcert=, sslrootcert=), and a URL with a password on a command line is shown to every local user (/proc/*/cmdline)",
        }),
      ]
    : []),
]
