/** The arithmetic every benchmark shares. */

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

/** Rounded to `places` decimals (default 2). */
export const round = (n: number, places = 2): number => Math.round(n * 10 ** places) / 10 ** places

/** Median wall time of `runs` calls of `once`, in ms, after one untimed warm-up call. */
export const medianOfRuns = async (runs: number, once: () => Promise<unknown>): Promise<number> => {
  await once()
  const times: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    await once()
    times.push(performance.now() - t0)
  }
  return median(times)
}
