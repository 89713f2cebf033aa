/**
 * @tamanu-lifecycle/core: the SDK's public API, what docs/embedding.md
 * documents. The operations; the services they need, with their live layers;
 * the model they report in; the errors they fail with; the events they
 * publish. Everything else is plumbing (`@tamanu-lifecycle/core/internal`,
 * for this repository's own packages). `api/core.api.md` records this
 * surface, and CI fails when it changes without the report (docs/embedding.md
 * states the policy).
 */
// biome-ignore-all assist/source/organizeImports: the exports are grouped by concern, in the order docs/embedding.md reads

// The operations (spec §5-§7), their options and results.
export { restart } from "./operations/restart.js"
export { start } from "./operations/start.js"
export { type StatusResult, status } from "./operations/status.js"
export { stop } from "./operations/stop.js"
export {
  defaults,
  type MutateOptions,
  type RestartOptions,
  type SelectOptions,
  type StartOptions,
  type StatusOptions,
  type StopOptions,
} from "./operations/options.js"
export type { OperationError, OperationResult, OperationServices } from "./operations/mutate.js"
export type { CaddyOutcome, ExecuteError, Execution, SettledInstance } from "./operations/execute.js"
export type { Survey, SurveyError } from "./operations/survey.js"

// Every service for one host at once.
export { type LiveConfig, LiveLayer, type LiveServices, liveConfigFromEnv } from "./live.js"

// The services, each with its live layer(s), to swap one piece.
export type { LogFollow, LogMark, SupervisorShape } from "./supervisor/Supervisor.js"
export { Supervisor } from "./supervisor/Supervisor.js"
export { SystemdSupervisorLive, type SystemdSupervisorOptions } from "./supervisor/systemd.js"
export { type Pm2Options, Pm2SupervisorLive } from "./supervisor/pm2.js"
export type { RunStates } from "./supervisor/runState.js"
export type { SettleResult } from "./supervisor/settle.js"
export { type InstanceTarget, type LookupMiss, ProbeTargets, type ProbeTargetsShape } from "./probe/ProbeTargets.js"
export { PodmanProbeTargetsLive, type PodmanProbeTargetsOptions, StaticProbeTargets } from "./probe/podmanTargets.js"
export { Pm2ProbeTargetsLive } from "./probe/pm2Targets.js"
export { type ProbeAnswer, Prober, type ProberShape } from "./probe/Prober.js"
export { HttpProberLive } from "./probe/httpProber.js"
export {
  type Answering,
  type ProxyMode,
  type ProxySession,
  type ProxyTally,
  type ProxyView,
  ReverseProxy,
  type RouteView,
  type ReverseProxyShape,
} from "./proxy/ReverseProxy.js"
export { type CaddyLinuxOptions, CaddyLive, type CaddyLiveOptions, type CaddyWindowsOptions } from "./proxy/caddy.js"
export type { Endpoint, ServiceEndpoints } from "./proxy/caddyConfig.js"
export type { Desired } from "./proxy/routing.js"
export type { RestoreScheduler } from "./proxy/restoreSchedule.js"
export type { CaddyStatusJson } from "./model/caddyStatusJson.js"
export { type HostContext, TamanuHost, type TamanuHostShape } from "./host/TamanuHost.js"
export { TamanuHostLive, type TamanuHostOptions } from "./host/TamanuHostLive.js"
export {
  Privileges,
  PrivilegesFixed,
  PrivilegesLive,
  type PrivilegesLiveOptions,
  type PrivilegesShape,
} from "./privileges/Privileges.js"
export type { Invocation } from "./privileges/invocation.js"

// Progress events, for watching (never for computing results).
export { emit, Progress, ProgressEvent, type ProgressShape, subscribe, type VersionMove } from "./events/Progress.js"

// The model the operations plan and report in.
export type { Criticality, Expectation, ExpectedState, Instances } from "./model/expectation.js"
export type { HostFacts, ServerKind } from "./model/hostFacts.js"
export {
  displayInstance,
  type ExpectationGroup,
  type Instance,
  type InstanceRef,
  type SupervisorKind,
  unitName,
} from "./model/instance.js"
export type {
  Classification,
  Outcome,
  StatusJson,
  StatusJsonExpectation,
  StatusJsonInstance,
  StatusRow,
} from "./model/statusOutcome.js"
export type {
  ExpectedVersions,
  InstanceVersion,
  RowVersions,
  UpgradeMarker,
  VersionSources,
  VersionStatus,
} from "./model/version.js"
export type { Plan, PlanStep } from "./plan/Plan.js"

// The errors they fail with: their union, a guard, and each class.
export {
  type CoreFailure,
  coreFailureClasses,
  type InvocationFailure,
  isCoreFailure,
  type OperationFailure,
} from "./operations/failure.js"
export { CheckUrlFailed, NeedsRoot, NotReady, PlanRefused, RollStopped } from "./operations/errors.js"
export { ConfigMissingDb, ConfigUnreadable, type HostError, NoTamanuRoot } from "./host/errors.js"
export { LockFailed, LockHeld } from "./lock/hostLock.js"
export { UnmatchedNames } from "./model/matchNames.js"
export { SudoFailed } from "./privileges/Privileges.js"
export { SudoRefused } from "./privileges/sudoPolicy.js"
export { UntrustedPath } from "./privileges/trustedPath.js"
export { ProbeFailed } from "./probe/Prober.js"
export { ProxyFailed } from "./proxy/ReverseProxy.js"
export {
  InstanceFailed,
  type SupervisorError,
  SupervisorCallFailed,
  SupervisorUnavailable,
  WaitTimeout,
} from "./supervisor/errors.js"
export { SettleFailed } from "./supervisor/settle.js"
export { InvalidDuration } from "./util/duration.js"

// Durations as the CLI reads and prints them; core's log lines kept off the console.
export { formatDuration, parseDuration } from "./util/duration.js"
export { layerWithoutConsoleLoggers, withoutConsoleLoggers } from "./util/logging.js"
