/**
 * The old way's reloaders (§9.4, used when Caddy's admin API cannot be
 * reached) against fake systemctl, resolvectl and caddy executables and a
 * fake admin API on loopback (the admin-API session against a real Caddy is
 * packages/lab/src/harness/caddyAdmin.it.test.ts). What is fixed here: the
 * exact commands, their order, and that every failure is a warning, never
 * an error.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import http from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { NodeCommandLayer } from "../probe/runCommand.js"
import {
  type CaddyLinuxOptions,
  type CaddyReloader,
  type CaddyWindowsOptions,
  makeCaddyLinux,
  makeCaddyWindows,
  type ReloadResult,
} from "./caddy.js"

const root = mkdtempSync(join(tmpdir(), "caddy-reload-"))
let n = 0
/** A fresh directory per test, so call logs do not mix. */
const freshDir = () => {
  const dir = join(root, String(n++))
  mkdirSync(dir)
  return dir
}

/** An executable that appends `<name> <argv> [FOO=$FOO]` to `calls` and exits as told. */
const fakeExe = (dir: string, name: string, exit = 0, stderr = "") => {
  const path = join(dir, name)
  writeFileSync(
    path,
    `#!/bin/sh\nprintf '%s %s%s\\n' '${name}' "$*" "\${FOO:+ FOO=$FOO}" >> '${join(dir, "calls")}'\nprintf '%s' '${stderr}' >&2\nexit ${exit}\n`,
  )
  chmodSync(path, 0o755)
  return path
}
const calls = (dir: string): Array<string> => {
  try {
    return readFileSync(join(dir, "calls"), "utf8").trim().split("\n")
  } catch {
    return []
  }
}

const platform = Layer.mergeAll(NodeCommandLayer, NodeFileSystem.layer, NodeHttpClient.layerUndici)

type Platform = Layer.Layer.Success<typeof platform>

/** A reloader of the old way, built as the live layer builds it (used within the same platform scope). */
const linux = (options: CaddyLinuxOptions): Effect.Effect<CaddyReloader, never, Platform> => makeCaddyLinux(options)
const windows = (options: CaddyWindowsOptions): Effect.Effect<CaddyReloader, never, Platform> =>
  makeCaddyWindows(options)

const reload = (reloader: Effect.Effect<CaddyReloader, never, Platform>): Promise<ReloadResult> =>
  Effect.runPromise(Effect.flatMap(reloader, (r) => r.reload).pipe(Effect.provide(platform)))

