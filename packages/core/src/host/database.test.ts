import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Logger, Redacted, TestClock } from "effect"
import {
  DbQueryFailed,
  DbUnreachable,
  databaseTarget,
  interpretPortalValue,
  maskUrl,
  readPatientPortal,
  retryWhileUnreachable,
} from "./database.js"

const secret = "s3cr3t:p@ss/w?rd#1"

const urlOf = (config: Record<string, unknown> | null, env?: string) =>
  Either.map(databaseTarget("/etc/tamanu", config, env), (t) => Redacted.value(t.url))

describe("database URL", () => {
  it.each([
    [{ db: { name: "tamanu", username: "u", password: "p", port: 5433, host: "db" } }, "postgres://u:p@db:5433/tamanu"],
    [{ db: { name: "tamanu", username: "u", password: "p" } }, "postgres://u:p@localhost/tamanu"],
    [{ db: { name: "tamanu", username: "u" } }, "postgres://u@localhost/tamanu"],
    [{ db: { name: "tamanu" } }, "postgres://localhost/tamanu"],
    [
      { db: { name: "central db", username: "ü s", password: secret, port: "5432" } },
      `postgres://%C3%BC%20s:${encodeURIComponent(secret)}@localhost:5432/central%20db`,
    ],
    [{ db: { host: "::1", name: "t" } }, "postgres://[::1]/t"],
  ])("config %j builds %s", (config, url) => {
    expect(urlOf(config)).toEqual(Either.right(url))
    // and the driver reads back exactly the parts the config gave
    const parsed = new URL(url)
    expect(decodeURIComponent(parsed.password)).toBe("password" in config.db ? config.db.password : "")
  })

  it("TAMANU_DATABASE_URL wins over the config", () => {
    expect(urlOf({ db: { name: "x" } }, "postgres://a@h/b")).toEqual(Either.right("postgres://a@h/b"))
    expect(urlOf(null, "postgres://a@h/b")).toEqual(Either.right("postgres://a@h/b"))
  })

  it.each([[null], [{}], [{ db: "postgres://x" }], [{ db: null }]])(
    "config %j without a db section is ConfigMissingDb",
    (config) => {
      expect(databaseTarget("/etc/tamanu", config, undefined)).toEqual(
        Either.left(expect.objectContaining({ _tag: "ConfigMissingDb", root: "/etc/tamanu" })),
      )
    },
  )
})

describe("the password never shows", () => {
  const target = Either.getOrThrow(
    databaseTarget("/r", { db: { name: "tamanu", username: "tamanu", password: secret, port: 5432 } }, undefined),
  )
  const fromEnv = Either.getOrThrow(databaseTarget("/r", null, `postgres://tamanu:${encodeURIComponent(secret)}@h/t`))
  const leaks = (text: string) => text.includes(secret) || text.includes(encodeURIComponent(secret))

  it("not in the target's JSON, string form or display", () => {
    for (const t of [target, fromEnv]) {
      expect(leaks(JSON.stringify(t))).toBe(false)
      expect(leaks(String(t.url))).toBe(false)
      expect(leaks(t.display)).toBe(false)
      expect(t.display).toContain("***")
    }
  })

  it("masks any URL it shows", () => {
    expect(maskUrl(`postgres://u:${encodeURIComponent(secret)}@h:1/d`)).toBe("postgres://u:***@h:1/d")
    expect(maskUrl("postgres://u@h/d")).toBe("postgres://u@h/d")
    expect(maskUrl("not a url with secret")).toBe("<unparsable database URL>")
  })

  it.live("not in the reading, its reason or any log line when the database is unreachable", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(closedPort)
      const t = Either.getOrThrow(
        databaseTarget("/r", { db: { name: "tamanu", username: "tamanu", password: secret, port } }, undefined),
      )
      const lines: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => lines.push(JSON.stringify(message))),
      )
      const reading = yield* readPatientPortal(Either.right(t), Duration.millis(300), Duration.millis(50)).pipe(
        Effect.provide(capture),
      )
      expect(reading.enabled).toBeNull()
      expect(reading.reason).toContain("unreachable")
      expect(lines.length).toBeGreaterThan(0) // the waits were logged
      expect(leaks(JSON.stringify(reading))).toBe(false)
      expect(lines.some(leaks)).toBe(false)
    }),
  )
})

/** A loopback port nobody listens on: connecting is refused at once. */
const closedPort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 1))
    })
  })

describe("portal value", () => {
  it.each([
    [true, true, false],
    [false, false, false],
    ["true", true, false],
    ["false", false, false],
    [" true\n", true, false],
    ["yes", false, true],
    [1, false, true],
    [null, false, true],
    [{ enabled: true }, false, true],
  ])("value %j enables: %s (warns: %s)", (value, enabled, warns) => {
    const v = interpretPortalValue(value)
    expect(v.enabled).toBe(enabled)
    expect(v.warning !== null).toBe(warns)
  })
})

describe("waiting for the database", () => {
  const flaky = (failures: number, log: Array<number>) => {
    let calls = 0
    return Effect.suspend(() => {
      calls++
      log.push(calls)
      return calls <= failures ? Effect.fail(new DbUnreachable("refused")) : Effect.succeed("up")
    })
  }

  it.effect("retries every 2 s until the database answers within the wait", () =>
    Effect.gen(function* () {
      const calls: Array<number> = []
      const fiber = yield* Effect.fork(retryWhileUnreachable(flaky(3, calls), Duration.minutes(2), "db"))
      yield* TestClock.adjust(Duration.seconds(5.9))
      expect(calls.length).toBe(3) // t=0, 2, 4
      yield* TestClock.adjust(Duration.seconds(0.1))
      expect(yield* Fiber.join(fiber)).toBe("up")
      expect(calls.length).toBe(4)
    }),
  )

  it.effect("gives up once the wait has passed", () =>
    Effect.gen(function* () {
      const calls: Array<number> = []
      const fiber = yield* Effect.fork(
        retryWhileUnreachable(flaky(1000, calls), Duration.seconds(10), "db").pipe(Effect.either),
      )
      yield* TestClock.adjust(Duration.seconds(60))
      const result = yield* Fiber.join(fiber)
      expect(Either.isLeft(result)).toBe(true)
      expect(calls.length).toBeGreaterThanOrEqual(5)
      expect(calls.length).toBeLessThanOrEqual(7)
    }),
  )

  it.effect("a zero wait tries exactly once", () =>
    Effect.gen(function* () {
      const calls: Array<number> = []
      const result = yield* retryWhileUnreachable(flaky(1, calls), Duration.zero, "db").pipe(Effect.either)
      expect(Either.isLeft(result)).toBe(true)
      expect(calls).toEqual([1])
    }),
  )

  it.effect("a query failure is not retried: the database is up, waiting will not help", () =>
    Effect.gen(function* () {
      let calls = 0
      const attempt = Effect.suspend(() => {
        calls++
        return Effect.fail(new DbQueryFailed("relation settings does not exist"))
      })
      const fiber = yield* Effect.fork(retryWhileUnreachable(attempt, Duration.minutes(2), "db").pipe(Effect.either))
      yield* TestClock.adjust(Duration.seconds(30))
      expect(Either.isLeft(yield* Fiber.join(fiber))).toBe(true)
      expect(calls).toBe(1)
    }),
  )

  it.effect("no database configured reads as unknown, saying why", () =>
    Effect.gen(function* () {
      const reading = yield* readPatientPortal(databaseTarget("/etc/tamanu", {}, undefined), Duration.zero)
      expect(reading.enabled).toBeNull()
      expect(reading.reason).toContain("no db section")
    }),
  )
})
