/** The `tamanu` binary's entry point (bundled into dist/tamanu.mjs). */
process.stdout.write("tamanu: placeholder until the CLI lands\n")
