/**
 * The local side of `put` and `get`: `~` expansion, and listings for Tab completion.
 */
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** `~` and `~/x` as the user's home directory, as a shell would expand them. */
export function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return join(homedir(), path.slice(2));
  return path;
}

/** A local directory's entries, directories marked (following links). Empty on any failure. */
export async function listLocal(dir: string): Promise<{ name: string; dir: boolean }[]> {
  const base = expandHome(dir === '' ? '.' : dir);
  try {
    const entries = await readdir(base, { withFileTypes: true });
    return await Promise.all(
      entries.map(async (e) => ({
        name: e.name,
        dir:
          e.isDirectory() ||
          (e.isSymbolicLink() &&
            (await stat(join(base, e.name)).then(
              (s) => s.isDirectory(),
              () => false,
            ))),
      })),
    );
  } catch {
    return [];
  }
}
