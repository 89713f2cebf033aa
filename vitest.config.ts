import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url))

// The subpath first: an alias also matches what its key prefixes.
const alias = {
  "@tamanu-lifecycle/core/test-support": fileURLToPath(
    new URL("./packages/core/src/testSupport/index.ts", import.meta.url),
  ),
  "@tamanu-lifecycle/core/internal": fileURLToPath(new URL("./packages/core/src/internal.ts", import.meta.url)),
  "@tamanu-lifecycle/core": src("core"),
  "@tamanu-lifecycle/testing": src("testing"),
  "@tamanu-lifecycle/cli": src("cli"),
}

// Two projects: `unit` (pure code and fake layers, milliseconds) and
// `integration` (real systemd, pm2, Caddy, PostgreSQL; files named *.it.test.ts).
export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts"],
          // The fake-host suites simulate minutes under TestClock: what they cost is CPU, and on a shared 2-core
          // machine at load 10+ a 1 s test took 5.5 s (vitest's default limit is 5 s). The limit only catches a
          // hang; no assertion depends on it.
          testTimeout: 60_000,
          exclude: ["packages/*/src/**/*.it.test.ts", "**/node_modules/**", "**/dist/**"],
        },
      },
      {
        resolve: { alias },
        test: {
          name: "integration",
          include: ["packages/*/src/**/*.it.test.ts"],
          exclude: ["**/node_modules/**", "**/dist/**"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Real daemons share the machine: one file at a time keeps them from starving each other.
          fileParallelism: false,
          // Within a file, only tests marked concurrent overlap: the Caddy failure scenarios (6), each waiting
          // about a minute for Caddy's DNS cache on its own sandbox host.
          maxConcurrency: 6,
        },
      },
    ],
  },
})
