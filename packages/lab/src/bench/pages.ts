/**
 * The two pages `npm run bench` writes, from its figures: docs/performance.md
 * and docs/restart-requests.svg. main.ts also keeps the figures it measured
 * (requests included) in the temp dir, so the pages can be rendered again
 * from that same run after a change to how they are written, with no new
 * measurement:
 *
 *     npm run build && node packages/lab/dist/bench/rerender.js [figures.json]
 */
import * as fs from "node:fs"
import * as os from "node:os"
import { type BenchFigures, noServingMsOf, performanceMarkdown } from "./report.js"
import { type MethodRun, methodLabels, restartMethods } from "./restartMethods.js"
import { restartRequestsSvg, type SvgPanel } from "./restartSvg.js"

/** JSON.stringify's replacer that keeps NaN and ±Infinity (as strings; rerender.ts reads them back). */
export const keepNonFinite = (_key: string, value: unknown): unknown =>
  typeof value === "number" && !Number.isFinite(value) ? String(value) : value

/** Where main.ts keeps the figures of its last run. */
export const figuresFile = `${os.tmpdir()}/tamanu-bench-figures.json`

/**
 * The run of a method the picture shows: the one with its median loss (of
 * those, the median wall time), so the picture is a typical run, not the
 * best or the worst.
 */
export const typicalRun = (runs: ReadonlyArray<MethodRun>): MethodRun | undefined => {
  const sorted = [...runs].sort((a, b) => a.failed - b.failed || a.wallMs - b.wallMs)
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

export const restartPanels = (runs: ReadonlyArray<MethodRun>): ReadonlyArray<SvgPanel> =>
  restartMethods.flatMap((method) => {
    const pick = typicalRun(runs.filter((r) => r.method === method))
    return pick === undefined
      ? []
      : [
          {
            title: `${methodLabels[method]}: ${pick.failed} lost, ${(noServingMsOf(pick) / 1000).toFixed(1)} s without a serving upstream, roll ${((pick.rollMs ?? Number.NaN) / 1000).toFixed(2)} s, wall ${(pick.wallMs / 1000).toFixed(2)} s`,
            records: pick.records,
            outages: pick.noServing,
            rollMs: pick.rollMs,
            wallMs: pick.wallMs,
            loadEndMs: pick.loadEndMs,
          },
        ]
  })

/**
 * What `npm run bench -- <group> …` can measure on its own, and the `## `
 * sections of docs/performance.md each group's figures fill.
 */
export const benchGroups = {
  restart: ["What this shows", "Restarting the instances behind Caddy under load"],
  startup: ["Start-up and discovery"],
  packaging: ["The single executables and the .debs"],
  settle: ["The settle window"],
  system: ["On a real system manager"],
} as const satisfies Record<string, ReadonlyArray<string>>
export type BenchGroup = keyof typeof benchGroups

/** A page cut at its `## ` headings: the text before the first, then each section (heading line included). */
const cut = (page: string): { readonly head: string; readonly sections: ReadonlyArray<readonly [string, string]> } => {
  const parts = page.split(/^(?=## )/m)
  const first = parts[0] ?? ""
  const head = first.startsWith("## ") ? "" : first
  const rest = first.startsWith("## ") ? parts : parts.slice(1)
  return { head, sections: rest.map((p) => [p.slice(3, p.indexOf("\n") < 0 ? p.length : p.indexOf("\n")).trim(), p]) }
}

/**
 * `page` with each section named in `headings` replaced by the one of
 * `fresh`, `stamp` put under its heading; a section `fresh` lacks stays as it
 * was, one `page` lacks is added at the end. Pure: pages.test.ts.
 */
export const spliceSections = (page: string, fresh: string, headings: ReadonlyArray<string>, stamp: string): string => {
  const old = cut(page)
  const next = new Map(cut(fresh).sections)
  const stamped = (heading: string): string | undefined => {
    const text = next.get(heading)
    if (text === undefined) return undefined
    const nl = text.indexOf("\n")
    return `${text.slice(0, nl + 1)}\n${stamp}\n${text.slice(nl + 1)}`
  }
  // A replaced section ends as the one it replaces did (the blank line before the next heading).
  const endingAs = (text: string, was: string) => text.replace(/\n*$/, was.match(/\n*$/)?.[0] ?? "\n")
  const kept = old.sections.map(([heading, text]) => {
    const fresher = headings.includes(heading) ? stamped(heading) : undefined
    return fresher === undefined ? text : endingAs(fresher, text)
  })
  const added = headings.filter((h) => !old.sections.some(([o]) => o === h)).flatMap((h) => stamped(h) ?? [])
  // The page's opening paragraph (how it is made) is the fresh one's; the head's table stays the last full run's.
  const intro = (head: string) => head.match(/^# [^\n]*\n\n[\s\S]*?\n\n/)?.[0]
  const freshIntro = intro(cut(fresh).head)
  const oldIntro = intro(old.head)
  const head = freshIntro !== undefined && oldIntro !== undefined ? old.head.replace(oldIntro, freshIntro) : old.head
  return [head, ...kept, ...added.map((a) => (a.endsWith("\n") ? a : `${a}\n`))].join("")
}

const loads = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(2)).join(" / ")

/**
 * A run of some groups only: their sections of docs/performance.md
 * rewritten from `figures` (the rest kept as the last run wrote it), each
 * saying when and under what load it was measured; the svg too when the
 * restarts were measured. Returns the sections written.
 */
export const writeSections = (figures: BenchFigures, groups: ReadonlyArray<BenchGroup>, docsDir: string): string => {
  const file = `${docsDir}performance.md`
  const headings = groups.flatMap((g) => benchGroups[g])
  const fresh = performanceMarkdown({ ...figures, skipped: [] })
  const m = figures.machine
  const stamp =
    `_Measured again on its own by \`npm run bench -- ${groups.join(" ")}\` on ${m.date}, ${(figures.durationMs / 60_000).toFixed(1)} min, ` +
    `load average (1/5/15 min) ${loads(m.loadAverage)} at the start and ${loads(figures.loadAverageEnd)} at the end` +
    `${m.extraCaCerts === null ? "" : ` (NODE_EXTRA_CA_CERTS set: \`node -e 0\` ${m.extraCaCerts.withMs} ms with it, ${m.extraCaCerts.withoutMs} ms without)`}; ` +
    `the table at the top describes the last full run._` +
    (figures.skipped.length === 0 ? "" : ` Not measured, or not completed: ${figures.skipped.join("; ")}.`)
  const page = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : ""
  fs.writeFileSync(file, spliceSections(page, fresh, headings, stamp))
  if (groups.includes("restart") && figures.runs.length > 0)
    fs.writeFileSync(`${docsDir}restart-requests.svg`, restartRequestsSvg(restartPanels(figures.runs)))
  const written = new Map(cut(fresh).sections)
  return headings.flatMap((h) => written.get(h) ?? []).join("")
}

/** Writes docs/performance.md, and docs/restart-requests.svg when the restarts were measured; returns the page. */
export const writePages = (figures: BenchFigures, docsDir: string): string => {
  const markdown = performanceMarkdown(figures)
  if (figures.runs.length > 0)
    fs.writeFileSync(`${docsDir}restart-requests.svg`, restartRequestsSvg(restartPanels(figures.runs)))
  fs.writeFileSync(`${docsDir}performance.md`, markdown)
  return markdown
}
