/**
 * Is every command in the docs run by a test? The pure decision: given the
 * docs' blocks, the coverage table (docsCoverage.ts) and what the
 * repository holds (files, test files, vitest projects), the list of
 * problems, each naming the doc line and what to do. Empty means every
 * command is accounted for.
 */
import { blockKind, commandLines, type FencedBlock, shellWords } from "./docBlocks.js"

/** A string that must occur in a file, proving a claim about what runs there. */
export interface Evidence {
  readonly file: string
  readonly contains: string
}

/**
 * How one command line of a doc is run:
 * - `here`: by docs.it.test.ts, which reads the command from the doc and runs it;
 * - `vitest`: an `npx vitest run …` selection, a part of what `npm test` runs; the check
 *   proves the project exists and every path filter selects at least one test file;
 * - `elsewhere`: by an existing test or CI step, named with the strings that prove it.
 */
export type HowRun =
  | { readonly by: "here"; readonly note?: string }
  | { readonly by: "vitest" }
  | {
      readonly by: "elsewhere"
      readonly test: string
      readonly why: string
      readonly evidence: ReadonlyArray<Evidence>
    }

export interface CommandCoverage {
  readonly doc: string
  /** Exactly as `commandLines` reads it from the doc. */
  readonly command: string
  readonly run: HowRun
}

/** A yaml block that shows a file verbatim; the file is what a test runs. */
export interface ShownFile {
  readonly doc: string
  readonly file: string
  readonly runBy: string
}

/** A json block that is an example of real output, checked against it. */
export interface DataExample {
  readonly doc: string
  /** The block's first line, to tell it from others. */
  readonly firstLine: string
  readonly checkedBy: string
}

/** An unlabelled block that holds no commands (a directory tree, a diagram in text). */
export interface NotCommands {
  readonly doc: string
  readonly firstLine: string
  readonly why: string
}

export interface CoverageTable {
  readonly commands: ReadonlyArray<CommandCoverage>
  readonly shownFiles: ReadonlyArray<ShownFile>
  readonly dataExamples: ReadonlyArray<DataExample>
  readonly notCommands: ReadonlyArray<NotCommands>
}

/** What the repository holds, read by the caller. */
export interface Repository {
  /** A repository-relative file's text, or null when there is none. */
  readonly read: (file: string) => string | null
  /** Every test file, repository-relative. */
  readonly testFiles: ReadonlyArray<string>
  /** vitest project name → which test files it runs. */
  readonly vitestProjects: Readonly<Record<string, (file: string) => boolean>>
}

const firstLine = (block: FencedBlock) => block.text.split("\n")[0] ?? ""

const at = (block: FencedBlock, line = block.line) => `${block.doc}:${line}`

/** Why an `npx vitest run …` line selects nothing it claims to, or null when it is sound. */
export const vitestSelectionProblem = (command: string, repository: Repository): string | null => {
  const words = shellWords(command)
  if (words === null || words[0] !== "npx" || words[1] !== "vitest" || words[2] !== "run")
    return "is not a plain `npx vitest run [--project NAME] [PATHS…]`"
  const projects: Array<string> = []
  const filters: Array<string> = []
  for (let i = 3; i < words.length; i++) {
    const word = words[i] ?? ""
    if (word === "--project") projects.push(words[++i] ?? "")
    else if (word.startsWith("--project=")) projects.push(word.slice("--project=".length))
    else if (word.startsWith("-")) return `has the option ${word}, which this check does not know`
    else filters.push(word)
  }
  const unknown = projects.filter((p) => repository.vitestProjects[p] === undefined)
  if (unknown.length > 0)
    return `names the vitest project ${unknown.join(", ")}, which vitest.config.ts does not define`
  const selected = Object.entries(repository.vitestProjects)
    .filter(([name]) => projects.length === 0 || projects.includes(name))
    .map(([, includes]) => includes)
  const inScope = repository.testFiles.filter((f) => selected.some((includes) => includes(f)))
  if (inScope.length === 0) return "selects no test file"
  const empty = filters.filter((filter) => !inScope.some((f) => f.includes(filter)))
  return empty.length > 0 ? `selects no test file with ${empty.join(", ")}` : null
}

