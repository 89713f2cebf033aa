import { describe, expect, it } from "vitest"
import { type CoverageTable, type Repository, unaccounted, vitestSelectionProblem } from "./accounting.js"
import {
  blockKind,
  commandLines,
  type FencedBlock,
  fencedBlocks,
  jsonKeyPaths,
  proseShapeKeys,
  shellWords,
  splitComment,
} from "./docBlocks.js"

const fence = "```"

describe("fencedBlocks", () => {
  it("finds each block with its language, opening line and exact text", () => {
    const md = [
      "# Title",
      "",
      `${fence}sh`,
      "tamanu status   # a comment",
      fence,
      "text",
      `${fence}YAML title="x"`,
      "- hosts: all",
      "  serial: 1",
      fence,
      fence,
      "plain",
      fence,
    ].join("\n")
    expect(fencedBlocks("d.md", md)).toEqual([
      { doc: "d.md", line: 3, lang: "sh", text: "tamanu status   # a comment\n" },
      { doc: "d.md", line: 7, lang: "yaml", text: "- hosts: all\n  serial: 1\n" },
      { doc: "d.md", line: 11, lang: "", text: "plain\n" },
    ])
  })

  it("closes a fence only on the same character at least as long", () => {
    const md = ["````md", "```sh", "inner", "```", "````", "~~~", "```", "~~~"].join("\n")
    expect(fencedBlocks("d.md", md)).toEqual([
      { doc: "d.md", line: 1, lang: "md", text: "```sh\ninner\n```\n" },
      { doc: "d.md", line: 6, lang: "", text: "```\n" },
    ])
  })

  it("an unclosed fence runs to the end of the document", () => {
    expect(fencedBlocks("d.md", "```sh\nnpm test\n")).toEqual([
      { doc: "d.md", line: 1, lang: "sh", text: "npm test\n\n" },
    ])
  })

  it("a document without fences has no blocks", () => {
    expect(fencedBlocks("d.md", "just `inline` code\n")).toEqual([])
  })
})

describe("blockKind", () => {
  it.each([
    ["sh", "shell"],
    ["bash", "shell"],
    ["shell", "shell"],
    ["console", "shell"],
    ["", "unlabelled"],
    ["yaml", "config"],
    ["yml", "config"],
    ["json", "data"],
    ["ts", "source"],
    ["typescript", "source"],
    ["text", "output"],
    ["mermaid", "diagram"],
    ["powershell", "unknown"],
    ["toml", "unknown"],
  ] as const)("%j is %s", (lang, kind) => {
    expect(blockKind(lang)).toBe(kind)
  })
})

describe("splitComment", () => {
  it.each([
    ["tamanu status", "tamanu status", ""],
    ["tamanu status                       # table of expected", "tamanu status", "table of expected"],
    ["tamanu   restart  api", "tamanu restart api", ""],
    ["echo '# not a comment'  # one", "echo '# not a comment'", "one"],
    ['echo "a  #b"', 'echo "a  #b"', ""],
    ["echo a#b", "echo a#b", ""],
    ["echo \\# x", "echo \\# x", ""],
    ["# whole line", "", "whole line"],
  ])("%j → command %j, comment %j", (line, command, comment) => {
    expect(splitComment(line)).toEqual({ command, comment })
  })
})

const block = (text: string, lang = "sh", line = 10): FencedBlock => ({ doc: "d.md", line, lang, text })

describe("commandLines", () => {
  it("one command per line, comments apart, blank and comment lines skipped, doc line numbers", () => {
    expect(commandLines(block("# setup\nnpm ci\n\ntamanu start   # idempotent\n"))).toEqual([
      { command: "npm ci", comment: "", line: 12 },
      { command: "tamanu start", comment: "idempotent", line: 14 },
    ])
  })

  it("joins a line ending in a backslash with the next", () => {
    expect(commandLines(block("unshare --mount sh -c \\\n  'exec systemd --user'\nnext\n"))).toEqual([
      { command: "unshare --mount sh -c 'exec systemd --user'", comment: "", line: 11 },
      { command: "next", comment: "", line: 13 },
    ])
  })

  it("in a console block only what follows the $ prompt is a command", () => {
    expect(commandLines(block("$ tamanu status\nService  Expected\n$ echo done  # ok\ndone\n", "console"))).toEqual([
      { command: "tamanu status", comment: "", line: 11 },
      { command: "echo done", comment: "ok", line: 13 },
    ])
  })
})

