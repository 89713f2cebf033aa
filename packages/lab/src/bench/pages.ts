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

/** Writes docs/performance.md, and docs/restart-requests.svg when the restarts were measured; returns the page. */
export const writePages = (figures: BenchFigures, docsDir: string): string => {
  const markdown = performanceMarkdown(figures)
  if (figures.runs.length > 0)
    fs.writeFileSync(`${docsDir}restart-requests.svg`, restartRequestsSvg(restartPanels(figures.runs)))
  fs.writeFileSync(`${docsDir}performance.md`, markdown)
  return markdown
}
