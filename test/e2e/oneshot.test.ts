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
