import { describe, expect, it } from "vitest"
import { retryMillis } from "../proxy/decide.js"
import { lockWatchMillis, nextRestoreTry, type RestoreCaddyOutcome } from "./restoreCaddy.js"

const now = 1_000_000

describe("when the scheduled restore runs next (issue #25)", () => {
  const table: ReadonlyArray<readonly [string, RestoreCaddyOutcome, number | null]> = [
    ["nothing pending: never", { _tag: "NothingPending" }, null],
    ["restored: never", { _tag: "Restored" }, null],
    ["due in 50 s: in 15 s, to refresh the pins", { _tag: "NotDue", dueAt: now + 50_000 }, now + retryMillis],
    ["due in 5 s: a second after the due time", { _tag: "NotDue", dueAt: now + 5_000 }, now + 6_000],
    ["the lock still held after the watch: a second on", { _tag: "LockHeld", why: "held by pid 7" }, now + 1_000],
    ["still pinned (an instance silent): in 15 s", { _tag: "StillPinned" }, now + retryMillis],
  ]
  for (const [title, outcome, expected] of table)
    it(title, () => {
      expect(nextRestoreTry(outcome, now)).toBe(expected)
    })

  it("watches a held lock for as long as a try is apart, so a killed run's lock is followed at once", () => {
    expect(lockWatchMillis).toBe(retryMillis)
  })
})
