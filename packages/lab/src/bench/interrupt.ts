/**
 * Clean-up that also runs on Ctrl+C or a SIGTERM: the benchmark and the demo
 * start a supervisor, Caddy and services, and must leave none behind however
 * they end. A signal runs the clean-up once (further signals are ignored
 * while it runs, with a hard bound) and exits 130 / 143.
 */
export const cleanupOnSignal = (cleanup: () => Promise<void>, boundMs = 30_000): (() => void) => {
  let cleaning = false
  const handler = (signal: NodeJS.Signals) => {
    if (cleaning) return
    cleaning = true
    process.stderr.write(`\n${signal}: stopping everything that was started…\n`)
    const code = signal === "SIGINT" ? 130 : 143
    setTimeout(() => process.exit(code), boundMs).unref()
    void cleanup()
      .catch((error: unknown) => process.stderr.write(`clean-up failed: ${String(error)}\n`))
      .finally(() => process.exit(code))
  }
  process.on("SIGINT", handler)
  process.on("SIGTERM", handler)
  return () => {
    process.off("SIGINT", handler)
    process.off("SIGTERM", handler)
  }
}
