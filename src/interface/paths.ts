/**
 * Paths, Upspin style: `/<owner>/<dir>/<file>`. `~` or `~/x` and relative paths (`x/y`) mean
 * the caller's own tree (relative to a working directory when one is given). `.` and `..` are
 * resolved here, never past the owner's root. Every element is validated once, as an EntryName.
 */
import { FsError } from './errors.js';
import { type EntryName, parseEntryName, parseUserName, type UserName } from './names.js';

/** A parsed, absolute path: whose tree, and the elements below its root. */
export interface PathName {
  owner: UserName;
  elements: readonly EntryName[];
}

/** Longest path accepted, in characters (a guard against absurd input). */
export const maxPathLength = 4096;

/**
 * Parses a path typed by `caller`, relative to `cwd` (an absolute path; default the caller's root).
 * @throws FsError `invalid` for an empty path, a bad user name or element, or `..` above a root.
 */
export function parsePath(raw: string, caller: UserName, cwd?: PathName): PathName {
  const op = 'path.parse';
  if (raw.length === 0) throw new FsError('invalid', 'the path is empty', { op });
  if (raw.length > maxPathLength)
    throw new FsError('invalid', `the path is longer than ${maxPathLength} characters`, { op });
  let owner: UserName;
  let base: EntryName[];
  let rest: string[];
  if (raw.startsWith('/')) {
    const [first, ...others] = raw.slice(1).split('/');
    if (!first) throw new FsError('invalid', 'an absolute path starts with /<user>', { op });
    owner = parseUserName(first);
    base = [];
    rest = others;
  } else if (raw === '~' || raw.startsWith('~/')) {
    owner = caller;
    base = [];
    rest = raw.slice(2).split('/');
  } else {
    owner = cwd?.owner ?? caller;
    base = [...(cwd?.elements ?? [])];
    rest = raw.split('/');
  }
  for (const part of rest) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (base.length === 0)
        throw new FsError('invalid', `"..": already at the root of /${owner}`, { op });
      base.pop();
      continue;
    }
    base.push(parseEntryName(part));
  }
  return { owner, elements: base };
}

/** The text form: `/owner/a/b`. */
export function formatPath(path: PathName): string {
  return `/${path.owner}${path.elements.map((e) => `/${e}`).join('')}`;
}

/** The parent of a path, or undefined at a root. */
export function parentOf(path: PathName): PathName | undefined {
  if (path.elements.length === 0) return undefined;
  return { owner: path.owner, elements: path.elements.slice(0, -1) };
}
