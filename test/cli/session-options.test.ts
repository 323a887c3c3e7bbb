/**
 * The one-shot commands' shared handling, where it is pure or touches only the local disk:
 * positional arguments, the saved session file, the `--json` error rule, and the refusals that
 * happen before any peer is called.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { CommandIo } from '../../src/cli/command.js';
import { exitCodes } from '../../src/cli/exit-codes.js';
import { HintedError } from '../../src/cli/hinted-error.js';
import { commands, main } from '../../src/cli/main.js';
import {
  commandHelp,
  loadSession,
  oneShot,
  positionalArgs,
  saveSession,
  sessionPath,
} from '../../src/cli/session-options.js';
import { FsError } from '../../src/interface/errors.js';
import { expectKind, expectKindAsync } from '../helpers/expect-error.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pv-cli-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A peer data directory with a token and an API address, and no peer behind it. */
function fakePeerDir(): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'api-token'), 'token\n', { mode: 0o600 });
  writeFileSync(join(dir, 'api.json'), JSON.stringify({ api: 'http://127.0.0.1:9' }));
  return dir;
}

/** Captured output, and a standard input that is not a terminal and never ends. */
function capture(): { io: CommandIo & { stdin: PassThrough }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { out: (t) => out.push(t), err: (t) => err.push(t), stdin: new PassThrough() },
    out,
    err,
  };
}

const session = (expiresAt: number) => ({
  token: 'tok-123',
  user: 'alice',
  expiresAt,
  fingerprint: 'AAAA-BBBB',
});

describe('positionalArgs', () => {
  it('returns required and optional arguments in order', () => {
    expect(positionalArgs(['a'], ['LOCAL'], ['REMOTE'], 'u', 'put')).toEqual(['a', undefined]);
    expect(positionalArgs(['a', 'b'], ['LOCAL'], ['REMOTE'], 'u', 'put')).toEqual(['a', 'b']);
  });

  it('names what is missing and what is extra, as usage errors', () => {
    const missing = expectKind('invalid', () =>
      positionalArgs([], ['PATH'], [], 'peervault rm PATH', 'rm'),
    );
    expect(missing.message).toContain('missing PATH');
    expect(missing.message).toContain('peervault rm PATH');
    const extra = expectKind('invalid', () => positionalArgs(['a', 'b'], ['PATH'], [], 'u', 'rm'));
    expect(extra.message).toContain('"b"');
  });
});

describe('the saved session', () => {
  it('is written 0600, holds the token and no password, and loads back', async () => {
    const dir = tempDir();
    saveSession(dir, session(Date.now() + 60_000));
    expect(statSync(sessionPath(dir)).mode & 0o777).toBe(0o600);
    const text = readFileSync(sessionPath(dir), 'utf8');
    expect(text).not.toMatch(/password/i);
    expect((await loadSession(dir))?.token).toBe('tok-123');
  });

  it('is absent when never saved', async () => {
    expect(await loadSession(tempDir())).toBeUndefined();
  });

  it('is removed and reported as revoked once expired', async () => {
    const dir = tempDir();
    saveSession(dir, session(Date.now() - 1));
    await expectKindAsync('revoked', loadSession(dir));
    expect(await loadSession(dir)).toBeUndefined();
  });

  it('is removed when damaged', async () => {
    const dir = tempDir();
    writeFileSync(sessionPath(dir), '{"v":1,"user":', { mode: 0o600 });
    await expectKindAsync('invalid', loadSession(dir));
    expect(await loadSession(dir)).toBeUndefined();
  });

  it('is refused when other users can read it', async () => {
    const dir = tempDir();
    saveSession(dir, session(Date.now() + 60_000));
    chmodSync(sessionPath(dir), 0o644);
    await expectKindAsync('permission', loadSession(dir));
  });
});

describe('the --json rule', () => {
  const failing = oneShot('try', {}, () => {
    throw new HintedError('not-exist', 'no such thing', '', { op: 'try' });
  });
  const succeeding = oneShot('try', {}, (ctx) => {
    ctx.print({ answer: 42 }, 'the answer is 42');
    return Promise.resolve(0);
  });

  it('prints the result as one JSON document', async () => {
    const c = capture();
    expect(await succeeding(['--json'], c.io)).toBe(0);
    expect(c.out).toHaveLength(1);
    expect(JSON.parse(c.out[0]!)).toEqual({ answer: 42 });
  });

  it('prints text without --json', async () => {
    const c = capture();
    expect(await succeeding([], c.io)).toBe(0);
    expect(c.out).toEqual(['the answer is 42']);
  });

  it('on failure prints {"error": {kind, message}} on stdout and still throws for stderr', async () => {
    const c = capture();
    const err = await expectKindAsync('not-exist', failing(['--json'], c.io));
    expect(err.message).toBe('no such thing');
    expect(c.out).toHaveLength(1);
    expect(JSON.parse(c.out[0]!)).toEqual({
      error: { kind: 'not-exist', message: 'no such thing' },
    });
  });

  it('prints nothing on stdout on failure without --json', async () => {
    const c = capture();
    await expectKindAsync('not-exist', failing([], c.io));
    expect(c.out).toEqual([]);
  });

  it('answers a bad flag in JSON too', async () => {
    const c = capture();
    await expectKindAsync('invalid', succeeding(['--json', '--frobnicate'], c.io));
    expect(JSON.parse(c.out[0]!)).toMatchObject({ error: { kind: 'invalid' } });
  });

  it('reports an unexpected failure as internal, without its details', async () => {
    const c = capture();
    const broken = oneShot('try', {}, () => {
      throw new Error('secret detail');
    });
    await expect(broken(['--json'], c.io)).rejects.toThrow('secret detail');
    expect(JSON.parse(c.out[0]!)).toEqual({
      error: { kind: 'internal', message: 'internal error' },
    });
  });
});

