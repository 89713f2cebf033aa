import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { defaultLockFile, withHostLock } from "./hostLock.js"

const tempLock = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-lock-")), "sub", "lock")

describe("host lock", () => {
  it.effect("a second invocation is told the holder's pid and command", () =>
    Effect.gen(function* () {
      const file = tempLock()
      // A live process other than us holds it.
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, JSON.stringify({ pid: process.ppid, command: "tamanu restart api", since: "then" }))
      const exit = yield* Effect.exit(Effect.scoped(withHostLock(file, "tamanu stop")))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(JSON.stringify(exit.cause)).toContain("LockHeld")
        expect(JSON.stringify(exit.cause)).toContain("tamanu restart api")
        expect(JSON.stringify(exit.cause)).toContain(String(process.ppid))
      }
      // The holder's lock is left alone.
      expect(JSON.parse(fs.readFileSync(file, "utf8")).pid).toBe(process.ppid)
    }),
  )

  it.effect("a crashed holder does not leave the host stuck", () =>
    Effect.gen(function* () {
      const file = tempLock()
      const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString()
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, JSON.stringify({ pid: Number(dead), command: "tamanu restart", since: "then" }))
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* withHostLock(file, "tamanu start")
          const holder = JSON.parse(fs.readFileSync(file, "utf8"))
          expect(holder.pid).toBe(process.pid)
          expect(holder.command).toBe("tamanu start")
        }),
      )
      expect(fs.existsSync(file)).toBe(false)
    }),
  )

  it.effect("a garbled lock file is replaced, and the lock is readable by all but writable by its owner", () =>
    Effect.gen(function* () {
      const file = tempLock()
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, "{not json")
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* withHostLock(file, "tamanu start")
          expect(fs.statSync(file).mode & 0o777).toBe(0o644 & ~process.umask())
        }),
      )
    }),
  )

  it.effect("the lock is released when the operation fails", () =>
    Effect.gen(function* () {
      const file = tempLock()
      yield* Effect.exit(Effect.scoped(Effect.zipRight(withHostLock(file, "tamanu restart"), Effect.fail("boom"))))
      expect(fs.existsSync(file)).toBe(false)
    }),
  )

  it("lives beside what it protects", () => {
    expect(defaultLockFile("pm2", "system", { PM2_HOME: "/p" })).toBe("/p/tamanu-lifecycle.lock")
    expect(defaultLockFile("systemd", "user", { XDG_RUNTIME_DIR: "/r" })).toBe("/r/tamanu-lifecycle.lock")
    expect(defaultLockFile("systemd", "system", {})).toBe("/run/tamanu-lifecycle.lock")
  })
})
