/** `npm run docs`: regenerate docs/cli.md from the command tree. */
import { writeFileSync } from "node:fs"
import { cliReference } from "./cliReference.js"

const target = new URL("../../../../docs/cli.md", import.meta.url)
writeFileSync(target, cliReference())
process.stdout.write(`wrote ${target.pathname}\n`)
