/**
 * The one-shot commands, as a script would use them: the real `peervault` binary in child
 * processes against a real network (a directory and three peers). Sessions saved by `login`,
 * file round trips byte for byte, `--json`, exit codes, and the failures a user meets (wrong
 * password, no session, an ended session, a peer that is down).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalApi } from '../../src/cli/local-api.js';
import { goodPassword } from '../helpers/directory.js';
import { type ProcessNetwork, startProcessNetwork } from '../helpers/process-network.js';

const bin = fileURLToPath(new URL('../../bin/peervault.js', import.meta.url));

interface Run {
  status: number | null;
  stdout: Buffer;
  out: string;
  err: string;
}

/** Runs `peervault ...args` with `input` on standard input (closed when none). */
function pv(args: readonly string[], options: { input?: string | Buffer; cwd?: string } = {}) {
  return new Promise<Run>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PEERVAULT_DEBUG: '' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({ status, stdout, out: stdout.toString('utf8'), err: Buffer.concat(err).toString() });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 1;
}

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at /);

describe('one-shot commands against a real network', () => {
  let net: ProcessNetwork;
  let work: string;
  /** `--peer <data dir of peer i>` */
  const at = (i: number) => ['--peer', net.peers[i]!.data];
  const alice = goodPassword('alice');

  beforeAll(async () => {
    net = await startProcessNetwork({ peers: 3 });
    await net.register('alice', alice);
    await net.register('bob', goodPassword('bob'));
    work = mkdtempSync(join(tmpdir(), 'pv-oneshot-'));
    const login = await pv(['login', '--user', 'alice', '--password-stdin', ...at(0)], {
      input: `${alice}\n`,
    });
    expect(login.status, login.err).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await net?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('registers through the CLI, then login, whoami and logout', async () => {
    const password = goodPassword('carol');
    const reg = await pv(['register', '--user', 'carol', '--password-stdin', ...at(1)], {
      input: `${password}\n`,
    });
    expect(reg.status, reg.err).toBe(0);
    expect(reg.out).toContain('Registered carol');

    const login = await pv(['login', '--user', 'carol', '--password-stdin', ...at(1)], {
      input: `${password}\n`,
    });
    expect(login.status, login.err).toBe(0);
    expect(login.out).toContain('Logged in as carol');

    // The session file: 0600, the token only, never the password.
    const file = join(net.peers[1]!.data, 'cli-session.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = readFileSync(file, 'utf8');
    expect(saved).not.toContain(password);
    expect(JSON.parse(saved)).toMatchObject({ user: 'carol' });

    const who = await pv(['whoami', ...at(1)]);
    expect(who.status, who.err).toBe(0);
    expect(who.out.split('\n')[0]).toBe('carol');
    const whoJson = await pv(['whoami', '--json', ...at(1)]);
    expect(JSON.parse(whoJson.out)).toMatchObject({ user: 'carol' });

    const logout = await pv(['logout', ...at(1)]);
    expect(logout.status, logout.err).toBe(0);
    expect(existsSync(file)).toBe(false);

    const after = await pv(['whoami', ...at(1)]);
    expect(after.status).toBe(3);
    expect(after.err).toContain('not logged in: run `peervault login --user NAME` first');
    noStack(after.err);
  });

  it('a wrong password: "Login failed", exit 3, no session saved', async () => {
    const run = await pv(['login', '--user', 'bob', '--password-stdin', ...at(2)], {
      input: 'not the password at all\n',
    });
    expect(run.status).toBe(3);
    expect(run.err).toContain('Login failed');
    expect(run.err).not.toContain('share it with you');
    noStack(run.err);
    expect(existsSync(join(net.peers[2]!.data, 'cli-session.json'))).toBe(false);
  });

  it('a wrong password with --json: the error as JSON on stdout', async () => {
    const file = join(work, 'wrong-pw');
    writeFileSync(file, 'still not it\n', { mode: 0o600 });
    const run = await pv(['login', '--user', 'bob', '--password-file', file, '--json', ...at(2)]);
    expect(run.status).toBe(3);
    expect(JSON.parse(run.out)).toEqual({ error: { kind: 'permission', message: 'Login failed' } });
    expect(run.err).toContain('Login failed');
  });

  it('mkdir, put, ls, stat and get round-trip a random 3 MiB file byte for byte', async () => {
    const bytes = randomBytes(3 * 1024 * 1024);
    const local = join(work, 'random.bin');
    writeFileSync(local, bytes);

    const mkdir = await pv(['mkdir', 'docs', ...at(0)]);
    expect(mkdir.status, mkdir.err).toBe(0);

    const put = await pv(['put', local, 'docs/', '--json', ...at(0)]);
    expect(put.status, put.err).toBe(0);
    expect(JSON.parse(put.out)).toMatchObject({ size: bytes.length, version: 1 });
    // Not a terminal: no progress bar in the output.
    expect(put.err).toBe('');

    const ls = await pv(['ls', ...at(0)]);
    expect(ls.status, ls.err).toBe(0);
    expect(ls.out.split('\n')).toContain('docs/');
    const lsDocs = await pv(['ls', 'docs', '--json', ...at(0)]);
    const entries = JSON.parse(lsDocs.out) as { name: string; kind: string }[];
    expect(entries).toEqual([expect.objectContaining({ name: 'random.bin', kind: 'file' })]);

    const stat = await pv(['stat', 'docs/random.bin', '--json', ...at(0)]);
    expect(JSON.parse(stat.out)).toMatchObject({
      path: '/alice/docs/random.bin',
      kind: 'file',
      size: bytes.length,
      owner: 'alice',
    });
    const statText = await pv(['stat', 'docs/random.bin', ...at(0)]);
    expect(statText.out).toContain('3.0 MiB');

    const target = join(work, 'back.bin');
    const get = await pv(['get', 'docs/random.bin', target, ...at(0)]);
    expect(get.status, get.err).toBe(0);
    expect(readFileSync(target).equals(bytes)).toBe(true);

    // An existing local file is kept unless --force.
    const again = await pv(['get', 'docs/random.bin', target, ...at(0)]);
    expect(again.status).toBe(4);
    expect((await pv(['get', 'docs/random.bin', target, '--force', ...at(0)])).status).toBe(0);

    // Default local name: the remote's, in the current directory.
    const cwd = mkdtempSync(join(work, 'cwd-'));
    const here = await pv(['get', 'docs/random.bin', ...at(0)], { cwd });
    expect(here.status, here.err).toBe(0);
    expect(readFileSync(join(cwd, 'random.bin')).equals(bytes)).toBe(true);

    const toStdout = await pv(['get', 'docs/random.bin', '-', ...at(0)]);
    expect(toStdout.status, toStdout.err).toBe(0);
    expect(toStdout.stdout.equals(bytes)).toBe(true);
  });

  it('write, --append and read', async () => {
    const write = await pv(['write', 'notes.txt', ...at(0)], { input: 'hello\n' });
    expect(write.status, write.err).toBe(0);
    const append = await pv(['write', 'notes.txt', '--append', '--json', ...at(0)], {
      input: 'world\n',
    });
    expect(append.status, append.err).toBe(0);
    expect(JSON.parse(append.out)).toMatchObject({ size: 12, version: 2 });
    const read = await pv(['read', 'notes.txt', ...at(0)]);
    expect(read.status, read.err).toBe(0);
    expect(read.out).toBe('hello\nworld\n');
  });

  it('rm, then read is not-exist (exit 5)', async () => {
    expect((await pv(['write', 'gone.txt', ...at(0)], { input: 'x' })).status).toBe(0);
    const rm = await pv(['rm', 'gone.txt', ...at(0)]);
    expect(rm.status, rm.err).toBe(0);
    const read = await pv(['read', 'gone.txt', ...at(0)]);
    expect(read.status).toBe(5);
    expect(read.out).toBe('');
    noStack(read.err);
  });

  it('restore --version: a live file is reverted, a deleted one comes back as that version', async () => {
    for (const text of ['one', 'two', 'three']) {
      expect((await pv(['write', 'v.txt', ...at(0)], { input: text })).status).toBe(0);
    }
    const revert = await pv(['restore', 'v.txt', '--version', '1', ...at(0)]);
    expect(revert.status, revert.err).toBe(0);
    expect(revert.out).toBe('/alice/v.txt: version 1 is now the newest (version 4)\n');
    expect((await pv(['read', 'v.txt', ...at(0)])).out).toBe('one');
    const json = await pv(['restore', 'v.txt', '-v', '2', '--json', ...at(0)]);
    expect(json.status, json.err).toBe(0);
    expect(JSON.parse(json.out)).toEqual({
      restored: 1,
      path: '/alice/v.txt',
      kind: 'file',
      version: 5,
      reverted: true,
      from: 2,
    });
    // Every version is still there: the revert only added one.
    const versions = JSON.parse((await pv(['versions', 'v.txt', '--json', ...at(0)])).out) as {
      version: number;
    }[];
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);

    expect((await pv(['rm', 'v.txt', ...at(0)])).status).toBe(0);
    const back = await pv(['restore', 'v.txt', '--version', '3', '--json', ...at(0)]);
    expect(back.status, back.err).toBe(0);
    expect(JSON.parse(back.out)).toEqual({
      restored: 1,
      path: '/alice/v.txt',
      kind: 'file',
      version: 7,
      reverted: false,
      from: 3,
    });
    expect((await pv(['read', 'v.txt', ...at(0)])).out).toBe('three');

    // Deleted, a new file of the name made, and the old one back under another name.
    expect((await pv(['rm', 'v.txt', ...at(0)])).status).toBe(0);
    expect((await pv(['write', 'v.txt', ...at(0)], { input: 'new' })).status).toBe(0);
    const renamed = await pv(['restore', 'v.txt', '--as', 'v-old.txt', '-v', '2', ...at(0)]);
    expect(renamed.status, renamed.err).toBe(0);
    expect(renamed.out).toBe('restored v.txt as /alice/v-old.txt from version 2 (now version 9)\n');
    expect((await pv(['read', 'v-old.txt', ...at(0)])).out).toBe('two');
    expect((await pv(['read', 'v.txt', ...at(0)])).out).toBe('new');

    for (const bad of ['0', 'x', '1.5']) {
      const run = await pv(['restore', 'v.txt', '--version', bad, ...at(0)]);
      expect(run.status, bad).toBe(2);
      expect(run.err, bad).toContain('--version is a version number such as 3');
    }
    const missing = await pv(['restore', 'v.txt', '--version', '99', '--json', ...at(0)]);
    expect(missing.status).toBe(5);
    expect(JSON.parse(missing.out)).toMatchObject({ error: { kind: 'not-exist' } });
    noStack(missing.err);
  });

  it('trash purge: refused without --yes off a terminal; --yes deletes for good', async () => {
    expect((await pv(['write', 'p.txt', ...at(0)], { input: 'purge me' })).status).toBe(0);
    expect((await pv(['rm', 'p.txt', ...at(0)])).status).toBe(0);
    const trash = JSON.parse((await pv(['trash', '--json', ...at(0)])).out) as { path: string }[];
    expect(trash.map((item) => item.path)).toContain('/alice/p.txt');

    const refused = await pv(['trash', 'purge', 'p.txt', ...at(0)]);
    expect(refused.status).toBe(2);
    expect(refused.err).toContain(
      'standard input is not a terminal to ask on; confirm with `peervault trash purge p.txt --yes`',
    );
    noStack(refused.err);
    const refusedJson = await pv(['trash', 'purge', 'p.txt', '--json', ...at(0)]);
    expect(JSON.parse(refusedJson.out)).toMatchObject({ error: { kind: 'invalid' } });

    const purged = await pv(['trash', 'purge', 'p.txt', '--yes', '--json', ...at(0)]);
    expect(purged.status, purged.err).toBe(0);
    expect(JSON.parse(purged.out)).toEqual({ path: 'p.txt', purged: 1 });
    const restore = await pv(['restore', 'p.txt', ...at(0)]);
    expect(restore.status).toBe(5);
    expect((await pv(['trash', 'purge', 'p.txt', '-y', ...at(0)])).status).toBe(5);
    expect((await pv(['trash', '--yes', ...at(0)])).status).toBe(2);
  });

  it('retention shows and sets how long deleted files stay in the trash', async () => {
    const bounds = { defaultMs: 30 * 86_400_000, minMs: 86_400_000, maxMs: 3650 * 86_400_000 };
    const show = await pv(['retention', ...at(0)]);
    expect(show.status, show.err).toBe(0);
    expect(show.out).toBe(
      "deleted files stay in your trash for 30d (the directory's default; you may choose 1d to 3650d)\n",
    );
    const set = await pv(['retention', '90d', '--json', ...at(0)]);
    expect(set.status, set.err).toBe(0);
    expect(JSON.parse(set.out)).toEqual({ retentionMs: 90 * 86_400_000, own: true, ...bounds });
    expect((await pv(['retention', ...at(0)])).out).toBe(
      "deleted files stay in your trash for 90d (your setting; the directory's default is 30d; you may choose 1d to 3650d)\n",
    );
    for (const [bad, message] of [
      ['1h', 'a retention is between 1d and 3650d at this directory, not 1h'],
      ['3651d', 'retention wants a duration such as 30s, 10m, 2h or 30d, not "3651d"'],
      ['soon', 'retention wants a duration such as 30s, 10m, 2h or 30d, not "soon"'],
    ] as const) {
      const run = await pv(['retention', bad, ...at(0)]);
      expect(run.status, bad).toBe(2);
      expect(run.err, bad).toContain(message);
      noStack(run.err);
    }
    const reset = await pv(['retention', 'default', '--json', ...at(0)]);
    expect(JSON.parse(reset.out)).toEqual({ retentionMs: 30 * 86_400_000, own: false, ...bounds });
  });

  it('rmdir of a non-empty directory is exit 8 and points at -r; rmdir -r removes it', async () => {
    expect((await pv(['mkdir', 'old', ...at(0)])).status).toBe(0);
    expect((await pv(['mkdir', 'old/sub', ...at(0)])).status).toBe(0);
    expect((await pv(['write', 'old/sub/f.txt', ...at(0)], { input: 'f' })).status).toBe(0);

    const refused = await pv(['rmdir', 'old', ...at(0)]);
    expect(refused.status).toBe(8);
    expect(refused.err).toContain('-r');

    const removed = await pv(['rmdir', '-r', 'old', '--json', ...at(0)]);
    expect(removed.status, removed.err).toBe(0);
    const answer = JSON.parse(removed.out) as { path: string; removed: number };
    expect(answer.path).toBe('old');
    expect(answer.removed).toBeGreaterThanOrEqual(3);
    const ls = await pv(['ls', ...at(0)]);
    expect(ls.out.split('\n')).not.toContain('old/');
  });

  it('a missing argument is a usage error (exit 2)', async () => {
    const run = await pv(['mkdir', ...at(0)]);
    expect(run.status).toBe(2);
    expect(run.err).toContain('missing PATH');
  });

  it('--json output parses for the listing and status commands', async () => {
    for (const args of [['ls'], ['whoami'], ['peers'], ['status'], ['stat', 'docs']]) {
      const run = await pv([...args, '--json', ...at(0)]);
      expect(run.status, `${args.join(' ')}: ${run.err}`).toBe(0);
      expect(() => JSON.parse(run.out) as unknown, args.join(' ')).not.toThrow();
    }
    const peers = JSON.parse((await pv(['peers', '--json', ...at(0)])).out) as {
      peers: { self: boolean }[];
    };
    expect(peers.peers).toHaveLength(3);
    expect(peers.peers.filter((p) => p.self)).toHaveLength(1);
    const status = JSON.parse((await pv(['status', '--json', ...at(0)])).out) as {
      user: { user: string } | null;
    };
    expect(status.user?.user).toBe('alice');
  });

  it('sharing commands: usage errors and bad grants are exit 2 with the grammar, in JSON too', async () => {
    const pairs = 'grants come in pairs: USER r|w|rw, for example `bob r carol w`';
    const cases: [string[], string][] = [
      [['share'], 'missing PATH USER RIGHT (usage: peervault share PATH USER r|w|rw'],
      [['share', 'x.txt'], 'missing USER RIGHT (usage: peervault share PATH USER r|w|rw'],
      [['share', 'x.txt', 'bob'], pairs],
      [['share', 'x.txt', 'bob', 'z'], 'unknown right "z": use r (read), w or rw (write and read)'],
      [['share', 'x.txt', 'Bob', 'r'], '"Bob" is not a user name'],
      [['unshare', 'x.txt'], 'missing USER (usage: peervault unshare PATH USER [USER ...])'],
      [['unshare', 'x.txt', 'B@b'], '"B@b" is not a user name'],
      [['perms'], 'missing PATH (usage: peervault perms PATH)'],
      [['perms', 'a', 'b'], 'unexpected argument "b"'],
      [['shared', 'extra'], 'unexpected argument "extra"'],
      [['touch'], 'missing PATH (usage: peervault touch PATH [USER RIGHT ...])'],
      [['touch', 'x.txt', 'bob'], pairs],
      [['mkdir', 'x', 'bob', 'r', 'carol'], pairs],
    ];
    for (const [args, message] of cases) {
      const run = await pv([...args, ...at(0)]);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.err, args.join(' ')).toContain(message);
      noStack(run.err);
      const json = await pv([...args, '--json', ...at(0)]);
      expect(json.status, args.join(' ')).toBe(2);
      const answer = JSON.parse(json.out) as { error: { kind: string; message: string } };
      expect(answer.error.kind).toBe('invalid');
      expect(answer.error.message).toContain(message);
    }
    // Nothing was made by the refused commands.
    expect((await pv(['ls', ...at(0)])).out.split('\n')).not.toContain('x.txt');
  });

  it('sharing commands: --help explains each, with the grammar and an example', async () => {
    const helps: [string, string][] = [
      ['share', 'Usage: peervault share PATH USER RIGHT [USER RIGHT ...] [options]'],
      ['unshare', 'Usage: peervault unshare PATH USER [USER ...] [options]'],
      ['perms', 'Usage: peervault perms PATH [options]'],
      ['shared', 'Usage: peervault shared [options]'],
      ['touch', 'Usage: peervault touch PATH [USER RIGHT ...] [options]'],
      ['mkdir', 'Usage: peervault mkdir PATH [USER RIGHT ...] [options]'],
    ];
    for (const [command, usage] of helps) {
      const run = await pv([command, '--help']);
      expect(run.status, command).toBe(0);
      expect(run.out.split('\n')[0], command).toBe(usage);
      expect(run.out, command).toContain('--json');
      expect(run.out, command).toMatch(/Examples?:\n {2}peervault /);
    }
    for (const command of ['share', 'touch', 'mkdir']) {
      expect((await pv([command, '--help'])).out).toContain('r reads; w (or rw) writes');
    }
    const top = await pv(['--help']);
    for (const command of ['touch', 'share', 'unshare', 'perms', 'shared']) {
      expect(top.out).toMatch(new RegExp(`^ {2}${command} +\\S`, 'm'));
    }
  });

  it('touch creates an empty file, and an existing one is exit 4 (exist)', async () => {
    const made = await pv(['touch', 'empty.txt', '--json', ...at(0)]);
    expect(made.status, made.err).toBe(0);
    expect(JSON.parse(made.out)).toEqual({ path: 'empty.txt', size: 0, version: 1, grants: [] });
    const again = await pv(['touch', 'empty.txt', ...at(0)]);
    expect(again.status).toBe(4);
    noStack(again.err);
    const againJson = await pv(['touch', 'empty.txt', '--json', ...at(0)]);
    expect(JSON.parse(againJson.out)).toMatchObject({ error: { kind: 'exist' } });
    expect((await pv(['read', 'empty.txt', ...at(0)])).out).toBe('');
  });

  it('a grant to the owner is refused (exit 2), and the local API takes grants only on create', async () => {
    const self = await pv(['touch', 'self.txt', 'alice', 'r', ...at(0)]);
    expect(self.status).toBe(2);
    expect(self.err).toContain('alice owns this and always has every right');
    const share = await pv(['share', 'docs', 'alice', 'w', '--json', ...at(0)]);
    expect(share.status).toBe(2);
    expect(JSON.parse(share.out)).toMatchObject({ error: { kind: 'invalid' } });

    const peer = net.peers[0]!;
    const api = new LocalApi({ url: peer.proc.ready.api, token: peer.token });
    await api.login('alice', alice);
    try {
      const grants = [{ user: 'bob', right: 'r' as const }];
      for (const mode of ['replace', 'append'] as const) {
        await expect(
          api.writeFile('/alice/never.txt', new Uint8Array(0), mode, grants),
        ).rejects.toMatchObject({ kind: 'invalid' });
      }
      await expect(api.share('/alice/docs', [])).rejects.toMatchObject({ kind: 'invalid' });
      await expect(api.unshare('/alice/docs', [])).rejects.toMatchObject({ kind: 'invalid' });
    } finally {
      await api.logout();
    }
    expect((await pv(['ls', ...at(0)])).out.split('\n')).not.toContain('never.txt');
  });

  it('share, perms, shared and unshare with --json: the documented shapes', async () => {
    const touch = await pv(['touch', 'j.txt', 'bob', 'r', '--json', ...at(0)]);
    expect(touch.status, touch.err).toBe(0);
    expect(JSON.parse(touch.out)).toEqual({
      path: 'j.txt',
      size: 0,
      version: 1,
      grants: [{ user: 'bob', right: 'r' }],
    });

    const share = await pv(['share', 'j.txt', 'bob', 'rw', '--json', ...at(0)]);
    expect(share.status, share.err).toBe(0);
    expect(JSON.parse(share.out)).toEqual({
      path: '/alice/j.txt',
      kind: 'file',
      entries: 1,
      grants: [{ user: 'bob', right: 'w' }],
    });
    const text = await pv(['share', 'j.txt', 'bob', 'w', ...at(0)]);
    expect(text.out).toBe('/alice/j.txt is shared with bob (write)\n');

    const perms = await pv(['perms', 'j.txt', '--json', ...at(0)]);
    expect(perms.status, perms.err).toBe(0);
    expect(JSON.parse(perms.out)).toEqual({
      path: '/alice/j.txt',
      kind: 'file',
      owner: 'alice',
      version: expect.any(Number) as number,
      writer: 'alice',
      grants: [{ user: 'bob', right: 'w' }],
      users: [{ user: 'bob', right: 'w' }],
      inherited: false,
    });

    const bob = ['--user', 'bob', '--password-stdin', ...at(2)];
    const input = `${goodPassword('bob')}\n`;
    const shared = await pv(['shared', '--json', ...bob], { input });
    expect(shared.status, shared.err).toBe(0);
    expect(JSON.parse(shared.out)).toEqual([
      {
        owner: 'alice',
        name: 'j.txt',
        path: '/alice/j.txt',
        kind: 'file',
        right: 'w',
        version: expect.any(Number) as number,
      },
    ]);
    const sharedText = await pv(['shared', ...bob], { input });
    expect(sharedText.out).toBe('from alice:\n  /alice/j.txt  write  file\n');

    // Bob may write j.txt, but only alice shares it: exit 3 with whom to ask, and no generic hint.
    const refused = await pv(['unshare', '/alice/j.txt', 'bob', ...bob], { input });
    expect(refused.status).toBe(3);
    expect(refused.err).toBe(
      'peervault unshare: only alice (the owner) may unshare /alice/j.txt; ask alice to do it.\n',
    );

    const unshare = await pv(['unshare', 'j.txt', 'bob', '--json', ...at(0)]);
    expect(unshare.status, unshare.err).toBe(0);
    expect(JSON.parse(unshare.out)).toEqual({
      path: '/alice/j.txt',
      kind: 'file',
      entries: 1,
      grants: [],
    });
    expect(JSON.parse((await pv(['shared', '--json', ...bob], { input })).out)).toEqual([]);
  });

  it('without a session: a clear error (exit 3), and --json carries it too', async () => {
    const run = await pv(['ls', ...at(2)]);
    expect(run.status).toBe(3);
    expect(run.err).toContain('not logged in: run `peervault login --user NAME` first');
    const json = await pv(['ls', '--json', ...at(2)]);
    expect(json.status).toBe(3);
    expect(JSON.parse(json.out)).toMatchObject({ error: { kind: 'permission' } });
  });

  it('--user with --password-stdin logs in for one command, saves nothing, and ends the session', async () => {
    const peer = net.peers[2]!;
    const status = new LocalApi({ url: peer.proc.ready.api, token: peer.token });
    const before = (await status.status()).sessions;
    const run = await pv(['ls', '--user', 'bob', '--password-stdin', ...at(2)], {
      input: `${goodPassword('bob')}\n`,
    });
    expect(run.status, run.err).toBe(0);
    expect(existsSync(join(peer.data, 'cli-session.json'))).toBe(false);
    // The peer no longer holds bob's unlocked keys for that command.
    expect((await status.status()).sessions).toBe(before);
  });

  it('a saved session the peer no longer knows: "log in again" (exit 11) and the file goes', async () => {
    const file = join(net.peers[2]!.data, 'cli-session.json');
    const stale = { v: 1, user: 'bob', token: 'x'.repeat(32), expiresAt: Date.now() + 3600_000 };
    writeFileSync(file, JSON.stringify({ ...stale, fingerprint: 'F' }), { mode: 0o600 });
    const run = await pv(['ls', ...at(2)]);
    expect(run.status).toBe(11);
    expect(run.err).toContain('peervault login --user bob');
    expect(existsSync(file)).toBe(false);
  });

  it('a peer that is down: unavailable (exit 13), no stack trace', async () => {
    const api = `http://127.0.0.1:${await closedPort()}`;
    const run = await pv(['ls', ...at(0), '--api', api]);
    expect(run.status).toBe(13);
    expect(run.err).toContain('not answering');
    noStack(run.err);
  });

  it('repair runs a pass and prints its summary', async () => {
    const run = await pv(['repair', '--json', ...at(0)]);
    expect(run.status, run.err).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ lost: 0, badPeers: [] });
  });

  it('passwd with two lines on stdin, then only the new password logs in', async () => {
    const user = 'dave';
    const old = goodPassword(user);
    const next = goodPassword('dave again');
    await net.register(user, old);
    const change = await pv(['passwd', '--user', user, '--password-stdin', ...at(1)], {
      input: `${old}\n${next}\n`,
    });
    expect(change.status, change.err).toBe(0);
    expect(change.out).toContain('Password changed');
    const withOld = await pv(['login', '--user', user, '--password-stdin', ...at(1)], {
      input: `${old}\n`,
    });
    expect(withOld.status).toBe(3);
    const withNew = await pv(['login', '--user', user, '--password-stdin', ...at(1)], {
      input: `${next}\n`,
    });
    expect(withNew.status, withNew.err).toBe(0);
    await pv(['logout', ...at(1)]);
  });
});
