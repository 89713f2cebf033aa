import { describe, expect, it } from "vitest"
import { median, summarize } from "./coldStart.js"

describe("cold-start figures", () => {
  it.each([
    { values: [3], expected: 3 },
    { values: [5, 1, 3], expected: 3 },
    { values: [4, 1, 3, 2], expected: 2.5 },
    { values: [10, 10, 100], expected: 10 },
  ])("the median of $values is $expected whatever their order", ({ values, expected }) => {
    expect(median(values)).toBe(expected)
    expect(median([...values].reverse())).toBe(expected)
  })

  it("the median of no samples is not a number, so an empty run cannot pass as fast", () => {
    expect(median([])).toBeNaN()
  })

  it("summarize compares medians (one slow outlier does not move the ratio) and keeps the worst RSS", () => {
    const figures = summarize([50, 52, 48, 500], [120, 125, 118, 121], [70_000, 75_776, 71_000])
    expect(figures.nodeMedianMs).toBe(51)
    expect(figures.tamanuMedianMs).toBe(120.5)
    expect(figures.ratio).toBe(Math.round((120.5 / 51) * 100) / 100)
    expect(figures.peakRssMb).toBe(74)
  })
})
