import { describe, expect, it } from "vitest"
import {
  instancesFromListUnits,
  isEnabledState,
  isRunning,
  isTerminalFailure,
  isUnavailableMessage,
  listUnitFilesHas,
  parseListUnits,
  parseShowUnitFileState,
  parseUnitName,
  unitFileProblem,
  unitNameProblem,
} from "./systemdParse.js"

// Captured on Debian 12, systemd 252.38-1~deb12u1, from a user manager:
// `systemctl --user list-units --all --type=service --plain --no-legend --no-pager 'tamanu-*.service'`
const listUnits252Plain = `tamanu-a@1.service  loaded    active   running tamanu-a@1.service
tamanu-a@7.service  loaded    active   running tamanu-a@7.service
tamanu-bad.service  loaded    failed   failed  Fails at once
tamanu-fail.service loaded    failed   failed  tamanu-fail.service
tamanu-gone.service not-found inactive dead    tamanu-gone.service
tamanu-one.service  loaded    active   exited  tamanu-one.service
tamanu-ref.service  loaded    active   exited  Refers to a missing unit
`

// The same without --plain (252): a `●` marker column for failed/not-found units.
const listUnits252Bullet = `  tamanu-a@1.service  loaded    active   running tamanu-a@1.service
  tamanu-a@7.service  loaded    active   running tamanu-a@7.service
● tamanu-bad.service  loaded    failed   failed  Fails at once
● tamanu-fail.service loaded    failed   failed  tamanu-fail.service
● tamanu-gone.service not-found inactive dead    tamanu-gone.service
  tamanu-one.service  loaded    active   exited  tamanu-one.service
  tamanu-ref.service  loaded    active   exited  Refers to a missing unit
`

// The same under LC_ALL=C (252): the marker becomes `*`.
const listUnits252Ascii = listUnits252Bullet.replaceAll("●", "*")

// Ubuntu 22.04, systemd 249 (fixture in its format: same columns as 252; a
// Tamanu facility with one API instance crash-looping and a masked unit).
const listUnits249Plain = `tamanu-facility-api@1.service   loaded    active     running      Tamanu Facility API server (instance 1)
tamanu-facility-api@2.service   loaded    activating auto-restart Tamanu Facility API server (instance 2)
tamanu-facility-sync.service    loaded    inactive   dead         Tamanu Facility sync
tamanu-facility-tasks.service   loaded    deactivating stop-sigterm Tamanu Facility tasks
tamanu-facility.service         masked    inactive   dead         tamanu-facility.service
tamanu-frontend@a.service       loaded    active     running      Tamanu web frontend (a)
tamanu-frontend@b.service       loaded    failed     failed       Tamanu web frontend (b)
tamanu-patientportal.service    not-found inactive   dead         tamanu-patientportal.service
`

// `systemctl --user show -p Id,LoadState,UnitFileState -- a b c` (252, captured).
const show252 = `Id=tamanu-one.service
LoadState=loaded
UnitFileState=enabled

Id=tamanu-a@1.service
LoadState=loaded
UnitFileState=disabled

Id=tamanu-nothere.service
LoadState=not-found
UnitFileState=
`

describe("parseUnitName", () => {
  it.each([
    ["tamanu-facility-api@1.service", { name: "tamanu-facility-api", suffix: "1" }],
    ["tamanu-frontend@a.service", { name: "tamanu-frontend", suffix: "a" }],
    ["tamanu-central-tasks.service", { name: "tamanu-central-tasks", suffix: null }],
    ["tamanu-x@some\\x2dthing.service", { name: "tamanu-x", suffix: "some\\x2dthing" }],
    ["tamanu-patientportal@.service", null],
    ["tamanu-x@a@b.service", null],
    ["tamanu-api.socket", null],
    ["caddy.service", null],
    ["xtamanu-api.service", null],
    ["tamanu-a b.service", null],
    ["●", null],
  ])("%s → %j", (unit, expected) => {
    expect(parseUnitName(unit)).toEqual(expected)
  })
})

describe("isRunning: active with sub running or exited, nothing else", () => {
  it.each([
    ["active", "running", true],
    ["active", "exited", true],
    ["active", "reload", false],
    ["activating", "start", false],
    ["activating", "auto-restart", false],
    ["deactivating", "stop-sigterm", false],
    ["inactive", "dead", false],
    ["failed", "failed", false],
    ["reloading", "reload", false],
  ])("%s/%s → %s", (active, sub, expected) => {
    expect(isRunning({ active, sub })).toBe(expected)
  })
})

describe("isTerminalFailure: ACTIVE failed with no job queued, no other state", () => {
  it.each([
    ["failed", null, true],
    ["failed", "start", false],
    ["failed", "restart", false],
    ["failed", "stop", false],
    // Restart= between attempts: activating/auto-restart, not failed until the start limit is hit.
    ["activating", null, false],
    ["deactivating", null, false],
    ["reloading", null, false],
    ["inactive", null, false],
    ["active", null, false],
    ["maintenance", null, false],
  ] as const)("%s, job %s → %s", (active, job, expected) => {
    expect(isTerminalFailure({ active, job })).toBe(expected)
  })
})

