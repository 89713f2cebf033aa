/**
 * How many generated cases each property runs (fast-check `numRuns`). Fixed
 * numbers, not fast-check's default, so docs/reliability.md can state how
 * much input every parser and planner has survived; a failure prints the
 * seed and the shrunk counterexample, so a run is reproducible.
 */
export const RUNS = {
  /** Pure parsers of outside text (units, durations, JSON5, pm2, podman, systemctl). */
  parser: 2000,
  /** Pure planners over random hosts. */
  planner: 1000,
  /** The real operations over the fake supervisors, under TestClock. */
  operation: 100,
  /** The real @effect/cli parser, one command line per case. */
  cli: 300,
} as const
