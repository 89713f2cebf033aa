import { readFileSync } from "node:fs"
import { Effect, Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import type { InstanceRef } from "../model/instance.js"
import { ProbeTargets } from "./ProbeTargets.js"
import {
  containerIdFromPs,
  containerUrl,
  ipFromInspect,
  StaticProbeTargets,
  TemplateProbeTargets,
} from "./podmanTargets.js"

const sample = (file: string): string => readFileSync(new URL(`./testdata/${file}`, import.meta.url), "utf8")
const ps4 = sample("podman-ps-4.json")
const inspect4 = sample("podman-inspect-4.json")

type Json = Record<string, unknown>
const psEntry = JSON.parse(ps4)[0] as Json
const inspectEntry = JSON.parse(inspect4)[0] as Json & { NetworkSettings: Json }

/** The podman 4.x inspect sample with its NetworkSettings.Networks replaced. */
const inspectWith = (networks: unknown): string =>
  JSON.stringify([{ ...inspectEntry, NetworkSettings: { ...inspectEntry.NetworkSettings, Networks: networks } }])

const net = (ip: string) => ({ IPAddress: ip, Gateway: "10.88.0.1", IPPrefixLen: 16, NetworkID: "x" })

describe("containerIdFromPs", () => {
  it.each<[string, string, Option.Option<string>]>([
    ["the podman 4.x sample: its one container", ps4, Option.some(psEntry.Id as string)],
    ["no container: []", "[]", Option.none()],
    ["no container: null (some podman builds)", "null", Option.none()],
    ["no container: [] with a trailing newline", "[]\n", Option.none()],
    [
      "a stopped container listed first is passed over for the running one",
      JSON.stringify([
        { ...psEntry, Id: "aaa", State: "exited" },
        { ...psEntry, Id: "bbb", State: "running" },
      ]),
      Option.some("bbb"),
    ],
    [
      "no running container: the first listed",
      JSON.stringify([
        { ...psEntry, Id: "aaa", State: "stopping" },
        { ...psEntry, Id: "bbb", State: "exited" },
      ]),
      Option.some("aaa"),
    ],
    ["an entry without State counts as running", JSON.stringify([{ Id: "ccc" }]), Option.some("ccc")],
    ["an empty Id is no container", JSON.stringify([{ Id: "" }]), Option.none()],
  ])("%s", (_name, stdout, expected) => {
    expect(containerIdFromPs(stdout)).toEqual(Either.right(expected))
  })

  it.each([
    ["not JSON", "Error: something"],
    ["an object instead of an array", "{}"],
    ["an entry without Id", '[{"Names":["x"]}]'],
  ])("output that is not podman ps JSON is an error that says why: %s", (_name, stdout) => {
    const result = containerIdFromPs(stdout)
    expect(Either.isLeft(result)).toBe(true)
    expect(Either.isLeft(result) && result.left.length).toBeGreaterThan(0)
  })
})

describe("ipFromInspect", () => {
  it.each<[string, string, Option.Option<string>]>([
    ["the podman 4.x sample: the bridge address", inspect4, Option.some("10.89.0.7")],
    [
      "two networks: the first with an address, in podman's order",
      inspectWith({ a: net(""), b: net("10.89.1.4"), c: net("10.88.0.9") }),
      Option.some("10.89.1.4"),
    ],
    [
      "rootless slirp4netns: no Networks",
      JSON.stringify([{ ...inspectEntry, NetworkSettings: { IPAddress: "" } }]),
      Option.none(),
    ],
    ["Networks null", inspectWith(null), Option.none()],
    ["Networks empty", inspectWith({}), Option.none()],
    ["only empty addresses", inspectWith({ podman: net("") }), Option.none()],
    ["a network without IPAddress", inspectWith({ host: { NetworkID: "host" } }), Option.none()],
    ["no NetworkSettings at all", JSON.stringify([{ Id: "x" }]), Option.none()],
    ["an empty array", "[]", Option.none()],
    ["an IPv6-only network", inspectWith({ v6: net("fd00::5") }), Option.some("fd00::5")],
  ])("%s", (_name, stdout, expected) => {
    expect(ipFromInspect(stdout)).toEqual(Either.right(expected))
  })

  it("output that is not podman inspect JSON is an error", () => {
    expect(Either.isLeft(ipFromInspect("Error: no such object"))).toBe(true)
  })
})

describe("containerUrl", () => {
  it.each([
    ["10.89.0.7", undefined, "http://10.89.0.7:3000/"],
    ["10.89.0.7", 4000, "http://10.89.0.7:4000/"],
    ["fd00::5", undefined, "http://[fd00::5]:3000/"],
  ])("%s port %s → %s", (ip, port, url) => {
    expect(containerUrl(ip, port)).toBe(url)
  })
})

const ref = (name: string, suffix: string | null, pmId: number | null = null): InstanceRef => ({ name, suffix, pmId })
const urlFor = (r: InstanceRef) => ProbeTargets.pipe(Effect.flatMap((t) => t.urlFor(r)))

describe("StaticProbeTargets and TemplateProbeTargets", () => {
  const layer = StaticProbeTargets({
    "tamanu-central-api@a": "http://127.0.0.1:4001/",
    "tamanu-facility#3": "http://127.0.0.1:4100/",
    "tamanu-frontend": "http://127.0.0.1:4200/",
  })
  it.each<[InstanceRef, Option.Option<string>]>([
    [ref("tamanu-central-api", "a"), Option.some("http://127.0.0.1:4001/")],
    [ref("tamanu-central-api", "b"), Option.none()],
    [ref("tamanu-facility", null, 3), Option.some("http://127.0.0.1:4100/")],
    [ref("tamanu-facility", null, 4), Option.none()],
    [ref("tamanu-frontend", null), Option.some("http://127.0.0.1:4200/")],
  ])("a static map answers by instance name: %o", (r, expected) => {
    expect(Effect.runSync(urlFor(r).pipe(Effect.provide(layer)))).toEqual(expected)
  })

  it("a template computes the URL from the instance, null meaning none", () => {
    const ports: Record<string, number> = { a: 4001, b: 4002 }
    const layer = TemplateProbeTargets((r) => {
      const port = r.suffix === null ? undefined : ports[r.suffix]
      return port === undefined ? null : `http://127.0.0.1:${port}/`
    })
    const run = (r: InstanceRef) => Effect.runSync(urlFor(r).pipe(Effect.provide(layer)))
    expect(run(ref("api", "b"))).toEqual(Option.some("http://127.0.0.1:4002/"))
    expect(run(ref("api", "c"))).toEqual(Option.none())
    expect(run(ref("api", null))).toEqual(Option.none())
  })
})
