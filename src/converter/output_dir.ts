/**
 * Where `pbq convert` may write, and how: the rules that keep it from destroying data.
 *
 * - Paths are compared as real paths (symbolic links resolved, also for an output that does not
 *   exist yet): an output that is, contains or is inside the input model's folder is refused,
 *   whatever spelling or link names it (`/`, `..`, a link to the input).
 * - An output that is a symbolic link is refused (replacing it would not do what was meant).
 * - `--force` replaces only a folder that pbq wrote: regular files with pbq's output names and
 *   nothing else. Any other content is kept, with an error.
 * - Files are written to a hidden sibling `.NAME.pbq-tmp-PID-XXXXXX` and renamed into place; a
 *   replaced output is moved to `…-old` and removed after the rename. A run killed in between
 *   leaves those names behind: the next run for the same output restores a moved-away output
 *   whose replacement never arrived, removes the rest (only folders with pbq's temporary names,
 *   holding only pbq's files, of a process that is no longer running), and says what it did.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ConversionError, oneLine } from './errors';
import { isInside } from '../io/safe_path';

/** The files `pbq convert` writes into its output folder. */
export const OUTPUT_FILES = ['model.json', 'weights.bin', 'model.pbq', 'pbq-report.json'] as const;

const TMP_MARK = '.pbq-tmp-';
const OLD_SUFFIX = '-old';

/** Temporary folders of conversions running in this process (never cleaned up as leftovers). */
const activeTemps = new Set<string>();

/** Real path of `p`, which need not exist: the real path of its deepest existing ancestor + the rest. */
export function realPathAllowingMissing(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...rest.reverse());
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return abs;
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

/** Entries of `dir` that pbq convert did not write (anything but regular files with its names). */
function foreignEntries(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true })
    .filter((e) => !(e.isFile() && (OUTPUT_FILES as readonly string[]).includes(e.name)))
    .map((e) => e.name);
}

/**
 * Checks the output folder against the input model (its folder as named and as linked) and
 * returns the output's real path. Throws a ConversionError naming the problem.
 */
export function checkOutputFolder(inputFolders: string[], output: string, force: boolean): string {
  const abs = path.resolve(output);
  let lst: fs.Stats | null = null;
  try {
    lst = fs.lstatSync(abs);
  } catch {
    lst = null;
  }
  if (lst?.isSymbolicLink()) throw new ConversionError(`output ${abs} is a symbolic link: name the real folder`);
  const out = realPathAllowingMissing(abs);
  for (const folder of inputFolders) {
    const input = realPathAllowingMissing(folder);
    if (isInside(out, input)) {
      const where = out === input ? 'is' : 'is inside';
      throw new ConversionError(`the output folder ${abs} ${where} the input model's folder ${input}: it would replace the input (choose a folder outside it)`);
    }
    if (isInside(input, out)) {
      throw new ConversionError(`the output folder ${abs} contains the input model's folder ${input}: replacing it would delete the input`);
    }
  }
  if (lst !== null && !lst.isDirectory()) throw new ConversionError(`output ${abs} exists and is not a folder`);
  if (lst !== null && fs.readdirSync(out).length > 0) {
    if (!force) throw new ConversionError(`output folder ${abs} is not empty (use --force to replace it)`);
    const foreign = foreignEntries(out);
    if (foreign.length > 0) {
      const shown = foreign.slice(0, 5).join(', ') + (foreign.length > 5 ? `, … (${foreign.length} entries)` : '');
      throw new ConversionError(`output folder ${abs} holds files that pbq convert did not write (${shown}): ` +
        'refusing to replace it, even with --force');
    }
  }
  return out;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Leftover temporary folders of `output` in its parent: [name, writer pid or null, is an -old copy]. */
function leftovers(output: string): Array<{ name: string; pid: number | null; old: boolean }> {
  const parent = path.dirname(output);
  // `.NAME.pbq-tmp-PID-XXXXXX[-old]`, or `.NAME.pbq-tmp-XXXXXX[-old]` (written before PIDs were recorded).
  const pattern = new RegExp(`^\\.${escapeRegExp(path.basename(output))}${escapeRegExp(TMP_MARK)}(?:(\\d+)-)?[A-Za-z0-9]{6}(${OLD_SUFFIX})?$`);
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  const found = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (m === null) continue;
    const full = path.join(parent, name);
    if (activeTemps.has(full) || activeTemps.has(full.slice(0, -OLD_SUFFIX.length))) continue;
    if (!fs.lstatSync(full).isDirectory()) continue;
    found.push({ name, pid: m[1] === undefined ? null : Number(m[1]), old: m[2] !== undefined });
  }
  // Restore before removing: an -old copy may be the only complete output.
  return found.sort((a, b) => Number(b.old) - Number(a.old));
}

/**
 * Cleans up what an interrupted conversion to `output` left (see the file comment). Returns one
 * message per action, for the user.
 */
export function cleanLeftovers(output: string): string[] {
  const notes: string[] = [];
  const parent = path.dirname(output);
  for (const { name, pid, old } of leftovers(output)) {
    const full = path.join(parent, name);
    if (pid !== null && pid !== process.pid && processAlive(pid)) {
      notes.push(`left ${full} in place: process ${pid}, which is writing it, is still running`);
      continue;
    }
    try {
      if (old && !fs.existsSync(output)) {
        fs.renameSync(full, output);
        notes.push(`restored ${output} from ${full}, where an interrupted run had moved it`);
      } else if (foreignEntries(full).length > 0) {
        notes.push(`left ${full} in place: it holds files that pbq convert did not write`);
      } else {
        fs.rmSync(full, { recursive: true, force: true });
        notes.push(`removed ${full}, left by an interrupted run`);
      }
    } catch (e) {
      notes.push(`could not clean up ${full}: ${oneLine(e)}`);
    }
  }
  return notes;
}

/**
 * Writes all files to a temporary sibling folder, then renames it into place (replacing a
 * previous output, which checkOutputFolder has checked is pbq's).
 */
export function writeAtomically(dir: string, contents: Record<string, Buffer>): void {
  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}${TMP_MARK}${process.pid}-`));
  activeTemps.add(tmp);
  const old = `${tmp}${OLD_SUFFIX}`;
  let moved = false;
  try {
    fs.chmodSync(tmp, 0o755);
    for (const [name, buf] of Object.entries(contents)) fs.writeFileSync(path.join(tmp, name), buf);
    if (fs.existsSync(dir)) {
      fs.renameSync(dir, old);
      moved = true;
    }
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (moved && !fs.existsSync(dir)) fs.renameSync(old, dir);
    throw new ConversionError(`cannot write ${dir}: ${oneLine(e)}`);
  } finally {
    activeTemps.delete(tmp);
  }
  if (moved) fs.rmSync(old, { recursive: true, force: true });
}
