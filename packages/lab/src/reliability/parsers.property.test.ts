/**
 * Every parser that reads outside input (operator arguments, config files,
 * what systemctl / pm2 / podman print) survives arbitrary input: it never
 * throws, it always answers with a typed result, and what it accepts it
 * reads back faithfully.
 */
import {
  containerIdFromPs,
  containerUrl,
  databaseTarget,
  deepMerge,
  type Expectation,
  formatDuration,
  instancesFromListUnits,
  ipFromInspect,
  isJobType,
  isRunning,
  listUnitFilesHas,
  maskUrl,
  matchNames,
  parseConfigText,
  parseDuration,
  parseListUnits,
  parsePort,
  parseProcessList,
  parseShowUnitFileState,
  parseUnit,
  parseUnitName,
  unitName,
  unitNameProblem,
} from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Either, Option, Redacted } from "effect"
import fc from "fast-check"
import JSON5 from "json5"
import { describe, expect, it } from "vitest"
import { RUNS } from "./runs.js"

const runs = { numRuns: RUNS.parser }

/** Characters systemd allows in unit names, and some it does not. */
const unitChar = fc.constantFrom(..."tamnu-facilyp12@._:\\xZ".split(""))
const oddChar = fc.constantFrom(..."tamnu-@. /$;`'\"\n\t*●é\u0000".split(""))
const unitLike = fc.oneof(
  fc.string({ unit: unitChar, maxLength: 40 }).map((s) => `tamanu-${s}.service`),
  fc.string({ unit: fc.oneof(unitChar, oddChar), maxLength: 40 }),
  fc.string({ maxLength: 60 }),
)
const goodPart = fc.stringMatching(/^[A-Za-z0-9:_.\\-]{1,20}$/)

describe("unit names", () => {
  it("parseUnit never throws; what it accepts is a tamanu- unit that its parts spell back exactly", () => {
    fc.assert(
      fc.property(unitLike, (text) => {
        const parsed = parseUnit(text)
        if (Option.isSome(parsed)) {
          expect(parsed.value.name.startsWith("tamanu-")).toBe(true)
          expect(parsed.value.suffix).not.toBe("")
          expect(unitName(parsed.value)).toBe(text)
        }
      }),
      runs,
    )
  })

  it("the model's parseUnit and systemd's parseUnitName agree on every input", () => {
    fc.assert(
      fc.property(unitLike, (text) => {
        const a = Option.getOrNull(parseUnit(text))
        const b = parseUnitName(text)
        expect(a === null ? null : { name: a.name, suffix: a.suffix }).toEqual(b)
      }),
      runs,
    )
  })

  it("every well-formed name and suffix parses back to itself", () => {
    fc.assert(
      fc.property(goodPart, fc.option(goodPart, { nil: null }), (base, suffix) => {
        const ref = { name: `tamanu-${base}`, suffix }
        expect(parseUnitName(unitName(ref))).toEqual(ref)
        expect(Option.getOrNull(parseUnit(unitName(ref)))).toEqual(ref)
      }),
      runs,
    )
  })

  it("a unit name that could read as an option, or holds a character systemd refuses, never passes the check", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 30 }),
        fc.option(fc.string({ maxLength: 10 }), { nil: null }),
        (name, suffix) => {
          const problem = unitNameProblem({ name, suffix })
          if (problem === null) {
            expect(name.startsWith("-")).toBe(false)
            expect(name).toMatch(/^[A-Za-z0-9:_.\\-]+$/)
            if (suffix !== null) expect(suffix).toMatch(/^[A-Za-z0-9:_.\\-]+$/)
            expect(unitName({ name, suffix }).length).toBeLessThanOrEqual(255)
          }
          if (name.startsWith("-")) expect(problem).not.toBeNull()
        },
      ),
      runs,
    )
  })
})