describe("list-units output", () => {
  const expected252 = [
    { name: "tamanu-a", suffix: "1", pmId: null, running: true },
    { name: "tamanu-a", suffix: "7", pmId: null, running: true },
    { name: "tamanu-bad", suffix: null, pmId: null, running: false, failed: true },
    { name: "tamanu-fail", suffix: null, pmId: null, running: false, failed: true },
    { name: "tamanu-one", suffix: null, pmId: null, running: true },
    { name: "tamanu-ref", suffix: null, pmId: null, running: true },
  ]

  it.each([
    ["252 --plain", listUnits252Plain],
    ["252 with ● markers", listUnits252Bullet],
    ["252 with * markers (C locale)", listUnits252Ascii],
  ])("reads the same instances from %s, dropping not-found units", (_, stdout) => {
    expect(instancesFromListUnits(stdout)).toEqual(expected252)
  })

  it("keeps every column of a failed unit in place under the marker", () => {
    expect(parseListUnits(listUnits252Bullet)[2]).toEqual({
      unit: "tamanu-bad.service",
      load: "loaded",
      active: "failed",
      sub: "failed",
      job: null,
    })
  })

  it("reads 249's listing: auto-restarting and stopping units are not running, masked is listed, not-found is not", () => {
    expect(instancesFromListUnits(listUnits249Plain)).toEqual([
      { name: "tamanu-facility-api", suffix: "1", pmId: null, running: true },
      { name: "tamanu-facility-api", suffix: "2", pmId: null, running: false },
      { name: "tamanu-facility-sync", suffix: null, pmId: null, running: false },
      { name: "tamanu-facility-tasks", suffix: null, pmId: null, running: false },
      { name: "tamanu-facility", suffix: null, pmId: null, running: false },
      { name: "tamanu-frontend", suffix: "a", pmId: null, running: true },
      { name: "tamanu-frontend", suffix: "b", pmId: null, running: false, failed: true },
    ])
  })

  it("an empty listing (no units, trailing blanks, CRLF) is no instances", () => {
    expect(instancesFromListUnits("")).toEqual([])
    expect(instancesFromListUnits("\n  \n")).toEqual([])
    expect(instancesFromListUnits("tamanu-x.service loaded active running X\r\n")).toEqual([
      { name: "tamanu-x", suffix: null, pmId: null, running: true },
    ])
  })

  // Captured from the test harness's user manager (252): `tamanu-after` failed earlier, then
  // `systemctl start --no-block tamanu-slowdep tamanu-after` with tamanu-after ordered After= the
  // slow one. For ~1 s its start job waits in the queue while ACTIVE still says failed; the JOB
  // column appears (for every row) only while some unit has a job.
  const listUnitsQueuedJob = `tamanu-after.service   loaded failed     failed    start start me
tamanu-slowdep.service loaded activating start-pre start tamanu-slowdep.service
tamanu-crashy.service  loaded failed     failed          tamanu-crashy.service
tamanu-idle.service    loaded inactive   dead            Stops nothing
`

  it("a failed unit whose start job is still queued is not failed for good; one without a job is", () => {
    expect(parseListUnits(listUnitsQueuedJob).map((r) => [r.unit, r.job])).toEqual([
      ["tamanu-after.service", "start"],
      ["tamanu-slowdep.service", "start"],
      ["tamanu-crashy.service", null],
      ["tamanu-idle.service", null],
    ])
    expect(instancesFromListUnits(listUnitsQueuedJob)).toEqual([
      { name: "tamanu-after", suffix: null, pmId: null, running: false },
      { name: "tamanu-slowdep", suffix: null, pmId: null, running: false },
      { name: "tamanu-crashy", suffix: null, pmId: null, running: false, failed: true },
      { name: "tamanu-idle", suffix: null, pmId: null, running: false },
    ])
  })

  it("ignores foreign units should the pattern ever let them through", () => {
    expect(instancesFromListUnits("caddy.service loaded active running Caddy\n")).toEqual([])
  })
})

