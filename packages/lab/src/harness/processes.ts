/**
 * What every harness needs, once: process facts from /proc to prove it left
 * nothing behind (whether a pid still lives, what runs below a pid), free
 * loopback ports, and clean-ups that run when the test process exits.
 */
import * as fs from "node:fs"
import * as net from "node:net"

/** `n` distinct free loopback ports (bound at once, then released; fine for tests on one host). */
export const freePorts = async (n: number): Promise<ReadonlyArray<number>> => {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer()
          server.once("error", reject)
          server.listen(0, "127.0.0.1", () => resolve(server))
        }),
    ),
  )
  const ports = servers.map((s) => {
    const address = s.address()
    return typeof address === "object" && address !== null ? address.port : 0
  })
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  return ports
}

/** One free loopback port. */
export const freePort = async (): Promise<number> => {
  const [port] = await freePorts(1)
  if (port === undefined || port === 0) throw new Error("no free loopback port")
  return port
}

const atExit = new Set<() => void>()
let exitHookInstalled = false

/**
 * Run `cleanup` (synchronous: nothing async runs at exit) when this process
 * exits, unless the returned function removed it first: what a test forgot to
 * stop is killed or removed anyway.
 */
export const onExit = (cleanup: () => void): (() => void) => {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once("exit", () => {
      for (const run of [...atExit]) {
        try {
          run()
        } catch {}
      }
    })
  }
  atExit.add(cleanup)
  return () => {
    atExit.delete(cleanup)
  }
}

/** Alive and not a zombie waiting for a parent to reap it. */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return true
  }
}

/** Every process below `pid` (children of children included), parents before their children. */
export const descendants = (pid: number): ReadonlyArray<number> => {
  const children = (p: number): ReadonlyArray<number> => {
    try {
      return fs
        .readFileSync(`/proc/${p}/task/${p}/children`, "utf8")
        .trim()
        .split(/\s+/)
        .filter((s) => s !== "")
        .map(Number)
    } catch {
      return []
    }
  }
  return children(pid).flatMap((c) => [c, ...descendants(c)])
}
