/**
 * The inputs that decide a host's canonical expectation set (spec §1.1).
 * `TamanuHost` (filesystem + database) produces them; `expected()` consumes them.
 */
import type { SupervisorKind } from "./instance.js"

export type ServerKind = "central" | "facility"

export interface HostFacts {
  readonly supervisor: SupervisorKind
  readonly kind: ServerKind
  /** Config `integrations.fhir.worker.enabled`; null when no config could be loaded. */
  readonly fhirWorkerEnabled: boolean | null
  /** DB setting `features.patientPortal`; false when missing, null when the DB could not be read. */
  readonly patientPortal: boolean | null
  /** Whether `tamanu-patientportal@.service` is installed (systemd only; false on pm2). */
  readonly portalTemplateInstalled: boolean
}
