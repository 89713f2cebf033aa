/**
 * The podman harness on this machine: each sandbox gets a free subnet of its
 * own in 10.89.100.0–10.89.199.0 with its own bridge, aardvark-dns answers a
 * service alias with every instance's address on the gateway, a sandbox's
 * podman sees only its own containers (the CLI's `podman ps --filter
 * label=PODMAN_SYSTEMD_UNIT=…` must never find another sandbox's), and
 * teardown leaves no container, network, bridge or mount.
 */
import { Resolver } from "node:dns/promises"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Schedule } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { leftoverPodman, mountsUnder, type PodmanNetwork, podmanPrerequisite, startPodmanNetwork } from "./podman.js"
import { skipUnless } from "./prerequisites.js"

const dirs: Array<string> = []
const networks: Array<PodmanNetwork> = []

const sandbox = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tamanu-podman-test-"))
  dirs.push(dir)
  const network = await startPodmanNetwork(dir)
  networks.push(network)
  return network
}

/** A container from the host's root on the network, labelled as a unit's, with the API alias. */
const runInstance = async (network: PodmanNetwork, unit: string) => {
  const r = await network.podman([
    "run",
    "-d",
    "--name",
    `${network.name}-${unit.replace("@", "-").replace(".service", "")}`,
    "--label",
    `PODMAN_SYSTEMD_UNIT=${unit}`,
    "--label",
    network.label,
    "--network",
    network.name,
    "--network-alias",
    "api.facility.tamanu.internal",
    "--rootfs",
    "/:O",
    "sleep",
    "infinity",
  ])
  expect(r.exitCode, r.stderr).toBe(0)
}

describe.skipIf(skipUnless(podmanPrerequisite()))("podman sandbox networks", () => {
  afterAll(async () => {
    for (const n of networks) await n.stop().catch(() => undefined)
    for (const d of dirs) if (mountsUnder(d).length === 0) fs.rmSync(d, { recursive: true, force: true })
  })

  it("two sandboxes: own subnets and bridges, aliases answered on each gateway, neither sees the other's containers, nothing left after", async () => {
    const [a, b] = await Promise.all([sandbox(), sandbox()])
    for (const n of [a, b]) expect(n.subnet).toMatch(/^10\.89\.(1\d\d)\.0\/24$/)
    expect(a.subnet).not.toBe(b.subnet)
    for (const n of [a, b]) {
      await runInstance(n, "tamanu-facility-api@1.service")
      await runInstance(n, "tamanu-facility-api@2.service")
    }

    for (const n of [a, b]) {
      const addresses = await n.addresses()
      const api = Object.entries(addresses)
        .filter(([name]) => name.includes("tamanu-facility-api"))
        .map(([, ip]) => ip)
        .sort()
      expect(api).toHaveLength(2)
      for (const ip of api) expect(ip.startsWith(n.subnet.replace(/0\/24$/, ""))).toBe(true)
      const resolver = new Resolver({ timeout: 1000, tries: 3 })
      resolver.setServers([n.gateway])
      // netavark tells aardvark-dns of a new container with a SIGHUP and does not wait for it to re-read its
      // config: the name may be unknown for a moment after `podman run` returns (seen: ENOTFOUND).
      const answered = await Effect.runPromise(
        Effect.tryPromise(() => resolver.resolve4("api.facility.tamanu.internal")).pipe(
          Effect.map((ips) => [...ips].sort()),
          Effect.filterOrFail((ips) => ips.length === api.length),
          Effect.retry(Schedule.spaced("100 millis")),
          Effect.timeout("10 seconds"),
        ),
      )
      expect(answered).toEqual(api)
      // What the CLI asks: one container per unit, this sandbox's.
      const ps = await n.podman([
        "ps",
        "--filter",
        "label=PODMAN_SYSTEMD_UNIT=tamanu-facility-api@1.service",
        "--format",
        "{{.Names}}",
      ])
      expect(ps.stdout.trim().split("\n")).toEqual([`${n.name}-tamanu-facility-api-1`])
    }
    const bridges = fs.readdirSync("/sys/class/net").filter((i) => i.startsWith(`tl${process.pid}n`))
    expect(bridges).toHaveLength(2)

    await Promise.all([a.stop(), b.stop()])
    expect(leftoverPodman()).toEqual([])
    expect(fs.readdirSync("/sys/class/net").filter((i) => i.startsWith(`tl${process.pid}n`))).toEqual([])
  })
})
