/**
 * docs/cli.md, generated from the command tree itself so it cannot drift:
 * `npm run docs` writes it, and a test fails when the file is stale.
 */
import { CliConfig, Command, HelpDoc } from "@effect/cli"
import { restartCommand, startCommand, statusCommand, stopCommand } from "../commands.js"

const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g")
const plain = (doc: HelpDoc.HelpDoc): string =>
  HelpDoc.toAnsiText(doc)
    .replace(ansi, "")
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n")
    .trim()

const intro = `# CLI reference

Generated from the command tree by \`npm run docs\`; a test fails when this
file is stale. Behaviour: \`../shared/spec/lifecycle.md\`; exit codes and their
use from an orchestrator: [operations.md](operations.md).

Every command takes the host options (\`--root\`, \`--supervisor\`,
\`--systemd-scope\`, \`--kind\`, \`--caddy-admin\`, \`--json\`); each falls back
to its environment variable (\`TAMANU_ROOT\`, \`TAMANU_SUPERVISOR\`,
\`TAMANU_SYSTEMD_SCOPE\`, \`TAMANU_KIND\`, \`TAMANU_CADDY_ADMIN\`), and the flag
wins. Also read from the environment: \`TAMANU_DATABASE_URL\` (else built
from the config's \`db\` section), \`PM2_HOME\` (else pm2's default),
\`TAMANU_CADDYFILE\` (the Caddyfile whose global \`admin\` address is used
when \`--caddy-admin\` is not given, and which the Windows fallback reloads;
else \`/etc/caddy/Caddyfile\`, on Windows \`C:\\Caddy\\Caddyfile\`), \`NO_COLOR\`.

Caddy (spec §9): \`start\` and \`restart\` keep Caddy routing only to instances
that serve through its admin API, and put Caddy's own config back once its
DNS cache can no longer hold an address they took down. When the admin API
cannot be reached they fall back to reloading Caddy after each instance
(\`systemctl reload caddy\`; on Windows the Caddyfile to \`/load\`, else
\`caddy reload\`), with a warning. \`--dry-run\` says which way and what
changes; \`status\` shows where Caddy routes each service.
\`--log-level\` and \`--help\` come from @effect/cli.

stdout holds the result only (with \`--json\`, one JSON document); progress,
log lines (\`warning: …\`, \`info: …\`) and errors go to stderr.
\`--log-level\` (anywhere on the line) chooses the log lines: \`info\` and
above by default, \`debug\` adds every supervisor call. See
[operations.md](operations.md).

| exit | meaning |
| --- | --- |
| 0 | success (status: every shown service as expected) |
| 1 | unmet expectations (status) or an operation that failed |
| 2 | bad usage: unknown option, bad option value, NAMES that match nothing without \`--ignore-unmatched\` |
`

const config = CliConfig.defaultConfig

export const cliReference = (): string => {
  const helps: ReadonlyArray<readonly [string, HelpDoc.HelpDoc]> = [
    ["status", Command.getHelp(statusCommand, config)],
    ["start", Command.getHelp(startCommand, config)],
    ["stop", Command.getHelp(stopCommand, config)],
    ["restart", Command.getHelp(restartCommand, config)],
  ]
  const sections = helps.map(([name, help]) => `## tamanu ${name}\n\n\`\`\`text\n${plain(help)}\n\`\`\`\n`)
  return `${intro}\n${sections.join("\n")}`
}
