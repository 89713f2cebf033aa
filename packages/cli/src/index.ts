/**
 * @tamanu-lifecycle/cli: the `tamanu` command tree, exported so another
 * @effect/cli program can mount it.
 */

export * from "./commands.js"
export * from "./options.js"
export * from "./render/color.js"
export * from "./render/errors.js"
export * from "./render/logger.js"
export * from "./render/progress.js"
export * from "./render/report.js"
export * from "./render/statusTable.js"
export * from "./settings.js"
