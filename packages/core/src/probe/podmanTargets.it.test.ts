/**
 * The podman adapter's I/O path against a fake `podman` executable (podman
 * is not installed here): the exact command lines, and every failure
 * turning into "no probe URL" with a warning instead of an error.
 */
import * as fs from "node:fs"
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Logger, Option } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import type { InstanceRef } from "../model/instance.js"
import { lookupTarget, ProbeTargets } from "./ProbeTargets.js"
import { PodmanProbeTargetsLive } from "./podmanTargets.js"

const dir = mkdtempSync(join(tmpdir(), "fake-podman-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const sample = (file: string): string => readFileSync(new URL(`./testdata/${file}`, import.meta.url), "utf8")
const containerId = "3f1c9a2b7d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd"

/** A fake podman that logs its argv and answers ps/inspect from files (or fails as told). */
const fakePodman = (name: string, answers: { ps: string; inspect?: string; exitCode?: number; stderr?: string }) => {
  const base = join(dir, name)
  writeFileSync(`${base}.ps`, answers.ps)
  writeFileSync(`${base}.inspect`, answers.inspect ?? "[]")
  const script = `#!/bin/sh
printf '%s\\n' "$*" >> '${base}.calls'
${answers.exitCode ? `printf '%s' '${answers.stderr ?? ""}' >&2; exit ${answers.exitCode}` : ""}
case "$1" in
  ps) cat '${base}.ps' ;;
  inspect) cat '${base}.inspect' ;;
  *) echo "unexpected $1" >&2; exit 125 ;;
esac
`
  writeFileSync(base, script)
  chmodSync(base, 0o755)
  return { path: base, calls: () => readFileSync(`${base}.calls`, "utf8").trim().split("\n") }
}

const apiA: InstanceRef = { name: "tamanu-central-api", suffix: "a", pmId: null }

/** urlFor through the live layer, with the warnings it logged. */
const urlFor = (podmanPath: string, ref: InstanceRef = apiA, extra: { rootful?: boolean; isRoot?: boolean } = {}) => {
  const warnings: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    if (logLevel._tag === "Warning") warnings.push(String(Array.isArray(message) ? message.join(" ") : message))
  })
  return Effect.runPromise(
    ProbeTargets.pipe(
      Effect.flatMap((t) => t.urlFor(ref)),
      Effect.provide(PodmanProbeTargetsLive({ podmanPath, ...extra })),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
    ),
  ).then((url) => ({ url, warnings }))
}

