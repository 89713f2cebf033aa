/**
 * The version a podman container runs (issue #22), from the `podman ps` and
 * `podman inspect` entries the probe targets already read: the image's
 * `org.opencontainers.image.version` label, else a version in the image's
 * tag (`v2.64.0`, `2.65.0-rc.1`; not `latest`, not `sha-1a2b3c`). Pure.
 */
import { Schema } from "effect"
import { normalizeVersion, semverOf } from "../model/version.js"

export const VERSION_LABEL = "org.opencontainers.image.version"

const Labels = Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.String })))

/** The fields of a `podman ps --format json` entry the version is read from. */
export const PsVersionFields = {
  Image: Schema.optional(Schema.NullOr(Schema.String)),
  Labels,
}

/** The fields of a `podman inspect` entry the version is read from. */
export const InspectVersionFields = {
  ImageName: Schema.optional(Schema.NullOr(Schema.String)),
  Config: Schema.optional(Schema.NullOr(Schema.Struct({ Labels }))),
}

const PsPart = Schema.Struct(PsVersionFields)
const InspectPart = Schema.Struct(InspectVersionFields)
export type PsVersionPart = typeof PsPart.Type
export type InspectVersionPart = typeof InspectPart.Type

/**
 * The tag of an image reference, or null: `localhost/tamanu:v2.64.0` →
 * `v2.64.0`; a registry port (`reg:5000/tamanu`) and a digest
 * (`tamanu@sha256:…`) are not tags.
 */
export const imageTag = (image: string): string | null => {
  const withoutDigest = image.split("@")[0] ?? ""
  const colon = withoutDigest.lastIndexOf(":")
  if (colon < 0 || colon < withoutDigest.lastIndexOf("/")) return null
  const tag = withoutDigest.slice(colon + 1)
  return tag === "" ? null : tag
}

/** The version a tag names, without its `v`; null for `latest`, `sha-…`, `2.64`. */
export const versionFromTag = (image: string): string | null => {
  const tag = imageTag(image)
  return tag === null ? null : semverOf(tag)
}

export interface ContainerVersion {
  /** What the container runs; null when neither the label nor the tag says. */
  readonly version: string | null
  readonly source: "label" | "tag" | null
  /** Why it is unknown, for a warning (null when known). */
  readonly problem: string | null
}

/**
 * The label wins (an image built for 2.65.0 and tagged `latest` runs
 * 2.65.0); the label is read from `inspect`'s config, else from `ps`'s
 * labels (which include the image's); the image from `ps`, else `inspect`.
 */
export const containerVersion = (
  ps: PsVersionPart | null | undefined,
  inspect: InspectVersionPart | null | undefined,
): ContainerVersion => {
  const label = normalizeVersion(inspect?.Config?.Labels?.[VERSION_LABEL] ?? ps?.Labels?.[VERSION_LABEL])
  if (label !== null) return { version: label, source: "label", problem: null }
  const image = [ps?.Image, inspect?.ImageName].find((i): i is string => typeof i === "string" && i.trim() !== "")
  if (image === undefined)
    return {
      version: null,
      source: null,
      problem: `no image and no ${VERSION_LABEL} label (run from a root filesystem?)`,
    }
  const fromTag = versionFromTag(image.trim())
  if (fromTag !== null) return { version: fromTag, source: "tag", problem: null }
  const tag = imageTag(image.trim())
  return {
    version: null,
    source: null,
    problem:
      tag === null
        ? `image ${image} has no ${VERSION_LABEL} label and no tag`
        : `image ${image} has no ${VERSION_LABEL} label and its tag "${tag}" is not a version`,
  }
}
