/**
 * The picture of docs/performance.md: requests served and failed per 100 ms
 * during each restart method, one small panel per method on shared axes, so
 * a stall (no bars) or failures (red) are seen at a glance. Hand-written SVG:
 * a few rectangles and labels do not need a charting dependency.
 */
import { loadBuckets, type RequestRecord } from "../harness/load.js"

export interface SvgPanel {
  readonly title: string
  readonly records: ReadonlyArray<RequestRecord>
  /** When the method began and ended, ms on the records' clock. */
  readonly beganMs: number
  readonly endedMs: number
}

const escapeXml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;")

/** A "nice" axis maximum (1, 2 or 5 × 10^k) at or above `n`. */
export const niceCeiling = (n: number): number => {
  if (n <= 0) return 1
  const power = 10 ** Math.floor(Math.log10(n))
  return ([1, 2, 5, 10].find((m) => m * power >= n) ?? 10) * power
}

/** Small multiples: one row per panel, stacked bars (served under failed) per 100 ms, x in seconds from each method's start. */
export const restartRequestsSvg = (panels: ReadonlyArray<SvgPanel>, bucketMs = 100): string => {
  const width = 900
  const left = 60
  const right = 20
  const panelHeight = 120
  const gap = 46
  const top = 50
  const plotWidth = width - left - right
  const lead = 300
  const series = panels.map((p) => {
    const shifted = p.records
      .filter((r) => r.startMs >= p.beganMs - lead)
      .map((r) => ({ ...r, startMs: r.startMs - (p.beganMs - lead) }))
    return { panel: p, buckets: loadBuckets(shifted, bucketMs) }
  })
  const spanMs = Math.max(1_000, ...series.map((s) => s.buckets.length * bucketMs))
  const yMax = niceCeiling(Math.max(1, ...series.flatMap((s) => s.buckets.map((b) => b.served + b.failed))))
  const x = (ms: number) => left + (ms / spanMs) * plotWidth
  const height = top + panels.length * (panelHeight + gap) + 10
  const out: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="15" font-weight="bold">Requests through Caddy per ${bucketMs} ms while restarting</text>`,
    `<text x="${left}" y="38" fill="#555">green: served · red: failed · shaded: the method running · x: seconds from the method's start</text>`,
  ]
  series.forEach(({ panel, buckets }, i) => {
    const y0 = top + i * (panelHeight + gap) + 16
    const yBase = y0 + panelHeight
    const y = (n: number) => yBase - (n / yMax) * panelHeight
    out.push(`<text x="${left}" y="${y0 - 4}" font-weight="bold">${escapeXml(panel.title)}</text>`)
    out.push(
      `<rect x="${x(lead).toFixed(1)}" y="${y0}" width="${(x(lead + panel.endedMs - panel.beganMs) - x(lead)).toFixed(1)}" height="${panelHeight}" fill="#eef3fb"/>`,
    )
    const barWidth = Math.max(1, (bucketMs / spanMs) * plotWidth - 0.5)
    for (const b of buckets) {
      const bx = x(b.fromMs).toFixed(1)
      if (b.served > 0)
        out.push(
          `<rect x="${bx}" y="${y(b.served).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(yBase - y(b.served)).toFixed(1)}" fill="#2e8b57"/>`,
        )
      // A single failure must stay visible: at least 3 px.
      const failedHeight = b.failed > 0 ? Math.max(3, y(b.served) - y(b.served + b.failed)) : 0
      if (b.failed > 0)
        out.push(
          `<rect x="${bx}" y="${(y(b.served) - failedHeight).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${failedHeight.toFixed(1)}" fill="#d62728"/>`,
        )
    }
    // Axes: y with 0 and max, x ticks every second.
    out.push(`<line x1="${left}" y1="${y0}" x2="${left}" y2="${yBase}" stroke="#333"/>`)
    out.push(`<line x1="${left}" y1="${yBase}" x2="${width - right}" y2="${yBase}" stroke="#333"/>`)
    out.push(`<text x="${left - 6}" y="${yBase + 4}" text-anchor="end">0</text>`)
    out.push(`<text x="${left - 6}" y="${y0 + 10}" text-anchor="end">${yMax}</text>`)
    for (let s = 0; lead + s * 1000 <= spanMs; s++) {
      const tx = x(lead + s * 1000).toFixed(1)
      out.push(`<line x1="${tx}" y1="${yBase}" x2="${tx}" y2="${yBase + 4}" stroke="#333"/>`)
      out.push(`<text x="${tx}" y="${yBase + 16}" text-anchor="middle">${s}</text>`)
    }
    out.push(
      `<text x="${left - 40}" y="${y0 + panelHeight / 2}" transform="rotate(-90 ${left - 40} ${y0 + panelHeight / 2})" text-anchor="middle">req / ${bucketMs} ms</text>`,
    )
    out.push(`<text x="${width - right}" y="${yBase + 30}" text-anchor="end" fill="#555">seconds</text>`)
  })
  out.push("</svg>")
  return `${out.join("\n")}\n`
}