describe("PodmanProbeTargetsLive with a fake podman", () => {
  it("finds the unit's container by label and probes its bridge address on port 3000", async () => {
    const podman = fakePodman("ok", { ps: sample("podman-ps-4.json"), inspect: sample("podman-inspect-4.json") })
    const { url, warnings } = await urlFor(podman.path)
    expect(url).toEqual(Option.some("http://10.89.0.7:3000/"))
    expect(warnings).toEqual([])
    expect(podman.calls()).toEqual([
      "ps --filter label=PODMAN_SYSTEMD_UNIT=tamanu-central-api@a.service --format json",
      `inspect ${containerId}`,
    ])
  })

  it("a singleton unit is looked up by its bare unit name", async () => {
    const podman = fakePodman("single", { ps: "[]" })
    await urlFor(podman.path, { name: "tamanu-central-tasks", suffix: null, pmId: null })
    expect(podman.calls()).toEqual(["ps --filter label=PODMAN_SYSTEMD_UNIT=tamanu-central-tasks.service --format json"])
  })

  it("no container for the unit: no URL, a warning, and no inspect", async () => {
    const podman = fakePodman("none", { ps: "[]\n" })
    const { url, warnings } = await urlFor(podman.path)
    expect(url).toEqual(Option.none())
    expect(warnings).toEqual([
      "no probe URL for tamanu-central-api@a: no running podman container labelled PODMAN_SYSTEMD_UNIT=tamanu-central-api@a.service",
    ])
    expect(podman.calls()).toHaveLength(1)
  })

  it("a container without an address (rootless, host network): no URL and a warning", async () => {
    const podman = fakePodman("noip", {
      ps: sample("podman-ps-4.json"),
      inspect: JSON.stringify([{ Id: containerId, NetworkSettings: { IPAddress: "", Networks: {} } }]),
    })
    const { url, warnings } = await urlFor(podman.path)
    expect(url).toEqual(Option.none())
    expect(warnings).toEqual([
      "no probe URL for tamanu-central-api@a: container 3f1c9a2b7d4e of tamanu-central-api@a.service has no IP address",
    ])
  })

  it("podman failing says what it printed", async () => {
    const podman = fakePodman("fails", { ps: "", exitCode: 125, stderr: "Error: cannot connect to Podman socket" })
    const { url, warnings } = await urlFor(podman.path)
    expect(url).toEqual(Option.none())
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain("exited 125: Error: cannot connect to Podman socket")
  })

  it("podman not installed: no URL and a warning saying so", async () => {
    const { url, warnings } = await urlFor(join(dir, "no-such-podman"))
    expect(url).toEqual(Option.none())
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain("not found")
  })

  it("unreadable podman output: no URL and a warning", async () => {
    const podman = fakePodman("garbage", { ps: "WARN[0000] something\n[" })
    const { url, warnings } = await urlFor(podman.path)
    expect(url).toEqual(Option.none())
    expect(warnings[0]).toContain("could not read podman ps output")
  })

  it("rootful containers from a run that is not root: no URL, no podman call, no warning, and the reason said once", async () => {
    const podman = fakePodman("rootless", { ps: sample("podman-ps-4.json"), inspect: sample("podman-inspect-4.json") })
    const { url, warnings } = await urlFor(podman.path, apiA, { rootful: true, isRoot: false })
    expect(url).toEqual(Option.none())
    expect(warnings).toEqual([])
    expect(fs.existsSync(`${podman.path}.calls`)).toBe(false)
    const unavailable = await Effect.runPromise(
      ProbeTargets.pipe(
        Effect.map((t) => t.unavailable),
        Effect.provide(PodmanProbeTargetsLive({ podmanPath: podman.path, rootful: true, isRoot: false })),
      ),
    )
    expect(unavailable).toMatch(/containers are root's, and this run is not root/)
    // Root (the re-run under sudo) asks podman as before.
    const asRoot = await urlFor(podman.path, apiA, { rootful: true, isRoot: true })
    expect(asRoot.url).toEqual(Option.some("http://10.89.0.7:3000/"))
  })

  it("lookup: the address and the image's version from the same ps and inspect (issue #22)", async () => {
    const podman = fakePodman("lookup", { ps: sample("podman-ps-4.json"), inspect: sample("podman-inspect-4.json") })
    const target = await Effect.runPromise(
      ProbeTargets.pipe(
        Effect.flatMap((t) => lookupTarget(t, apiA)),
        Effect.provide(PodmanProbeTargetsLive({ podmanPath: podman.path })),
      ),
    )
    expect(target).toEqual({
      url: Option.some("http://10.89.0.7:3000/"),
      version: Option.some("2.24.1"),
      versionProblem: null,
    })
    expect(podman.calls()).toHaveLength(2)
  })

  it("lookup: a container without an address still says its version; one without a container says why not", async () => {
    const labelled = fakePodman("noip-version", {
      ps: sample("podman-ps-4.json"),
      inspect: JSON.stringify([
        { Id: containerId, Config: { Labels: { "org.opencontainers.image.version": "2.25.0" } }, NetworkSettings: {} },
      ]),
    })
    const none = fakePodman("none-version", { ps: "[]\n" })
    const look = (path: string, extra: { rootful?: boolean; isRoot?: boolean } = {}) =>
      Effect.runPromise(
        ProbeTargets.pipe(
          Effect.flatMap((t) => lookupTarget(t, apiA)),
          Effect.provide(PodmanProbeTargetsLive({ podmanPath: path, ...extra })),
          Effect.provide(Logger.remove(Logger.defaultLogger)),
        ),
      )
    expect(await look(labelled.path)).toEqual({
      url: Option.none(),
      version: Option.some("2.25.0"),
      versionProblem: null,
    })
    expect((await look(none.path)).versionProblem).toBe(
      "no running podman container labelled PODMAN_SYSTEMD_UNIT=tamanu-central-api@a.service",
    )
    expect((await look(none.path, { rootful: true, isRoot: false })).versionProblem).toMatch(/this run is not root/)
  })
})
