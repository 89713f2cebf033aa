import { describe, expect, it } from "vitest"
import { sudoArgv, underSudo } from "./Privileges.js"

describe("sudo re-exec", () => {
  it("passes exactly the original arguments after --, so none is read as a sudo option", () => {
    const argv = ["/usr/bin/node", "/usr/bin/tamanu", "restart", "-H", "host", "--now", "api; rm -rf /"]
    const args = sudoArgv(argv)
    const dashdash = args.indexOf("--")
    expect(dashdash).toBe(0)
    expect(args.slice(dashdash + 1)).toEqual(argv)
  })

  it("preserves only the settings that are set: none on a host configured through its files, so NOPASSWD alone matches", () => {
    expect(sudoArgv(["tamanu", "start"], { PATH: "/usr/bin", HOME: "/home/op" })).toEqual(["--", "tamanu", "start"])
    expect(
      sudoArgv(["tamanu", "start"], { TAMANU_ROOT: "/opt/tamanu", NODE_ENV: "production", TAMANU_KIND: "" }),
    ).toEqual(["--preserve-env=TAMANU_ROOT,NODE_ENV", "--", "tamanu", "start"])
  })

  it("a run under sudo (SUDO_UID set) never asks again", () => {
    expect(underSudo({ SUDO_UID: "1000" })).toBe(true)
    expect(underSudo({})).toBe(false)
  })
})
