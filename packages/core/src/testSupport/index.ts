/** `@tamanu-lifecycle/core/test-support`: the planners' fixtures and random hosts (needs fast-check). */
export * from "./plannerFixtures.js"
