/**
 * The `--json` document of start, stop and restart: one object on stdout
 * saying what was planned, what happened and whether it worked, for scripts
 * and the ops playbook. Snake_case like the `status` JSON (spec §4), whose
 * names come from the tool this replaces.
 */
import { type Execution, type ProgressEvent, RollStopped, type SettledInstance } from "@tamanu-lifecycle/core/internal"
import { Schema } from "effect"
import { redactSecrets, renderError } from "./errors.js"

export const ReportError = Schema.Struct({
  /** The error's `_tag` (e.g. `RollStopped`, `WaitTimeout`), for scripts to branch on. */
  tag: Schema.String,
  /** The paragraph printed on stderr. */
  message: Schema.String,
})
export type ReportError = typeof ReportError.Type

/** One instance's settle window (issue #23): whether it stayed running, and if not how it ended. */
export const ReportSettle = Schema.Struct({
  instance: Schema.String,
  window_ms: Schema.Int.pipe(Schema.nonNegative()),
  /** `steady`: stayed running through the window; `ended`: stopped, failed or restarted in it; `unfinished`: still running when another instance's end stopped the watch. */
  result: Schema.Literal("steady", "ended", "unfinished"),
  /** For `ended`: `stopped`, `failed`, `restarted` (its process ended and another began) or `gone`; else null. */
  how: Schema.NullOr(Schema.Literal("stopped", "failed", "restarted", "gone")),
  /** The ended process's exit code / killing signal, when the supervisor recorded it. */
  exit_code: Schema.NullOr(Schema.Int),
  signal: Schema.NullOr(Schema.String),
  /** How long that process ran; `lasted_exact` false when it is an upper bound. */
  lasted_ms: Schema.NullOr(Schema.Int.pipe(Schema.nonNegative())),
  lasted_exact: Schema.NullOr(Schema.Boolean),
  /** Restarts the supervisor made by itself inside the window. */
  restarts: Schema.NullOr(Schema.Int.pipe(Schema.nonNegative())),
})
export type ReportSettle = typeof ReportSettle.Type

export const OperationReport = Schema.Struct({
  command: Schema.String,
  /** The command did what it was asked (exit 0). */
  ok: Schema.Boolean,
  /** The host already matched: nothing was changed, no sudo asked. */
  nothing_to_do: Schema.Boolean,
  /** `--dry-run`: `plan` was printed, nothing was changed. */
  dry_run: Schema.Boolean,
  /** One line per step, as `--dry-run` prints it. */
  plan: Schema.Array(Schema.String),
  warnings: Schema.Array(Schema.String),
  /** Instances started / stopped / restarted, by display name (`name@suffix`, `name#pm_id`). */
  started: Schema.Array(Schema.String),
  stopped: Schema.Array(Schema.String),
  restarted: Schema.Array(Schema.String),
  /** Instances a stopped roll left alone (still on the old process). */
  not_restarted: Schema.Array(Schema.String),
  /** What was asked of Caddy; null when the run did not touch it. */
  caddy: Schema.NullOr(
    Schema.Struct({
      /** `admin` (its admin API) or `reload` (the old way, without it). */
      mode: Schema.Literal("admin", "reload"),
      config_loads: Schema.Int.pipe(Schema.nonNegative()),
      reloads: Schema.Int.pipe(Schema.nonNegative()),
      /** Caddy runs its own config again (false: the next run restores it; `tamanu status` shows when). */
      restored: Schema.Boolean,
      /** Time spent waiting for Caddy's cache before the restore. */
      waited_ms: Schema.Int.pipe(Schema.nonNegative()),
    }),
  ),
  /** Each settle window's result per instance, in the order they were watched. */
  settle: Schema.Array(ReportSettle),
  /** What each instance that failed to start, settle or become ready logged since its start call (its last lines). */
  last_lines: Schema.Array(Schema.Struct({ instance: Schema.String, lines: Schema.Array(Schema.String) })),
  /**
   * Each rolled instance's version before and after its restart, against the
   * expected one (issue #22); `status` `mismatch` makes the command exit 1.
   */
  versions: Schema.Array(
    Schema.Struct({
      instance: Schema.String,
      before: Schema.NullOr(Schema.String),
      after: Schema.NullOr(Schema.String),
      expected: Schema.NullOr(Schema.String),
      status: Schema.Literal("match", "mismatch", "unknown", "upgrading"),
    }),
  ),
  elapsed_ms: Schema.Int.pipe(Schema.nonNegative()),
  error: Schema.NullOr(ReportError),
})
export type OperationReport = typeof OperationReport.Type

