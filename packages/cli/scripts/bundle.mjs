// Bundles the CLI into one ESM file so `tamanu` starts without resolving
// hundreds of modules (cold start is a measured figure, see docs/performance.md).
import { build } from "esbuild"

await build({
  entryPoints: [new URL("../dist/main.js", import.meta.url).pathname],
  outfile: new URL("../dist/tamanu.mjs", import.meta.url).pathname,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // Optional native/peer modules some dependencies probe for at run time.
  external: ["pg-native", "msgpackr-extract"],
  banner: {
    js: "import { createRequire as __tamanuCreateRequire } from 'node:module'; const require = __tamanuCreateRequire(import.meta.url);",
  },
  logLevel: "warning",
})
