/**
 * The picture of docs/performance.md: requests through Caddy over time, one
 * panel per restart method on shared axes. Served requests stack upward
 * (per service), failed ones hang downward on their own scale (so one lost
 * request is seen even beside hundreds served), and under each panel a band
 * per service is red wherever that service had no serving upstream.
 * Hand-written SVG: a few rectangles and labels need no charting dependency.
 */
import { isFailedRequest, type RequestRecord } from "../harness/load.js"
import type { Outage } from "./outages.js"

export interface SvgPanel {
  readonly title: string
  /** Per service; `startMs` from the method's first command (negative before it). */
  readonly records: Readonly<Record<string, ReadonlyArray<RequestRecord>>>
  readonly outages: Readonly<Record<string, ReadonlyArray<Outage>>>
  /** Every instance answered (null: never); the method ended; the load stopped (ms from the method's start). */
  readonly rollMs: number | null
  readonly wallMs: number
  readonly loadEndMs: number
}

const escapeXml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;")

/** A "nice" axis maximum (1, 2 or 5 × 10^k) at or above `n`. */
export const niceCeiling = (n: number): number => {
  if (n <= 0) return 1
  const power = 10 ** Math.floor(Math.log10(n))
  return ([1, 2, 5, 10].find((m) => m * power >= n) ?? 10) * power
}

const servedColors = ["#2e8b57", "#8fd19e"] as const
const failedColor = "#d62728"

/** Served and failed per bucket, per service, from `fromMs` on. */
const bucketsOf = (records: ReadonlyArray<RequestRecord>, fromMs: number, count: number, bucketMs: number) => {
  const served = new Array<number>(count).fill(0)
  const failed = new Array<number>(count).fill(0)
  for (const r of records) {
    const k = Math.floor((r.startMs - fromMs) / bucketMs)
    if (k < 0 || k >= count) continue
    if (isFailedRequest(r)) failed[k] = (failed[k] ?? 0) + 1
    else served[k] = (served[k] ?? 0) + 1
  }
  return { served, failed }
}

