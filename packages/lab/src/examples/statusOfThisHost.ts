/**
 * Embedding example 1 (docs/embedding.md): read this host's status from Node
 * with the live layers, the same ones the `tamanu` CLI uses.
 */
import { LiveLayer, liveConfigFromEnv, Progress, status } from "@tamanu-lifecycle/core"
import { Effect, Layer } from "effect"

export const statusOfThisHost = (root: string) =>
  status({ names: [], all: false }).pipe(
    Effect.provide(
      Layer.merge(
        LiveLayer({
          supervisor: "pm2",
          systemdScope: "system",
          root,
          kind: null,
          ...liveConfigFromEnv(process.env), // TAMANU_DATABASE_URL, PM2_HOME, Caddy admin
        }),
        Progress.Silent,
      ),
    ),
    // The same document `tamanu status --json` prints.
    Effect.map((result) => ({ failed: result.failed, json: result.json })),
  )

// node statusOfThisHost.js /opt/tamanu
if (process.argv[1]?.endsWith("statusOfThisHost.js") && process.argv[2] !== undefined) {
  Effect.runPromise(statusOfThisHost(process.argv[2])).then(
    (r) => process.stdout.write(`${JSON.stringify(r.json, null, 2)}\n`),
    (e) => {
      process.stderr.write(`${String(e)}\n`)
      process.exitCode = 1
    },
  )
}