describe("NAMES matching", () => {
  const namePool = ["tamanu-facility-api", "tamanu-frontend", "tamanu-tasks", "tamanu-central-fhir-resolve", "x"]
  const expectationsArb = fc.uniqueArray(fc.constantFrom(...namePool), { minLength: 1 }).map((names) =>
    names.map(
      (name): Expectation => ({
        name,
        instances: { _tag: "Single" },
        state: "Up",
        criticality: "Background",
        reason: "test",
        legacy: false,
        behindCaddy: false,
      }),
    ),
  )
  const patternArb = fc.oneof(
    fc.constantFrom("api", "front", "tamanu-", "fhir", "", "--now", "-H", "API", "nope"),
    fc.string({ maxLength: 8 }),
  )

  it("chooses exactly the expectations some pattern is part of; never everything by accident", () => {
    fc.assert(
      fc.property(expectationsArb, fc.array(patternArb, { maxLength: 4 }), fc.boolean(), (exps, names, ignore) => {
        const result = matchNames(exps, names, { ignoreUnmatched: ignore })
        const hits = (p: string) => exps.some((e) => e.name.includes(p))
        const bad = [...new Set(names)].filter((p) => !hits(p))
        if (names.length === 0) {
          expect(Either.getOrThrow(result).selected).toEqual(exps)
          return
        }
        if (bad.length > 0 && !ignore) {
          const error = Either.getLeft(result)
          expect(Option.isSome(error)).toBe(true)
          if (Option.isSome(error)) {
            expect(error.value.patterns).toEqual(bad)
            expect(error.value.available).toEqual(exps.map((e) => e.name))
          }
          return
        }
        const selection = Either.getOrThrow(result)
        expect(selection.unmatched).toEqual(bad)
        expect(selection.selected).toEqual(exps.filter((e) => names.some((p) => e.name.includes(p))))
        // Only patterns that matched nothing: the selection is empty, not "everything".
        if (bad.length === new Set(names).size) expect(selection.selected).toEqual([])
      }),
      runs,
    )
  })
})

describe("durations", () => {
  it("never throws; rejects with the input echoed back", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.stringMatching(/^[0-9hmsPTD.,]{0,12}$/)), (text) => {
        const result = parseDuration(text)
        if (Either.isLeft(result)) expect(result.left.input).toBe(text)
        else expect(Duration.toMillis(result.right)).toBeGreaterThanOrEqual(0)
      }),
      runs,
    )
  })

  it("compact h/m/s/ms parts add up exactly, and format reads back", () => {
    const part = fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined })
    fc.assert(
      fc.property(part, part, part, part, (h, m, s, ms) => {
        fc.pre([h, m, s, ms].some((p) => p !== undefined))
        const text = `${h === undefined ? "" : `${h}h`}${m === undefined ? "" : `${m}m`}${s === undefined ? "" : `${s}s`}${
          ms === undefined ? "" : `${ms}ms`
        }`
        const expected = (h ?? 0) * 3_600_000 + (m ?? 0) * 60_000 + (s ?? 0) * 1000 + (ms ?? 0)
        const parsed = Either.getOrThrow(parseDuration(text))
        expect(Duration.toMillis(parsed)).toBe(expected)
        expect(Duration.toMillis(Either.getOrThrow(parseDuration(formatDuration(parsed))))).toBe(expected)
        expect(Duration.toMillis(Either.getOrThrow(parseDuration(`PT${expected / 1000}S`)))).toBe(expected)
      }),
      runs,
    )
  })
})

describe("JSON5 config", () => {
  const file = "/opt/tamanu/local.json5"
  const parse = (text: string) => Effect.runSync(Effect.either(parseConfigText(file, text)))
  const json5Text = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.jsonValue().map((v) => JSON5.stringify(v)),
    fc.jsonValue().map((v) => JSON5.stringify(v, null, 2).slice(0, 80)),
    fc.constantFrom("{", "}", "{a:1,}", "// c\n{}", "/* x", "{a: 'b", "\u0000", "{a:NaN}", "[]", "null", "1e999"),
  )

  it("arbitrary text never throws: a typed object or a ConfigUnreadable naming the file", () => {
    fc.assert(
      fc.property(json5Text, (text) => {
        const result = parse(text)
        if (Either.isRight(result)) {
          expect(typeof result.right).toBe("object")
          expect(Array.isArray(result.right)).toBe(false)
        } else {
          expect(result.left._tag).toBe("ConfigUnreadable")
          expect(result.left.file).toBe(file)
          expect(result.left.message.length).toBeGreaterThan(0)
        }
      }),
      runs,
    )
  })

  /** Keys that mean something to JavaScript objects, mixed into ordinary ones. */
  const key = fc.constantFrom("db", "sync", "host", "__proto__", "constructor", "prototype", "serverFacilityId")
  const configObject = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: "small" },
      fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.boolean(), fc.constant(null)),
      tie("object"),
    ),
    object: fc.dictionary(key, tie("node"), { maxKeys: 4 }),
  })).object

  it("merging a config over nothing gives the same config: no key, not even __proto__, changes an object's shape", () => {
    fc.assert(
      fc.property(configObject, (object) => {
        // What JSON5 hands us: keys like __proto__ are own data properties.
        const parsed = JSON5.parse(JSON5.stringify(object)) as Record<string, unknown>
        const merged = deepMerge({}, parsed) as Record<string, unknown>
        expect(Object.getPrototypeOf(merged)).toBe(Object.prototype)
        expect(JSON.stringify(merged)).toBe(JSON.stringify(parsed))
      }),
      runs,
    )
  })
})

