#!/usr/bin/env node
// The bundled CLI is built by `npm run build` (packages/cli/scripts/bundle.mjs).
// CommonJS (bin/package.json): an ES module entry point would make Node start
// its ESM loader first, ~7 ms of every run (docs/performance-cold-start.md).
require("../dist/tamanu-loader.cjs")
