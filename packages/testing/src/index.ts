/**
 * @tamanu-lifecycle/testing: fake layers for the SDK's services and the
 * real-component harnesses shared by tests, the demo and the benchmarks.
 */

export * from "./bench/coldStart.js"
export * from "./bench/discoveryPm2.js"
export * from "./bench/discoverySystemd.js"
export * from "./e2e/browserLoad.js"
export * from "./e2e/sandboxHost.js"
export * from "./fakes/FakeHost.js"
export * from "./fakes/FakeProber.js"
export * from "./fakes/FakeProbeTargets.js"
export * from "./fakes/FakeReverseProxy.js"
export * from "./fakes/FakeSupervisor.js"
export * from "./fakes/FakeTamanuHost.js"
export * from "./harness/caddy.js"
export * from "./harness/load.js"
export * from "./harness/pm2Daemon.js"
export * from "./harness/postgres.js"
export * from "./harness/prerequisites.js"
export * from "./harness/processes.js"
export * from "./harness/systemdUserManager.js"
export * from "./reliability/faultWorld.js"
