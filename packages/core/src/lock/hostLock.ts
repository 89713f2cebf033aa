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

const tryCreate = (file: string, holder: Holder): "created" | "exists" | Error => {
  try {
    // 0644: anyone may read who holds it; only the owner (root on system hosts) can write.
    fs.writeFileSync(file, JSON.stringify(holder), { flag: "wx", mode: 0o644 })
    return "created"
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EEXIST" ? "exists" : (error as Error)
  }
}

/** Lock files this process holds now. */
const heldHere = new Set<string>()

type Attempt = { readonly _tag: "Acquired" } | { readonly _tag: "Held"; readonly holder: Holder } | Error

const attempt = (file: string, me: Holder): Attempt => {
  // Two rounds: the second follows the removal of a dead holder's lock.
  for (let round = 0; round < 2; round++) {
    const created = tryCreate(file, me)
    if (created === "created") {
      heldHere.add(file)
      return { _tag: "Acquired" }
    }
    if (created instanceof Error) return created
    const holder = readHolder(file)
    // Our own pid is a live holder too when this process holds it (an embedder
    // running two operations at once); otherwise it is a previous process's.
    const live = holder !== null && (holder.pid === process.pid ? heldHere.has(file) : isAlive(holder.pid))
    if (live) return { _tag: "Held", holder }
    fs.rmSync(file, { force: true })
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
