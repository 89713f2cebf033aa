/**
 * Host-context failures (spec §12): each names the file or the places searched.
 */
import { Schema } from "effect"
import type { UntrustedPath } from "../privileges/trustedPath.js"

export class NoTamanuRoot extends Schema.TaggedError<NoTamanuRoot>()("NoTamanuRoot", {
  searched: Schema.Array(Schema.String),
}) {}

export class ConfigUnreadable extends Schema.TaggedError<ConfigUnreadable>()("ConfigUnreadable", {
  file: Schema.String,
  message: Schema.String,
  line: Schema.NullOr(Schema.Int),
  column: Schema.NullOr(Schema.Int),
  /**
   * The file is there but this user may not read it (EACCES): a config kept
   * root-only for its database password. Root can; a change under sudo reads it.
   */
  permissionDenied: Schema.optional(Schema.Boolean),
}) {}

export class ConfigMissingDb extends Schema.TaggedError<ConfigMissingDb>()("ConfigMissingDb", {
  root: Schema.String,
}) {}

/** UntrustedPath: a run under sudo for an operator refused a root or config file that operator could change. */
export type HostError = NoTamanuRoot | ConfigUnreadable | ConfigMissingDb | UntrustedPath
