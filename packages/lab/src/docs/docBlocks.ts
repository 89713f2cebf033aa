/**
 * The fenced code blocks of the Markdown docs, and the command lines in
 * them: the pure half of the docs check (docsCoverage.test.ts decides that
 * every command is run by a test; docs.it.test.ts runs the ones it owns).
 * Nothing here reads a file, so every rule is tested with tables.
 */

export interface FencedBlock {
  /** The doc, repository-relative (`README.md`, `docs/operations.md`). */
  readonly doc: string
  /** 1-based line of the opening fence. */
  readonly line: number
  /** The info string's first word, lower-cased; "" when the fence has none. */
  readonly lang: string
  /** The lines between the fences, each ending in "\n" (so a file shown verbatim compares byte for byte). */
  readonly text: string
}

/**
 * What a block holds, by its language:
 * - `shell`: commands (sh, bash, shell, console, zsh);
 * - `unlabelled`: a fence without a language; commands unless the coverage table says otherwise;
 * - `config`: yaml, shown from a file that is run (the Ansible play);
 * - `data`: json, an example of real output;
 * - `source`: TypeScript/JavaScript (run by the examples' tests, or a signature);
 * - `output`: text (generated reference, sample output);
 * - `diagram`: mermaid;
 * - `unknown`: anything else, which the check refuses until it is classified here.
 */
export type BlockKind = "shell" | "unlabelled" | "config" | "data" | "source" | "output" | "diagram" | "unknown"

const kinds: ReadonlyArray<readonly [BlockKind, ReadonlyArray<string>]> = [
  ["shell", ["sh", "bash", "shell", "console", "zsh"]],
  ["unlabelled", [""]],
  ["config", ["yaml", "yml"]],
  ["data", ["json", "json5", "jsonc"]],
  ["source", ["ts", "typescript", "tsx", "js", "javascript", "mjs"]],
  ["output", ["text", "txt", "plain"]],
  ["diagram", ["mermaid"]],
]

export const blockKind = (lang: string): BlockKind => kinds.find(([, langs]) => langs.includes(lang))?.[0] ?? "unknown"

const opening = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/

/**
 * Every fenced block of a CommonMark document, in order. A fence closes on a
 * line of the same character at least as long, with nothing after it; an
 * unclosed fence runs to the end of the document (as CommonMark reads it).
 */
export const fencedBlocks = (doc: string, markdown: string): ReadonlyArray<FencedBlock> => {
  const lines = markdown.split("\n")
  const blocks: Array<FencedBlock> = []
  let i = 0
  while (i < lines.length) {
    const open = opening.exec(lines[i] ?? "")
    if (open === null) {
      i++
      continue
    }
    const fence = open[1] ?? "```"
    const closing = new RegExp(`^ {0,3}${fence[0] === "`" ? "`" : "~"}{${fence.length},}\\s*$`)
    const start = i
    const body: Array<string> = []
    i++
    while (i < lines.length && !closing.test(lines[i] ?? "")) body.push(lines[i++] ?? "")
    i++
    blocks.push({
      doc,
      line: start + 1,
      lang: (open[2] ?? "").toLowerCase(),
      text: body.map((l) => `${l}\n`).join(""),
    })
  }
  return blocks
}

export interface CommandLine {
  /** The command as a shell reads it: continuations joined, comment dropped, runs of blanks outside quotes made one space. */
  readonly command: string
  /** The trailing `# comment`, without the `#`; "" when there is none. It states what the command is claimed to do. */
  readonly comment: string
  /** 1-based line in the doc where the command begins. */
  readonly line: number
}

/** Split one logical line into the command and its trailing comment (a `#` that begins a word outside quotes). */
export const splitComment = (logical: string): { readonly command: string; readonly comment: string } => {
  let command = ""
  let quote: "'" | '"' | null = null
  for (let i = 0; i < logical.length; i++) {
    const c = logical[i] ?? ""
    if (quote !== null) {
      if (c === quote) quote = null
      else if (c === "\\" && quote === '"') {
        command += c + (logical[i + 1] ?? "")
        i++
        continue
      }
      command += c
      continue
    }
    if (c === "'" || c === '"') {
      quote = c
      command += c
      continue
    }
    if (c === "\\") {
      command += c + (logical[i + 1] ?? "")
      i++
      continue
    }
    if (c === "#" && (command === "" || /\s$/.test(command)))
      return { command: command.trim(), comment: logical.slice(i + 1).trim() }
    if (/\s/.test(c)) {
      if (!/\s$/.test(command)) command += " "
      continue
    }
    command += c
  }
  return { command: command.trim(), comment: "" }
}