describe('one-shot commands through main', () => {
  it('every one has a --help with a usage line, the common flags and an example', async () => {
    const oneShots = [
      'register',
      'login',
      'logout',
      'whoami',
      'passwd',
      'ls',
      'mkdir',
      'put',
      'get',
    ].concat(['read', 'write', 'rm', 'rmdir', 'stat', 'peers', 'status', 'repair']);
    for (const name of oneShots) {
      expect(commands.map((c) => c.name)).toContain(name);
      const c = capture();
      expect(await main([name, '--help'], c.io)).toBe(0);
      const help = c.out.join('\n');
      expect(help).toMatch(new RegExp(`^Usage: peervault ${name}`));
      expect(help).toContain('--peer DIR');
      expect(help).toContain('--json');
      expect(help).toMatch(/Examples?:/);
    }
  });

  it('a missing argument is a usage error (exit 2) that names it', async () => {
    const c = capture();
    expect(await main(['rm', '--peer', fakePeerDir()], c.io)).toBe(2);
    expect(c.err.join('\n')).toContain('missing PATH');
  });

  it('without a session: "not logged in", exit 3, before any call to the peer', async () => {
    const c = capture();
    expect(await main(['ls', '--peer', fakePeerDir()], c.io)).toBe(exitCodes.permission);
    expect(c.err.join('\n')).toContain('not logged in: run `peervault login --user NAME` first');
    expect(c.err.join('\n')).not.toContain('ask the owner');
  });

  it('with --json and no session: the error as JSON on stdout, the line on stderr', async () => {
    const c = capture();
    expect(await main(['ls', '--json', '--peer', fakePeerDir()], c.io)).toBe(3);
    expect(JSON.parse(c.out.join(''))).toEqual({
      error: {
        kind: 'permission',
        message: 'not logged in: run `peervault login --user NAME` first',
      },
    });
    expect(c.err).toHaveLength(1);
  });

  it('login without a terminal and without a password flag refuses instead of waiting', async () => {
    const c = capture();
    const code = await main(['login', '--user', 'alice', '--peer', fakePeerDir()], c.io);
    expect(code).toBe(2);
    expect(c.err.join('\n')).toContain('--password-stdin');
  });

  it('login needs --user', async () => {
    const c = capture();
    expect(await main(['login', '--peer', fakePeerDir()], c.io)).toBe(2);
    expect(c.err.join('\n')).toContain('--user NAME');
  });

  it('a password flag needs --user', async () => {
    const c = capture();
    expect(await main(['ls', '--password-stdin', '--peer', fakePeerDir()], c.io)).toBe(2);
    expect(c.err.join('\n')).toContain('needs --user NAME');
  });

  it('write refuses --password-stdin, since the content comes from stdin', async () => {
    const c = capture();
    const code = await main(
      ['write', 'x', '--user', 'alice', '--password-stdin', '--peer', fakePeerDir()],
      c.io,
    );
    expect(code).toBe(2);
    expect(c.err.join('\n')).toContain('--password-file');
  });

  it('read refuses --json, whose output is the file itself', async () => {
    const c = capture();
    expect(await main(['read', 'x', '--json', '--peer', fakePeerDir()], c.io)).toBe(2);
    expect(JSON.parse(c.out.join(''))).toMatchObject({ error: { kind: 'invalid' } });
  });

  it('logout when not logged in is not an error', async () => {
    const c = capture();
    expect(await main(['logout', '--json', '--peer', fakePeerDir()], c.io)).toBe(0);
    expect(JSON.parse(c.out.join(''))).toEqual({ user: null, ended: false });
  });

  it('a missing peer directory is not-exist (exit 5) with what to do', async () => {
    const c = capture();
    expect(await main(['ls', '--peer', join(tempDir(), 'none')], c.io)).toBe(5);
    expect(c.err.join('\n')).toContain('--peer DIR');
    expect(c.err.join('\n')).not.toContain('check the path with `ls`');
  });

  it('an error with its own empty hint prints the message alone', async () => {
    const c = capture();
    const code = await main(['ls', '--peer', fakePeerDir()], c.io);
    expect(code).toBe(3);
    expect(c.err[0]).toMatch(/^peervault ls: not logged in: .*first\. Or pass --user NAME/);
  });

  it('commandHelp lays out usage, flags, session, common flags and examples', () => {
    const help = commandHelp({
      usage: 'x PATH',
      about: 'Does x.',
      flags: '  --y   why',
      session: true,
      examples: ['peervault x a'],
    });
    expect(help.split('\n')[0]).toBe('Usage: peervault x PATH [options]');
    expect(help).toContain('--password-stdin');
    expect(help).toContain('  peervault x a');
  });

  it('an FsError thrown by a command keeps its kind', () => {
    expect(new HintedError('permission', 'Login failed', 'h', { op: 'login' })).toBeInstanceOf(
      FsError,
    );
  });
});
