#!/usr/bin/env node
// The bundled CLI is built by `npm run build` (packages/cli/scripts/bundle.mjs).
import "../dist/tamanu.mjs"