/** One settle result as core reports it (`Execution.settled`, the `Settled` event). */
export type SettledInput = SettledInstance

/**
 * Plain inputs. Shaped so core's `OperationResult` fits as it is (its
 * `planText` and `execution` are read), and a failure needs only
 * `command`, `ok: false` and `error`.
 */
export interface OperationReportInput {
  readonly command: string
  readonly ok: boolean
  readonly nothingToDo?: boolean
  readonly dryRun?: boolean
  /** The plan as text, one line per step (core's `planText`); or `planSteps`. */
  readonly planText?: string
  readonly planSteps?: ReadonlyArray<string>
  readonly warnings?: ReadonlyArray<string>
  /**
   * What the executor did (core's `Execution`, any part of it: a failure's
   * report has only what the events said was done); null when nothing ran.
   */
  readonly execution?: Partial<
    Pick<Execution, "started" | "stopped" | "restarted" | "notRestarted" | "caddy" | "settled" | "versions">
  > | null
  /** Settle results when there is no execution to carry them (a failure's report, from the events). */
  readonly settled?: ReadonlyArray<SettledInput>
  readonly lastLines?: ReadonlyArray<{ readonly instance: string; readonly lines: ReadonlyArray<string> }>
  readonly elapsedMillis?: number
  readonly error?: ReportError | null
}

const lines = (text: string): ReadonlyArray<string> =>
  text
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== "")

const settleRow = ({ windowMillis, result }: SettledInput): ReportSettle => {
  const base = {
    window_ms: Math.max(0, Math.round(windowMillis)),
    how: null,
    exit_code: null,
    signal: null,
    lasted_ms: null,
    lasted_exact: null,
    restarts: null,
  }
  switch (result._tag) {
    case "Steady":
      return { ...base, instance: result.instance, result: "steady" }
    case "Unfinished":
      return { ...base, instance: result.instance, result: "unfinished" }
    case "EndedInWindow": {
      const e = result.ended
      return {
        ...base,
        instance: e.instance,
        result: "ended",
        how: e.how,
        exit_code: e.exit?._tag === "Exited" ? e.exit.code : null,
        signal: e.exit?._tag === "Killed" ? e.exit.signal : null,
        lasted_ms: e.lastedMillis === null ? null : Math.max(0, Math.round(e.lastedMillis)),
        lasted_exact: e.lastedMillis === null ? null : e.lastedExact,
        restarts: e.restarts,
      }
    }
  }
}

