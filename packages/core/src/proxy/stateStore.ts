/**
 * Where the routing state lives between runs (spec §9.3): a file beside the
 * host lock, written before and after every load, so that a run that dies
 * (SIGKILL included) leaves the next one what it needs to finish the
 * restore; or this process's memory (tests, embedders). Thin I/O: what the
 * state means is decide.ts's (`adoption`, `routingOf`, `pendingOf`).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either, Option, Ref, Schema } from "effect"
import type { Json } from "./caddyConfig.js"
import type { RoutingState } from "./routing.js"

export const JsonValue: Schema.Schema<Json> = Schema.Union(
  Schema.Null,
  Schema.Boolean,
  Schema.Number,
  Schema.String,
  Schema.Array(Schema.suspend(() => JsonValue)),
  Schema.Record({ key: Schema.String, value: Schema.suspend(() => JsonValue) }),
)

const Clock_ = Schema.Struct({
  service: Schema.String,
  swappedAt: Schema.Number,
  holdMillis: Schema.Number,
  staled: Schema.Boolean,
})

/** What the next run needs to finish the restore (written before and after every load). */
export const SavedState = Schema.Struct({
  version: Schema.Literal(1),
  adminUrl: Schema.String,
  original: JsonValue,
  current: JsonValue,
  /** Written before a load: what Caddy runs if that load never happened (the run died during it). */
  beforeLoad: Schema.NullOr(JsonValue),
  clocks: Schema.Record({ key: Schema.String, value: Clock_ }),
  staledServices: Schema.Array(Schema.String),
  since: Schema.Number,
  command: Schema.String,
})
export type SavedState = typeof SavedState.Type
const SavedStateJson = Schema.parseJson(SavedState)

/** The saved form of a routing state. */
export const savedState = (
  state: RoutingState,
  at: { readonly adminUrl: string; readonly since: number; readonly command: string; readonly beforeLoad: Json | null },
): SavedState => ({
  version: 1,
  adminUrl: at.adminUrl,
  original: state.original,
  current: state.current,
  beforeLoad: at.beforeLoad,
  clocks: state.clocks,
  staledServices: state.staledServices,
  since: at.since,
  command: at.command,
})

export interface StateStore {
  /** None: no state, or one this version cannot read. */
  readonly read: Effect.Effect<Option.Option<SavedState>>
  readonly write: (saved: SavedState) => Effect.Effect<void>
  readonly remove: Effect.Effect<void>
}

/** A file, replaced atomically (written beside it, then renamed); a write that fails is lost, never an error. */
export const fileStore = (file: string): StateStore => ({
  read: Effect.sync(() => {
    try {
      return Either.getRight(Schema.decodeUnknownEither(SavedStateJson)(fs.readFileSync(file, "utf8")))
    } catch {
      return Option.none()
    }
  }),
  write: (saved) =>
    Effect.sync(() => {
      fs.mkdirSync(path.dirname(file), { recursive: true })
      const temporary = `${file}.${process.pid}.tmp`
      fs.writeFileSync(temporary, Schema.encodeSync(SavedStateJson)(saved), { mode: 0o644 })
      fs.renameSync(temporary, file)
    }).pipe(Effect.catchAllDefect(() => Effect.void)),
  remove: Effect.sync(() => fs.rmSync(file, { force: true })).pipe(Effect.catchAllDefect(() => Effect.void)),
})

export const memoryStore = (): Effect.Effect<StateStore> =>
  Effect.map(Ref.make(Option.none<SavedState>()), (ref) => ({
    read: Ref.get(ref),
    write: (saved) => Ref.set(ref, Option.some(saved)),
    remove: Ref.set(ref, Option.none()),
  }))

/** Where the routing state lives: beside the host lock (`/run/tamanu-lifecycle.lock` → `/run/tamanu-lifecycle.caddy.json`). */
export const routingStateFile = (lockFile: string): string => lockFile.replace(/\.lock$/, "") + ".caddy.json"
