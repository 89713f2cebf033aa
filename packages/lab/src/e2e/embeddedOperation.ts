/**
 * An embedding program, for the output-contract tests (outputContract.it.test.ts):
 * runs one operation from Node with core's live layers, as docs/embedding.md
 * shows, on the BUILT packages, and prints nothing itself. So whatever
 * appears on its stdout or stderr came from the library, which must write
 * nothing by itself.
 *
 *   node dist/e2e/embeddedOperation.js status|start|stop|restart [NAMES...]
 *
 * The host comes from the environment as for the CLI (TAMANU_SUPERVISOR,
 * TAMANU_SYSTEMD_SCOPE, TAMANU_ROOT, TAMANU_DATABASE_URL, PM2_HOME, Caddy
 * admin). The outcome (`{ ok, tag }`) is written as JSON to the file named
 * by EMBED_REPORT; with EMBED_LOG_FILE, core's log lines are routed to that
 * file through the program's own logger (examples/routeLogs.ts).
 */
import * as fs from "node:fs"
import {
  defaults,
  LiveLayer,
  liveConfigFromEnv,
  type OperationServices,
  Progress,
  restart,
  start,
  status,
  stop,
} from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Layer, Logger, LogLevel } from "effect"
import { logLinesTo } from "../examples/routeLogs.js"

const [command = "status", ...names] = process.argv.slice(2)
const env = process.env

const mutate = {
  names,
  ignoreUnmatched: false,
  dryRun: false,
  waitLimit: defaults.waitLimit,
  lockFile: null,
}

const operation: Effect.Effect<unknown, unknown, OperationServices> =
  command === "start"
    ? start({
        ...mutate,
        upOnly: false,
        probeHttp: true,
        probeTimeout: defaults.startProbeTimeout,
        dbWait: Duration.zero,
        logs: false,
      })
    : command === "stop"
      ? stop(mutate)
      : command === "restart"
        ? restart({
            ...mutate,
            probeHttp: true,
            probeTimeout: defaults.restartProbeTimeout,
            cooldown: Duration.seconds(1),
            checkUrl: null,
          })
        : status({ names, all: false })

const live = LiveLayer({
  supervisor: env.TAMANU_SUPERVISOR === "pm2" ? "pm2" : "systemd",
  systemdScope: env.TAMANU_SYSTEMD_SCOPE === "user" ? "user" : "system",
  root: env.TAMANU_ROOT || null,
  kind: null,
  ...liveConfigFromEnv(env),
})

const logFile = env.EMBED_LOG_FILE
const program = operation.pipe(
  Effect.provide(Layer.merge(live, Progress.Silent)),
  Effect.match({
    onSuccess: () => ({ ok: true, tag: null }),
    onFailure: (e) => ({
      ok: false,
      tag: typeof e === "object" && e !== null && "_tag" in e ? String(e._tag) : String(e),
    }),
  }),
)

const report = await Effect.runPromise(
  logFile === undefined
    ? program
    : program.pipe(
        Effect.provide(logLinesTo((line) => fs.appendFileSync(logFile, `${line}\n`))),
        Logger.withMinimumLogLevel(LogLevel.Debug),
      ),
)
if (env.EMBED_REPORT) fs.writeFileSync(env.EMBED_REPORT, JSON.stringify(report))
