/**
 * The one rule of issue #20, as a property over generated rolls: the real
 * `restart` of a facility's API and frontend instances runs over the fake
 * host (podman-like addresses, Caddy with its `dynamic a` cache) while the
 * address lookups and the probes do whatever a real host may: a container
 * found at once, late (`Type=simple`), never after its restart, never at
 * all (no label), replaced while it boots; an instance answering soon, late,
 * or never. Whatever they do, at every take-down Caddy routes the service to
 * another instance whose address answers at that moment; a roll that cannot
 * name one stops with a typed failure (exit 1), never a defect, and leaves
 * Caddy routing each service to an address that answers.
 *
 * What the fake world simplifies: an instance answers `readyAfter` after its
 * unit became running whichever container it runs in (a replacement does
 * not boot again), and Caddy's aardvark-dns answer is the lookup's own view
 * (an unlabelled container is not on the alias either).
 */

import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import {
  displayInstance,
  type InstanceRef,
  Prober,
  restart,
  restoreCaddy,
  Supervisor,
} from "@tamanu-lifecycle/core/internal"
import { Duration, Effect, Either, Exit, Fiber, TestClock, TestContext } from "effect"
import * as fc from "fast-check"
import { type ContainerSpec, FakeCaddyControl, FakeSupervisorControl, type ReadinessSpec } from "../index.js"
import {
  facilityBehindCaddy,
  facilityContext,
  facilityUnitFiles,
  facilityUnits,
  restartOptions,
  world,
} from "./hosts.js"

interface InstanceBehaviour {
  readonly readyAfter: number | "never"
  readonly whileStarting: "connect ECONNREFUSED" | 503
  readonly container: ContainerSpec
}

const containerArb: fc.Arbitrary<ContainerSpec> = fc.oneof(
  fc.constant({}),
  fc.record({ foundAfter: fc.integer({ min: 50, max: 3_000 }).map(Duration.millis) }),
  fc.constant({ foundAfter: Duration.hours(1) }),
  fc.constant({ labelled: false }),
  fc.record({ replacedAfter: fc.integer({ min: 100, max: 2_000 }).map(Duration.millis) }),
)

const behaviourArb = (probe: boolean): fc.Arbitrary<InstanceBehaviour> =>
  fc.record({
    // Without probes the operator's cooldown is what judges readiness: those instances answer within it.
    readyAfter: probe
      ? fc.oneof(fc.integer({ min: 0, max: 6_000 }), fc.constant<"never">("never"))
      : fc.integer({ min: 0, max: 4_000 }),
    whileStarting: fc.constantFrom<InstanceBehaviour["whileStarting"]>("connect ECONNREFUSED", 503),
    container: containerArb,
  })

const rollArb = fc.boolean().chain((probe) =>
  fc.record({
    probe: fc.constant(probe),
    instances: fc.tuple(behaviourArb(probe), behaviourArb(probe), behaviourArb(probe), behaviourArb(probe)),
  }),
)

const serviceOf = (instance: InstanceRef): string => instance.name
/** `tamanu-frontend-a`: the host part of every address the fake gives this instance. */
const slug = (ref: InstanceRef): string => displayInstance(ref).replace(/[@#]/g, "-")

const run = (probe: boolean) =>
  Effect.gen(function* () {
    const caddy = yield* FakeCaddyControl
    const prober = yield* Prober
    const violations: Array<string> = []
    /** Where a request for the service goes now that answers, other than `ref`'s own addresses. */
    const servedElsewhere = (ref: InstanceRef) =>
      Effect.gen(function* () {
        const answering: Array<string> = []
        for (const address of yield* caddy.routedTo(serviceOf(ref))) {
          if (address.startsWith(`${slug(ref)}.`)) continue
          if (Either.isRight(yield* Effect.either(prober.probeOnce(`http://${address}/`)))) answering.push(address)
        }
        return answering
      })
    const operation = restart(
      restartOptions({
        names: ["api", "frontend"],
        probeHttp: probe,
        probeTimeout: Duration.seconds(10),
        cooldown: Duration.seconds(5),
      }),
    ).pipe(
      Effect.updateService(Supervisor, (supervisor) => ({
        ...supervisor,
        restartOne: (ref: InstanceRef) =>
          Effect.zipRight(
            Effect.flatMap(servedElsewhere(ref), (answering) =>
              Effect.sync(() => {
                if (answering.length === 0)
                  violations.push(`${displayInstance(ref)} went down while Caddy routed its service to nothing serving`)
              }),
            ),
            supervisor.restartOne(ref),
          ),
      })),
    )
    const fiber = yield* Effect.fork(operation)
    yield* TestClock.adjust("30 minutes")
    const exit = yield* Fiber.await(fiber)
    // A roll that stopped leaves its pins to the restore it scheduled with the service manager (issue #25), which
    // no fake runs: run it as its timer would, past the due time. It loads Caddy's own config, or re-pins each
    // service to what serves now (a pinned container replaced since has a new address).
    const lockFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "takedown-restore-")), "tamanu-lifecycle.lock")
    yield* restoreCaddy({ lockFile, probeTimeout: Duration.seconds(5) }).pipe(
      Effect.fork,
      Effect.tap(() => TestClock.adjust("6 seconds")),
      Effect.flatMap(Fiber.join),
    )
    // Caddy left routing each service to an address that answers.
    const unserved: Array<string> = []
    for (const service of ["tamanu-facility-api", "tamanu-frontend"]) {
      const routes = yield* caddy.routedTo(service)
      const answers = yield* Effect.forEach(routes, (a) => Effect.either(prober.probeOnce(`http://${a}/`)))
      if (!answers.some(Either.isRight)) unserved.push(`${service} → ${routes.join(", ") || "(none)"}`)
    }
    const restarted = (yield* (yield* FakeSupervisorControl).calls("restartOne")).length
    return { exit, violations, unserved, restarted }
  })

describe("the take-down rule over generated rolls (issue #20)", () => {
  it("at every take-down Caddy routes the service to another instance that answers; a roll that cannot stops", async () => {
    await fc.assert(
      fc.asyncProperty(rollArb, async ({ probe, instances }) => {
        const readiness: Array<ReadinessSpec> = facilityBehindCaddy.map((instance, i) => {
          const b = instances[i] as InstanceBehaviour
          return {
            instance,
            readyAfter: b.readyAfter === "never" ? Duration.hours(10) : Duration.millis(b.readyAfter),
            whileStarting: b.whileStarting,
            container: b.container,
          }
        })
        const layer = world({
          supervisor: {
            systemd: {
              units: facilityUnits(),
              unitFiles: facilityUnitFiles,
              defaults: { upAfter: "1 second", downAfter: "500 millis" },
            },
          },
          host: { context: facilityContext },
          readiness,
        })
        const outcome = await Effect.runPromise(
          run(probe).pipe(Effect.provide(layer), Effect.provide(TestContext.TestContext), Effect.scoped),
        )
        expect(outcome.violations).toEqual([])
        // A stop is a typed failure (exit 1), never a defect or an interruption.
        if (Exit.isFailure(outcome.exit)) {
          expect(outcome.exit.cause._tag).toBe("Fail")
        } else {
          expect(outcome.restarted).toBe(4)
        }
        expect(outcome.unserved).toEqual([])
      }),
      { numRuns: 15 },
    )
  }, 240_000)
})
