/**
 * The Tamanu install on this host (spec §11): root, version, config, kind,
 * and the database-backed patient-portal flag (§1.1).
 */
import { Context, type Duration, type Effect } from "effect"
import type { ServerKind } from "../model/hostFacts.js"
import type { UpgradeMarker, VersionSources } from "../model/version.js"
import type { HostError } from "./errors.js"

export interface HostContext {
  readonly root: string
  /** From the directory name or package.json; null when neither says. */
  readonly version: string | null
  /** The merged JSON5 config; null when no config file was found. */
  readonly config: Readonly<Record<string, unknown>> | null
  readonly kind: ServerKind
  /** `integrations.fhir.worker.enabled`; null when there is no config. */
  readonly fhirWorkerEnabled: boolean | null
  /**
   * What the host is meant to run (issue #22): the env file the units read
   * (`<root>/env`, `/etc/tamanu/env` for the usual root) and the root's
   * version. Absent: not read (every expected version is unknown).
   */
  readonly versions?: VersionSources | undefined
}

export interface TamanuHostShape {
  /** Root, version, merged config and kind: read once, then cached by the layer. */
  readonly context: Effect.Effect<HostContext, HostError>
  /**
   * `features.patientPortal` from the central DB: true, false (also when the
   * row is missing), or null when the DB cannot be read. Retries every 2 s up
   * to `wait` (zero: one try). Never fails: an unreachable DB is a fact.
   */
  readonly patientPortal: (wait: Duration.Duration) => Effect.Effect<boolean | null>
  /**
   * `/run/tamanu/upgrade-in-progress`: its age and the target version it
   * names, read now; null when there is none (or it cannot be read).
   */
  readonly upgradeMarker: Effect.Effect<UpgradeMarker | null>
}

export class TamanuHost extends Context.Tag("@tamanu-lifecycle/core/TamanuHost")<TamanuHost, TamanuHostShape>() {}
