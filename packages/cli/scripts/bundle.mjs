// Bundles the CLI so `tamanu` starts fast (cold start is a measured figure,
// see docs/performance-cold-start.md). Three files come out:
//
// - dist/tamanu.cjs: the whole CLI as one minified CommonJS file. CommonJS,
//   because Node 20 can only reuse V8's compiled code for a script compiled
//   through `vm.Script` (it has no module.enableCompileCache for ESM).
// - dist/tamanu-loader.cjs: a small loader that compiles tamanu.cjs with the code
//   cache V8 produced on an earlier run, and writes one when there is none or
//   V8 refused it. Any trouble with the cache only costs speed: the loader
//   then compiles from source as usual. `bin/tamanu.js` requires it.
// - dist/tamanu.mjs: the same for ESM callers (`node dist/tamanu.mjs`).
//
// Dynamic `import()`s in the sources (the PostgreSQL and HTTP clients) stay
// in the file but are only evaluated when called.
//
// `node scripts/bundle.mjs --analyze` prints what the bundle is made of.
import { createHash } from "node:crypto"
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { createRequire } from "node:module"
import { build } from "esbuild"

const dist = (name) => new URL(`../dist/${name}`, import.meta.url).pathname

/**
 * pm2-axon creates `debug` loggers at load, and `debug` probes the terminal
 * and environment when it loads. It only ever prints when DEBUG is set, so
 * without DEBUG a no-op stands in and the real one is never evaluated.
 */
const debugOnlyWhenAsked = {
  name: "debug-only-when-asked",
  setup(b) {
    b.onResolve({ filter: /^debug$/ }, (args) =>
      args.namespace === "debug-shim"
        ? undefined
        : { path: "debug", namespace: "debug-shim", pluginData: { resolveDir: args.resolveDir } },
    )
    b.onLoad({ filter: /.*/, namespace: "debug-shim" }, (args) => ({
      contents: `const off = () => { const log = () => {}; log.enabled = false; log.extend = off; return log }
off.enabled = () => false
module.exports = process.env.DEBUG ? require("debug") : off`,
      loader: "js",
      resolveDir: args.pluginData.resolveDir,
    }))
  },
}

/**
 * `import { Schema, Effect } from "effect"` names a namespace re-exported by
 * the package's barrel, and esbuild then builds that namespace as an object
 * with a getter per export, which keeps every export of the module alive:
 * all of Schema, Effect, Stream… end up in the bundle and run at start-up.
 * Rewriting our compiled imports to the modules themselves
 * (`import * as Schema from "effect/Schema"`, the same namespace object)
 * lets esbuild keep only what is used. Only tamanu's own compiled files are
 * rewritten, the sources keep the idiomatic imports, and a name the barrel
 * does not plainly re-export is left as it was.
 */
const require = createRequire(import.meta.url)
const barrelPackages = ["effect", "@effect/platform", "@effect/cli"]
/** For each barrel: exported name → the import that reaches it directly. */
const barrels = new Map(
  barrelPackages.map((pkg) => {
    const index = readFileSync(require.resolve(pkg).replace(/[\\/]cjs[\\/]index\.js$/, "/esm/index.js"), "utf8")
    const direct = new Map()
    for (const [, name, file] of index.matchAll(/^export \* as (\w+) from "\.\/(\w+)\.js"/gm)) {
      direct.set(name, (alias) => `import * as ${alias} from "${pkg}/${file}";`)
    }
    for (const [, names, file] of index.matchAll(/^export \{([^}]*)\} from "\.\/(\w+)\.js"/gm)) {
      for (const name of names
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .split(",")
        .map((n) => n.trim())) {
        if (/^\w+$/.test(name)) direct.set(name, (alias) => `import { ${name} as ${alias} } from "${pkg}/${file}";`)
      }
    }
    return [pkg, direct]
  }),
)
const deepImports = {
  name: "deep-imports",
  setup(b) {
    b.onLoad({ filter: /[\\/]packages[\\/](core|cli)[\\/]dist[\\/].*\.js$/ }, async (args) => {
      const text = (await readFile(args.path, "utf8")).replace(
        /import \{([^}]*)\} from "(effect|@effect\/platform|@effect\/cli)";?/g,
        (statement, names, pkg) => {
          const specifiers = names
            .split(",")
            .map((n) => n.trim())
            .filter((n) => n !== "")
            .map((specifier) => {
              const [name = "", alias = name] = specifier.split(/\s+as\s+/)
              return barrels.get(pkg)?.get(name)?.(alias)
            })
          return specifiers.every((s) => s !== undefined) ? specifiers.join(" ") : statement
        },
      )
      return { contents: text, loader: "js" }
    })
  },
}

