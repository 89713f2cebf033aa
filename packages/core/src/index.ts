/**
 * @tamanu-lifecycle/core: the SDK. One export line per concern.
 */
export * from "./model/expectation.js"
export * from "./model/instance.js"
export * from "./supervisor/errors.js"
export * from "./supervisor/Supervisor.js"
