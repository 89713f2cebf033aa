/**
 * The human `status` table (spec §4): Service, Expected, Actual, Reason, with
 * per-instance lines where the Actual cell alone would not say which instance
 * is in which state, warnings, and a one-line verdict at the end.
 *
 * Hand-aligned rather than a table library. The candidates were measured in
 * the bundled CLI: cli-tableau (already in node_modules through pm2) adds
 * 59 KB and chalk 3 beside picocolors for a start-up difference lost in the
 * noise (median 96.5 ms vs 98.6 ms over 40 runs each), but it draws box
 * borders that make the output harder to grep, to paste into a ticket and to
 * read on an 80-column console, and it makes its own colour decisions apart
 * from our NO_COLOR/TTY rule. Four left-aligned columns need only a width per
 * column and padding by visible width (colour escapes removed; every symbol
 * we print, `×` and `●` included, is one column wide), which is the few lines
 * below, the way `systemctl list-units` and `pm2 ls` are read.
 */
import type { CaddyStatusJson, SupervisorKind } from "@tamanu-lifecycle/core/internal"
import {
  actualCell,
  type Classification,
  type ExpectationGroup,
  expectedCell,
  type Instance,
  instanceLines,
  isFailure,
  type Outcome,
  type RowVersions,
  type StatusRow,
  versionCell,
  versionsDiffer,
} from "@tamanu-lifecycle/core/internal"
import { type Palette, palette, type Style, visibleWidth } from "./color.js"

/** What the table shows: the rows `status` chose, and what to warn about. */
export interface StatusView {
  readonly rows: ReadonlyArray<StatusRow>
  readonly supervisor: SupervisorKind
  /** NAMES that matched nothing (only when they were allowed to). */
  readonly unmatched?: ReadonlyArray<string>
  /** Anything else the operator should read, e.g. a database that could not be reached. */
  readonly warnings?: ReadonlyArray<string>
  /** Where Caddy routes the services behind it (null or absent: none shown). */
  readonly caddy?: CaddyStatusJson | null
  /**
   * Why a version is unknown, an upgrade in progress (issue #22): part of the
   * result, so on stdout as `versions: …` lines (the `⚠` lines are for warnings).
   */
  readonly notes?: ReadonlyArray<string>
  /** tamanu's pins past due, or naming an address no instance has: said in red, and status exits 1. */
  readonly caddyProblem?: string | null
}

/** The view of core's `StatusResult` (structural, so any result of that shape fits). */
export const statusView = (result: {
  readonly rows: ReadonlyArray<StatusRow>
  readonly survey: { readonly supervisor: SupervisorKind; readonly unmatched: ReadonlyArray<string> }
  readonly caddy?: CaddyStatusJson | null
  readonly versionNotes?: ReadonlyArray<string>
  readonly caddyProblem?: string | null
}): StatusView => ({
  rows: result.rows,
  supervisor: result.survey.supervisor,
  unmatched: result.survey.unmatched,
  caddy: result.caddy ?? null,
  notes: result.versionNotes ?? [],
  caddyProblem: result.caddyProblem ?? null,
})

/**
 * Where Caddy routes each service behind it, address by address, with the
 * instance at that address, or a red mark where no running instance has it
 * (unmarked when this run could not see where the instances are).
 */
export const caddyLines = (caddy: CaddyStatusJson, p: Palette): ReadonlyArray<string> => {
  if (!caddy.reachable) return [p.yellow(`Caddy (${caddy.admin}): ${caddy.note ?? "not reachable"}`)]
  const lines = [p.bold(`Caddy (${caddy.admin}):`)]
  for (const route of caddy.routes) {
    const addresses = route.addresses.map((a) =>
      a.instance !== null
        ? `${a.address} ${p.dim(`(${a.instance})`)}`
        : caddy.instances_seen
          ? p.red(`${a.address} ✗ no running instance has it`)
          : a.address,
    )
    lines.push(
      `  ${route.service}  ${p.dim(route.source)} → ${addresses.length > 0 ? addresses.join(", ") : p.yellow("nothing")}`,
    )
  }
  if (caddy.restore_pending !== null)
    lines.push(
      p.yellow(
        `  ⚠ tamanu's routing since ${caddy.restore_pending.since} is still in place; Caddy's own config comes back by itself from ${caddy.restore_pending.due_at} (the restore tamanu scheduled), or with the next tamanu start or restart`,
      ),
    )
  if (caddy.note !== null) lines.push(p.dim(`  ${caddy.note}`))
  return lines
}

const outcomeStyle = (p: Palette, outcome: Outcome): Style => {
  switch (outcome) {
    case "up":
    case "absent":
      return p.green
    case "short":
    case "down":
    case "forbidden":
      return p.red
    case "unknown":
      return p.yellow
  }
}

/**
 * The dot before an instance line: green where the instance is as it should
 * be, red where it is not (a stopped instance of an Up service, a running one
 * of a Down service), yellow for leftovers of an older layout.
 */
const instanceStyle = (
  p: Palette,
  group: ExpectationGroup,
  instance: Instance,
  leftover: boolean,
  version: RowVersions["instances"][number] | undefined,
): Style => {
  if (version?.status === "mismatch") return p.red
  if (leftover) return p.yellow
  if (group.expectation.state === "Unknown") return p.yellow
  const fine = group.expectation.state === "Down" ? !instance.running : instance.running
  return fine ? p.green : p.red
}