const analyze = process.argv.includes("--analyze")

// Caches of earlier builds can never be used again.
rmSync(dist(".cache"), { recursive: true, force: true })
// A cache is made by the machine that runs tamanu, never shipped in the package.
writeFileSync(dist(".npmignore"), ".cache\n")

const result = await build({
  entryPoints: [dist("main.js")],
  outfile: dist("tamanu.cjs"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  minify: true,
  // Optional native/peer modules some dependencies probe for at run time.
  external: ["pg-native", "msgpackr-extract"],
  plugins: [deepImports, debugOnlyWhenAsked],
  metafile: analyze,
  logLevel: "warning",
})

if (analyze && result.metafile) {
  const byPackage = new Map()
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const pkg = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1] ?? input.split("/").slice(0, 3).join("/")
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + bytesInOutput)
    }
  }
  for (const [pkg, bytes] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`${String(Math.round(bytes / 1024)).padStart(6)} KB  ${pkg}`)
  }
}

/** Names the cache after this exact build, so a cache never outlives the code it was made from. */
const buildId = createHash("sha256")
  .update(readFileSync(dist("tamanu.cjs")))
  .digest("hex")
  .slice(0, 16)

// CommonJS, so that `bin/tamanu.js` (CommonJS through bin/package.json) starts
// without Node's ESM loader, which costs ~7 ms; dist/tamanu.mjs wraps it for ESM callers.
const loader = `// Generated by packages/cli/scripts/bundle.mjs: runs tamanu.cjs through a V8 code cache.
"use strict"
const { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require("node:fs")
const { homedir } = require("node:os")
const { join } = require("node:path")
const { Script } = require("node:vm")

const file = join(__dirname, "tamanu.cjs")
const source = readFileSync(file, "utf8")
// V8 checks its own version and flags; the name pins the build and the platform.
const name = \`tamanu-${buildId}-\${process.version}-\${process.arch}.v8cache\`
const userDir = () => {
  const base = process.env.XDG_CACHE_HOME || (process.platform === "win32" ? process.env.LOCALAPPDATA : join(homedir(), ".cache"))
  return base ? join(base, "tamanu-lifecycle") : null
}
// V8 runs what a cache holds: as root (sudo tamanu), only a directory root alone can write will do, so
// a cache another user could write never runs as root (docs/security.md). That is the one beside the
// bundle when the install is root's, never a home directory's (sudo may keep the caller's HOME).
const rootOnly = (dir) => {
  try {
    const s = lstatSync(dir)
    return s.isDirectory() && s.uid === 0 && (s.mode & 0o022) === 0
  } catch {
    return false
  }
}
const asRoot = typeof process.getuid === "function" && process.getuid() === 0
const besideBundle = join(__dirname, ".cache")
// Beside the bundle first (shared by every user of an installation), else the user's cache.
const dirs =
  process.env.TAMANU_CODE_CACHE === "0"
    ? []
    : asRoot
      ? rootOnly(__dirname) ? [besideBundle] : []
      : [besideBundle, userDir()].filter((d) => d !== null)
const usable = (dir) => !asRoot || rootOnly(dir)

let cachedData
for (const dir of dirs) {
  if (!usable(dir)) continue
  try {
    cachedData = readFileSync(join(dir, name))
    break
  } catch {}
}

const wrapped = \`(function (exports, require, module, __filename, __dirname) {\${source}\\n})\`
const script = new Script(wrapped, cachedData === undefined ? { filename: file } : { filename: file, cachedData })

if (dirs.length > 0 && (cachedData === undefined || script.cachedDataRejected)) {
  // At exit, so the cache also holds the functions this run compiled lazily.
  process.once("exit", () => {
    let data
    try {
      data = script.createCachedData()
    } catch {
      return
    }
    for (const dir of dirs) {
      const temp = join(dir, \`\${name}.\${process.pid}.tmp\`)
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 })
        if (!usable(dir)) continue
        writeFileSync(temp, data, { mode: 0o644 })
        renameSync(temp, join(dir, name))
        return
      } catch {
        try {
          rmSync(temp, { force: true })
        } catch {}
      }
    }
  })
}

// The loader sits beside tamanu.cjs, so its own require resolves what the bundle requires.
const app = { exports: {}, filename: file, id: ".", loaded: false }
script.runInThisContext()(app.exports, require, app, file, __dirname)
`
writeFileSync(dist("tamanu-loader.cjs"), loader)
writeFileSync(
  dist("tamanu.mjs"),
  `// Generated by packages/cli/scripts/bundle.mjs: the CLI for ESM callers (\`node dist/tamanu.mjs\`).
import { createRequire } from "node:module"
createRequire(import.meta.url)("./tamanu-loader.cjs")
`,
)
