/**
 * @tamanu-lifecycle/core: the SDK. One export line per concern.
 */

export * from "./host/errors.js"
export * from "./host/TamanuHost.js"
export * from "./model/expectation.js"
export * from "./model/hostFacts.js"
export * from "./model/instance.js"
export * from "./probe/Prober.js"
export * from "./probe/ProbeTargets.js"
export * from "./proxy/ReverseProxy.js"
export * from "./supervisor/errors.js"
export * from "./supervisor/Supervisor.js"
export * from "./model/expectations.js"
export * from "./model/matchNames.js"
export * from "./events/Progress.js"
export * from "./privileges/Privileges.js"
export * from "./lock/hostLock.js"
export * from "./model/statusOutcome.js"
export * from "./model/unitNames.js"
export * from "./model/grouping.js"
export * from "./util/duration.js"
