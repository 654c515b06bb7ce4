/**
 * The fenced code blocks of the READMEs, for the tests that run them as a user would
 * (test/package.test.ts: ts/js programs and `npx pbq` lines in an installed app;
 * test/browser/script_tag.test.ts: the html page).
 */
import * as fs from 'fs';
import * as path from 'path';

export const README_FILES = ['README.md', 'src/converter/README.md'];

export interface CodeBlock {
  /** Repository-relative markdown file. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
}

export function codeBlocks(root: string, file: string): CodeBlock[] {
  const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: code block is not closed`);
    blocks.push({ file, line: start + 1, lang: open[1], code: body.join('\n') + '\n' });
  }
  return blocks;
}

/** The commands of a sh block: one per line, comments and blank lines dropped. */
export function shellCommands(block: CodeBlock): string[] {
  return block.code.split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
    .filter((l) => l.length > 0)
    .flatMap((l) => l.split(/\s+&&\s+/));
}

/**
 * Shell commands the README shows that the package test does not run, because they are what the
 * test itself does (installing the package) or work on a clone of this repository (its scripts).
 */
export const NOT_RUN = /^(npm (install|ci|pack|test|start|run)\b|git clone\b|apt-get\b|\.ci\/run\b|cd\b)/;