describe("pm2 process list", () => {
  const status = fc.constantFrom("online", "stopped", "stopping", "launching", "errored", "one-launch-status", "")
  const portish = fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.string({ maxLength: 6 }), fc.constant(undefined))
  const entry = fc.record(
    {
      name: fc.oneof(fc.constantFrom("tamanu-api", "tamanu-tasks", "other", "tamanu-"), fc.string({ maxLength: 10 })),
      pm_id: fc.oneof(fc.nat({ max: 50 }), fc.constant("_old_3"), fc.double(), fc.string({ maxLength: 3 })),
      pm2_env: fc.oneof(
        fc.record({ status, PORT: portish, env: fc.record({ PORT: portish }) }, { requiredKeys: ["status"] }),
        fc.anything(),
      ),
    },
    { requiredKeys: [] },
  )

  it("arbitrary daemon data never throws; what it accepts is Tamanu's processes, in pm_id order, with valid ports", () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(entry, { maxLength: 8 }), fc.anything()), (data) => {
        const result = parseProcessList(data)
        if (Either.isLeft(result)) {
          expect(typeof result.left).toBe("string")
          return
        }
        const list = result.right
        for (const p of list) {
          expect(p.name.startsWith("tamanu-")).toBe(true)
          expect(Number.isInteger(p.pmId)).toBe(true)
          expect(p.running).toBe(p.status === "online")
          if (p.port !== null) expect(p.port >= 1 && p.port <= 65535).toBe(true)
        }
        expect(list.map((p) => p.pmId)).toEqual([...list.map((p) => p.pmId)].sort((a, b) => a - b))
      }),
      runs,
    )
  })

  it("a PORT is a port only when it is 1..65535 written in digits", () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const port = parsePort(value)
        if (port !== null) {
          expect(String(value).trim()).toMatch(/^\d{1,5}$/)
          expect(port >= 1 && port <= 65535).toBe(true)
        }
      }),
      runs,
    )
  })
})

describe("podman JSON", () => {
  const ip = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant(""), fc.constant(null))
  const inspectArb = fc.array(
    fc.record({
      NetworkSettings: fc.oneof(
        fc.constant(null),
        fc.record({ Networks: fc.oneof(fc.constant(null), fc.dictionary(fc.string(), fc.record({ IPAddress: ip }))) }),
      ),
    }),
    { maxLength: 2 },
  )
  const psArb = fc.oneof(
    fc.constant(null),
    fc.array(fc.record({ Id: fc.stringMatching(/^[0-9a-f]{0,12}$/), State: fc.constantFrom("running", "exited") })),
  )

  it("arbitrary text never throws: a reason, or an optional container id / IP", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          psArb.map((v) => JSON.stringify(v)),
          inspectArb.map((v) => JSON.stringify(v)),
        ),
        (text) => {
          for (const result of [containerIdFromPs(text), ipFromInspect(text)]) {
            if (Either.isLeft(result)) expect(typeof result.left).toBe("string")
            else if (Option.isSome(result.right)) expect(result.right.value.length).toBeGreaterThan(0)
          }
        },
      ),
      runs,
    )
  })

  it("picks a running container when there is one, and the first non-empty address", () => {
    fc.assert(
      fc.property(psArb, inspectArb, (ps, inspect) => {
        const id = Either.getOrThrow(containerIdFromPs(JSON.stringify(ps)))
        const entries = ps ?? []
        const want = (entries.find((e) => e.State === "running") ?? entries[0])?.Id
        expect(Option.getOrUndefined(id)).toBe(want === "" ? undefined : want)
        const got = Either.getOrThrow(ipFromInspect(JSON.stringify(inspect)))
        const first = Object.values(inspect[0]?.NetworkSettings?.Networks ?? {})
          .map((n) => n.IPAddress ?? "")
          .find((a) => a !== "")
        expect(Option.getOrUndefined(got)).toBe(first)
        if (first !== undefined) expect(URL.canParse(containerUrl(first))).toBe(true)
      }),
      runs,
    )
  })
})

