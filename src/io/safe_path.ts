/**
 * Files named inside a model's files (weight shards in model.json, a calibration data file)
 * must resolve inside the folder that names them: a crafted model.json must not make pbq read
 * (and return through a model's weights) a file elsewhere on the machine, nor tell by its error
 * messages whether such a file exists.
 *
 * Rules: the name is relative, without '..' segments (either separator), without NUL; each
 * segment is looked up below the folder's real path, and a symbolic link is followed only when
 * its target is inside that folder too. Errors about a name that would leave the folder say the
 * same thing whether or not the target exists. Node only (fs and path are required lazily, so a
 * browser bundle does not pull them in).
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const nodeRequire = (m: string): any => eval('require')(m);

/** An error about a file named by a model file (the message names the file and the problem). */
export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

/** True when `inner` is `outer` or below it (both absolute; a name like '..x' is inside). */
export function isInside(inner: string, outer: string): boolean {
  const path = nodeRequire('path');
  const rel = path.relative(outer, inner);
  return rel === '' || (rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel));
}

/** The segments of a relative name, or an error message when it is not a plain relative name. */
function relativeSegments(name: unknown): string[] | string {
  if (typeof name !== 'string' || name.length === 0) return `must be a non-empty string, got ${JSON.stringify(name)}`;
  if (name.includes('\0')) return 'contains a NUL character';
  const path = nodeRequire('path');
  if (path.posix.isAbsolute(name) || path.win32.isAbsolute(name) || /^[a-zA-Z]:/.test(name) || /^[a-z][a-z0-9+.-]*:\/\//i.test(name)) {
    return 'is an absolute path or URL (only paths relative to the model folder are allowed)';
  }
  const segments = name.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return "has a '..' segment (only paths inside the model folder are allowed)";
  if (segments.length === 0) return 'names the folder itself, not a file';
  return segments;
}

/**
 * Real path of the regular file `name` (relative) inside `folder`, checked segment by segment.
 * `kind` names the file for messages ("weight shard"), `referencedBy` the file that names it.
 */
export function resolveInsideFolder(folder: string, name: unknown, kind: string, referencedBy: string): string {
  const fs = nodeRequire('fs');
  const path = nodeRequire('path');
  const segments = relativeSegments(name);
  if (typeof segments === 'string') throw new UnsafePathError(`${kind} ${JSON.stringify(name)} in ${referencedBy} ${segments}`);
  const shown = `${kind} '${name as string}' in ${referencedBy}`;
  let root: string;
  try {
    root = fs.realpathSync(folder);
  } catch {
    throw new UnsafePathError(`${shown}: the folder ${folder} does not exist`);
  }
  let current = root;
  for (const [i, segment] of segments.entries()) {
    const next = path.join(current, segment);
    let stat;
    try {
      stat = fs.lstatSync(next);
    } catch {
      // `next` is below the folder's real path: saying that it is missing reveals nothing outside.
      throw new UnsafePathError(`${kind} not found: ${name as string} (expected at ${path.join(folder, ...segments)}, referenced by ${referencedBy})`);
    }
    if (stat.isSymbolicLink()) {
      let target: string | null = null;
      try {
        target = fs.realpathSync(next);
      } catch {
        target = null;
      }
      // One message for a broken link and a link out of the folder: no hint about what exists there.
      if (target === null || !isInside(target, root)) {
        throw new UnsafePathError(`${shown} is a symbolic link that does not resolve to a file inside the model folder ${folder}`);
      }
      current = target;
      stat = fs.statSync(current);
    } else {
      current = next;
    }
    const where = path.join(folder, ...segments.slice(0, i + 1));
    if (i < segments.length - 1 && !stat.isDirectory()) throw new UnsafePathError(`${kind} not found: ${name as string} (${where} is not a folder, referenced by ${referencedBy})`);
    if (i === segments.length - 1 && !stat.isFile()) {
      throw new UnsafePathError(`${shown} is not a regular file: ${where} is a ${stat.isDirectory() ? 'folder' : 'special file'}`);
    }
  }
  return current;
}