describe("shellWords", () => {
  it.each([
    ["tamanu status --json", ["tamanu", "status", "--json"]],
    ["tamanu  restart api   frontend", ["tamanu", "restart", "api", "frontend"]],
    ["node 'a b' \"c d\"", ["node", "a b", "c d"]],
    ["echo ''", ["echo", ""]],
    ["bash scripts/setup.sh && npm test", null],
    ["a | b", null],
    ["a; b", null],
    ["echo $HOME", null],
    ['echo "$HOME"', null],
    ["echo `id`", null],
    ["ls *.ts", null],
    ["a > f", null],
    ["echo 'unclosed", null],
  ] as const)("%j → %j", (command, words) => {
    expect(shellWords(command)).toEqual(words)
  })
})

describe("jsonKeyPaths and proseShapeKeys", () => {
  it("names nested keys, arrays by their elements", () => {
    expect(jsonKeyPaths({ a: 1, b: [{ c: 1 }, { d: null }], e: { f: { g: 1 } }, h: null })).toEqual([
      "a",
      "b",
      "b[].c",
      "b[].d",
      "e",
      "e.f",
      "e.f.g",
      "h",
    ])
  })

  it("reads a prose shape's keys the same way, types after : and | left out", () => {
    expect(proseShapeKeys("{ command, ok, plan, error: { tag, message } | null }")).toEqual([
      "command",
      "error",
      "error.message",
      "error.tag",
      "ok",
      "plan",
    ])
    expect(proseShapeKeys("{ a,\nb, c: string | null }")).toEqual(["a", "b", "c"])
  })

  it("an unbalanced prose shape is null", () => {
    expect(proseShapeKeys("{ a, b: { c }")).toBeNull()
    expect(proseShapeKeys("{ a } }")).toBeNull()
  })
})

const repository = (files: Record<string, string>, testFiles: ReadonlyArray<string> = []): Repository => ({
  read: (file) => files[file] ?? null,
  testFiles,
  vitestProjects: {
    unit: (f) => f.endsWith(".test.ts") && !f.endsWith(".it.test.ts"),
    integration: (f) => f.endsWith(".it.test.ts"),
  },
})

describe("vitestSelectionProblem", () => {
  const repo = repository({}, ["packages/core/src/plan/a.test.ts", "packages/lab/src/harness/caddy.it.test.ts"])
  it.each([
    ["npx vitest run", null],
    ["npx vitest run --project unit", null],
    ["npx vitest run --project=integration packages/lab/src/harness/caddy", null],
    ["npx vitest run packages/core/src/plan packages/lab/src/harness", null],
    [
      "npx vitest run --project unit packages/lab/src/harness/caddy",
      "selects no test file with packages/lab/src/harness/caddy",
    ],
    ["npx vitest run packages/core/src/nothing", "selects no test file with packages/core/src/nothing"],
    ["npx vitest run --project e2e", "names the vitest project e2e, which vitest.config.ts does not define"],
    ["npx vitest run --watch", "has the option --watch, which this check does not know"],
    ["npx vitest packages", "is not a plain `npx vitest run [--project NAME] [PATHS…]`"],
    ["npm test", "is not a plain `npx vitest run [--project NAME] [PATHS…]`"],
  ])("%j → %j", (command, problem) => {
    expect(vitestSelectionProblem(command, repo)).toBe(problem)
  })
})

