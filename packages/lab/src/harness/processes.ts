/**
 * Process facts from /proc that every harness needs to prove it left nothing
 * behind: whether a pid still lives, and what runs below a pid.
 */
import * as fs from "node:fs"

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