describe("systemctl output", () => {
  const row = fc.record({
    marker: fc.constantFrom("", "● ", "* ", "  "),
    unit: fc.oneof(unitLike, fc.constantFrom("tamanu-facility-api@1.service", "tamanu-frontend@a.service")),
    load: fc.constantFrom("loaded", "not-found", "masked", "error"),
    active: fc.constantFrom("active", "inactive", "failed", "activating", "deactivating"),
    sub: fc.constantFrom("running", "exited", "dead", "failed", "auto-restart", "start"),
    description: fc.string({ maxLength: 20 }).map((s) => s.replace(/\s/g, " ")),
  })

  it("arbitrary text never throws, and only loaded tamanu- units come out", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        for (const i of instancesFromListUnits(text)) expect(i.name.startsWith("tamanu-")).toBe(true)
        expect(parseShowUnitFileState(text, ["a.service"])).not.toBe(undefined)
        expect(typeof listUnitFilesHas(text, "tamanu-patientportal@.service")).toBe("boolean")
      }),
      runs,
    )
  })

  it("a generated listing reads back row by row, markers and descriptions notwithstanding", () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 10 }), (rows) => {
        fc.pre(rows.every((r) => r.unit.trim() !== "" && !/\s/.test(r.unit) && r.unit !== "●" && r.unit !== "*"))
        const text = rows.map((r) => `${r.marker}${r.unit} ${r.load} ${r.active} ${r.sub} ${r.description}`).join("\n")
        expect(parseListUnits(text).map((r) => r.unit)).toEqual(rows.map((r) => r.unit))
        const expected = rows.flatMap((r) => {
          const parsed = parseUnitName(r.unit)
          if (r.load === "not-found" || parsed === null) return []
          // Failed for good unless the word after SUB is a job (here only a description starting with one).
          const failed = r.active === "failed" && !isJobType(r.description.trim().split(" ")[0] ?? "")
          return [{ ...parsed, pmId: null, running: isRunning(r), ...(failed ? { failed: true } : {}) }]
        })
        expect(instancesFromListUnits(text)).toEqual(expected)
      }),
      runs,
    )
  })

  it("show answers every unit in order, or null when the blocks do not match the request", () => {
    const state = fc.constantFrom("enabled", "disabled", "static", "", "masked", "enabled-runtime")
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(goodPart, state), { maxLength: 6, selector: ([u]) => u }),
        fc.boolean(),
        (units, drop) => {
          const names = units.map(([u]) => `tamanu-${u}.service`)
          const blocks = units.map(([u, s]) => `Id=tamanu-${u}.service\nUnitFileState=${s}\n`)
          const text = (drop ? blocks.slice(1) : blocks).join("\n")
          const parsed = parseShowUnitFileState(text, names)
          if (drop && units.length > 0) expect(parsed).toBeNull()
          else expect(parsed === null ? null : [...parsed.values()]).toEqual(units.map(([, s]) => s))
        },
      ),
      runs,
    )
  })
})

describe("database URL", () => {
  const password = fc.string({ minLength: 6, maxLength: 24 }).filter((p) => p.trim().length >= 6)

  it("the printable form of a database target never holds the password, however odd the password", () => {
    fc.assert(
      fc.property(password, fc.constantFrom("localhost", "db.internal", "::1", "10.0.0.5"), (pw, host) => {
        const secret = `Zq${pw}`
        const target = Either.getOrThrow(
          databaseTarget(
            "/opt/tamanu",
            { db: { host, name: "tamanu", username: "tamanu", password: secret } },
            undefined,
          ),
        )
        expect(target.display).not.toContain(secret)
        expect(target.display).not.toContain(encodeURIComponent(secret))
        expect(String(target.url)).not.toContain(secret)
        expect(maskUrl(Redacted.value(target.url))).not.toContain(encodeURIComponent(secret))
      }),
      runs,
    )
  })
})
