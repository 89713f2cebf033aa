/**
 * @tamanu-lifecycle/cli: the `tamanu` command tree, exported so another
 * @effect/cli program can mount it.
 */
export {}
