/**
 * Discovery cost (issue #20): the addresses of any number of instances come
 * from one `podman ps` and one `podman inspect`, counted through a fake
 * CommandExecutor that answers as podman 4.3 does; the per-instance lookup
 * (two calls) is only for an instance the roll waits on.
 */
import { type Command, CommandExecutor } from "@effect/platform"
import { Effect, Inspectable, Option, Sink, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { displayInstance, type InstanceRef, unitName } from "../model/instance.js"
import { targetsOf, urlsOf } from "./ProbeTargets.js"
import { containersByUnit, ipsFromInspect, makePodmanProbeTargets } from "./podmanTargets.js"

const apis = (n: number): Array<InstanceRef> =>
  Array.from({ length: n }, (_, i) => ({ name: "tamanu-facility-api", suffix: String(i + 1), pmId: null }))

const idOf = (ref: InstanceRef): string => `c0ffee${unitName(ref).replace(/[^a-z0-9]/g, "")}`.padEnd(64, "0")
const ipOf = (i: number): string => `10.89.0.${10 + i}`

/** podman as seen on a host running these units' containers, with every call recorded. */
const fakePodman = (running: ReadonlyArray<InstanceRef>, others: ReadonlyArray<string> = []) => {
  const calls: Array<ReadonlyArray<string>> = []
  const answer = (args: ReadonlyArray<string>): string => {
    if (args[0] === "ps") {
      const wanted = args.find((a) => a.startsWith("label="))?.slice("label=".length) ?? ""
      const all = [
        ...running.map((r) => ({
          Id: idOf(r),
          State: "running",
          Image: "localhost/tamanu:v2.64.0",
          Labels: { PODMAN_SYSTEMD_UNIT: unitName(r) },
        })),
        ...others.map((unit, i) => ({
          Id: `other${i}`.padEnd(64, "0"),
          State: "running",
          Labels: { PODMAN_SYSTEMD_UNIT: unit },
        })),
      ]
      return JSON.stringify(
        all.filter(
          (e) => wanted === "PODMAN_SYSTEMD_UNIT" || wanted === `PODMAN_SYSTEMD_UNIT=${e.Labels.PODMAN_SYSTEMD_UNIT}`,
        ),
      )
    }
    if (args[0] === "inspect")
      return JSON.stringify(
        args.slice(1).map((id) => {
          const i = running.findIndex((r) => idOf(r) === id)
          return {
            Id: id,
            // The first instance's image carries a version label, which wins over the tag.
            ...(i === 0 ? { Config: { Labels: { "org.opencontainers.image.version": "2.65.0" } } } : {}),
            NetworkSettings: { Networks: { tamanu: { IPAddress: i < 0 ? "10.89.1.1" : ipOf(i) } } },
          }
        }),
      )
    return ""
  }
  const executor = CommandExecutor.makeExecutor((command: Command.Command) =>
    Effect.sync(() => {
      const args = command._tag === "StandardCommand" ? command.args : []
      calls.push(args)
      const process: CommandExecutor.Process = {
        [CommandExecutor.ProcessTypeId]: CommandExecutor.ProcessTypeId,
        pid: CommandExecutor.ProcessId(1),
        exitCode: Effect.succeed(CommandExecutor.ExitCode(0)),
        isRunning: Effect.succeed(false),
        kill: () => Effect.void,
        stdout: Stream.make(new TextEncoder().encode(answer(args))),
        stderr: Stream.empty,
        stdin: Sink.drain,
        toJSON: () => ({ _id: "FakeProcess" }),
        toString: () => "FakeProcess",
        [Inspectable.NodeInspectSymbol]: () => "FakeProcess",
      }
      return process
    }),
  )
  return { executor, calls }
}

const discover = (refs: ReadonlyArray<InstanceRef>, running: ReadonlyArray<InstanceRef> = refs) => {
  const podman = fakePodman(running, ["caddy.service", "tamanu-frontend@a.service"])
  const urls = Effect.runSync(
    Effect.flatMap(makePodmanProbeTargets({ isRoot: true }), (targets) => urlsOf(targets, refs)).pipe(
      Effect.provideService(CommandExecutor.CommandExecutor, podman.executor),
    ),
  )
  return { urls, calls: podman.calls }
}

describe("discovery of many instances through podman", () => {
  it("costs one podman ps and one podman inspect whether there are 4 instances or 16", () => {
    const four = discover(apis(4))
    const sixteen = discover(apis(16))
    expect(four.calls.length).toBe(2)
    expect(sixteen.calls.length).toBe(four.calls.length)
    expect(sixteen.calls[0]).toEqual(["ps", "--filter", "label=PODMAN_SYSTEMD_UNIT", "--format", "json"])
    expect(sixteen.calls[1]?.[0]).toBe("inspect")
    expect(sixteen.calls[1]?.length).toBe(17)
    // Every instance at its own container's address; other units' containers are not inspected.
    expect(sixteen.urls.size).toBe(16)
    expect([...sixteen.urls]).toEqual(apis(16).map((r, i) => [displayInstance(r), `http://${ipOf(i)}:3000/`]))
    expect(sixteen.calls[1]?.some((id) => id.startsWith("other"))).toBe(false)
  })

  it("an instance without a container is left out, and nothing is inspected when none has one", () => {
    const some = discover(apis(4), apis(4).slice(0, 2))
    expect([...some.urls.keys()]).toEqual(["tamanu-facility-api@1", "tamanu-facility-api@2"])
    expect(some.calls.length).toBe(2)
    const none = discover(apis(4), [])
    expect(none.urls.size).toBe(0)
    expect(none.calls.map((c) => c[0])).toEqual(["ps"])
    expect(discover([]).calls).toEqual([])
  })

  it("reads what every instance runs from the same two calls (issue #22): the label, else the tag", () => {
    const podman = fakePodman(apis(16).slice(0, 15))
    const found = Effect.runSync(
      Effect.flatMap(makePodmanProbeTargets({ isRoot: true }), (targets) => targetsOf(targets, apis(16))).pipe(
        Effect.provideService(CommandExecutor.CommandExecutor, podman.executor),
      ),
    )
    expect(podman.calls.map((c) => c[0])).toEqual(["ps", "inspect"])
    expect(found.size).toBe(16)
    const at = (n: number) => found.get(`tamanu-facility-api@${n}`)
    expect(at(1)).toEqual({
      url: Option.some(`http://${ipOf(0)}:3000/`),
      version: Option.some("2.65.0"),
      versionProblem: null,
    })
    expect(at(2)).toEqual({
      url: Option.some(`http://${ipOf(1)}:3000/`),
      version: Option.some("2.64.0"),
      versionProblem: null,
    })
    // No container: neither address nor version, and why.
    expect(at(16)?.url).toEqual(Option.none())
    expect(at(16)?.version).toEqual(Option.none())
    expect(at(16)?.versionProblem).toBe(
      "no running podman container labelled PODMAN_SYSTEMD_UNIT=tamanu-facility-api@16.service",
    )
  })

  it("the lookup of one booting instance is its own ps and inspect", () => {
    const podman = fakePodman(apis(16))
    const url = Effect.runSync(
      Effect.flatMap(makePodmanProbeTargets({ isRoot: true }), (targets) =>
        Effect.option(
          targets.lookup?.(apis(16)[3] as InstanceRef) ?? Effect.fail({ reason: "no lookup", final: true }),
        ),
      ).pipe(Effect.provideService(CommandExecutor.CommandExecutor, podman.executor)),
    )
    expect(url).toEqual(Option.some(`http://${ipOf(3)}:3000/`))
    expect(podman.calls.map((c) => c.join(" "))).toEqual([
      "ps --filter label=PODMAN_SYSTEMD_UNIT=tamanu-facility-api@4.service --format json",
      `inspect ${idOf(apis(16)[3] as InstanceRef)}`,
    ])
  })
})

describe("containersByUnit and ipsFromInspect", () => {
  it("prefers the running container of a unit whose old one is still listed (being replaced)", () => {
    const ps = JSON.stringify([
      { Id: "old", State: "stopping", Labels: { PODMAN_SYSTEMD_UNIT: "tamanu-frontend@a.service" } },
      { Id: "new", State: "running", Labels: { PODMAN_SYSTEMD_UNIT: "tamanu-frontend@a.service" } },
      { Id: "x", State: "running", Labels: null },
    ])
    const result = containersByUnit(ps, new Set(["tamanu-frontend@a.service"]))
    expect(result._tag === "Right" ? [...result.right] : result).toEqual([["tamanu-frontend@a.service", "new"]])
  })

  it("reads each container's first address by Id; one without an address is left out", () => {
    const inspect = JSON.stringify([
      { Id: "a", NetworkSettings: { Networks: { n: { IPAddress: "10.89.0.2" } } } },
      { Id: "b", NetworkSettings: { Networks: {} } },
    ])
    const result = ipsFromInspect(inspect)
    expect(result._tag === "Right" ? [...result.right] : result).toEqual([["a", "10.89.0.2"]])
    expect(containersByUnit("null", new Set()).pipe((r) => r._tag)).toBe("Right")
    expect(containersByUnit("nope", new Set())._tag).toBe("Left")
  })
})
