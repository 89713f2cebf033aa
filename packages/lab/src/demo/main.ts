/**
 * `npm run demo`: a local Tamanu-shaped host with a real supervisor and a
 * real Caddy in front, and a short walk through what `tamanu` does on it:
 * status, an instance going down, status showing it, start bringing it back,
 * and a rolling restart under continuous load, ending with the figures that
 * matter (requests served and failed, roll time against the boots).
 *
 * The supervisor is the real shape of a Linux host where root, namespaces
 * and podman allow it (a systemd user manager running one podman container
 * per instance, Caddy with `dynamic a` upstreams on the containers' network
 * aliases: sandboxHost.ts), else a real pm2 daemon. Everything started here
 * is stopped at the end, also on Ctrl+C; a prerequisite that is missing is
 * named with how to get it.
 *
 * DEMO_STATE_FILE: where to write `{ dir, pids }` of the sandbox once it is up
 * (the demo's own test uses it to prove nothing is left behind).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { performance } from "node:perf_hooks"
import { cleanupOnSignal } from "../bench/interrupt.js"
import { type BrowserLoad, type BrowserLoadResult, CADDY_RELOAD_503, startBrowserLoad } from "../e2e/browserLoad.js"
import {
  leftoverSandboxContainers,
  leftoverSandboxProcesses,
  requireBuiltCli,
  type SandboxHost,
  type SandboxSupervisor,
  startSandboxHost,
} from "../e2e/sandboxHost.js"
import { caddyPrerequisite } from "../harness/caddy.js"
import { summarizeLoad } from "../harness/load.js"
import { pm2Prerequisite } from "../harness/pm2Daemon.js"
import { podmanPrerequisite } from "../harness/podman.js"
import { userManagerPrerequisite } from "../harness/systemdUserManager.js"

const READY_DELAY_MS = 2000

/** What each flavour restarts, and which instance "goes down" in the demo. */
const flavours = {
  systemd: {
    supervisorName: "a systemd user manager, one podman container per instance",
    roll: ["api", "frontend"],
    rolled: 4,
    loadPaths: ["/api/patients", "/"],
    victim: "tamanu-facility-api@2",
    stopVictim: (host: SandboxHost) => host.systemctl(["stop", "tamanu-facility-api@2.service"]),
    stopVictimShown: "systemctl --user stop tamanu-facility-api@2",
  },
  pm2: {
    supervisorName: "a pm2 daemon",
    roll: ["api"],
    rolled: 2,
    loadPaths: ["/"],
    victim: "tamanu-api#1",
    stopVictim: (host: SandboxHost) => host.pm2(["stop", "1"]),
    stopVictimShown: "pm2 stop 1",
  },
} as const

const tty = process.stdout.isTTY === true && process.env.NO_COLOR === undefined
const bold = (s: string) => (tty ? `\u001b[1m${s}\u001b[22m` : s)
const dim = (s: string) => (tty ? `\u001b[2m${s}\u001b[22m` : s)
const out = (s = "") => process.stdout.write(`${s}\n`)
const step = (s: string) => out(`\n${bold(`▸ ${s}`)}`)

let liveCli: import("node:child_process").ChildProcess | null = null

/** Run the built tamanu on the host, showing the command and streaming what it prints. */
const tamanu = (host: SandboxHost, args: ReadonlyArray<string>) =>
  new Promise<{ code: number; elapsedMs: number }>((resolve) => {
    out(bold(`$ tamanu ${args.join(" ")}`))
    const [file, ...rest] = host.cliArgv(args)
    const began = performance.now()
    const child = spawn(file ?? process.execPath, rest, { env: host.env, stdio: ["ignore", "pipe", "pipe"] })
    liveCli = child
    child.stdout.on("data", (d: Buffer) => process.stdout.write(d))
    child.stderr.on("data", (d: Buffer) => process.stdout.write(d))
    // A roll behind Caddy ends by waiting a minute for Caddy's DNS cache (below): far more than that is a hang.
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      liveCli = null
      const elapsedMs = performance.now() - began
      out(dim(`(exit ${code ?? "?"}, ${Math.round(elapsedMs)} ms)`))
      resolve({ code: code ?? -1, elapsedMs })
    })
  })

/** Which supervisor to use here, or why the demo cannot run (with how to fix it). */
export const chooseSupervisor = (): { supervisor: SandboxSupervisor; notes: ReadonlyArray<string> } | string => {
  try {
    requireBuiltCli()
  } catch (error) {
    return `tamanu is not built (${error instanceof Error ? error.message : String(error)})`
  }
  const caddy = caddyPrerequisite()
  if (caddy.missing !== null)
    return `caddy not found (${caddy.missing}): apt-get install caddy (or see https://caddyserver.com/docs/install)`
  const userManager = userManagerPrerequisite()
  const podman = podmanPrerequisite()
  const systemd = userManager.missing === null ? podman : userManager
  if (systemd.missing === null) return { supervisor: "systemd", notes: [] }
  const pm2 = pm2Prerequisite()
  if (pm2.missing !== null)
    return `no supervisor for the demo: ${systemd.component} (${systemd.missing}) and pm2 (${pm2.missing}: run npm ci)`
  const why = systemd.missing.startsWith("needs root")
    ? "run as root for the systemd demo"
    : `${systemd.component} unavailable: ${systemd.missing}`
  return { supervisor: "pm2", notes: [`${why}; falling back to pm2`] }
}

