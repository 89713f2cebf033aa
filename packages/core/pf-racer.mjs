// One racer: waits until a shared start instant, tries the host lock once, and if it gets it holds it 30 ms.
import { Effect, Exit } from "effect"
import * as fs from "node:fs"
const [,, mod, file, startAt, log] = process.argv
const { withHostLock } = await import(mod)
while (Date.now() < Number(startAt)) {}
const exit = await Effect.runPromiseExit(Effect.scoped(Effect.gen(function* () {
  yield* withHostLock(file, "racer")
  const t0 = process.hrtime.bigint()
  yield* Effect.sync(() => { const e = Date.now() + 30; while (Date.now() < e) {} })
  fs.appendFileSync(log, `${process.pid} ${t0} ${process.hrtime.bigint()}\n`)
})))
process.exit(Exit.isSuccess(exit) ? 0 : 3)
