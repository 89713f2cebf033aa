/**
 * One mutating operation per host at a time. The lock is a file created
 * exclusively and holding the holder's pid and command line; a second
 * invocation reports who holds it, and a lock whose holder is dead is taken
 * over, so a crash never leaves the host stuck.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema, type Scope } from "effect"

export class LockHeld extends Schema.TaggedError<LockHeld>()("LockHeld", {
  file: Schema.String,
  pid: Schema.Int,
  command: Schema.String,
  since: Schema.String,
}) {}

export class LockFailed extends Schema.TaggedError<LockFailed>()("LockFailed", {
  file: Schema.String,
  message: Schema.String,
}) {}

const Holder = Schema.parseJson(Schema.Struct({ pid: Schema.Int, command: Schema.String, since: Schema.String }))
type Holder = typeof Holder.Type

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const readHolder = (file: string): Holder | null => {
  try {
    return Schema.decodeUnknownSync(Holder)(fs.readFileSync(file, "utf8"))
  } catch {
    return null
  }
}

let tmpCounter = 0

/**
 * Create `file` holding `holder`, or say it exists. The content is written
 * to a file of our own first and then hard-linked into place, so the lock
 * never exists empty: written with `wx` instead, a racer that read it
 * between the create and the write found no holder, took it for a dead
 * one's and removed a live lock. Where hard links are not supported, the
 * exclusive create is used as before.
 */
const tryCreate = (file: string, holder: Holder): "created" | "exists" | Error => {
  tmpCounter += 1
  const tmp = `${file}.${process.pid}.${tmpCounter}.tmp`
  try {
    // 0644: anyone may read who holds it; only the owner (root on system hosts) can write.
    fs.writeFileSync(tmp, JSON.stringify(holder), { flag: "wx", mode: 0o644 })
    try {
      fs.linkSync(tmp, file)
      return "created"
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === "EEXIST") return "exists"
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS") return error as Error
      fs.writeFileSync(file, JSON.stringify(holder), { flag: "wx", mode: 0o644 })
      return "created"
    }
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EEXIST" ? "exists" : (error as Error)
  } finally {
    fs.rmSync(tmp, { force: true })
  }
}

/** Lock files this process holds now. */
const heldHere = new Set<string>()

type Attempt = { readonly _tag: "Acquired" } | { readonly _tag: "Held"; readonly holder: Holder } | Error

const sameHolder = (a: Holder | null, b: Holder | null): boolean =>
  a === null || b === null ? a === b : a.pid === b.pid && a.since === b.since && a.command === b.command

const isLive = (file: string, holder: Holder | null): holder is Holder =>
  // Our own pid is a live holder too when this process holds it (an embedder
  // running two operations at once); otherwise it is a previous process's.
  holder !== null && (holder.pid === process.pid ? heldHere.has(file) : isAlive(holder.pid))

/**
 * Take over the lock of a dead holder (`dead`: what we read; null for a
 * garbled file). Two processes that both found it dead must not both remove
 * it and both create their own (seen: 1 round in 20 of six processes racing
 * for a SIGKILLed run's lock held it twice at once). So a takeover is itself
 * exclusive: whoever creates `<lock>.takeover` first removes the dead
 * holder's lock, if it is still that one, and creates its own; the others
 * find the takeover's live holder and are told the lock is held. A takeover
 * file whose holder died (within those few system calls) is removed.
 */
const takeOver = (file: string, me: Holder, dead: Holder | null): Attempt => {
  const guard = `${file}.takeover`
  for (let round = 0; round < 2; round++) {
    const created = tryCreate(guard, me)
    if (created instanceof Error) return created
    if (created === "exists") {
      const taker = readHolder(guard)
      if (taker !== null && taker.pid !== process.pid && isAlive(taker.pid)) return { _tag: "Held", holder: taker }
      fs.rmSync(guard, { force: true })
      continue
    }
    try {
      const now = readHolder(file)
      if (fs.existsSync(file)) {
        if (!sameHolder(now, dead)) return isLive(file, now) ? { _tag: "Held", holder: now } : attemptAgain
        fs.rmSync(file, { force: true })
      }
      const mine = tryCreate(file, me)
      if (mine instanceof Error) return mine
      if (mine === "exists") {
        const holder = readHolder(file)
        return holder === null ? attemptAgain : { _tag: "Held", holder }
      }
      heldHere.add(file)
      return { _tag: "Acquired" }
    } finally {
      if (readHolder(guard)?.pid === process.pid) fs.rmSync(guard, { force: true })
    }
  }
  return new Error("the lock's takeover file keeps reappearing")
}

/** The lock changed hands while we looked (another dead holder): start over. */
const attemptAgain = new Error("the lock keeps changing hands")

const attempt = (file: string, me: Holder): Attempt => {
  // A few rounds: each follows a lock that changed hands while we looked.
  for (let round = 0; round < 3; round++) {
    const created = tryCreate(file, me)
    if (created === "created") {
      heldHere.add(file)
      return { _tag: "Acquired" }
    }
    if (created instanceof Error) return created
    const holder = readHolder(file)
    if (isLive(file, holder)) return { _tag: "Held", holder }
    const taken = takeOver(file, me, holder)
    if (taken !== attemptAgain) return taken
  }
  return new Error("the lock file keeps reappearing")
}

const acquire = (file: string, command: string): Effect.Effect<void, LockHeld | LockFailed> =>
  Effect.sync(() => {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    return attempt(file, { pid: process.pid, command, since: new Date().toISOString() })
  }).pipe(
    Effect.catchAllDefect((defect) => Effect.succeed(defect instanceof Error ? defect : new Error(String(defect)))),
    Effect.flatMap(
      (result): Effect.Effect<void, LockHeld | LockFailed> =>
        result instanceof Error
          ? Effect.fail(new LockFailed({ file, message: result.message }))
          : result._tag === "Held"
            ? Effect.fail(new LockHeld({ file, ...result.holder }))
            : Effect.void,
    ),
  )

const release = (file: string): Effect.Effect<void> =>
  Effect.sync(() => {
    heldHere.delete(file)
    const holder = readHolder(file)
    if (holder?.pid === process.pid) fs.rmSync(file, { force: true })
  })

/** Hold the host lock for the life of the scope. */
export const withHostLock = (file: string, command: string): Effect.Effect<void, LockHeld | LockFailed, Scope.Scope> =>
  Effect.acquireRelease(acquire(file, command), () => release(file))

/** Where the lock lives: beside what it protects, so every invocation for one host agrees. */
export const defaultLockFile = (
  supervisor: "systemd" | "pm2",
  scope: "system" | "user",
  env: NodeJS.ProcessEnv = process.env,
): string => {
  if (supervisor === "pm2") {
    const home = env.PM2_HOME ?? path.join(env.HOME ?? env.USERPROFILE ?? ".", ".pm2")
    return path.join(home, "tamanu-lifecycle.lock")
  }
  if (scope === "user")
    return path.join(env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.() ?? 0}`, "tamanu-lifecycle.lock")
  return "/run/tamanu-lifecycle.lock"
}