export const runDemo = async (): Promise<number> => {
  const choice = chooseSupervisor()
  if (typeof choice === "string") {
    process.stderr.write(`demo: ${choice}\n`)
    return 1
  }
  for (const note of choice.notes) out(`note: ${note}`)
  const flavour = flavours[choice.supervisor]
  let host: SandboxHost | null = null
  let loads: ReadonlyArray<BrowserLoad> = []
  const cleanup = async () => {
    liveCli?.kill("SIGKILL")
    await Promise.all(loads.map((l) => l.stop()))
    await host?.stop()
  }
  const offSignals = cleanupOnSignal(cleanup)
  try {
    out(bold(`Tamanu lifecycle demo: a facility host run by ${flavour.supervisorName}, Caddy in front`))
    out(dim(`Every service takes ${READY_DELAY_MS / 1000} s to boot, like a Tamanu server that listens once ready.`))
    out("Bringing the host up…")
    host = await startSandboxHost({ supervisor: choice.supervisor, readyDelayMs: READY_DELAY_MS })
    const pids = leftoverSandboxProcesses().map((p) => p.pid)
    out(dim(`Sandbox: ${host.dir} (${pids.length} processes, all stopped at the end)`))
    if (process.env.DEMO_STATE_FILE !== undefined)
      fs.writeFileSync(process.env.DEMO_STATE_FILE, JSON.stringify({ dir: host.dir, pids }))

    step("What runs on this host, against what Tamanu expects:")
    await tamanu(host, ["status"])

    step(`One API instance goes down (as if it crashed or someone stopped it):`)
    out(bold(`$ ${flavour.stopVictimShown}`))
    await flavour.stopVictim(host)

    step("status sees the API short of its instances, and exits 1:")
    await tamanu(host, ["status"])

    step("start brings back only what is missing, and waits until it answers:")
    await tamanu(host, ["start"])

    step(`A rolling restart while clients keep sending requests through Caddy (${flavour.loadPaths.join(", ")}):`)
    if (choice.supervisor === "systemd")
      out(
        dim(
          "Caddy finds the instances by their network alias (dynamic a) and keeps each DNS answer for a minute, " +
            "while every restarted container gets a new address: tamanu takes each instance out of Caddy's routing " +
            "before stopping it, and puts Caddy's own config back once no cached answer can name an old address.",
        ),
      )
    const caddyUrl = host.caddyUrl
    loads = flavour.loadPaths.map((p) =>
      startBrowserLoad({ url: `${caddyUrl}${p}`, concurrency: 2, maxDurationMs: 180_000 }),
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    const roll = await tamanu(host, ["restart", ...flavour.roll])
    await new Promise((resolve) => setTimeout(resolve, 300))
    const results: ReadonlyArray<BrowserLoadResult> = await Promise.all(loads.map((l) => l.stop()))
    loads = []
    const summary = summarizeLoad(results.flatMap((r) => r.records))
    const resent = results.reduce((n, r) => n + r.retriedOnReusedConnection, 0)
    const failures = Object.entries(summary.outcomes)
      .filter(([outcome]) => !/^[1-4]\d\d$/.test(outcome))
      .map(([outcome, count]) => `${count} × ${outcome}`)

    step("Cleaning up:")
    await host.stop()
    host = null
    const left = [...leftoverSandboxProcesses().map((p) => `${p.pid} ${p.command}`), ...leftoverSandboxContainers()]
    if (left.length > 0) {
      out(`left behind: ${left.join("; ")}`)
      return 1
    }
    out(
      choice.supervisor === "systemd"
        ? "Stopped the supervisor, Caddy and every service, removed every container and the network; nothing left running."
        : "Stopped the supervisor, Caddy and every service; nothing left running.",
    )

    const bootSum = flavour.rolled * READY_DELAY_MS
    if (choice.supervisor === "systemd")
      out(
        dim(
          "(the roll's time includes the wait for Caddy's DNS cache: its own config came back once a minute had passed since tamanu's first config load)",
        ),
      )
    const caddyReload503 = results.flatMap((r) => r.records).filter((r) => r.error === CADDY_RELOAD_503).length
    out()
    out(
      dim(
        `(p99 latency ${Math.round(summary.latencyMs.p99)} ms; ${resent} requests resent once after Caddy's reload closed an idle keep-alive connection, as a browser does${failures.length === 0 ? "" : `; failures: ${failures.join(", ")}`})`,
      ),
    )
    out(
      bold(
        `Result: ${summary.served} requests served, ${summary.failed} failed${caddyReload503 > 0 ? ` (${caddyReload503} of them Caddy's own 503 during a forced reload)` : ""}; roll ${(roll.elapsedMs / 1000).toFixed(1)} s against ${(bootSum / 1000).toFixed(1)} s of boot (${flavour.rolled} × ${(READY_DELAY_MS / 1000).toFixed(1)} s)${roll.code === 0 ? "" : `; tamanu restart exited ${roll.code}`}`,
      ),
    )
    return roll.code === 0 && summary.failed - caddyReload503 === 0 ? 0 : 1
  } finally {
    await cleanup()
    offSignals()
  }
}

process.exitCode = await runDemo().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  return 1
})
