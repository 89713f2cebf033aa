/**
 * A whole fake host in one layer: a fake systemd or pm2 holding the units
 * or processes, readiness tied to that supervisor, a recording Caddy, a
 * scripted Tamanu install and a chosen Privileges. Everything an operation
 * needs except Progress, which each kind of test records its own way (the
 * operations' tests keep the events, the fault tests every line an operator
 * could read). Time is Effect's Clock only, so a roll that would take
 * minutes runs in milliseconds under TestClock.
 */
import {
  type Privileges,
  PrivilegesFixed,
  type Prober,
  type ProbeTargets,
  type ReverseProxy,
  type Supervisor,
  serviceAliases,
  type TamanuHost,
} from "@tamanu-lifecycle/core/internal"
import { Layer } from "effect"
import { FakeTamanuHost, type FakeTamanuHostConfig, type FakeTamanuHostControl } from "./host/FakeTamanuHost.js"
import type { FakeProberControl } from "./probe/FakeProber.js"
import {
  FakeReadiness,
  type FakeReadinessOptions,
  type FakeVersions,
  type ReadinessSpec,
} from "./probe/FakeProbeTargets.js"
import type { FakeCaddyControl } from "./proxy/FakeCaddy.js"
import {
  FakeReverseProxy,
  type FakeReverseProxyConfig,
  type FakeReverseProxyControl,
} from "./proxy/FakeReverseProxy.js"
import type { FakeSupervisorControl } from "./supervisor/FakeSupervisor.js"
import { FakePm2, type FakePm2Config } from "./supervisor/pm2.js"
import { FakeSystemd, type FakeSystemdConfig } from "./supervisor/systemd.js"

export interface FakeHostSpec {
  /** `{ systemd: … }` or `{ pm2: … }`. */
  readonly supervisor: { readonly systemd: FakeSystemdConfig } | { readonly pm2: FakePm2Config }
  readonly host?: FakeTamanuHostConfig
  readonly readiness?: ReadonlyArray<ReadinessSpec>
  /** Default: `per-start` on systemd (podman gives a restarted container a new address), `fixed` on pm2 (its PORT). */
  readonly addresses?: FakeReadinessOptions["addresses"]
  /** What each instance runs, and what a start brings up (issue #22); absent: no versions known. */
  readonly versions?: FakeVersions
  /**
   * The fake Caddy in front. Default: on systemd, `dynamic a` upstreams on the
   * Tamanu services' aliases (1-minute cache); on pm2, static upstreams at
   * `tamanu-api`'s instances; its admin API reachable.
   */
  readonly caddy?: FakeReverseProxyConfig
  /** Default: root, and root required on systemd only (§10). */
  readonly privileges?: Layer.Layer<Privileges>
}

export type FakeHostServices =
  | Supervisor
  | FakeSupervisorControl
  | TamanuHost
  | FakeTamanuHostControl
  | ProbeTargets
  | Prober
  | FakeProberControl
  | ReverseProxy
  | FakeReverseProxyControl
  | FakeCaddyControl
  | Privileges

export const fakeHost = (spec: FakeHostSpec): Layer.Layer<FakeHostServices> => {
  const systemd = "systemd" in spec.supervisor
  const supervisor =
    "systemd" in spec.supervisor ? FakeSystemd.layer(spec.supervisor.systemd) : FakePm2.layer(spec.supervisor.pm2)
  const readiness = FakeReadiness.layer(spec.readiness ?? [], {
    addresses: spec.addresses ?? (systemd ? "per-start" : "fixed"),
    ...(spec.versions === undefined ? {} : { versions: spec.versions }),
  })
  const world = Layer.provideMerge(readiness, supervisor)
  const caddy = FakeReverseProxy.layer({
    services: systemd ? Object.keys(serviceAliases) : ["tamanu-api"],
    upstreams: systemd ? "dynamic" : "static",
    ...spec.caddy,
  })
  return Layer.mergeAll(
    Layer.provideMerge(caddy, world),
    FakeTamanuHost.layer(spec.host ?? {}),
    spec.privileges ?? PrivilegesFixed(true, systemd),
  )
}
