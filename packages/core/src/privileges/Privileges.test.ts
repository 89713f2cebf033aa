import { describe, expect, it } from "vitest"
import { SUDO_MARKER, sudoArgv } from "./Privileges.js"

describe("sudo re-exec", () => {
  it("passes exactly the original arguments after --, so none is read as a sudo option", () => {
    const argv = ["/usr/bin/node", "/usr/bin/tamanu", "restart", "-H", "host", "--now", "api; rm -rf /"]
    const args = sudoArgv(argv)
    const dashdash = args.indexOf("--")
    expect(dashdash).toBeGreaterThan(0)
    expect(args.slice(dashdash + 1)).toEqual(argv)
    expect(args).toContain(`${SUDO_MARKER}=1`)
  })
})
