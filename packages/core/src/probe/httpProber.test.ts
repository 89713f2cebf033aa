import { describe, expect, it } from "vitest"
import { describeTransportError, isReadyStatus } from "./httpProber.js"

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
