/**
 * The last test of every real-shape suite: nothing a sandbox of this process
 * started is left on the machine (tamanu services, Caddy, the systemd
 * manager, the pm2 daemon, podman containers and networks). One definition,
 * so that every suite checks the same things.
 */
import { describe, expect, it } from "vitest"
import { leftoverSandboxContainers, leftoverSandboxProcesses } from "./sandboxHost.js"

export const describeNoLeftovers = (suite: string): void => {
  describe(suite, () => {
    it("leaves no tamanu service, Caddy, systemd manager, pm2 daemon, podman container or network behind", () => {
      expect(leftoverSandboxProcesses()).toEqual([])
      expect(leftoverSandboxContainers()).toEqual([])
    })
  })
}
