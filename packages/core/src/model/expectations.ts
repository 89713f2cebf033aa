/**
 * The canonical expectation set of a host (spec §1.1): a pure function of the
 * host facts, so every combination is tested as a table without any I/O.
 */
import type { Expectation, ExpectedState, Instances } from "./expectation.js"
import { named, numericAtLeast, single } from "./expectation.js"
import type { HostFacts } from "./hostFacts.js"

const always = "always required"

const make = (
  name: string,
  instances: Instances,
  state: ExpectedState,
  reason: string,
  options: { readonly critical?: boolean; readonly behindCaddy?: boolean; readonly legacy?: boolean } = {},
): Expectation => ({
  name,
  instances,
  state,
  criticality: options.critical === true ? "Critical" : "Background",
  reason,
  legacy: options.legacy === true,
  behindCaddy: options.behindCaddy === true,
})

/** FHIR workers follow the config flag; without a config we cannot say, so they are left alone. */
const fhirState = (enabled: boolean | null): readonly [ExpectedState, string] =>
  enabled === null
    ? ["Unknown", "no config loaded"]
    : [enabled ? "Up" : "Down", `config integrations.fhir.worker.enabled is ${enabled}`]

/** The portal follows the central DB flag; a missing row already arrives here as false. */
const portalState = (enabled: boolean | null): readonly [ExpectedState, string] =>
  enabled === null
    ? ["Unknown", "database unreachable"]
    : enabled
      ? ["Up", "DB setting features.patientPortal is true"]
      : ["Down", "DB setting features.patientPortal is false or missing"]

/**
 * Every expectation of the host, in the row order of §1.1 (tasks, frontend,
 * legacy singleton, API, FHIR resolve + refresh, sync, patient portal).
 */
export const expected = (facts: HostFacts): ReadonlyArray<Expectation> => {
  const systemd = facts.supervisor === "systemd"
  const central = facts.kind === "central"
  // On systemd the units carry the server kind in their name; pm2 process names do not.
  const prefix = systemd ? `tamanu-${facts.kind}-` : "tamanu-"
  const out: Array<Expectation> = []

  out.push(make(`${prefix}tasks`, single, "Up", always))
  if (systemd) {
    out.push(make("tamanu-frontend", named("a", "b"), "Up", always, { critical: true, behindCaddy: true }))
    out.push(
      make("tamanu-facility", single, "Down", "legacy layout, replaced by tamanu-facility-api", { legacy: true }),
    )
  }
  out.push(make(`${prefix}api`, numericAtLeast(2), "Up", always, { critical: true, behindCaddy: true }))
  if (central) {
    const [state, reason] = fhirState(facts.fhirWorkerEnabled)
    out.push(make(`${prefix}fhir-resolve`, single, state, reason))
    out.push(make(`${prefix}fhir-refresh`, single, state, reason))
  } else {
    out.push(make(`${prefix}sync`, single, "Up", "kind is facility"))
  }
  if (systemd && central) {
    const [state, reason] = portalState(facts.patientPortal)
    // Only two instances can be rolled while one keeps serving; a singleton portal is restarted in bulk.
    out.push(
      facts.portalTemplateInstalled
        ? make("tamanu-patientportal", named("a", "b"), state, reason, { critical: true, behindCaddy: true })
        : make("tamanu-patientportal", single, state, reason, { behindCaddy: true }),
    )
  }
  return out
}
