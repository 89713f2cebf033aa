import { describe, expect, it } from "vitest"
import { describeTransportError, isConnectionDropped, isReadyStatus, versionHeader } from "./httpProber.js"

const errno = (code: string, message = `connect ${code} 127.0.0.1:1`) => Object.assign(new Error(message), { code })

describe("isReadyStatus", () => {
  it.each([
    [200, true],
    [204, true],
    [301, true],
    [401, true],
    [404, true],
    [499, true],
    [500, false],
    [502, false],
    [503, false],
    [599, false],
  ])("HTTP %i counts as ready: %s", (status, ready) => {
    expect(isReadyStatus(status)).toBe(ready)
  })
})

describe("describeTransportError", () => {
  it.each<[string, unknown, string]>([
    ["refused", errno("ECONNREFUSED"), "connection refused (ECONNREFUSED)"],
    ["reset", errno("ECONNRESET", "read ECONNRESET"), "connection reset (ECONNRESET)"],
    ["unreachable", errno("EHOSTUNREACH"), "host unreachable (EHOSTUNREACH)"],
    ["unknown errno keeps the message", errno("EWEIRD", "something odd"), "something odd (EWEIRD)"],
    [
      "happy-eyeballs aggregate uses the last address's error",
      Object.assign(new AggregateError([errno("ENETUNREACH"), errno("ECONNREFUSED")]), { code: "ECONNREFUSED" }),
      "connection refused (ECONNREFUSED)",
    ],
    ["socket hang up without a code", new Error("socket hang up"), "connection reset (socket hang up)"],
    ["plain message", new Error("boom"), "boom"],
    ["a string", "text", "text"],
    ["nothing useful", { weird: true }, "request failed"],
  ])("%s", (_name, cause, text) => {
    expect(describeTransportError(cause)).toBe(text)
  })
})

describe("isConnectionDropped: a connection made, then dropped by the other end (worth a second read)", () => {
  it.each<[string, unknown, boolean]>([
    ["reset", errno("ECONNRESET", "read ECONNRESET"), true],
    ["closed while sending", errno("EPIPE", "write EPIPE"), true],
    ["socket hang up without a code", new Error("socket hang up"), true],
    ["reset as the last of an aggregate", new AggregateError([errno("ECONNREFUSED"), errno("ECONNRESET")]), true],
    ["refused: nothing listens", errno("ECONNREFUSED"), false],
    ["refused as the last of an aggregate", new AggregateError([errno("ECONNRESET"), errno("ECONNREFUSED")]), false],
    ["unreachable", errno("EHOSTUNREACH"), false],
    ["timed out", errno("ETIMEDOUT"), false],
    ["host not found", errno("ENOTFOUND"), false],
    ["plain message", new Error("boom"), false],
    ["a string", "socket hang up", true],
    ["nothing useful", { weird: true }, false],
  ])("%s: %s", (_name, cause, dropped) => {
    expect(isConnectionDropped(cause)).toBe(dropped)
  })
})

describe("versionHeader (issue #22)", () => {
  it.each([
    [{ "x-version": "2.65.0" }, "2.65.0"],
    [{ "x-version": " v2.65.0 " }, "v2.65.0"],
    [{ "x-version": ["2.65.0", "2.64.0"] }, "2.65.0"],
    [{ "x-version": "" }, null],
    [{}, null],
  ])("%j → %j", (headers, version) => {
    expect(versionHeader(headers)).toBe(version)
  })
})