describe("unaccounted", () => {
  const empty: CoverageTable = { commands: [], shownFiles: [], dataExamples: [], notCommands: [] }
  const readme = (text: string, lang = "sh"): FencedBlock => ({ doc: "README.md", line: 5, lang, text })

  it("a command no entry accounts for is a problem naming the doc line", () => {
    expect(
      unaccounted(
        [readme("tamanu status\ntamanu frobnicate\n")],
        {
          ...empty,
          commands: [{ doc: "README.md", command: "tamanu status", run: { by: "here" } }],
        },
        repository({}),
      ),
    ).toEqual([
      "README.md:7: `tamanu frobnicate` is run by no test; run it in docs.it.test.ts or map it in docsCoverage.ts to the test that runs it",
    ])
  })

  it("the same command in another doc needs its own entry", () => {
    const other: FencedBlock = { doc: "docs/x.md", line: 1, lang: "sh", text: "tamanu status\n" }
    const problems = unaccounted(
      [readme("tamanu status\n"), other],
      {
        ...empty,
        commands: [{ doc: "README.md", command: "tamanu status", run: { by: "here" } }],
      },
      repository({}),
    )
    expect(problems).toEqual([
      "docs/x.md:2: `tamanu status` is run by no test; run it in docs.it.test.ts or map it in docsCoverage.ts to the test that runs it",
    ])
  })

  it("an entry whose command left the docs is stale", () => {
    expect(
      unaccounted(
        [],
        {
          ...empty,
          commands: [{ doc: "README.md", command: "tamanu status", run: { by: "here" } }],
        },
        repository({}),
      ),
    ).toEqual(["docsCoverage.ts: README.md has no command `tamanu status` any more"])
  })

  it("a mapping elsewhere holds only while its test exists and contains its evidence", () => {
    const table: CoverageTable = {
      ...empty,
      commands: [
        {
          doc: "README.md",
          command: "npm test",
          run: { by: "elsewhere", test: ".ci/run", why: "CI", evidence: [{ file: ".ci/run", contains: "npm test" }] },
        },
      ],
    }
    expect(unaccounted([readme("npm test\n")], table, repository({ ".ci/run": "bash x && npm test\n" }))).toEqual([])
    expect(unaccounted([readme("npm test\n")], table, repository({ ".ci/run": "vitest run\n" }))).toEqual([
      'README.md:6: `npm test` is said to be run by .ci/run, but .ci/run no longer contains "npm test"',
    ])
    expect(unaccounted([readme("npm test\n")], table, repository({}))).toEqual([
      "README.md:6: `npm test` is said to be run by .ci/run, which does not exist",
      "README.md:6: `npm test` is said to be run by .ci/run, but .ci/run does not exist",
    ])
  })

  it("a vitest command must select test files", () => {
    const table: CoverageTable = {
      ...empty,
      commands: [{ doc: "README.md", command: "npx vitest run packages/gone", run: { by: "vitest" } }],
    }
    expect(
      unaccounted([readme("npx vitest run packages/gone\n")], table, repository({}, ["packages/a/src/x.test.ts"])),
    ).toEqual(["README.md:6: `npx vitest run packages/gone` selects no test file with packages/gone"])
  })

  it("a yaml block must be a listed file, byte for byte", () => {
    const play = "- hosts: all\n  serial: 1\n"
    const table: CoverageTable = {
      ...empty,
      shownFiles: [{ doc: "README.md", file: "play.yml", runBy: "t" }],
    }
    expect(unaccounted([readme(play, "yaml")], table, repository({ "play.yml": play }))).toEqual([])
    expect(unaccounted([readme(play, "yaml")], table, repository({ "play.yml": `${play}\n` }))).toEqual([
      "README.md:5: differs from play.yml; the doc must show the file byte for byte",
    ])
    expect(unaccounted([readme(play, "yaml")], empty, repository({}))[0]).toMatch(/no file a test runs/)
    expect(unaccounted([], table, repository({ "play.yml": play }))).toEqual([
      "docsCoverage.ts: README.md does not show play.yml any more",
    ])
  })

  it("a json block must be a listed example and valid JSON", () => {
    const table: CoverageTable = {
      ...empty,
      dataExamples: [{ doc: "README.md", firstLine: '{ "a": 1,', checkedBy: "t" }],
    }
    expect(unaccounted([readme('{ "a": 1,\n  "b": 2 }\n', "json")], table, repository({}))).toEqual([])
    expect(unaccounted([readme('{ "a": 1,\n  "b": }\n', "json")], table, repository({}))[0]).toMatch(/not valid JSON/)
    expect(unaccounted([readme('{ "c": 1 }\n', "json")], table, repository({}))[0]).toMatch(/no test compares/)
  })

  it("an unlabelled block holds commands unless declared otherwise; an unknown language is refused", () => {
    const tree = "packages/core/src/\n  model/\n"
    expect(unaccounted([readme(tree, "")], empty, repository({}))).toHaveLength(2)
    expect(
      unaccounted(
        [readme(tree, "")],
        {
          ...empty,
          notCommands: [{ doc: "README.md", firstLine: "packages/core/src/", why: "a tree" }],
        },
        repository({}),
      ),
    ).toEqual([])
    expect(unaccounted([readme("Get-Process\n", "powershell")], empty, repository({}))).toEqual([
      "README.md:5: a `powershell` block; say in docBlocks.ts what such a block holds",
    ])
  })

  it("source, output and diagram blocks hold no commands to run", () => {
    const blocks = [readme("npm test\n", "ts"), readme("npm test\n", "text"), readme("graph TD\n", "mermaid")]
    expect(unaccounted(blocks, empty, repository({}))).toEqual([])
  })
})
