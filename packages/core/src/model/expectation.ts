/**
 * The expectation model (spec §1): what should, or must not, run on a host.
 *
 * These are Schemas, not bare types, so that the same definitions give the
 * `--json` encodings and validate data that crosses a boundary.
 */
import { Schema } from "effect"

/** How many instances a service has and how they are named (§1). */
export const Single = Schema.TaggedStruct("Single", {})
export const NumericAtLeast = Schema.TaggedStruct("NumericAtLeast", {
  count: Schema.Int.pipe(Schema.positive()),
})
export const Named = Schema.TaggedStruct("Named", {
  suffixes: Schema.NonEmptyArray(Schema.String),
})
export const Instances = Schema.Union(Single, NumericAtLeast, Named)
export type Instances = typeof Instances.Type

export const single: Instances = Single.make({})
export const numericAtLeast = (count: number): Instances => NumericAtLeast.make({ count })
export const named = (first: string, ...rest: ReadonlyArray<string>): Instances =>
  Named.make({ suffixes: [first, ...rest] })

/** `Unknown`: the signal deciding it could not be read; lifecycle commands leave it alone. */
export const ExpectedState = Schema.Literal("Up", "Down", "Unknown")
export type ExpectedState = typeof ExpectedState.Type

/** Only `restart` uses it: Critical services are rolled, Background ones bulk-restarted. */
export const Criticality = Schema.Literal("Critical", "Background")
export type Criticality = typeof Criticality.Type

export const Expectation = Schema.Struct({
  name: Schema.String,
  instances: Instances,
  state: ExpectedState,
  criticality: Criticality,
  reason: Schema.String,
  legacy: Schema.Boolean,
  behindCaddy: Schema.Boolean,
})
export type Expectation = typeof Expectation.Type

/** 1 for Single, n for NumericAtLeast(n), the list length for Named. */
export const minCount = (instances: Instances): number => {
  switch (instances._tag) {
    case "Single":
      return 1
    case "NumericAtLeast":
      return instances.count
    case "Named":
      return instances.suffixes.length
  }
}

/** Rolling one at a time keeps a Critical service serving only with two or more instances. */
export const isRolling = (e: Expectation): boolean => e.criticality === "Critical" && minCount(e.instances) >= 2