interface Cell {
  readonly text: string
  readonly style: Style
}

const GAP = "  "

const padCell = (cell: Cell, width: number): string =>
  cell.style(cell.text) + " ".repeat(Math.max(0, width - visibleWidth(cell.text)))

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`

/** Green where every instance runs the expected version, red on drift, yellow while unknown or upgrading. */
const versionStyle = (p: Palette, v: RowVersions): Style => {
  const statuses = new Set(v.instances.map((i) => i.status))
  if (statuses.has("mismatch")) return p.red
  if (statuses.has("unknown") || statuses.has("upgrading") || v.instances.length === 0) return p.yellow
  return p.green
}

const drifts = (v: RowVersions | undefined): boolean => v?.instances.some((i) => i.status === "mismatch") === true

const verdict = (
  p: Palette,
  rows: ReadonlyArray<{ readonly classification: Classification; readonly versions?: RowVersions | undefined }>,
): string => {
  const classifications = rows.map((r) => r.classification)
  const total = classifications.length
  if (total === 0) return p.yellow("no services to show")
  const failing = rows.filter((r) => isFailure(r.classification.outcome) || drifts(r.versions)).length
  const unknown = classifications.filter((c) => c.outcome === "unknown").length
  const unknownNote = unknown > 0 ? p.yellow(`; ${unknown} unknown (not checked)`) : ""
  if (failing > 0) {
    const verb = failing === 1 ? "needs" : "need"
    return p.red(`${failing} of ${plural(total, "service", "services")} ${verb} attention`) + unknownNote
  }
  const all = total === 1 ? "1 service" : `all ${total} services`
  return p.green(`${all} as expected`) + unknownNote
}

type StatusResultLike = Parameters<typeof statusView>[0]

/**
 * The table, the warnings and the verdict, as lines ending in a newline.
 * Takes the view or core's `StatusResult` directly, and `{ color }` or a palette.
 */
export const renderStatusTable = (
  input: StatusView | StatusResultLike,
  style: { readonly color: boolean } | Palette,
): string => {
  const view = "survey" in input ? statusView(input) : input
  const p = "color" in style ? palette(style.color) : style
  // The Version column (issue #22) shows once any row knows versions: rows from a host that read none keep four columns.
  const withVersions = view.rows.some((r) => r.versions !== undefined)
  const titles = withVersions
    ? ["Service", "Expected", "Actual", "Version", "Reason"]
    : ["Service", "Expected", "Actual", "Reason"]
  const header: ReadonlyArray<Cell> = titles.map((text) => ({
    text,
    style: p.bold,
  }))
  const body = view.rows.map(({ group, classification: c, versions }) => ({
    cells: [
      { text: group.expectation.name, style: (s: string) => s },
      { text: expectedCell(group.expectation), style: (s: string) => s },
      { text: actualCell(group, c, view.supervisor), style: outcomeStyle(p, c.outcome) },
      ...(!withVersions
        ? []
        : versions === undefined
          ? [{ text: "", style: p.dim }]
          : [
              {
                text: versionCell(versions),
                style: versionsDiffer(versions) ? p.yellow : versionStyle(p, versions),
              },
            ]),
      { text: group.expectation.reason, style: p.dim },
    ] satisfies ReadonlyArray<Cell>,
    // instanceLines lists the admitted instances, then the leftovers: the same order as `present`.
    details: ((): ReadonlyArray<string> => {
      const present = [
        ...group.instances.map((i) => [i, false] as const),
        ...group.leftovers.map((i) => [i, true] as const),
      ]
      return instanceLines(group, c, versions).map((line, n) => {
        const entry = present[n]
        const dot = entry === undefined ? p.dim : instanceStyle(p, group, entry[0], entry[1], versions?.instances[n])
        return `  ${dot("●")} ${line}`
      })
    })(),
  }))

  const all = [header, ...body.map((r) => r.cells)]
  const widths = header.map((_, column) => Math.max(...all.map((cells) => visibleWidth(cells[column]?.text ?? ""))))
  const line = (cells: ReadonlyArray<Cell>): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell.style(cell.text) : padCell(cell, widths[column] ?? 0)))
      .join(GAP)
      .trimEnd()

  const warnings = [
    ...(view.unmatched ?? []).map((pattern) => `no service matches "${pattern}"`),
    ...(view.warnings ?? []),
  ].map((w) => p.yellow(`⚠ ${w}`))

  const lines = [
    line(header),
    ...body.flatMap((r) => [line(r.cells), ...r.details]),
    "",
    ...(view.caddy === undefined || view.caddy === null ? [] : [...caddyLines(view.caddy, p), ""]),
    ...(view.notes ?? []).map((n) => p.yellow(`versions: ${n}`)),
    ...warnings,
    ...(view.caddyProblem === undefined || view.caddyProblem === null ? [] : [p.red(`✗ Caddy: ${view.caddyProblem}`)]),
    verdict(p, view.rows),
  ]
  return `${lines.join("\n")}\n`
}