/**
 * Every problem with the docs' blocks against the table, and with the table
 * against the docs (an entry for a command no doc has any more is stale).
 */
export const unaccounted = (
  blocks: ReadonlyArray<FencedBlock>,
  table: CoverageTable,
  repository: Repository,
): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const seen = new Set<CommandCoverage>()
  const usedShown = new Set<ShownFile>()
  const usedData = new Set<DataExample>()
  const usedNot = new Set<NotCommands>()

  for (const block of blocks) {
    const kind = blockKind(block.lang)
    if (kind === "unknown") {
      problems.push(`${at(block)}: a \`${block.lang}\` block; say in docBlocks.ts what such a block holds`)
      continue
    }
    if (kind === "config") {
      const shown = table.shownFiles.filter((s) => s.doc === block.doc)
      const same = shown.find((s) => repository.read(s.file) === block.text)
      for (const s of shown) usedShown.add(s)
      if (same === undefined)
        problems.push(
          shown.length === 0
            ? `${at(block)}: a \`${block.lang}\` block that is no file a test runs; move it into one and list it in docsCoverage.ts (shownFiles)`
            : `${at(block)}: differs from ${shown.map((s) => s.file).join(" / ")}; the doc must show the file byte for byte`,
        )
      continue
    }
    if (kind === "data") {
      const example = table.dataExamples.find((d) => d.doc === block.doc && d.firstLine === firstLine(block))
      if (example === undefined)
        problems.push(
          `${at(block)}: a \`${block.lang}\` block no test compares with real output; list it in docsCoverage.ts (dataExamples)`,
        )
      else {
        usedData.add(example)
        try {
          JSON.parse(block.text)
        } catch (error) {
          problems.push(`${at(block)}: not valid JSON (${error instanceof Error ? error.message : String(error)})`)
        }
      }
      continue
    }
    if (kind === "unlabelled") {
      const declared = table.notCommands.find((n) => n.doc === block.doc && n.firstLine === firstLine(block))
      if (declared !== undefined) {
        usedNot.add(declared)
        continue
      }
    }
    if (kind !== "shell" && kind !== "unlabelled") continue

    for (const line of commandLines(block)) {
      const entry = table.commands.find((c) => c.doc === block.doc && c.command === line.command)
      if (entry === undefined) {
        problems.push(
          `${at(block, line.line)}: \`${line.command}\` is run by no test; run it in docs.it.test.ts or map it in docsCoverage.ts to the test that runs it`,
        )
        continue
      }
      seen.add(entry)
      if (entry.run.by === "vitest") {
        const problem = vitestSelectionProblem(line.command, repository)
        if (problem !== null) problems.push(`${at(block, line.line)}: \`${line.command}\` ${problem}`)
      }
      if (entry.run.by === "elsewhere") {
        if (repository.read(entry.run.test) === null)
          problems.push(
            `${at(block, line.line)}: \`${line.command}\` is said to be run by ${entry.run.test}, which does not exist`,
          )
        for (const evidence of entry.run.evidence) {
          const text = repository.read(evidence.file)
          if (text === null || !text.includes(evidence.contains))
            problems.push(
              `${at(block, line.line)}: \`${line.command}\` is said to be run by ${entry.run.test}, but ${evidence.file} ${text === null ? "does not exist" : `no longer contains ${JSON.stringify(evidence.contains)}`}`,
            )
        }
      }
    }
  }

  for (const entry of table.commands)
    if (!seen.has(entry)) problems.push(`docsCoverage.ts: ${entry.doc} has no command \`${entry.command}\` any more`)
  for (const shown of table.shownFiles)
    if (!usedShown.has(shown)) problems.push(`docsCoverage.ts: ${shown.doc} does not show ${shown.file} any more`)
  for (const example of table.dataExamples)
    if (!usedData.has(example))
      problems.push(`docsCoverage.ts: ${example.doc} has no json block starting ${example.firstLine} any more`)
  for (const declared of table.notCommands)
    if (!usedNot.has(declared))
      problems.push(`docsCoverage.ts: ${declared.doc} has no unlabelled block starting ${declared.firstLine} any more`)
  return problems
}