describe("show -p Id,UnitFileState", () => {
  it("maps each requested unit to its state by position, empty for a unit without a file (252 capture)", () => {
    const units = ["tamanu-one.service", "tamanu-a@1.service", "tamanu-nothere.service"]
    expect(Object.fromEntries(parseShowUnitFileState(show252, units) ?? [])).toEqual({
      "tamanu-one.service": "enabled",
      "tamanu-a@1.service": "disabled",
      "tamanu-nothere.service": "",
    })
  })

  it("keys an alias by the name asked for, not the Id systemd resolved it to", () => {
    const stdout = "Id=tamanu-real.service\nUnitFileState=enabled\n"
    expect(Object.fromEntries(parseShowUnitFileState(stdout, ["tamanu-alias.service"]) ?? [])).toEqual({
      "tamanu-alias.service": "enabled",
    })
  })

  it("refuses to guess when the number of blocks does not match the request", () => {
    expect(parseShowUnitFileState(show252, ["a.service", "b.service"])).toBeNull()
    expect(parseShowUnitFileState("", ["a.service"])).toBeNull()
  })

  it.each([
    ["enabled", true],
    ["enabled-runtime", true],
    ["disabled", false],
    ["static", false],
    ["indirect", false],
    ["generated", false],
    ["alias", false],
    ["linked", false],
    ["masked", false],
    ["", false],
  ])("unit file state %j counts as enabled: %s", (state, expected) => {
    expect(isEnabledState(state)).toBe(expected)
  })
})

describe("list-unit-files", () => {
  it("finds the unit file in 252's three-column and older two-column rows", () => {
    expect(listUnitFilesHas("tamanu-a@.service disabled enabled\n", "tamanu-a@.service")).toBe(true)
    expect(listUnitFilesHas("tamanu-patientportal@.service   disabled\n", "tamanu-patientportal@.service")).toBe(true)
  })

  it("does not take a prefix or an empty listing for the file", () => {
    expect(listUnitFilesHas("", "tamanu-a@.service")).toBe(false)
    expect(listUnitFilesHas("tamanu-a@.service.d disabled\n", "tamanu-a@.service")).toBe(false)
  })
})

describe("names that must never reach systemctl", () => {
  it.each([
    [{ name: "tamanu-facility-api", suffix: "1" }, null],
    [{ name: "tamanu-frontend", suffix: "a" }, null],
    [{ name: "tamanu-facility-tasks", suffix: null }, null],
    [{ name: "--now", suffix: null }, 'unit name "--now" starts with "-"'],
    [{ name: "-H", suffix: null }, 'unit name "-H" starts with "-"'],
    [{ name: "", suffix: null }, "empty unit name"],
    [{ name: "tamanu x", suffix: null }, 'unit name "tamanu x" has characters systemd does not allow'],
    [{ name: "tamanu-x", suffix: "" }, 'empty instance suffix for "tamanu-x"'],
    [{ name: "tamanu-x", suffix: "a;b" }, 'instance suffix "a;b" has characters systemd does not allow'],
    [{ name: "tamanu-x@y", suffix: null }, 'unit name "tamanu-x@y" has characters systemd does not allow'],
    [{ name: `tamanu-${"x".repeat(250)}`, suffix: null }, expect.stringContaining("longer than 255")],
  ])("%j → %s", (ref, expected) => {
    expect(unitNameProblem(ref)).toEqual(expected)
  })

  it.each([
    ["tamanu-patientportal@.service", null],
    ["tamanu-x.service", null],
    ["--all", 'unit file "--all" starts with "-"'],
    ["tamanu x.service", 'unit file "tamanu x.service" is not a unit file name'],
    ["tamanu", 'unit file "tamanu" is not a unit file name'],
  ])("unit file %j → %s", (unitFile, expected) => {
    expect(unitFileProblem(unitFile)).toEqual(expected)
  })
})

describe("which systemctl failures mean the manager is unavailable", () => {
  it.each([
    // 252, captured: bogus XDG_RUNTIME_DIR, and XDG_RUNTIME_DIR unset.
    ["Failed to connect to bus: No such file or directory", true],
    ["Failed to connect to bus: No medium found", true],
    // 252, captured: system scope in a container whose PID 1 is not systemd.
    [
      "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down",
      true,
    ],
    // 249 wording with XDG_RUNTIME_DIR unset.
    [
      "Failed to connect to bus: $DBUS_SESSION_BUS_ADDRESS and $XDG_RUNTIME_DIR not defined (consider using --machine=<user>@.host --user to connect to bus of other user)",
      true,
    ],
    // 253+ wording.
    ["Failed to connect to user scope bus via local transport: No medium found", true],
    // Call failures, 252 captured and 249 wording.
    [
      'Job for tamanu-bad.service failed because the control process exited with error code.\nSee "systemctl --user status tamanu-bad.service" and "journalctl --user -xeu tamanu-bad.service" for details.',
      false,
    ],
    [
      'Job for tamanu-bad.service failed because the control process exited with error code.\nSee "systemctl status tamanu-bad.service" and "journalctl -xe" for details.',
      false,
    ],
    ["Failed to start tamanu-nothere.service: Unit tamanu-nothere.service not found.", false],
    ["Failed to disable unit: Unit file tamanu-nothere@.service does not exist.", false],
    ["", false],
  ])("%j → %s", (stderr, expected) => {
    expect(isUnavailableMessage(stderr)).toBe(expected)
  })
})
