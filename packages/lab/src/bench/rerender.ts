/**
 * Renders docs/performance.md and docs/restart-requests.svg again from the
 * figures a `npm run bench` run kept (pages.ts): no new measurement.
 *
 *     node packages/lab/dist/bench/rerender.js [figures.json]
 */
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { figuresFile, writePages } from "./pages.js"
import type { BenchFigures } from "./report.js"

const docsDir = fileURLToPath(new URL("../../../../docs/", import.meta.url))
const file = process.argv[2] ?? figuresFile

/** NaN and ±Infinity were kept as strings, so they come back as they were measured. */
const revive = (_key: string, value: unknown): unknown =>
  value === "NaN"
    ? Number.NaN
    : value === "Infinity"
      ? Number.POSITIVE_INFINITY
      : value === "-Infinity"
        ? Number.NEGATIVE_INFINITY
        : value

const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"), revive)
if (typeof parsed !== "object" || parsed === null || !("machine" in parsed) || !("runs" in parsed)) {
  process.stderr.write(`${file} holds no benchmark figures\n`)
  process.exitCode = 1
} else {
  // Written by main.ts from a BenchFigures (pages.ts): the same shape, read back.
  writePages(parsed as BenchFigures, docsDir)
  process.stderr.write(`wrote ${docsDir}performance.md and ${docsDir}restart-requests.svg from ${file}\n`)
}
