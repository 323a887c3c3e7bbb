/**
 * `peervault trash purge PATH`: asked on a terminal before anything is deleted (a no keeps it,
 * without calling the peer), and refused at once when standard input is not a terminal and
 * there is no --yes, so a script never waits on a question nobody sees.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { CommandIo } from '../../src/cli/command.js';
import { main } from '../../src/cli/main.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A peer data directory with no peer behind it and no saved session. */
function fakePeerDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pv-purge-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'api-token'), 'token\n', { mode: 0o600 });
  writeFileSync(join(dir, 'api.json'), JSON.stringify({ api: 'http://127.0.0.1:9' }));
  return dir;
}

/** A run with `answer` typed on a standard input that is (or is not) a terminal. */
async function purge(args: readonly string[], tty: boolean, answer = '') {
  const out: string[] = [];
  const err: string[] = [];
  const stdin = Object.assign(new PassThrough(), { isTTY: tty });
  const stderr = new PassThrough();
  let prompt = '';
  stderr.on('data', (chunk: Buffer) => (prompt += chunk.toString()));
  const io: CommandIo & { stdin: typeof stdin; stderr: PassThrough } = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    stdin,
    stderr,
  };
  if (answer !== '') stdin.write(answer);
  const code = await main(['trash', 'purge', ...args, '--peer', fakePeerDir()], io);
  return { code, out, err, prompt };
}

describe('peervault trash purge', () => {
  it('asks on a terminal, and a no keeps the entry without calling the peer', async () => {
    const run = await purge(['old.txt'], true, 'n\n');
    expect(run.prompt).toBe('Delete old.txt for good? It cannot be restored. [y/N] ');
    expect(run).toMatchObject({ code: 0, out: ['kept'], err: [] });
    expect((await purge(['old.txt', '--json'], true, '\n')).out).toEqual([
      JSON.stringify({ path: 'old.txt', purged: 0 }),
    ]);
  });

  it('goes on to the peer after a yes (here: no session, exit 3)', async () => {
    const run = await purge(['old.txt'], true, 'y\n');
    expect(run.code).toBe(3);
    expect(run.err.join('\n')).toContain('not logged in');
  });

  it('refuses without --yes when standard input is not a terminal, before calling the peer', async () => {
    const run = await purge(['old.txt'], false);
    expect(run.code).toBe(2);
    expect(run.prompt).toBe('');
    expect(run.err.join('\n')).toContain(
      'purging cannot be undone, and standard input is not a terminal to ask on; confirm with `peervault trash purge old.txt --yes`',
    );
  });

  it('does not ask with --yes or -y', async () => {
    for (const yes of ['--yes', '-y']) {
      const run = await purge(['old.txt', yes], false);
      expect(run.prompt).toBe('');
      expect(run.code).toBe(3);
    }
  });

  it('wants exactly one PATH', async () => {
    expect((await purge([], false)).code).toBe(2);
    expect((await purge(['a', 'b', '--yes'], false)).code).toBe(2);
  });
});
