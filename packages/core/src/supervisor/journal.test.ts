import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { InstanceRef } from "../model/instance.js"
import {
  clockTime,
  exitFromJournal,
  journalLine,
  linesToShow,
  parseJournalLine,
  parseJournalOutput,
} from "./journal.js"

// Two entries as `journalctl -o json` printed them on the real system manager (systemd 252), trimmed of
// fields we do not read: PID 1's message about a unit, and the unit's own stdout.
const fromPid1 = JSON.stringify({
  __CURSOR: "s=b835;i=233;b=1695;m=33ae6d32;t=6620ce672cf09;x=15a7",
  __REALTIME_TIMESTAMP: "1796657405677321",
  SYSLOG_IDENTIFIER: "systemd",
  _PID: "1",
  _SYSTEMD_UNIT: "init.scope",
  UNIT: "tamanu-loop.service",
  MESSAGE: "tamanu-loop.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED",
})
const fromUnit = JSON.stringify({
  __CURSOR: "s=b835;i=234;b=1695;m=33ae72cf;t=6620ce672d4a6;x=ab6b",
  __REALTIME_TIMESTAMP: "1796657405678758",
  _SYSTEMD_UNIT: "tamanu-loop.service",
  _COMM: "sh",
  _PID: "126",
  _TRANSPORT: "stdout",
  MESSAGE: "hello",
})

const loop: InstanceRef = { name: "tamanu-loop", suffix: null, pmId: null }

describe("journal entries", () => {
  it("reads cursor, time, identifier, pid, message and the units an entry is about", () => {
    expect(parseJournalLine(fromPid1)).toEqual({
      cursor: "s=b835;i=233;b=1695;m=33ae6d32;t=6620ce672cf09;x=15a7",
      realtimeMicros: 1796657405677321,
      message: "tamanu-loop.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED",
      identifier: "systemd",
      pid: "1",
      units: ["init.scope", "tamanu-loop.service"],
    })
    // No SYSLOG_IDENTIFIER: the command name stands in.
    expect(parseJournalLine(fromUnit)).toMatchObject({ identifier: "sh", pid: "126", units: ["tamanu-loop.service"] })
  })

  it("decodes a message journald kept as bytes, takes the first of a repeated field, and a dropped one as empty", () => {
    const bytes = JSON.stringify({ __CURSOR: "c", __REALTIME_TIMESTAMP: "1", MESSAGE: [104, 105, 0xff] })
    expect(parseJournalLine(bytes)?.message).toBe("hi\ufffd")
    const repeated = JSON.stringify({ __CURSOR: "c", __REALTIME_TIMESTAMP: "1", MESSAGE: ["one", "two"] })
    expect(parseJournalLine(repeated)?.message).toBe("one")
    const dropped = JSON.stringify({ __CURSOR: "c", __REALTIME_TIMESTAMP: "1", MESSAGE: null })
    expect(parseJournalLine(dropped)?.message).toBe("")
  })

  it("anything that is not an entry is skipped: blank lines, a cut-off line, text output", () => {
    expect(parseJournalOutput(`${fromPid1}\n\n{"__CURSOR":\n-- No entries --\n${fromUnit}\n`)).toHaveLength(2)
    expect(parseJournalLine(JSON.stringify({ __CURSOR: "c", __REALTIME_TIMESTAMP: "soon" }))).toBeNull()
  })

  it("property: never throws on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        parseJournalOutput(text)
      }),
      { numRuns: 2000 },
    )
  })

  it("a line says whose it is, when, who logged it and what", () => {
    const entry = parseJournalLine(fromUnit)
    if (entry === null) throw new Error("no entry")
    expect(journalLine(entry, [loop])).toBe(`tamanu-loop | ${clockTime(entry.realtimeMicros)} sh[126]: hello`)
    expect(journalLine(entry, [])).toBe(`${clockTime(entry.realtimeMicros)} sh[126]: hello`)
    expect(clockTime(entry.realtimeMicros)).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/)
  })
})

describe("exitFromJournal", () => {
  it.each([
    [["x.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED"], { _tag: "Exited", code: 3 }],
    [
      ["x.service: Main process exited, code=killed, status=9/KILL"],
      { _tag: "Killed", signal: "SIGKILL", coreDumped: false },
    ],
    [["Main process exited, code=dumped, status=11/SEGV"], { _tag: "Killed", signal: "SIGSEGV", coreDumped: true }],
    [["Main process exited, code=exited, status=0/SUCCESS"], { _tag: "Exited", code: 0 }],
    [["Main process exited, code=killed, status=15"], { _tag: "Killed", signal: "SIGTERM", coreDumped: false }],
    [
      [
        "a | systemd[1]: a.service: Main process exited, code=exited, status=1/FAILURE",
        "a | systemd[1]: a.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED",
        "a | sh[3]: bye",
      ],
      { _tag: "Exited", code: 3 },
    ],
    [["Started x.service.", "hello"], null],
  ] as const)("%o → %o", (messages, exit) => {
    expect(exitFromJournal(messages)).toEqual(exit)
  })
})

describe("linesToShow", () => {
  // A crash loop read after systemd started it again: the exit is followed by the next start's noise.
  const loop = [
    "x | sh[1]: starting",
    "x | sh[1]: cannot reach the database, giving up (exit 3)",
    "x | podman[2]: container died",
    "x | systemd[1]: x.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED",
    "x | systemd[1]: x.service: Failed with result 'exit-code'.",
    "x | systemd[1]: x.service: Scheduled restart job, restart counter is at 1.",
    "x | systemd[1]: Stopped x.service.",
    "x | systemd[1]: Starting x.service...",
    "x | podman[3]: container create",
    "x | systemd[1]: Started x.service.",
  ]
  it("ends at systemd's last `Main process exited` line, so the exit's own words are there", () => {
    expect(linesToShow(loop, 3)).toEqual(loop.slice(1, 4))
  })
  it("the last lines when nothing says a process exited (pm2, a unit still failing to start)", () => {
    expect(linesToShow(loop.slice(5), 3)).toEqual(loop.slice(7))
    expect(linesToShow(["a"], 10)).toEqual(["a"])
    expect(linesToShow([], 10)).toEqual([])
  })
})