/** The report for these inputs; everything text is passed through `redactSecrets`. */
export const operationReport = (input: OperationReportInput): OperationReport => {
  const plan = input.planSteps ?? (input.planText === undefined ? [] : lines(input.planText))
  const execution = input.execution ?? null
  const clean = (items: ReadonlyArray<string> | undefined): ReadonlyArray<string> => (items ?? []).map(redactSecrets)
  return {
    command: input.command,
    ok: input.ok,
    nothing_to_do: input.nothingToDo ?? false,
    dry_run: input.dryRun ?? false,
    plan: clean(plan),
    warnings: clean(input.warnings),
    started: clean(execution?.started),
    stopped: clean(execution?.stopped),
    restarted: clean(execution?.restarted),
    not_restarted: clean(execution?.notRestarted),
    caddy:
      execution?.caddy === undefined || execution.caddy === null
        ? null
        : {
            mode: execution.caddy.mode,
            config_loads: execution.caddy.configLoads,
            reloads: execution.caddy.reloads,
            restored: execution.caddy.restored,
            waited_ms: Math.max(0, Math.round(execution.caddy.waitedMillis)),
          },
    settle: (input.settled ?? execution?.settled ?? []).map(settleRow),
    last_lines: (input.lastLines ?? []).map(({ instance, lines }) => ({ instance, lines: clean(lines) })),
    versions: (execution?.versions ?? []).map(({ instance, before, after, expected, status }) => ({
      instance,
      before,
      after,
      expected,
      status,
    })),
    elapsed_ms: Math.max(0, Math.round(input.elapsedMillis ?? 0)),
    error:
      input.error === undefined || input.error === null
        ? null
        : { tag: input.error.tag, message: redactSecrets(input.error.message) },
  }
}

const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : error instanceof Error
      ? error.name
      : "Error"

/**
 * What the progress events of a command said so far: the plan, the warnings
 * and, when the execution failed, what had been done. A failure's report is
 * built from this, since the error alone does not carry it.
 */
export interface Recorded {
  readonly planText?: string
  readonly warnings: ReadonlyArray<string>
  readonly execution: NonNullable<OperationReportInput["execution"]> | null
  readonly settled: ReadonlyArray<SettledInput>
  readonly lastLines: ReadonlyArray<{ readonly instance: string; readonly lines: ReadonlyArray<string> }>
}

export const emptyRecord: Recorded = { warnings: [], execution: null, settled: [], lastLines: [] }

export const recordEvent = (recorded: Recorded, event: ProgressEvent): Recorded => {
  switch (event._tag) {
    case "PlanComputed":
      return { ...recorded, planText: event.text }
    case "Warning":
      return { ...recorded, warnings: [...recorded.warnings, event.message] }
    case "ProxyReloaded":
      return { ...recorded, warnings: [...recorded.warnings, ...event.warnings] }
    case "Settled":
      return {
        ...recorded,
        settled: [
          ...recorded.settled,
          ...event.results.map((result) => ({ windowMillis: event.windowMillis, result })),
        ],
      }
    case "LastLines":
      return { ...recorded, lastLines: [...recorded.lastLines, { instance: event.instance, lines: event.lines }] }
    case "ExecutionFailed":
      return {
        ...recorded,
        execution: {
          started: event.started,
          stopped: event.stopped,
          restarted: event.restarted,
          notRestarted: event.notRestarted,
        },
      }
    default:
      return recorded
  }
}

const union = (...lists: ReadonlyArray<ReadonlyArray<string> | undefined>): ReadonlyArray<string> => [
  ...new Set(lists.flatMap((list) => list ?? [])),
]

/**
 * The report of a command that failed with `error`: its tag, the same
 * paragraph as stderr, the plan and what had been done (from `extra`, i.e.
 * the recorded events), and for a stopped roll which instances were and were
 * not restarted (the facts a script needs most).
 */
export const failureReport = (
  command: string,
  error: unknown,
  extra: Omit<OperationReportInput, "command" | "ok" | "error"> = {},
): OperationReport =>
  operationReport({
    ...extra,
    command,
    ok: false,
    execution:
      error instanceof RollStopped
        ? {
            ...extra.execution,
            // The instance that did not become ready was restarted too: it is no longer the old process.
            restarted: union(extra.execution?.restarted, error.restarted, [error.instance]),
            notRestarted: union(extra.execution?.notRestarted, error.notRestarted),
          }
        : (extra.execution ?? null),
    error: { tag: tagOf(error), message: renderError(error).message },
  })

/** The document as printed: validated against the schema, two-space indented. */
export const encodeOperationReport = (report: OperationReport): string =>
  JSON.stringify(Schema.encodeSync(OperationReport)(report), null, 2)
