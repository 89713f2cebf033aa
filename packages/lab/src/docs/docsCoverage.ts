/**
 * Which test runs each command of README.md and docs/*.md. A command added
 * to a doc without a line here fails docsCoverage.test.ts; a line here whose
 * command left the docs fails it too. `here` means docs.it.test.ts reads the
 * command from the doc and runs it; `elsewhere` names the test or CI step
 * and the strings in it that prove the claim (checked on every run).
 */
import type { CommandCoverage, CoverageTable } from "./accounting.js"

const here = { by: "here" } as const
const vitest = { by: "vitest" } as const

const ciRunsSetupAndTests = {
  by: "elsewhere",
  test: ".ci/run",
  why: "CI runs exactly this line (as root, with CI=true)",
  evidence: [{ file: ".ci/run", contains: "\nbash scripts/setup.sh && npm test\n" }],
} as const

const commands: ReadonlyArray<CommandCoverage> = [
  {
    doc: "README.md",
    command: "bash scripts/setup.sh && npm run demo",
    run: {
      by: "elsewhere",
      test: "packages/lab/src/demo/demo.it.test.ts",
      why: "setup.sh is the first half of .ci/run; `npm run demo` is the build (which npm test does first) and then dist/demo/main.js, which demo.it.test.ts runs as a child process to its result line",
      evidence: [
        { file: ".ci/run", contains: "\nbash scripts/setup.sh && npm test\n" },
        { file: "package.json", contains: '"test": "npm run build && ' },
        { file: "package.json", contains: '"demo": "npm run build && node packages/lab/dist/demo/main.js"' },
        { file: "packages/lab/src/demo/demo.it.test.ts", contains: 'new URL("../../dist/demo/main.js"' },
        { file: "packages/lab/src/demo/demo.it.test.ts", contains: "[process.execPath, demoMain]" },
      ],
    },
  },
  { doc: "README.md", command: "bash scripts/setup.sh && npm test", run: ciRunsSetupAndTests },
  {
    doc: "README.md",
    command: "dpkg -i tamanu-lifecycle_0.1.0_amd64.deb",
    run: {
      by: "elsewhere",
      test: "packages/lab/src/e2e/systemHostDeb.it.test.ts",
      why: "the system-manager suite installs the amd64 .deb that npm run package built (named by packaging-lib's debFileName from the CLI's version) with dpkg -i as root, after taking every node off the system's PATH",
      evidence: [
        { file: "packages/lab/src/e2e/systemHostDeb.it.test.ts", contains: "        dpkg -i " },
        { file: "packages/lab/src/e2e/systemHostDeb.it.test.ts", contains: "manifest.debs.amd64.file" },
        {
          file: "packages/cli/scripts/packaging-lib.mjs",
          contains: "debFileName = (version, arch) => `tamanu-lifecycle_",
        },
        { file: "packages/cli/package.json", contains: '"version": "0.1.0"' },
      ],
    },
  },
  {
    doc: "README.md",
    command: "install -m 0440 /usr/share/doc/tamanu-lifecycle/sudoers.example /etc/sudoers.d/tamanu",
    run: {
      by: "elsewhere",
      test: "packages/lab/src/e2e/systemHostDeb.it.test.ts",
      why: "the system-manager suite installs the packaged rule with this line, and its operator (in tamanu-operators) then works through sudo with that rule alone",
      evidence: [
        {
          file: "packages/lab/src/e2e/systemHostDeb.it.test.ts",
          contains: "install -m 0440 /usr/share/doc/tamanu-lifecycle/sudoers.example /etc/sudoers.d/tamanu",
        },
      ],
    },
  },
  {
    doc: "README.md",
    command: "systemctl enable start-tamanu.service",
    run: {
      by: "elsewhere",
      test: "packages/lab/src/e2e/systemHostDeb.it.test.ts",
      why: "the system-manager suite enables the packaged boot unit, sees multi-user.target want it, starts it as boot would and finds the stopped Tamanu units running",
      evidence: [
        {
          file: "packages/lab/src/e2e/systemHostDeb.it.test.ts",
          contains: '["enable", "--quiet", "start-tamanu.service"]',
        },
        { file: "packages/lab/src/e2e/systemHostDeb.it.test.ts", contains: '["start", "start-tamanu.service"]' },
      ],
    },
  },
  { doc: "README.md", command: "tamanu status", run: here },
  { doc: "README.md", command: "tamanu status --json", run: here },
  { doc: "README.md", command: "tamanu start", run: here },
  { doc: "README.md", command: "tamanu stop sync", run: here },
  { doc: "README.md", command: "tamanu restart api frontend", run: here },
  { doc: "README.md", command: "tamanu restart --dry-run", run: here },

  { doc: "docs/testing.md", command: "bash scripts/setup.sh && npm test", run: ciRunsSetupAndTests },
  { doc: "docs/testing.md", command: "npx vitest run --project unit", run: vitest },
  { doc: "docs/testing.md", command: "npx vitest run --project integration", run: vitest },
  { doc: "docs/testing.md", command: "npx vitest run packages/core/src/plan", run: vitest },
  {
    doc: "docs/testing.md",
    command: "npx vitest run --project integration packages/lab/src/harness/systemdSystemManager.it.test.ts",
    run: vitest,
  },
  {
    doc: "docs/testing.md",
    command:
      "npx vitest run --project integration packages/lab/src/e2e/systemHost.it.test.ts packages/lab/src/e2e/systemHostCaddy.it.test.ts",
    run: vitest,
  },

  {
    doc: "docs/testing.md",
    command:
      "npx vitest run --project integration packages/lab/src/e2e/unitShapes.it.test.ts packages/lab/src/e2e/caddyFailures.it.test.ts",
    run: vitest,
  },
  {
    doc: "docs/testing.md",
    command: "npx vitest run --project integration packages/lab/src/e2e/upgrade.it.test.ts",
    run: vitest,
  },
  {
    doc: "docs/testing.md",
    command:
      "npx vitest run --project integration packages/lab/src/packaging/executables.it.test.ts packages/lab/src/e2e/systemHostDeb.it.test.ts",
    run: vitest,
  },

  {
    doc: "docs/embedding.md",
    command: "npm install @tamanu-lifecycle/core effect",
    run: {
      by: "elsewhere",
      test: "packages/lab/src/packaging/pack.it.test.ts",
      why: "the packages are not on the registry: the test packs them, installs the tarballs into a scratch project with npm install (effect comes with core), and runs a script importing @tamanu-lifecycle/core and effect there",
      evidence: [
        { file: "packages/lab/src/packaging/pack.it.test.ts", contains: 'run("npm", ["install",' },
        { file: "packages/lab/src/packaging/pack.it.test.ts", contains: 'from "@tamanu-lifecycle/core/internal"' },
        { file: "packages/lab/src/packaging/pack.it.test.ts", contains: 'from "effect"' },
      ],
    },
  },

  { doc: "docs/host.md", command: "npx vitest run packages/core/src/host", run: vitest },
  {
    doc: "docs/host.md",
    command: "npx vitest run --project integration packages/lab/src/harness/postgres",
    run: vitest,
  },

  {
    doc: "docs/performance-cold-start.md",
    command: "npm run build",
    run: {
      by: "elsewhere",
      test: ".ci/run",
      why: "npm test, which CI runs, begins with npm run build",
      evidence: [
        { file: ".ci/run", contains: "\nbash scripts/setup.sh && npm test\n" },
        { file: "package.json", contains: '"test": "npm run build && ' },
      ],
    },
  },
  {
    doc: "docs/performance-cold-start.md",
    command: "node packages/lab/dist/bench/coldStart.js 25",
    run: { by: "here", note: "with 2 rounds instead of 25" },
  },
  {
    doc: "docs/performance-cold-start.md",
    command: "node packages/lab/dist/bench/coldStart.js 25 packages/cli/dist/tamanu.mjs",
    run: { by: "here", note: "with 2 rounds instead of 25" },
  },

  {
    doc: "docs/probes-and-caddy.md",
    command: "npx vitest run packages/core/src/probe packages/core/src/proxy",
    run: vitest,
  },
  {
    doc: "docs/probes-and-caddy.md",
    command: "npx vitest run packages/lab/src/harness/caddy packages/lab/src/harness/load",
    run: vitest,
  },

  {
    doc: "docs/systemd.md",
    command:
      "unshare --mount --propagation private sh -c 'mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/system && exec systemd --user'",
    run: {
      by: "elsewhere",
      test: "packages/lab/src/harness/systemdUserManager.it.test.ts",
      why: "the harness spawns this (with a cgroup move first) for every test systemd manager; its suite starts one",
      evidence: [
        {
          file: "packages/lab/src/harness/systemdUserManager.ts",
          contains: '"unshare",\n      [\n        "--mount",',
        },
        {
          file: "packages/lab/src/harness/systemdUserManager.ts",
          contains: '"--propagation",\n        propagation,',
        },
        {
          file: "packages/lab/src/harness/systemdUserManager.ts",
          contains: 'const propagation = options.propagation ?? "private"',
        },
        {
          file: "packages/lab/src/harness/systemdUserManager.ts",
          contains: "mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/system && exec systemd --user",
        },
        { file: "packages/lab/src/harness/systemdUserManager.it.test.ts", contains: "startUserManager(" },
      ],
    },
  },
  { doc: "docs/systemd.md", command: "npx vitest run packages/core/src/supervisor/systemdParse.test.ts", run: vitest },
  {
    doc: "docs/systemd.md",
    command: "npx vitest run --project integration packages/lab/src/harness/systemdUserManager.it.test.ts",
    run: vitest,
  },
  {
    doc: "docs/systemd.md",
    command: "npx vitest run --project integration packages/lab/src/bench/discoverySystemd.it.test.ts",
    run: vitest,
  },
  {
    doc: "docs/systemd.md",
    command: "npx vitest run --project integration packages/lab/src/e2e/systemHost.it.test.ts",
    run: vitest,
  },

  {
    doc: "docs/security.md",
    command:
      "npx vitest run --project unit packages/core/src/privileges packages/cli/src/settings.test.ts packages/cli/src/argv.test.ts",
    run: vitest,
  },
  {
    doc: "docs/security.md",
    command: "npx vitest run --project integration packages/core/src/privileges/Privileges.it.test.ts",
    run: vitest,
  },
  {
    doc: "docs/security.md",
    command: "npx vitest run --project integration packages/lab/src/e2e/systemHost.it.test.ts",
    run: vitest,
  },
]

export const docsCoverage: CoverageTable = {
  commands,
  shownFiles: [
    {
      doc: "docs/operations.md",
      file: "docs/examples/ansible/tamanu-rollout.yml",
      runBy: "packages/lab/src/docs/docs.it.test.ts",
    },
  ],
  dataExamples: [
    {
      doc: "docs/operations.md",
      firstLine: '{ "any_short": false, "expected_version": "2.65.0", "version_drift": false,',
      checkedBy: "packages/lab/src/docs/docs.it.test.ts",
    },
  ],
  notCommands: [{ doc: "docs/architecture.md", firstLine: "packages/core/src/", why: "the source tree" }],
}

/** The docs the check reads: README.md and every docs/*.md. */
export const docsToCheck = (docsDirEntries: ReadonlyArray<string>): ReadonlyArray<string> => [
  "README.md",
  ...docsDirEntries
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`),
]

/** Key of a command that docs.it.test.ts runs. */
export const commandKey = (doc: string, command: string) => `${doc}: ${command}`

/** The commands docs.it.test.ts must run, by key. */
export const runHere: ReadonlyArray<string> = commands
  .filter((c) => c.run.by === "here")
  .map((c) => commandKey(c.doc, c.command))
