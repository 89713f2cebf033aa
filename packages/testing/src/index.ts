/**
 * @tamanu-lifecycle/testing: in-memory layers for every service of
 * @tamanu-lifecycle/core, driven by Effect's clock, for deterministic tests
 * of programs that embed the SDK. Depends on core and effect only; the
 * real-component harnesses, sandbox hosts, demo and benchmarks are the
 * private `packages/lab` workspace, not this package.
 */

export * from "./fakeHost.js"
export * from "./host/FakeTamanuHost.js"
export * from "./probe/FakeProber.js"
export * from "./probe/FakeProbeTargets.js"
export * from "./proxy/FakeCaddy.js"
export * from "./proxy/FakeReverseProxy.js"
export {
  type FakeBehaviour,
  type FakeFailure,
  type FakeInstanceView,
  type FakePhase,
  FakeSupervisorControl,
  type FakeSupervisorControlShape,
  type JournalEntry,
  type SupervisorMethod,
} from "./supervisor/FakeSupervisor.js"
export * from "./supervisor/pm2.js"
export * from "./supervisor/systemd.js"
