/**
 * What the host is meant to run (issue #22), read for status, the roll and
 * `--dry-run` alike: the env file's versions on systemd, the root's on pm2.
 */
import { Effect } from "effect"
import type { HostError } from "../host/errors.js"
import { TamanuHost } from "../host/TamanuHost.js"
import type { SupervisorKind } from "../model/instance.js"
import { type ExpectedVersions, expectedVersions } from "../model/version.js"

export const hostExpectedVersions = (
  supervisor: SupervisorKind,
): Effect.Effect<ExpectedVersions, HostError, TamanuHost> =>
  Effect.gen(function* () {
    const context = yield* (yield* TamanuHost).context
    return expectedVersions(supervisor, {
      envFile: context.versions?.envFile ?? `${context.root}/env`,
      env: context.versions?.env ?? null,
      envProblem: context.versions === undefined ? "the env file was not read" : context.versions.envProblem,
      rootVersion: context.versions?.rootVersion ?? context.version,
    })
  })