/** A fake Caddy admin API: records each /load POST and answers with `status`. */
interface Posted {
  readonly path: string
  readonly contentType: string | undefined
  readonly body: string
}
let admin: http.Server
let adminUrl = ""
let adminStatus = 200
const posted: Array<Posted> = []
beforeAll(async () => {
  admin = http.createServer((req, res) => {
    let body = ""
    req.on("data", (c: Buffer) => {
      body += c.toString("utf8")
    })
    req.on("end", () => {
      posted.push({ path: `${req.method} ${req.url}`, contentType: req.headers["content-type"], body })
      res.writeHead(adminStatus, { "content-type": "application/json" })
      res.end(adminStatus === 200 ? "" : JSON.stringify({ error: "adapting config using caddyfile: bad directive" }))
    })
  })
  await new Promise<void>((resolve) => admin.listen(0, "127.0.0.1", () => resolve()))
  adminUrl = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`
})
afterAll(async () => {
  await new Promise<void>((resolve) => admin.close(() => resolve()))
  rmSync(root, { recursive: true, force: true })
})

/** A loopback URL nothing listens on. */
const deadAdmin = async () => {
  const s = http.createServer()
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", () => resolve()))
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return url
}

describe("the old way on Linux: systemctl reload caddy, resolvectl flush-caches", () => {
  it("system scope: reloads caddy through systemctl, then flushes the DNS cache", async () => {
    const dir = freshDir()
    const result = await reload(
      linux({
        scope: "system",
        systemctlPath: fakeExe(dir, "systemctl"),
        resolvectlPath: fakeExe(dir, "resolvectl"),
      }),
    )
    expect(result).toEqual({ reloaded: true, warnings: [] })
    expect(calls(dir)).toEqual(["systemctl reload caddy", "resolvectl flush-caches"])
  })

  it("user scope: reloads through the same user manager, with the given environment", async () => {
    const dir = freshDir()
    const result = await reload(
      linux({
        scope: "user",
        env: { FOO: "bar" },
        systemctlPath: fakeExe(dir, "systemctl"),
        resolvectlPath: fakeExe(dir, "resolvectl"),
      }),
    )
    expect(result).toEqual({ reloaded: true, warnings: [] })
    expect(calls(dir)).toEqual(["systemctl --user reload caddy FOO=bar", "resolvectl flush-caches FOO=bar"])
  })

  it("a failed reload is a warning with systemctl's words, and the cache is still flushed", async () => {
    const dir = freshDir()
    const systemctl = fakeExe(dir, "systemctl", 1, "Job for caddy.service failed.")
    const result = await reload(
      linux({ scope: "system", systemctlPath: systemctl, resolvectlPath: fakeExe(dir, "resolvectl") }),
    )
    expect(result).toEqual({
      reloaded: false,
      warnings: [`${systemctl} reload caddy exited 1: Job for caddy.service failed.`],
    })
    expect(calls(dir)).toHaveLength(2)
  })

  it("a missing resolvectl is one warning, not one per reload; the reloads still count", async () => {
    const dir = freshDir()
    const reloader = linux({
      scope: "system",
      systemctlPath: fakeExe(dir, "systemctl"),
      resolvectlPath: join(dir, "no-resolvectl"),
    })
    // One reloader, three reloads: what a roll of three instances does.
    const results = await Effect.runPromise(
      Effect.flatMap(reloader, (r) => Effect.all([r.reload, r.reload, r.reload])).pipe(Effect.provide(platform)),
    )
    expect(results).toEqual([
      {
        reloaded: true,
        warnings: [
          `${join(dir, "no-resolvectl")} flush-caches: not found; no DNS cache flushed (no systemd-resolved here?), not tried again`,
        ],
      },
      { reloaded: true, warnings: [] },
      { reloaded: true, warnings: [] },
    ])
    expect(calls(dir)).toEqual(["systemctl reload caddy", "systemctl reload caddy", "systemctl reload caddy"])
  })

  it("a resolvectl that fails (not missing) is tried and reported every time", async () => {
    const dir = freshDir()
    const reloader = linux({
      scope: "system",
      systemctlPath: fakeExe(dir, "systemctl"),
      resolvectlPath: fakeExe(dir, "resolvectl", 1),
    })
    const results = await Effect.runPromise(
      Effect.flatMap(reloader, (r) => Effect.all([r.reload, r.reload])).pipe(Effect.provide(platform)),
    )
    expect(results.map((r) => r.warnings.length)).toEqual([1, 1])
  })

  it("no systemctl at all is still only warnings", async () => {
    const dir = freshDir()
    const result = await reload(
      linux({ scope: "system", systemctlPath: join(dir, "nope"), resolvectlPath: join(dir, "nope2") }),
    )
    expect(result.reloaded).toBe(false)
    expect(result.warnings).toHaveLength(2)
  })
})

describe("the old way on Windows: the Caddyfile to /load, else caddy reload (paths injected)", () => {
  it("posts <dir>/Caddyfile and does not touch the CLI when the admin API takes it", async () => {
    const dir = freshDir()
    writeFileSync(join(dir, "Caddyfile"), "main")
    writeFileSync(join(dir, "Caddyfile.txt"), "txt")
    fakeExe(dir, "caddy.exe")
    posted.length = 0
    const result = await reload(windows({ caddyDir: dir, adminUrl }))
    expect(result).toEqual({ reloaded: true, warnings: [] })
    expect(posted.map((p) => p.body)).toEqual(["main"])
    expect(calls(dir)).toEqual([])
  })

  it("falls back to Caddyfile.txt when there is no Caddyfile", async () => {
    const dir = freshDir()
    writeFileSync(join(dir, "Caddyfile.txt"), "txt")
    posted.length = 0
    const result = await reload(windows({ caddyDir: dir, adminUrl }))
    expect(result).toEqual({ reloaded: true, warnings: [] })
    expect(posted.map((p) => p.body)).toEqual(["txt"])
  })

  it("admin API down: reloads with <dir>/caddy.exe and says the POST failed", async () => {
    const dir = freshDir()
    const caddyfile = join(dir, "Caddyfile")
    writeFileSync(caddyfile, "main")
    fakeExe(dir, "caddy.exe")
    const url = await deadAdmin()
    const result = await reload(windows({ caddyDir: dir, adminUrl: url }))
    expect(result).toEqual({
      reloaded: true,
      warnings: [`POST ${url}/load: connection refused (ECONNREFUSED); reloaded with the caddy CLI instead`],
    })
    expect(calls(dir)).toEqual([`caddy.exe reload --config ${caddyfile} --adapter caddyfile`])
  })

  it("no caddy.exe in the Caddy folder: the fallback is `caddy` on PATH", async () => {
    const dir = freshDir()
    const bin = join(dir, "bin")
    mkdirSync(bin)
    const caddyfile = join(dir, "Caddyfile")
    writeFileSync(caddyfile, "main")
    const fake = fakeExe(bin, "caddy")
    const url = await deadAdmin()
    const savedPath = process.env.PATH
    process.env.PATH = `${bin}:${savedPath ?? ""}`
    try {
      const result = await reload(windows({ caddyDir: dir, adminUrl: url }))
      expect(result.reloaded).toBe(true)
    } finally {
      process.env.PATH = savedPath
    }
    expect(calls(bin)).toEqual([`caddy reload --config ${caddyfile} --adapter caddyfile`])
    expect(fake).toBe(join(bin, "caddy"))
  })

  it("admin API rejects and the CLI fails too: both are warnings, not reloaded", async () => {
    const dir = freshDir()
    const caddyfile = join(dir, "Caddyfile")
    writeFileSync(caddyfile, "main")
    const exe = fakeExe(dir, "caddy-custom", 1, "Error: sending configuration to instance: connection refused")
    adminStatus = 400
    const result = await reload(windows({ caddyfile, caddyExe: exe, adminUrl }))
    adminStatus = 200
    expect(result).toEqual({
      reloaded: false,
      warnings: [
        `POST ${adminUrl}/load: HTTP 400: {"error":"adapting config using caddyfile: bad directive"}`,
        `${exe} reload --config ${caddyfile} --adapter caddyfile exited 1: Error: sending configuration to instance: connection refused`,
      ],
    })
  })

  it("no Caddyfile anywhere: a warning listing where it looked", async () => {
    const dir = freshDir()
    const result = await reload(windows({ caddyDir: dir, adminUrl }))
    expect(result).toEqual({
      reloaded: false,
      warnings: [`no Caddyfile found (looked for ${join(dir, "Caddyfile")}, ${join(dir, "Caddyfile.txt")})`],
    })
  })
})