export const restartRequestsSvg = (panels: ReadonlyArray<SvgPanel>, bucketMs = 500, leadMs = 1_000): string => {
  const width = 960
  const left = 70
  const right = 20
  const top = 64
  const upHeight = 110
  const downHeight = 45
  const bandHeight = 9
  const services = [...new Set(panels.flatMap((p) => Object.keys(p.records)))]
  const panelHeight = upHeight + downHeight + 8 + services.length * (bandHeight + 3) + 24
  const gap = 34
  const plotWidth = width - left - right
  const spanMs = Math.max(5_000, ...panels.map((p) => p.loadEndMs + leadMs))
  const count = Math.ceil(spanMs / bucketMs)
  const series = panels.map((p) => ({
    panel: p,
    perService: services.map((sv) => bucketsOf(p.records[sv] ?? [], -leadMs, count, bucketMs)),
  }))
  const servedMax = niceCeiling(
    Math.max(
      1,
      ...series.flatMap((s) =>
        Array.from({ length: count }, (_, k) => s.perService.reduce((t, b) => t + (b.served[k] ?? 0), 0)),
      ),
    ),
  )
  const failedMax = niceCeiling(
    Math.max(
      1,
      ...series.flatMap((s) =>
        Array.from({ length: count }, (_, k) => s.perService.reduce((t, b) => t + (b.failed[k] ?? 0), 0)),
      ),
    ),
  )
  const x = (msFromStart: number) => left + ((msFromStart + leadMs) / spanMs) * plotWidth
  const barWidth = Math.max(0.8, (bucketMs / spanMs) * plotWidth - 0.4)
  const height = top + panels.length * (panelHeight + gap)
  const out: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="15" font-weight="bold">Requests through Caddy per ${bucketMs} ms while restarting, one run per method</text>`,
    `<text x="${left}" y="38" fill="#555">up: served (${services.map((sv, k) => `${k === 0 ? "dark" : "light"} green ${sv}`).join(", ")}) · down, red: lost (own scale) · bands: a service with no serving upstream</text>`,
    `<text x="${left}" y="54" fill="#555">x: seconds from the method's first command · blue: the method running · solid line: every instance answered · dashed: the load stops</text>`,
  ]
  series.forEach(({ panel, perService }, i) => {
    const y0 = top + i * (panelHeight + gap) + 10
    const base = y0 + upHeight
    const up = (n: number) => (n / servedMax) * upHeight
    const down = (n: number) => (n / failedMax) * downHeight
    out.push(`<text x="${left}" y="${y0 - 4}" font-weight="bold">${escapeXml(panel.title)}</text>`)
    out.push(
      `<rect x="${x(0).toFixed(1)}" y="${y0}" width="${(x(panel.wallMs) - x(0)).toFixed(1)}" height="${upHeight + downHeight}" fill="#eef3fb"/>`,
    )
    for (let k = 0; k < count; k++) {
      const bx = (left + ((k * bucketMs) / spanMs) * plotWidth).toFixed(1)
      let stacked = 0
      perService.forEach((b, s) => {
        const h = up(b.served[k] ?? 0)
        if (h <= 0) return
        out.push(
          `<rect x="${bx}" y="${(base - stacked - h).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${h.toFixed(1)}" fill="${servedColors[s % 2]}"/>`,
        )
        stacked += h
      })
      const failed = perService.reduce((t, b) => t + (b.failed[k] ?? 0), 0)
      // A single lost request must stay visible: at least 3 px.
      if (failed > 0)
        out.push(
          `<rect x="${bx}" y="${base}" width="${Math.max(2, barWidth).toFixed(1)}" height="${Math.max(3, down(failed)).toFixed(1)}" fill="${failedColor}"/>`,
        )
    }
    // Axes and scales.
    out.push(`<line x1="${left}" y1="${y0}" x2="${left}" y2="${base + downHeight}" stroke="#333"/>`)
    out.push(`<line x1="${left}" y1="${base}" x2="${width - right}" y2="${base}" stroke="#333"/>`)
    out.push(`<text x="${left - 6}" y="${y0 + 10}" text-anchor="end">${servedMax}</text>`)
    out.push(`<text x="${left - 6}" y="${base + 4}" text-anchor="end">0</text>`)
    out.push(
      `<text x="${left - 6}" y="${base + downHeight}" text-anchor="end" fill="${failedColor}">${failedMax}</text>`,
    )
    // Every instance answered; the load stops.
    if (panel.rollMs !== null)
      out.push(
        `<line x1="${x(panel.rollMs).toFixed(1)}" y1="${y0}" x2="${x(panel.rollMs).toFixed(1)}" y2="${base + downHeight}" stroke="#1f4e9c" stroke-width="1.5"/>`,
      )
    out.push(
      `<line x1="${x(panel.loadEndMs).toFixed(1)}" y1="${y0}" x2="${x(panel.loadEndMs).toFixed(1)}" y2="${base + downHeight}" stroke="#555" stroke-dasharray="4 3"/>`,
    )
    // One band per service: red where it had no serving upstream.
    services.forEach((sv, s) => {
      const by = base + downHeight + 8 + s * (bandHeight + 3)
      out.push(
        `<text x="${left - 6}" y="${by + bandHeight - 1}" text-anchor="end" font-size="10">${escapeXml(sv)}</text>`,
      )
      out.push(
        `<rect x="${x(-leadMs).toFixed(1)}" y="${by}" width="${(x(panel.loadEndMs) - x(-leadMs)).toFixed(1)}" height="${bandHeight}" fill="#e6e6e6"/>`,
      )
      for (const w of panel.outages[sv] ?? [])
        out.push(
          `<rect x="${x(w.fromMs).toFixed(1)}" y="${by}" width="${Math.max(1, x(w.toMs) - x(w.fromMs)).toFixed(1)}" height="${bandHeight}" fill="${failedColor}"/>`,
        )
    })
    const axisY = base + downHeight + 8 + services.length * (bandHeight + 3) + 2
    for (let t = 0; t * 1000 <= spanMs - leadMs; t += 5) {
      const tx = x(t * 1000).toFixed(1)
      out.push(`<line x1="${tx}" y1="${axisY}" x2="${tx}" y2="${axisY + 4}" stroke="#333"/>`)
      if (t % 10 === 0) out.push(`<text x="${tx}" y="${axisY + 16}" text-anchor="middle">${t}</text>`)
    }
  })
  out.push("</svg>")
  return `${out.join("\n")}\n`
}
