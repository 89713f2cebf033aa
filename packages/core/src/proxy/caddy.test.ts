import { describe, expect, it } from "vitest"
import { describeExit, loadEndpoint } from "./caddy.js"

describe("loadEndpoint", () => {
  it.each([
    ["http://localhost:2019", "http://localhost:2019/load"],
    ["http://localhost:2019/", "http://localhost:2019/load"],
    ["http://127.0.0.1:41234//", "http://127.0.0.1:41234/load"],
  ])("%s → %s", (admin, url) => {
    expect(loadEndpoint(admin)).toBe(url)
  })
})

describe("describeExit", () => {
  it.each([
    [
      "stderr wins over stdout",
      { exitCode: 1, stdout: "out", stderr: "err\n" },
      "systemctl reload caddy exited 1: err",
    ],
    [
      "stdout when stderr is empty",
      { exitCode: 2, stdout: "only out\n", stderr: "  " },
      "systemctl reload caddy exited 2: only out",
    ],
    ["nothing printed", { exitCode: 5, stdout: "", stderr: "" }, "systemctl reload caddy exited 5"],
    [
      "the last three lines of a long message",
      { exitCode: 1, stdout: "", stderr: "a\nb\nc\nd\n" },
      "systemctl reload caddy exited 1: b / c / d",
    ],
  ])("%s", (_name, result, text) => {
    expect(describeExit("systemctl reload caddy", result)).toBe(text)
  })
})