/**
 * The commands of a shell block. `console` blocks hold a session: only
 * lines after a `$ ` prompt are commands, the rest is output. Otherwise every
 * line that is not blank or a whole-line comment is one, and a line ending
 * in `\` continues on the next.
 */
export const commandLines = (block: FencedBlock): ReadonlyArray<CommandLine> => {
  const lines = block.text.split("\n")
  if (lines.at(-1) === "") lines.pop()
  const commands: Array<CommandLine> = []
  let i = 0
  while (i < lines.length) {
    const first = i
    let raw = lines[i] ?? ""
    i++
    if (block.lang === "console") {
      const prompt = /^\s*\$ (.*)$/.exec(raw)
      if (prompt === null) continue
      raw = prompt[1] ?? ""
    }
    while (/\\\s*$/.test(raw) && i < lines.length) {
      raw = `${raw.replace(/\\\s*$/, "")} ${(lines[i] ?? "").trim()}`
      i++
    }
    if (raw.trim() === "" || raw.trim().startsWith("#")) continue
    const { command, comment } = splitComment(raw)
    commands.push({ command, comment, line: block.line + 1 + first })
  }
  return commands
}

/**
 * A simple command's words (quotes removed), or null when it needs a shell:
 * operators (`&&`, `|`, `;`, redirections), expansions (`$`, backquotes,
 * globs), or an unclosed quote. Only such simple commands are run directly.
 */
export const shellWords = (command: string): ReadonlyArray<string> | null => {
  const words: Array<string> = []
  let word: string | null = null
  let quote: "'" | '"' | null = null
  for (const c of command) {
    if (quote !== null) {
      if (c === quote) quote = null
      else if (quote === '"' && (c === "$" || c === "`" || c === "\\")) return null
      else word = (word ?? "") + c
      continue
    }
    if (c === "'" || c === '"') {
      quote = c
      word = word ?? ""
      continue
    }
    if (/\s/.test(c)) {
      if (word !== null) words.push(word)
      word = null
      continue
    }
    if ("&|;<>$`*?[](){}\\!".includes(c)) return null
    word = (word ?? "") + c
  }
  if (quote !== null) return null
  if (word !== null) words.push(word)
  return words
}

/** The keys of a JSON value, recursively: `a`, `a.b`, `a[].c` (arrays by their elements), sorted. */
export const jsonKeyPaths = (value: unknown, prefix = ""): ReadonlyArray<string> => {
  const paths = new Set<string>()
  const walk = (v: unknown, at: string) => {
    if (Array.isArray(v)) {
      for (const element of v) walk(element, `${at}[]`)
      return
    }
    if (v === null || typeof v !== "object") return
    for (const [key, child] of Object.entries(v)) {
      const here = at === "" ? key : `${at}.${key}`
      paths.add(here)
      walk(child, here)
    }
  }
  walk(value, prefix)
  return [...paths].sort()
}

/**
 * The keys of a shape written in prose as `{ a, b, c: { d, e } | null }`
 * (the report's keys in docs/operations.md), as `jsonKeyPaths` names them:
 * a key is a word right after `{` or `,`; words after `:` or `|` are types.
 * Null when the braces do not balance.
 */
export const proseShapeKeys = (shape: string): ReadonlyArray<string> | null => {
  const paths: Array<string> = []
  const stack: Array<string> = []
  let depth = 0
  let last = ""
  let keyPosition = false
  for (const token of shape.match(/[A-Za-z0-9_]+|[{},:|]/g) ?? []) {
    if (token === "{") {
      if (depth > 0) stack.push(last)
      depth++
      keyPosition = true
    } else if (token === "}") {
      depth--
      if (depth < 0) return null
      if (depth > 0) stack.pop()
      keyPosition = false
    } else if (token === ",") keyPosition = depth > 0
    else if (token === ":" || token === "|") keyPosition = false
    else if (keyPosition) {
      paths.push([...stack, token].join("."))
      last = token
      keyPosition = false
    }
  }
  if (depth !== 0) return null
  return [...new Set(paths)].sort()
}
